// brain.js 2.0.0-beta.24 (pure JS, CPU) on what it can express. Child of run.mjs.
// Its recurrent nets run one sequence at a time, keep no state between run() calls, and train
// per sequence with a fixed RMSProp-like rule, so:
//   W1: LSTMTimeStep(32 → [128] → 32) runs the 1000 ticks as ONE sequence in one run() call
//       (same per-tick LSTM work plus a 128→32 output layer; not streaming).
//   W2: not measured (no batched inference).
//   W3: recurrent.LSTM with a 64-wide input embedding over 50 token ids, 2×128 hidden, 50+1 output
//       classes with softmax cross-entropy at every tick (51 ticks: start token + 50), trained
//       with trainPattern one sequence at a time (its RMSProp-like update after every sequence).
import { WORKLOADS, childArgs, classes, measure, runChild, uniform, unsupported } from '../lib/common.mjs';

const { workload, opts } = childArgs();

async function w1(brain) {
  const s = WORKLOADS.W1;
  const net = new brain.recurrent.LSTMTimeStep({ inputSize: s.input, hiddenLayers: [s.hidden], outputSize: s.input });
  net.initialize();
  net.bindEquation(); // run() refuses a net that has never been trained unless one tick is bound
  const seq = Array.from({ length: s.ticks }, (_, t) => Array.from(uniform(s.input, 100 + t)));
  const times = await measure(() => net.run(seq), { warmup: opts.warmup ?? 1, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  return { times, stepsPerSample: s.ticks, variant: 'LSTMTimeStep.run(one 1000-tick sequence): not streamed, + 128→32 output layer per tick' };
}

async function w3(brain) {
  const s = WORKLOADS.W3;
  const net = new brain.recurrent.LSTM({
    inputSize: s.input,
    inputRange: s.classes,
    hiddenLayers: [s.hidden, s.hidden],
    outputSize: s.classes,
    dataFormatter: null,
  });
  net.initialize();
  net.trainOpts.learningRate = s.lr;
  const seqs = Array.from({ length: s.batch }, (_, b) => Array.from(classes(s.ticks, s.classes, 300 + b)));
  const batch = () => {
    for (const q of seqs) net.trainPattern(q, false);
  };
  const times = await measure(batch, { warmup: opts.warmup ?? 1, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  return { times, seqsPerSample: s.batch, variant: 'recurrent.LSTM.trainPattern per sequence (batch 1, its RMSProp rule), 32 sequences per sample' };
}

runChild(async () => {
  const brain = (await import('brain.js')).default;
  if (workload === 'W2') return unsupported('no batched inference: recurrent nets run one sequence per run() call');
  const fn = { W1: w1, W3: w3 }[workload];
  if (!fn) return unsupported(`no ${workload} suite`);
  return await fn(brain);
});
