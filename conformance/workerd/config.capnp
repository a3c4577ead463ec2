# workerd config for the conformance run: the package's workerd entry (dist/workerd.js) with its
# shared chunk and the SIMD build as a compiled wasm module, the suite, the scalar build and the
# fixtures. The socket address is set on the command line (a free port):
#   workerd serve conformance/workerd/config.capnp --socket-addr http=127.0.0.1:<port>
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .conformanceWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const conformanceWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "suite.js", esModule = embed "../suite.js"),
    # The package as a consumer's bundle holds it: the workerd entry under the package name, and
    # the two modules it imports (./lstm-core.js, ./lstm-simd.wasm) under the names those resolve
    # to from there. The scalar build under the package's export subpath, for the builds check.
    (name = "lstm-wasm", esModule = embed "../../dist/workerd.js"),
    (name = "lstm-core.js", esModule = embed "../../dist/lstm-core.js"),
    (name = "lstm-simd.wasm", wasm = embed "../../dist/lstm-simd.wasm"),
    (name = "lstm-wasm/lstm-scalar.wasm", wasm = embed "../../dist/lstm-scalar.wasm"),
    (name = "fixtures/single.json", json = embed "../../test/fixtures/single.json"),
    (name = "fixtures/stacked3.json", json = embed "../../test/fixtures/stacked3.json"),
    (name = "fixtures/bidir2.json", json = embed "../../test/fixtures/bidir2.json"),
    (name = "fixtures/batchfirst_bidir.json", json = embed "../../test/fixtures/batchfirst_bidir.json"),
    (name = "fixtures/nostate.json", json = embed "../../test/fixtures/nostate.json"),
    (name = "fixtures/long1000.json", json = embed "../../test/fixtures/long1000.json"),
  ],
  compatibilityDate = "2025-09-01",
);
