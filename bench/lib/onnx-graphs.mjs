// Builds the ONNX LSTM graphs that onnxruntime-web and onnxruntime-node run for W1 and W2.
// Time-major (layout 0; ORT's CPU LSTM kernel rejects layout 1), gates i, o, f, c (ONNX order),
// weights uniform in ±1/√H from a seeded generator. Written to bench/.cache/ at bench time.
//   node lib/onnx-graphs.mjs          writes bench/.cache/w1-step.onnx and w2-stack.onnx
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { WORKLOADS, uniform } from './common.mjs';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const INT = onnx.AttributeProto.AttributeType.INT;
export const CACHE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.cache');
const OPSET = 17;

function f32Tensor(name, dims, data) {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function i64Tensor(name, values) {
  const data = new BigInt64Array(values.map(BigInt));
  return { name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(data.buffer) };
}

function valueInfo(name, dims) {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** Initializers of one unidirectional LSTM layer: W [1,4H,I], R [1,4H,H], B [1,8H]. */
function lstmWeights(prefix, input, hidden, seed) {
  const k = 1 / Math.sqrt(hidden);
  return [
    f32Tensor(`${prefix}_W`, [1, 4 * hidden, input], uniform(4 * hidden * input, seed, k)),
    f32Tensor(`${prefix}_R`, [1, 4 * hidden, hidden], uniform(4 * hidden * hidden, seed + 1, k)),
    f32Tensor(`${prefix}_B`, [1, 8 * hidden], uniform(8 * hidden, seed + 2, k)),
  ];
}

function lstmNode(prefix, inputs, outputs, hidden) {
  return {
    name: prefix,
    opType: 'LSTM',
    input: inputs,
    output: outputs,
    attribute: [
      { name: 'hidden_size', type: INT, i: hidden },
      { name: 'layout', type: INT, i: 0 },
    ],
  };
}

function model(graph) {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'lstm-wasm-bench',
    opsetImport: [{ domain: '', version: OPSET }],
    graph,
  }).finish();
}

/**
 * W1: one step. Inputs X [1,1,I], initial_h / initial_c [1,1,H]; outputs Y_h, Y_c [1,1,H]
 * (Y_h is the step's output), fed back as the next step's initial state.
 */
export function w1Model() {
  const { input: I, hidden: H } = WORKLOADS.W1;
  return model({
    name: 'w1_lstm_step',
    node: [lstmNode('lstm0', ['X', 'lstm0_W', 'lstm0_R', 'lstm0_B', '', 'initial_h', 'initial_c'], ['', 'Y_h', 'Y_c'], H)],
    initializer: lstmWeights('lstm0', I, H, 1),
    input: [valueInfo('X', [1, 1, I]), valueInfo('initial_h', [1, 1, H]), valueInfo('initial_c', [1, 1, H])],
    output: [valueInfo('Y_h', [1, 1, H]), valueInfo('Y_c', [1, 1, H])],
  });
}

/** W2: two stacked LSTM nodes. X [T,B,I] → Y [T,B,H] (the num_directions axis squeezed away). */
export function w2Model() {
  const { input: I, hidden: H, batch: B, ticks: T } = WORKLOADS.W2;
  return model({
    name: 'w2_lstm_stack',
    node: [
      lstmNode('lstm0', ['X', 'lstm0_W', 'lstm0_R', 'lstm0_B'], ['Y0'], H),
      { name: 'squeeze0', opType: 'Squeeze', input: ['Y0', 'axis1'], output: ['X1'] },
      lstmNode('lstm1', ['X1', 'lstm1_W', 'lstm1_R', 'lstm1_B'], ['Y1'], H),
      { name: 'squeeze1', opType: 'Squeeze', input: ['Y1', 'axis1'], output: ['Y'] },
    ],
    initializer: [...lstmWeights('lstm0', I, H, 1), ...lstmWeights('lstm1', H, H, 4), i64Tensor('axis1', [1])],
    input: [valueInfo('X', [T, B, I])],
    output: [valueInfo('Y', [T, B, H])],
  });
}

export const GRAPHS = { W1: { file: 'w1-step.onnx', build: w1Model }, W2: { file: 'w2-stack.onnx', build: w2Model } };

/** Write the graph for a workload into bench/.cache/ and return its path. */
export function writeGraph(workload) {
  const g = GRAPHS[workload];
  fs.mkdirSync(CACHE, { recursive: true });
  const file = path.join(CACHE, g.file);
  fs.writeFileSync(file, g.build());
  return file;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const w of Object.keys(GRAPHS)) console.log(writeGraph(w));
}
