// The cross-runtime conformance suite: one source, run unchanged in Node, Chromium (main thread and
// a module Web Worker), Deno, Bun and workerd. Plain ESM, no `node:` imports, no I/O: the runner
// imports the library, awaits `L.ready()`, loads the fixtures and passes both in.
//
//   runSuite(L, fixtures, { scalarWasm? }) -> { suite, runtime, simd, checks: [{ name, pass, hash, details, error? }] }
//
// `hash` is FNV-1a over the bits of every float the check produced (test/helpers.ts bitsHash,
// continued across arrays), so equal hashes in two runtimes mean bit-identical outputs. `details`
// holds only values derived from those bits (errors against PyTorch, losses), so the whole check
// object must be equal across runtimes; per-check wall time is kept apart, in `ms`.

export const SUITE_VERSION = 1;

/** The PyTorch LSTM fixtures the suite knows (test/fixtures/<name>.json); runners load these. */
export const LSTM_FIXTURES = ['single', 'stacked3', 'bidir2', 'batchfirst_bidir', 'nostate', 'long1000'];

// ---------------------------------------------------------------- hashing and data

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over 32-bit words (floats by their bits) and bytes; `hex()` matches bitsHash for one array. */
export class Hasher {
  constructor() {
    this.h = FNV_OFFSET;
  }
  /** Fold in the bits of a Float32Array (or Int32Array/Uint32Array) word by word. */
  words(a) {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    let h = this.h;
    for (let i = 0; i < u.length; i++) {
      h ^= u[i];
      h = Math.imul(h, FNV_PRIME) >>> 0;
    }
    this.h = h;
    return this;
  }
  /** Fold in a number as float32 bits (losses come out of wasm as float32 values). */
  f32(x) {
    return this.words(Float32Array.of(x));
  }
  bytes(u8) {
    let h = this.h;
    for (let i = 0; i < u8.length; i++) {
      h ^= u8[i];
      h = Math.imul(h, FNV_PRIME) >>> 0;
    }
    this.h = h;
    return this;
  }
  hex() {
    return this.h.toString(16).padStart(8, '0');
  }
}

/** bitsHash of test/helpers.ts. */
export function bitsHash(a) {
  return new Hasher().words(a).hex();
}

/** xorshift32 from `seed`: each call gives the next u32. */
function xorshift32(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/** Deterministic float32 data in [-1, 1) (xorshift32); the tests' `randomData` too. */
export function randomData(n, seed) {
  const next = xorshift32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() / 2 ** 32) * 2 - 1;
  return out;
}

/** Deterministic integers in 0..k-1 (xorshift32). */
function randomInts(n, k, seed) {
  const next = xorshift32(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() % k;
  return out;
}

const prod = (shape) => shape.reduce((a, b) => a * b, 1);
const tensor = (L, fx) => new L.Tensor(Float32Array.from(fx.data), fx.shape.slice());
const rand = (L, shape, seed) => new L.Tensor(randomData(prod(shape), seed), shape);

/** Largest |a - e| over the elements; throws when some |a - e| - rtol·|e| exceeds atol (or a shape differs). */
function close(what, actual, expected, atol, rtol = 0) {
  if (actual.shape.join() !== expected.shape.join()) throw new Error(`${what}: shape [${actual.shape}] != expected [${expected.shape}]`);
  let worst = 0;
  const bad = [];
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i];
    const e = expected.data[i];
    const d = Math.abs(a - e);
    if (!(d - rtol * Math.abs(e) <= atol) && bad.length < 3) bad.push(`[${i}] ${a} vs ${e}`);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  if (bad.length) throw new Error(`${what}: exceeds atol ${atol}${rtol ? ` + rtol ${rtol}` : ''}; max abs diff ${worst}; first: ${bad.join('; ')}`);
  return worst;
}

