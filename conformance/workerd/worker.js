// workerd: the package's workerd entry, which imports its SIMD build as a module (workerd forbids
// compiling wasm from bytes). Every request runs the suite and answers with its JSON.
import * as L from 'lstm-wasm';
import scalarWasm from 'lstm-wasm/lstm-scalar.wasm';
import { runSuite } from './suite.js';
import single from './fixtures/single.json';
import stacked3 from './fixtures/stacked3.json';
import bidir2 from './fixtures/bidir2.json';
import batchfirst_bidir from './fixtures/batchfirst_bidir.json';
import nostate from './fixtures/nostate.json';
import long1000 from './fixtures/long1000.json';

const fixtures = { single, stacked3, bidir2, batchfirst_bidir, nostate, long1000 };

export default {
  async fetch() {
    try {
      await L.ready();
      let fromBytes = 'allowed';
      try {
        await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
      } catch (e) {
        fromBytes = `refused: ${e.message}`;
      }
      const result = await runSuite(L, fixtures, { scalarWasm });
      result.compileFromBytes = fromBytes;
      return Response.json(result);
    } catch (e) {
      return Response.json({ pass: false, fatal: String(e && e.stack ? e.stack : e) }, { status: 500 });
    }
  },
};
