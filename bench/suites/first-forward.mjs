// Time from `import` to the first forward output in this (fresh) process, for one library:
// import the package, initialise its wasm/runtime, build the W1-shaped LSTM (1 layer, 32 → 128),
// run one tick and read the output. Child of run.mjs: `node suites/first-forward.mjs <lib>`.
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const lib = process.argv[2];
const t0 = performance.now();
let out;
if (lib === 'lstm-wasm') {
  const { ready, LSTM, Tensor } = await import('lstm-wasm');
  await ready();
  const lstm = new LSTM({ inputSize: 32, hiddenSize: 128, seed: 1 });
  out = lstm.forward(new Tensor(new Float32Array(32).fill(0.5), [1, 1, 32])).output.data;
} else if (lib === 'onnxruntime-web' || lib === 'onnxruntime-node') {
  const ort = await import(lib);
  const file = process.argv[3]; // the W1 graph, written by the driver beforehand
  if (lib === 'onnxruntime-web') ort.env.wasm.numThreads = 1;
  const sess = await ort.InferenceSession.create(fs.readFileSync(file), lib === 'onnxruntime-web' ? { executionProviders: ['wasm'] } : { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const z = new ort.Tensor('float32', new Float32Array(128), [1, 1, 128]);
  const r = await sess.run({ X: new ort.Tensor('float32', new Float32Array(32).fill(0.5), [1, 1, 32]), initial_h: z, initial_c: z });
  out = r.Y_h.data;
} else if (lib === 'tfjs-wasm') {
  const log = console.log;
  console.log = () => {};
  // What the timed work needs: tfjs-core and the wasm backend (not the whole @tensorflow/tfjs).
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  console.log = log;
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  wasm.setThreadsCount?.(1);
  await tf.setBackend('wasm');
  const [, h] = tf.basicLSTMCell(tf.scalar(0), tf.randomUniform([160, 512], -0.1, 0.1), tf.zeros([512]), tf.fill([1, 32], 0.5), tf.zeros([1, 128]), tf.zeros([1, 128]));
  out = h.dataSync();
} else {
  throw new Error(`first-forward: unknown library ${lib}`);
}
const ms = performance.now() - t0;
if (!out || out.length !== 128) throw new Error(`first-forward: unexpected output from ${lib}`);
process.stdout.write(`@@RESULT ${JSON.stringify({ ms })}\n`);
