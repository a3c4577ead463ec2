// Sanity check that the ONNX graphs compute what lstm-wasm computes (same weights, same inputs),
// so both sides of the W1/W2 comparison do the same work. ONNX orders gates i, o, f, c; PyTorch
// (and lstm-wasm) i, f, g, o. Child of run.mjs: `node suites/parity.mjs parity '{"flavor":"web"}'`.
import fs from 'node:fs';
import onnxProto from 'onnx-proto';
import { LSTM, Tensor, ready } from 'lstm-wasm';
import { WORKLOADS, childArgs, runChild, uniform } from '../lib/common.mjs';
import { writeGraph } from '../lib/onnx-graphs.mjs';

const { opts } = childArgs();
const { onnx } = onnxProto;

const f32 = (raw) => new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

/** ONNX rows [4H, K] in gate order i,o,f,c → PyTorch rows [4H, K] in gate order i,f,g(=c),o. */
function reorder(src, hidden, k) {
  const out = new Float32Array(src.length);
  const onnxGate = { i: 0, o: 1, f: 2, c: 3 };
  ['i', 'f', 'c', 'o'].forEach((g, torchGate) => out.set(src.subarray(onnxGate[g] * hidden * k, (onnxGate[g] + 1) * hidden * k), torchGate * hidden * k));
  return out;
}

/** lstm-wasm state dict (PyTorch names) from the initializers of one of our ONNX graphs. */
function stateDictFromOnnx(bytes, layers, input, hidden) {
  const m = onnx.ModelProto.decode(bytes);
  const init = Object.fromEntries(m.graph.initializer.map((t) => [t.name, f32(t.rawData)]));
  const dict = {};
  for (let l = 0; l < layers; l++) {
    const b = init[`lstm${l}_B`]; // [Wb (4H) | Rb (4H)], each in ONNX gate order
    dict[`weight_ih_l${l}`] = reorder(init[`lstm${l}_W`], hidden, l === 0 ? input : hidden);
    dict[`weight_hh_l${l}`] = reorder(init[`lstm${l}_R`], hidden, hidden);
    dict[`bias_ih_l${l}`] = reorder(b.subarray(0, 4 * hidden), hidden, 1);
    dict[`bias_hh_l${l}`] = reorder(b.subarray(4 * hidden), hidden, 1);
  }
  return dict;
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

runChild(async () => {
  await ready();
  const ort = await import(opts.flavor === 'node' ? 'onnxruntime-node' : 'onnxruntime-web');
  if (opts.flavor !== 'node') ort.env.wasm.numThreads = 1;
  const out = {};
  // W1: all its steps, through the call W1 times (lstm.step), carrying state.
  {
    const s = WORKLOADS.W1;
    const bytes = fs.readFileSync(writeGraph('W1'));
    const sess = await ort.InferenceSession.create(bytes);
    const lstm = new LSTM({ inputSize: s.input, hiddenSize: s.hidden });
    lstm.loadStateDict(stateDictFromOnnx(bytes, 1, s.input, s.hidden));
    let h = new ort.Tensor('float32', new Float32Array(s.hidden), [1, 1, s.hidden]);
    let c = h;
    let state;
    let diff = 0;
    for (let t = 0; t < s.ticks; t++) {
      const x = uniform(s.input, 100 + t);
      const r = await sess.run({ X: new ort.Tensor('float32', x, [1, 1, s.input]), initial_h: h, initial_c: c });
      ({ state } = lstm.step(new Tensor(x, [1, s.input]), state));
      diff = Math.max(diff, maxDiff(r.Y_h.data, state.h), maxDiff(r.Y_c.data, state.c));
      ({ Y_h: h, Y_c: c } = r);
    }
    out.W1 = { steps: s.ticks, maxAbsDiff: diff };
    lstm.dispose();
  }
  // W2: the whole batch.
  {
    const s = WORKLOADS.W2;
    const bytes = fs.readFileSync(writeGraph('W2'));
    const sess = await ort.InferenceSession.create(bytes);
    const lstm = new LSTM({ inputSize: s.input, hiddenSize: s.hidden, numLayers: s.layers });
    lstm.loadStateDict(stateDictFromOnnx(bytes, s.layers, s.input, s.hidden));
    const x = uniform(s.ticks * s.batch * s.input, 7);
    const r = await sess.run({ X: new ort.Tensor('float32', x, [s.ticks, s.batch, s.input]) });
    const f = lstm.forward(new Tensor(x, [s.ticks, s.batch, s.input]), { grad: false }); // the call W2 times
    out.W2 = { maxAbsDiff: maxDiff(r.Y.data, f.output.data) };
    lstm.dispose();
  }
  return out;
});
