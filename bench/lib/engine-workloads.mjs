// lstm-wasm's own W1/W2/W3 and GEMM, written against web-standard APIs only, so that the same code
// runs in Node, Deno, Bun and a Chromium page (bench/engines.mjs). Shapes as in common.mjs.
const W1 = { input: 32, hidden: 128, ticks: 1000 };
const W2 = { input: 64, hidden: 256, layers: 2, batch: 64, ticks: 100 };
const W3 = { input: 64, hidden: 128, layers: 2, batch: 32, ticks: 50, classes: 50, lr: 1e-3 };

const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];

function uniform(n, seed) {
  const d = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    d[i] = (s / 4294967296) * 2 - 1;
  }
  return d;
}

async function timed(fn, warmup, samples) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Run the workloads with the lstm-wasm module `L` (already `ready()`); medians. */
export async function runWorkloads(L, { samples = 11 } = {}) {
  const rt = L.runtime();
  const out = { gemmKernel: rt.gemmKernel, simd: rt.simd };

  const l1 = new L.LSTM({ inputSize: W1.input, hiddenSize: W1.hidden, seed: 1 });
  const xs = Array.from({ length: W1.ticks }, (_, t) => new L.Tensor(uniform(W1.input, 100 + t), [1, W1.input]));
  const stream = () => {
    let state = l1.zeroState(1);
    for (let t = 0; t < W1.ticks; t++) ({ state } = l1.step(xs[t], state));
  };
  // A long warm-up: Chromium's V8 runs the facade in its middle tier for the first ~30 000 steps
  // (8.7 µs/step there, 6.8 once optimised).
  out.w1UsPerStep = ((await timed(stream, 40, 2 * samples + 1)) * 1000) / W1.ticks;
  l1.dispose();

  const l2 = new L.LSTM({ inputSize: W2.input, hiddenSize: W2.hidden, numLayers: W2.layers, seed: 1 });
  const x2 = new L.Tensor(uniform(W2.ticks * W2.batch * W2.input, 7), [W2.ticks, W2.batch, W2.input]);
  out.w2SeqPerS = (W2.batch * 1000) / (await timed(() => l2.forward(x2, { grad: false }), 2, samples));
  l2.dispose();

  const model = new L.Sequential([
    new L.LSTM({ inputSize: W3.input, hiddenSize: W3.hidden, numLayers: W3.layers, seed: 1 }),
    new L.Dense({ inputSize: W3.hidden, units: W3.classes, seed: 2 }),
  ]);
  model.compile({ loss: 'crossEntropy', optimizer: new L.Adam({ lr: W3.lr }) });
  const x3 = new L.Tensor(uniform(W3.ticks * W3.batch * W3.input, 11), [W3.ticks, W3.batch, W3.input]);
  const y3 = { data: Int32Array.from({ length: W3.ticks * W3.batch }, (_, i) => (i * 7) % W3.classes), shape: [W3.ticks, W3.batch] };
  out.w3SeqPerS = (W3.batch * 1000) / (await timed(() => model.trainOnBatch(x3, y3), 3, samples));
  model.dispose();

  const c = rt.core;
  const [m, k, n, reps] = [256, 1024, 256, 5];
  const a = c.lstmw_alloc(m * k * 4), b = c.lstmw_alloc(k * n * 4), cc = c.lstmw_alloc(m * n * 4);
  const gemm = () => {
    for (let i = 0; i < reps; i++) rt.check(c.lstmw_gemm(m, n, k, a, k, 1, b, n, 1, cc, n, 0));
  };
  out.gemmGflops = (2 * m * n * k * reps) / (await timed(gemm, 3, samples)) / 1e6;
  c.lstmw_free(a, m * k * 4);
  c.lstmw_free(b, k * n * 4);
  c.lstmw_free(cc, m * n * 4);
  return out;
}
