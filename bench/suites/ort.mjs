// onnxruntime-web (wasm, 1 thread) or onnxruntime-node (CPU, 1 intra-op thread) on W1/W2 through
// the ONNX LSTM graphs of lib/onnx-graphs.mjs. opts.flavor: 'web' | 'node'. Child of run.mjs.
import fs from 'node:fs';
import { WORKLOADS, childArgs, measure, runChild, uniform, unsupported } from '../lib/common.mjs';
import { writeGraph } from '../lib/onnx-graphs.mjs';

const { workload, opts } = childArgs();
const flavor = opts.flavor ?? 'web';

async function session(ort, file) {
  const bytes = fs.readFileSync(file);
  if (flavor === 'web') {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    return ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  }
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function w1(ort) {
  const s = WORKLOADS.W1;
  const sess = await session(ort, writeGraph('W1'));
  const xs = Array.from({ length: s.ticks }, (_, t) => new ort.Tensor('float32', uniform(s.input, 100 + t), [1, 1, s.input]));
  const zeros = new ort.Tensor('float32', new Float32Array(s.hidden), [1, 1, s.hidden]);
  const tick = async () => {
    let h = zeros;
    let c = zeros;
    for (let t = 0; t < s.ticks; t++) {
      const r = await sess.run({ X: xs[t], initial_h: h, initial_c: c });
      h = r.Y_h;
      c = r.Y_c;
    }
  };
  // Five warm-up passes: its first samples stay slow for a few passes more than lstm-wasm's.
  const times = await measure(tick, { warmup: opts.warmup ?? 5, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  await sess.release();
  return { times, stepsPerSample: s.ticks, variant: 'single-step ONNX LSTM graph, await session.run per step, Y_h/Y_c fed back' };
}

async function w2(ort) {
  const s = WORKLOADS.W2;
  const sess = await session(ort, writeGraph('W2'));
  const x = new ort.Tensor('float32', uniform(s.ticks * s.batch * s.input, 7), [s.ticks, s.batch, s.input]);
  const run = async () => {
    const r = await sess.run({ X: x });
    if (r.Y.data.length !== s.ticks * s.batch * s.hidden) throw new Error('W2: unexpected output size');
  };
  const times = await measure(run, { warmup: opts.warmup ?? 2, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  await sess.release();
  return { times, seqsPerSample: s.batch, variant: '2 chained ONNX LSTM nodes, session.run on X [100,64,64]' };
}

runChild(async () => {
  const ort = await import(flavor === 'web' ? 'onnxruntime-web' : 'onnxruntime-node');
  if (workload === 'W3') {
    return unsupported(flavor === 'web'
      ? 'inference only: onnxruntime-web 1.30 ships no training build (ORT training needs artifacts from Python onnxruntime-training)'
      : 'inference only: onnxruntime-node has no training API');
  }
  const fn = { W1: w1, W2: w2 }[workload];
  if (!fn) return unsupported(`no ${workload} suite`);
  return { ...(await fn(ort)), versions: ort.env.versions };
});