function sameBits(what, a, b) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} values vs ${b.length}`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Parameters of a model/layer state dict, in key order, into a hasher. */
function hashDict(h, dict) {
  for (const k of Object.keys(dict)) h.words(dict[k].data);
  return h;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

// ---------------------------------------------------------------- checks

/** Forward of a PyTorch fixture; returns the layer (kept for backward) and the check result. */
function fixtureForward(L, fx, rt) {
  const lstm = new L.LSTM({ ...fx.config, runtime: rt });
  lstm.loadStateDict(Object.fromEntries(Object.entries(fx.stateDict).map(([k, v]) => [k, tensor(L, v)])));
  const fwd = lstm.forward(tensor(L, fx.x), { h0: fx.h0 ? tensor(L, fx.h0) : undefined, c0: fx.c0 ? tensor(L, fx.c0) : undefined });
  return { lstm, fwd };
}

function fixtureChecks(L, name, fx) {
  const out = [];
  let lstm;
  out.push(
    check(`forward:${name}`, () => {
      const r = fixtureForward(L, fx);
      lstm = r.lstm;
      const { output, hN, cN } = r.fwd;
      const maxErr = Math.max(close('output', output, fx.output, 1e-5), close('hN', hN, fx.hN, 1e-5), close('cN', cN, fx.cN, 1e-5));
      return { hash: new Hasher().words(output.data).words(hN.data).words(cN.data).hex(), details: { T: fx.T, B: fx.B, maxErr } };
    }),
  );
  out.push(
    check(`backward:${name}`, () => {
      assert(lstm, 'forward failed');
      const rtol = name === 'long1000' ? 1e-3 : 0;
      const bwd = lstm.backward({
        dOutput: tensor(L, fx.dOutput),
        dHN: fx.dHN ? tensor(L, fx.dHN) : undefined,
        dCN: fx.dCN ? tensor(L, fx.dCN) : undefined,
      });
      let maxErr = Math.max(close('dInput', bwd.dInput, fx.dInput, 1e-4, rtol), close('dH0', bwd.dH0, fx.dH0, 1e-4, rtol), close('dC0', bwd.dC0, fx.dC0, 1e-4, rtol));
      assert(Object.keys(bwd.grads).join() === Object.keys(fx.grads).join(), `grad keys ${Object.keys(bwd.grads)} != ${Object.keys(fx.grads)}`);
      for (const [k, g] of Object.entries(fx.grads)) maxErr = Math.max(maxErr, close(`grad ${k}`, bwd.grads[k], g, 1e-4, rtol));
      const h = new Hasher().words(bwd.dInput.data).words(bwd.dH0.data).words(bwd.dC0.data);
      return { hash: hashDict(h, bwd.grads).hex(), details: { maxErr } };
    }),
  );
  lstm?.dispose();
  return out;
}

/** The training model: Embedding → 2-layer LSTM (batch-first) → Dense, cross-entropy, Adam. */
const TRAIN = { vocab: 7, dim: 5, hidden: 12, B: 4, T: 9, steps: 20, lag: 2 };

function makeModel(L) {
  return new L.Sequential([
    new L.Embedding({ numEmbeddings: TRAIN.vocab, embeddingDim: TRAIN.dim, seed: 101 }),
    new L.LSTM({ inputSize: TRAIN.dim, hiddenSize: TRAIN.hidden, numLayers: 2, batchFirst: true, seed: 102 }),
    new L.Dense({ inputSize: TRAIN.hidden, units: TRAIN.vocab, seed: 103 }),
  ]);
}

/** Batch k of the delayed-recall task: ids [B, T], target at tick t = id at tick t - lag (-1 before). */
function trainBatch(k) {
  const { vocab, B, T, lag } = TRAIN;
  const ids = randomInts(B * T, vocab, 7001 + 31 * k);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) y[b * T + t] = t >= lag ? ids[b * T + t - lag] : -1;
  return { x: { data: ids, shape: [B, T] }, y: { data: y, shape: [B, T] } };
}

async function trainingCheck(L, shared) {
  return checkAsync('train:adam', async () => {
    const model = makeModel(L);
    model.compile({ loss: 'crossEntropy', optimizer: new L.Adam({ lr: 0.02 }) });
    const losses = [];
    for (let k = 0; k < TRAIN.steps; k++) {
      const { x, y } = trainBatch(k % 5);
      losses.push(await model.trainOnBatch(x, y));
    }
    assert(losses.every(Number.isFinite), `non-finite loss: ${losses}`);
    assert(losses[losses.length - 1] < losses[0] * 0.8, `loss did not fall: ${losses[0]} -> ${losses[losses.length - 1]}`);
    const params = model.stateDict();
    const lossHash = new Hasher().words(Float32Array.from(losses)).hex();
    const paramHash = hashDict(new Hasher(), params).hex();
    shared.trained = model;
    return {
      hash: new Hasher().words(Float32Array.from(losses)).words(Float32Array.from(Object.values(params).flatMap((t) => Array.from(t.data)))).hex(),
      details: { steps: TRAIN.steps, firstLoss: losses[0], finalLoss: losses[losses.length - 1], lossHash, paramHash, paramCount: Object.values(params).reduce((a, t) => a + t.data.length, 0) },
    };
  });
}

function ioChecks(L, shared) {
  const out = [];
  out.push(() =>
    check('io:roundtrip', () => {
      const model = shared.trained;
      assert(model, 'training failed, no model to save');
      const { x } = trainBatch(11);
      const before = model.predict(x);
      const bytes = model.toBytes();
      const loaded = L.deserializeModel(bytes);
      const after = loaded.model.predict(x);
      assert(after.shape.join() === before.shape.join(), `predict shape [${after.shape}] != [${before.shape}]`);
      sameBits('predict after load', after.data, before.data);
      sameBits('stateDict after load', flat(loaded.model.stateDict()), flat(model.stateDict()));
      // The loaded file re-serializes to the same bytes.
      const again = loaded.model.toBytes();
      assert(again.length === bytes.length && again.every((v, i) => v === bytes[i]), 'toBytes of the loaded model differs from the file it came from');
      loaded.model.dispose();
      return { hash: new Hasher().words(after.data).hex(), details: { fileBytes: bytes.length, fileHash: new Hasher().bytes(bytes).hex(), outputShape: after.shape } };
    }),
  );
  out.push(() =>
    check('io:checkpoint-resume', async () => {
      // A checkpoint (weights + Adam state) resumes exactly: one more step on the original and on
      // the loaded copy gives the same loss and parameters.
      const model = shared.trained;
      assert(model, 'training failed, no model to save');
      const bytes = model.toBytes({ optimizer: true });
      const loaded = L.deserializeModel(bytes);
      assert(loaded.optimizer, 'no optimizer in the loaded checkpoint');
      const { x, y } = trainBatch(12);
      const la = await model.trainOnBatch(x, y);
      const lb = await loaded.model.trainOnBatch(x, y);
      assert(Object.is(la, lb), `loss after resume ${lb} != ${la}`);
      const pa = flat(model.stateDict());
      sameBits('parameters after one more step', flat(loaded.model.stateDict()), pa);
      loaded.model.dispose();
      return { hash: new Hasher().f32(la).words(pa).hex(), details: { checkpointBytes: bytes.length, checkpointHash: new Hasher().bytes(bytes).hex(), loss: la } };
    }),
  );
  return out;
}

function flat(dict) {
  const parts = Object.values(dict).map((t) => t.data);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function streamingChecks(L) {
  const out = [];
  out.push(
    check('stream:lstm.step', () => {
      const [I, H, layers, B, T] = [5, 7, 2, 3, 10];
      const lstm = new L.LSTM({ inputSize: I, hiddenSize: H, numLayers: layers, seed: 41 });
      const x = rand(L, [T, B, I], 42);
      const h0 = rand(L, [layers, B, H], 43);
      const c0 = rand(L, [layers, B, H], 44);
      const full = lstm.forward(x, { h0, c0 });
      let state = new L.LSTMState(layers, B, H, h0.data.slice(), c0.data.slice());
      const h = new Hasher();
      for (let t = 0; t < T; t++) {
        const r = lstm.step(new L.Tensor(x.data.slice(t * B * I, (t + 1) * B * I), [B, I]), state);
        sameBits(`tick ${t} output`, r.output.data, full.output.data.subarray(t * B * H, (t + 1) * B * H));
        h.words(r.output.data);
        state = r.state;
      }
      sameBits('final h', state.h, full.hN.data);
      sameBits('final c', state.c, full.cN.data);
      lstm.dispose();
      return { hash: h.words(state.h).words(state.c).hex(), details: { ticks: T } };
    }),
  );
  out.push(
    check('stream:sequential.step', () => {
      const model = makeModel(L);
      const { x } = trainBatch(3);
      const { B, T, vocab } = TRAIN;
      const full = model.predict(x).data;
      let state;
      const h = new Hasher();
      for (let t = 0; t < T; t++) {
        const ids = new Int32Array(B);
        for (let b = 0; b < B; b++) ids[b] = x.data[b * T + t];
        const r = model.step({ data: ids, shape: [B] }, state);
        state = r.state;
        for (let b = 0; b < B; b++) sameBits(`tick ${t} sample ${b}`, r.output.data.subarray(b * vocab, (b + 1) * vocab), full.subarray((b * T + t) * vocab, (b * T + t + 1) * vocab));
        h.words(r.output.data);
      }
      model.dispose();
      return { hash: h.hex(), details: { ticks: T } };
    }),
  );
  return out;
}

/** The scalar build (a second runtime) gives the same bits as the SIMD build the library runs. */
async function buildsCheck(L, fixtures, scalarWasm) {
  return checkAsync('builds:simd-equals-scalar', async () => {
    assert(scalarWasm !== undefined, 'the runner passed no scalarWasm');
    const scalar = await L.createRuntime(scalarWasm);
    assert(scalar.simd === false, 'scalarWasm is not the scalar build');
    const h = new Hasher();
    for (const name of ['stacked3', 'bidir2']) {
      const fx = fixtures[name];
      const a = fixtureForward(L, fx);
      const b = fixtureForward(L, fx, scalar);
      sameBits(`${name} output`, b.fwd.output.data, a.fwd.output.data);
      const args = { dOutput: tensor(L, fx.dOutput), dHN: tensor(L, fx.dHN), dCN: tensor(L, fx.dCN) };
      const ga = a.lstm.backward(args);
      const gb = b.lstm.backward(args);
      sameBits(`${name} dInput`, gb.dInput.data, ga.dInput.data);
      sameBits(`${name} grads`, flat(gb.grads), flat(ga.grads));
      h.words(b.fwd.output.data).words(gb.dInput.data).words(flat(gb.grads));
      a.lstm.dispose();
      b.lstm.dispose();
    }
    assert(scalar.liveObjects() === 0, `scalar runtime leaked ${scalar.liveObjects()} objects`);
    return { hash: h.hex(), details: {} };
  });
}

// ---------------------------------------------------------------- harness

function finish(name, t0, f) {
  return (r) => ({ name, pass: true, hash: r.hash, details: r.details, ms: f(now() - t0) });
}

function fail(name, t0) {
  return (e) => ({ name, pass: false, hash: null, details: null, error: String(e && e.stack ? e.stack : e).split('\n').slice(0, 4).join('\n'), ms: Math.round(now() - t0) });
}

/** Run `fn` (sync or returning a promise) as a check. Sync checks return a result or a promise of one. */
function check(name, fn) {
  const t0 = now();
  try {
    const r = fn();
    if (r && typeof r.then === 'function') return r.then(finish(name, t0, Math.round), fail(name, t0));
    return finish(name, t0, Math.round)(r);
  } catch (e) {
    return fail(name, t0)(e);
  }
}

async function checkAsync(name, fn) {
  return check(name, fn);
}


function runtimeName() {
  const g = globalThis;
  if (g.Deno?.version) return `deno ${g.Deno.version.deno}`;
  if (g.Bun?.version) return `bun ${g.Bun.version}`;
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (g.process?.versions?.node && !g.window) return `node ${g.process.versions.node}`;
  if (typeof g.WorkerGlobalScope !== 'undefined' && g instanceof g.WorkerGlobalScope) return `worker ${g.navigator?.userAgent ?? ''}`;
  if (g.navigator?.userAgent) return `browser ${g.navigator.userAgent}`;
  return 'unknown';
}

/**
 * Run every check. `L` is the library module after `await L.ready()`; `fixtures` maps the names in
 * LSTM_FIXTURES to the parsed JSON of test/fixtures/<name>.json; `options.scalarWasm` is a source
 * of the scalar build for `L.createRuntime` (bytes, a Response, or a WebAssembly.Module).
 */
export async function runSuite(L, fixtures, options = {}) {
  const t0 = now();
  const rt = L.runtime();
  const liveBefore = rt.liveObjects();
  const checks = [];
  const missing = LSTM_FIXTURES.filter((n) => !fixtures || !fixtures[n]);
  checks.push(check('fixtures:present', () => {
    assert(missing.length === 0, `missing fixtures: ${missing.join(', ')}`);
    return { hash: null, details: { names: LSTM_FIXTURES } };
  }));
  for (const name of LSTM_FIXTURES) if (fixtures?.[name]) checks.push(...fixtureChecks(L, name, fixtures[name]));
  const shared = {};
  checks.push(await trainingCheck(L, shared));
  for (const c of ioChecks(L, shared)) checks.push(await c());
  shared.trained?.dispose();
  checks.push(...streamingChecks(L));
  checks.push(await buildsCheck(L, fixtures ?? {}, options.scalarWasm));
  checks.push(check('leaks:live-objects', () => {
    const after = rt.liveObjects();
    assert(after === liveBefore, `${after - liveBefore} core objects still alive after the suite`);
    return { hash: null, details: { live: after } };
  }));
  return {
    suite: SUITE_VERSION,
    runtime: runtimeName(),
    simd: rt.simd,
    simdSupported: L.simdSupported(),
    gemmKernel: rt.gemmKernel,
    pass: checks.every((c) => c.pass),
    checks,
    ms: Math.round(now() - t0),
  };
}
