// @tensorflow/tfjs 4.22 on the wasm backend (single thread) for W1/W2/W3. Child of run.mjs.
// opts.variant for W1: 'cell' (tf.basicLSTMCell per step) or 'layers' (stateful layers LSTM, predict per step).
import { createRequire } from 'node:module';
import path from 'node:path';
import { WORKLOADS, childArgs, classes, measure, runChild, uniform, unsupported } from '../lib/common.mjs';

const require = createRequire(import.meta.url);
const { workload, opts } = childArgs();

async function load() {
  // The console note about tfjs-node is noise here: tfjs-node cannot be installed (its install downloads a binary).
  const log = console.log;
  console.log = () => {};
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  console.log = log;
  const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/';
  wasm.setWasmPaths(dist);
  wasm.setThreadsCount?.(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  await tf.ready();
  return { tf, wasm };
}

function lstmLayer(tf, units, extra) {
  // PyTorch's (and lstm-wasm's) gate activation is the sigmoid; Keras' default is hardSigmoid.
  return tf.layers.lstm({ units, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotUniform', returnSequences: true, ...extra });
}

async function w1(tf) {
  const s = WORKLOADS.W1;
  const xs = Array.from({ length: s.ticks }, (_, t) => tf.tensor2d(uniform(s.input, 100 + t), [1, s.input]));
  let tick;
  let variant;
  if ((opts.variant ?? 'cell') === 'cell') {
    variant = 'tf.basicLSTMCell per step, h read with dataSync()';
    const kernel = tf.tensor2d(uniform((s.input + s.hidden) * 4 * s.hidden, 1, 1 / Math.sqrt(s.hidden)), [s.input + s.hidden, 4 * s.hidden]);
    const bias = tf.tensor1d(uniform(4 * s.hidden, 2, 1 / Math.sqrt(s.hidden)));
    const forgetBias = tf.scalar(0);
    tick = () => {
      let c = tf.zeros([1, s.hidden]);
      let h = tf.zeros([1, s.hidden]);
      for (let t = 0; t < s.ticks; t++) {
        const [c2, h2] = tf.basicLSTMCell(forgetBias, kernel, bias, xs[t], c, h);
        h2.dataSync();
        c.dispose();
        h.dispose();
        c = c2;
        h = h2;
      }
      c.dispose();
      h.dispose();
    };
  } else {
    variant = 'stateful tf.layers.lstm, model.predict per step, output read with dataSync()';
    const model = tf.sequential({ layers: [lstmLayer(tf, s.hidden, { stateful: true, returnSequences: false, batchInputShape: [1, 1, s.input] })] });
    const x3 = xs.map((x) => x.reshape([1, 1, s.input]));
    tick = () => {
      model.resetStates();
      for (let t = 0; t < s.ticks; t++) {
        const y = model.predict(x3[t]);
        y.dataSync();
        y.dispose();
      }
    };
  }
  const times = await measure(tick, { warmup: opts.warmup ?? 1, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  return { times, stepsPerSample: s.ticks, variant, numTensors: tf.memory().numTensors };
}

async function w2(tf) {
  const s = WORKLOADS.W2;
  const model = tf.sequential({ layers: [lstmLayer(tf, s.hidden, { inputShape: [s.ticks, s.input] }), lstmLayer(tf, s.hidden)] });
  // Keras layout is batch-major [B, T, I]; the data are the same numbers as the other libraries get.
  const x = tf.tensor3d(uniform(s.ticks * s.batch * s.input, 7), [s.batch, s.ticks, s.input]);
  const run = () => {
    const y = model.predict(x, { batchSize: s.batch });
    y.dataSync();
    y.dispose();
  };
  const times = await measure(run, { warmup: opts.warmup ?? 1, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  return { times, seqsPerSample: s.batch, variant: 'tf.sequential([lstm(256), lstm(256)]).predict, output read with dataSync()', numTensors: tf.memory().numTensors };
}

async function w3(tf) {
  const s = WORKLOADS.W3;
  const model = tf.sequential({
    layers: [
      lstmLayer(tf, s.hidden, { inputShape: [s.ticks, s.input] }),
      lstmLayer(tf, s.hidden),
      // A plain dense on [B, T, H] is one matrix product; timeDistributed would loop over the ticks.
      tf.layers.dense({ units: s.classes, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(s.lr), loss: 'categoricalCrossentropy' });
  const x = tf.tensor3d(uniform(s.ticks * s.batch * s.input, 11), [s.batch, s.ticks, s.input]);
  const y = tf.oneHot(tf.tensor2d(classes(s.ticks * s.batch, s.classes, 12), [s.batch, s.ticks], 'int32'), s.classes).toFloat();
  const times = await measure(() => model.trainOnBatch(x, y), { warmup: opts.warmup ?? 1, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  return { times, seqsPerSample: s.batch, variant: 'LSTM×2 + Dense softmax on every tick, categoricalCrossentropy, Adam, trainOnBatch', numTensors: tf.memory().numTensors };
}

runChild(async () => {
  const { tf, wasm } = await load();
  const fn = { W1: w1, W2: w2, W3: w3 }[workload];
  if (!fn) return unsupported(`no ${workload} suite`);
  const res = await fn(tf);
  return { ...res, backend: tf.getBackend(), versions: { tfjs: tf.version.tfjs, wasm: wasm.version_wasm } };
});
