// lstm-wasm on W1/W2/W3, plus the raw GEMM and W3's memory. Run by run.mjs as a child process.
import { WORKLOADS, childArgs, classes, measure, runChild, uniform, unsupported } from '../lib/common.mjs';
import { Adam, Dense, LSTM, Sequential, Tensor, ready } from 'lstm-wasm';

const { workload, opts } = childArgs();

async function w1() {
  const s = WORKLOADS.W1;
  const lstm = new LSTM({ inputSize: s.input, hiddenSize: s.hidden, seed: 1 });
  const xs = Array.from({ length: s.ticks }, (_, t) => uniform(s.input, 100 + t));
  let variant = 'lstm.step(x, state)';
  let note;
  let tick;
  if (typeof lstm.step === 'function') {
    const steps = xs.map((d) => new Tensor(d, [1, s.input]));
    // The first tick starts from zeros: a state from zeroState()/initialState() if the API has one.
    const zero = () => lstm.zeroState?.(1) ?? lstm.initialState?.(1);
    tick = () => {
      let state = zero();
      for (let t = 0; t < s.ticks; t++) ({ state } = lstm.step(steps[t], state));
    };
    try {
      tick();
    } catch (err) {
      note = `step threw (${String(err?.message ?? err).slice(0, 120)}); forward fallback used`;
      tick = undefined;
    }
  }
  if (!tick) {
    variant = 'lstm.forward(x [1,1,32], { h0, c0 }) per tick (forward fallback)';
    note ??= 'lstm.step is not a function in this build';
    const seqs = xs.map((d) => new Tensor(d, [1, 1, s.input]));
    const zeros = new Tensor(new Float32Array(s.hidden), [1, 1, s.hidden]);
    tick = () => {
      let h0 = zeros;
      let c0 = zeros;
      for (let t = 0; t < s.ticks; t++) {
        const r = lstm.forward(seqs[t], { h0, c0 });
        h0 = r.hN;
        c0 = r.cN;
      }
    };
  }
  const times = await measure(tick, { warmup: 2, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  lstm.dispose();
  return { times, stepsPerSample: s.ticks, variant, fallback: variant.includes('fallback'), note };
}

async function w2() {
  const s = WORKLOADS.W2;
  const lstm = new LSTM({ inputSize: s.input, hiddenSize: s.hidden, numLayers: s.layers, seed: 1 });
  const x = new Tensor(uniform(s.ticks * s.batch * s.input, 7), [s.ticks, s.batch, s.input]);
  // Inference, as the peers do: `grad: false` keeps no training caches (same output bits).
  const times = await measure(() => lstm.forward(x, { grad: false }), { warmup: 2, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  // What the layer holds for inference, and what a training forward (caches for backward) holds.
  const inferenceBytes = lstm.memoryBytes;
  lstm.dispose();
  const training = new LSTM({ inputSize: s.input, hiddenSize: s.hidden, numLayers: s.layers, seed: 1 });
  training.forward(x);
  const trainingBytes = training.memoryBytes;
  training.dispose();
  const rt = await ready();
  return {
    times,
    seqsPerSample: s.batch,
    variant: 'LSTM({ numLayers: 2 }).forward(x [100,64,64], { grad: false })',
    memory: { wasmMemoryBytes: rt.memoryBytes(), layerBytes: inferenceBytes, layerBytesWithGrad: trainingBytes },
  };
}

/** Bytes W3 needs in principle (fp32): parameters, gradients, Adam m and v, and activations. */
function w3Estimate(s, paramCount) {
  const tb = s.ticks * s.batch;
  const perLayer = tb * (4 * s.hidden + 3 * s.hidden); // gates i,f,g,o + c, tanh(c), h per tick
  const activations = s.layers * perLayer + tb * s.input + 2 * tb * s.classes; // + input, logits, dlogits
  return {
    formula: 'bytes = 4·(P params + P grads + 2P Adam m,v) + 4·(L·T·B·7H + T·B·I + 2·T·B·C)',
    params: paramCount,
    paramBytes: 4 * paramCount,
    gradBytes: 4 * paramCount,
    adamBytes: 8 * paramCount,
    activationBytes: 4 * activations,
    totalBytes: 4 * (4 * paramCount + activations),
  };
}

async function w3() {
  const s = WORKLOADS.W3;
  const rt = await ready();
  const before = rt.memoryBytes();
  const model = new Sequential([
    new LSTM({ inputSize: s.input, hiddenSize: s.hidden, numLayers: s.layers, seed: 1 }),
    new Dense({ inputSize: s.hidden, units: s.classes, seed: 2 }),
  ]);
  model.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: s.lr }) });
  const x = new Tensor(uniform(s.ticks * s.batch * s.input, 11), [s.ticks, s.batch, s.input]);
  const y = { data: classes(s.ticks * s.batch, s.classes, 12), shape: [s.ticks, s.batch] };
  const times = await measure(() => model.trainOnBatch(x, y), { warmup: 3, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  const paramCount = model.layers.reduce((a, l) => a + (l.paramCount ?? 0), 0);
  const memory = { wasmMemoryBytes: rt.memoryBytes(), wasmMemoryBytesAtStart: before, estimate: w3Estimate(s, paramCount) };
  model.dispose();
  return { times, seqsPerSample: s.batch, variant: 'Sequential([LSTM(2 layers), Dense]) + crossEntropy + Adam, trainOnBatch', memory };
}

/** The core's GEMM through the raw export: C[M×N] = A[M×K]·B[K×N], row-major. */
async function gemm() {
  const rt = await ready();
  const { m, k, n } = { m: 256, k: 1024, n: 256, ...opts.gemm };
  const core = rt.core;
  const a = core.lstmw_alloc(4 * m * k);
  const b = core.lstmw_alloc(4 * k * n);
  const c = core.lstmw_alloc(4 * m * n);
  if (!a || !b || !c) throw new Error('gemm: lstmw_alloc failed');
  rt.f32(a, m * k).set(uniform(m * k, 21));
  rt.f32(b, k * n).set(uniform(k * n, 22));
  const reps = 5;
  const run = () => {
    for (let i = 0; i < reps; i++) rt.check(core.lstmw_gemm(m, n, k, a, k, 1, b, n, 1, c, n, 0));
  };
  const times = await measure(run, { warmup: 2, samples: opts.samples, minSamples: opts.minSamples, budgetMs: opts.budgetMs });
  core.lstmw_free(a, 4 * m * k);
  core.lstmw_free(b, 4 * k * n);
  core.lstmw_free(c, 4 * m * n);
  return { times, flopsPerSample: 2 * m * n * k * reps, variant: `lstmw_gemm M=${m} K=${k} N=${n}, ${reps} calls per sample`, shape: { m, k, n } };
}

runChild(async () => {
  const rt = await ready();
  const info = { simd: rt.simd };
  const fn = { W1: w1, W2: w2, W3: w3, GEMM: gemm }[workload];
  if (!fn) return unsupported(`unknown workload ${workload}`);
  return { ...info, ...(await fn()) };
});
