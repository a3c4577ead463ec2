// Finite-difference gradient checks, SIMD build, through the public API (and, for the losses, the
// raw core exports). Every analytic gradient is compared entry by entry against a central
// difference of a scalar loss accumulated in float64 in JS. The forward runs in float32, so the step
// is EPS = 5e-3 (1e-2 for the raw cross-entropy) and an entry passes when |fd − analytic| ≤ ATOL + RTOL·|analytic| (ATOL 1e-4,
// RTOL 1e-3; Sequential's mean losses have ~10x smaller gradients and get ATOL 2e-5).
// Every compared tensor also proves the comparison can fail: its largest entry scaled by 1.1 must be
// rejected.
import { afterAll, describe, expect, test } from 'vitest';
import { Dense, LSTM, Runtime, SGD, Sequential, Tensor } from '../src/index.js';
import { build, expectClose, randomData, randomTensor } from './helpers.js';

const EPS = 5e-3;
// Observed: ≤ 3e-5 for the LSTM, Dense and the losses; ~26% of the tolerance at worst.
const ATOL = 1e-4;
const RTOL = 1e-3;

// ----- comparison -------------------------------------------------------------------------------

interface Tol {
  atol: number;
  rtol: number;
}
const TOL: Tol = { atol: ATOL, rtol: RTOL };

/** Indices where |fd − analytic| > atol + rtol·|analytic| (NaN fails). */
function mismatches(analytic: ArrayLike<number>, fd: ArrayLike<number>, tol = TOL): number[] {
  const bad: number[] = [];
  for (let i = 0; i < analytic.length; i++) {
    if (!(Math.abs(fd[i] - analytic[i]) <= tol.atol + tol.rtol * Math.abs(analytic[i]))) bad.push(i);
  }
  return bad;
}

/** Largest |fd − analytic| per piece, printed at the end. */
const worst = new Map<string, { diff: number; ratio: number; where: string; entries: number }>();

/**
 * Compare `analytic` against `fd`; throw a readable error listing the first mismatches. Then check
 * the comparison is not vacuous: the largest analytic entry must be big enough that a 10% error on
 * it is rejected, and it is.
 */
function expectGrad(piece: string, what: string, analytic: ArrayLike<number>, fd: ArrayLike<number>, tol = TOL): void {
  expect(analytic.length, `${piece} ${what}: length`).toBe(fd.length);
  const bad = mismatches(analytic, fd, tol);
  if (bad.length) {
    const first = bad.slice(0, 5).map((i) => `[${i}] analytic ${analytic[i]} fd ${fd[i]} (diff ${Math.abs(fd[i] - analytic[i]).toExponential(2)})`);
    throw new Error(`${piece} ${what}: ${bad.length}/${analytic.length} entries differ from finite differences; ${first.join('; ')}`);
  }
  let diff = 0;
  let ratio = 0;
  let big = 0;
  for (let i = 0; i < analytic.length; i++) {
    const d = Math.abs(fd[i] - analytic[i]);
    diff = Math.max(diff, d);
    ratio = Math.max(ratio, d / (tol.atol + tol.rtol * Math.abs(analytic[i])));
    if (Math.abs(analytic[i]) > Math.abs(analytic[big])) big = i;
  }
  const w = worst.get(piece) ?? { diff: 0, ratio: 0, where: '', entries: 0 };
  w.entries += analytic.length;
  w.ratio = Math.max(w.ratio, ratio);
  if (diff >= w.diff) Object.assign(w, { diff, where: what });
  worst.set(piece, w);
  // Sanity: the comparison must reject a gradient that is 10% off on its largest entry.
  const wrong = Array.from(analytic);
  wrong[big] *= 1.1;
  expect(mismatches(wrong, fd, tol), `${piece} ${what}: a 10% error on entry ${big} (${analytic[big]}) must be rejected`).toEqual([big]);
}

afterAll(() => {
  const lines = [...worst].map(([piece, w]) => `  ${piece.padEnd(34)} max |fd − analytic| ${w.diff.toExponential(2)} (${w.where}), max diff/tol ${w.ratio.toFixed(3)}, ${w.entries} entries`);
  console.log(`finite-difference checks (eps ${EPS}; diff/tol is the worst fraction of the tolerance used):\n${lines.join('\n')}`);
});

// ----- finite differences -----------------------------------------------------------------------

/**
 * Central difference of `f` with respect to every entry of `data` (perturbed in place, restored
 * after each entry). The step is the float32 one actually taken, not the nominal 2·EPS.
 */
function centralDiff(data: Float32Array, f: () => number, eps = EPS): Float64Array {
  const g = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    data[i] = v + eps;
    const up = data[i];
    const lp = f();
    data[i] = v - eps;
    const down = data[i];
    const lm = f();
    data[i] = v;
    g[i] = (lp - lm) / (up - down);
  }
  return g;
}

/** Σ a·b in float64. */
function dot(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Mean softmax cross-entropy over rows whose target is not -1, in float64. */
function crossEntropy64(logits: Float32Array, c: number, targets: ArrayLike<number>): number {
  let total = 0;
  let counted = 0;
  for (let r = 0; r < targets.length; r++) {
    if (targets[r] === -1) continue;
    const z = Array.from(logits.subarray(r * c, (r + 1) * c));
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - z[targets[r]];
    counted++;
  }
  return counted ? total / counted : 0;
}

/** Mean squared error in float64. */
function mse64(pred: Float32Array, target: Float32Array): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - target[i]) ** 2;
  return s / pred.length;
}

function scaled(t: Tensor, k: number): Tensor {
  return new Tensor(t.data.map((v) => v * k), t.shape.slice());
}

const zeros = (shape: number[]) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

// ----- LSTM -------------------------------------------------------------------------------------

interface LstmCase {
  name: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  t: number;
  b: number;
  /** Pass random h0/c0; otherwise the analytic pass uses none and the differences perturb zeros. */
  states: boolean;
}

const lstmCases: LstmCase[] = [
  { name: '1 layer', inputSize: 3, hiddenSize: 2, numLayers: 1, bidirectional: false, batchFirst: false, t: 4, b: 2, states: false },
  { name: '2 layers bidirectional', inputSize: 2, hiddenSize: 2, numLayers: 2, bidirectional: true, batchFirst: false, t: 3, b: 2, states: false },
  { name: 'batchFirst, bidirectional', inputSize: 3, hiddenSize: 3, numLayers: 1, bidirectional: true, batchFirst: true, t: 3, b: 2, states: false },
  { name: '2 layers with h0/c0', inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: false, batchFirst: false, t: 4, b: 2, states: true },
  { name: '2 layers bidirectional batchFirst with h0/c0', inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true, batchFirst: true, t: 3, b: 2, states: true },
];

describe('LSTM gradients vs finite differences (SIMD build)', () => {
  test.each(lstmCases.map((c) => [c.name, c] as const))('%s: every parameter, input, h0 and c0', async (_name, c) => {
    const rt = await build('simd');
    expect(rt.simd).toBe(true);
    const piece = `LSTM ${c.name}`;
    const { t, b } = c;
    const dirs = c.bidirectional ? 2 : 1;
    const { inputSize, hiddenSize, numLayers, bidirectional, batchFirst } = c;
    const lstm = new LSTM({ inputSize, hiddenSize, numLayers, bidirectional, batchFirst, seed: 11, runtime: rt });
    const xShape = c.batchFirst ? [b, t, c.inputSize] : [t, b, c.inputSize];
    const outShape = c.batchFirst ? [b, t, dirs * c.hiddenSize] : [t, b, dirs * c.hiddenSize];
    const stShape = [c.numLayers * dirs, b, c.hiddenSize];
    // Inputs of magnitude ~1.5 so the gates leave their linear range.
    const x = scaled(randomTensor(xShape, 101), 1.5);
    const h0 = c.states ? scaled(randomTensor(stShape, 102), 0.8) : zeros(stShape);
    const c0 = c.states ? scaled(randomTensor(stShape, 103), 0.8) : zeros(stShape);
    const R = randomTensor(outShape, 201);
    const Rh = randomTensor(stShape, 202);
    const Rc = randomTensor(stShape, 203);

    const loss = () => {
      const { output, hN, cN } = lstm.forward(x, { h0, c0 });
      return dot(output.data, R.data) + dot(hN.data, Rh.data) + dot(cN.data, Rc.data);
    };

    // Analytic: dL/doutput = R, dL/dhN = Rh, dL/dcN = Rc.
    const fwd = lstm.forward(x, c.states ? { h0, c0 } : {});
    if (!c.states) expect(lstm.forward(x, { h0, c0 }).output.data).toEqual(fwd.output.data); // absent = zeros
    lstm.forward(x, c.states ? { h0, c0 } : {});
    const g = lstm.backward({ dOutput: R, dHN: Rh, dCN: Rc });
    expect(g.dInput.shape).toEqual(xShape);
    expect(g.dH0.shape).toEqual(stShape);
    expect(g.dC0.shape).toEqual(stShape);

    expectGrad(piece, 'x', g.dInput.data, centralDiff(x.data, loss));
    expectGrad(piece, 'h0', g.dH0.data, centralDiff(h0.data, loss));
    expectGrad(piece, 'c0', g.dC0.data, centralDiff(c0.data, loss));

    const sd = lstm.stateDict();
    expect(Object.keys(g.grads)).toEqual(Object.keys(sd));
    const perParam = (sd: Record<string, Tensor>) => () => {
      lstm.loadStateDict(sd);
      return loss();
    };
    for (const [k, p] of Object.entries(sd)) {
      expect(g.grads[k].shape, k).toEqual(p.shape);
      expectGrad(piece, k, g.grads[k].data, centralDiff(p.data, perParam(sd)));
    }
    lstm.loadStateDict(sd);
    expect(lstm.forward(x, { h0, c0 }).output.data).toEqual(fwd.output.data); // restored exactly
    lstm.dispose();
  });
});

// ----- Dense ------------------------------------------------------------------------------------

describe('Dense gradients vs finite differences (SIMD build)', () => {
  test.each([
    ['[rows, F]', [5, 3], 4],
    ['[T, B, F] (leading axes kept)', [2, 3, 5], 6],
  ] as const)('input %s: weight, bias and input', async (_name, xShape, units) => {
    const rt = await build('simd');
    const piece = 'Dense';
    const inputSize = xShape[xShape.length - 1];
    const dense = new Dense({ inputSize, units, seed: 5, runtime: rt });
    const x = scaled(randomTensor([...xShape], 301), 2);
    const R = randomTensor([...xShape.slice(0, -1), units], 302);
    const loss = () => dot(dense.forward(x).data, R.data);

    dense.forward(x);
    const g = dense.backward({ dOutput: R });
    expect(g.dInput.shape).toEqual([...xShape]);
    expectGrad(piece, 'x', g.dInput.data, centralDiff(x.data, loss));
    const sd = dense.stateDict();
    expect(Object.keys(sd)).toEqual(['weight', 'bias']);
    for (const [k, p] of Object.entries(sd)) {
      expectGrad(piece, k, g.grads[k].data, centralDiff(p.data, () => {
        dense.loadStateDict(sd);
        return loss();
      }));
    }
    dense.dispose();
  });
});

// ----- Losses (raw core exports) ----------------------------------------------------------------

/** Run a loss export with inputs staged and outputs in a buffer of our own (prefilled with NaN). */
function withOutputs<T>(rt: Runtime, n: number, run: (dPtr: number, lossPtr: number) => number, read: (d: Float32Array, loss: number) => T): T {
  const dBytes = (n * 4 + 15) & ~15;
  const bytes = dBytes + 16;
  const base = rt.core.lstmw_alloc(bytes);
  expect(base).not.toBe(0);
  try {
    rt.f32(base, n + 1).fill(NaN);
    rt.check(run(base, base + dBytes));
    return read(rt.copyOut(base, n), rt.f32(base + dBytes, 1)[0]);
  } finally {
    rt.core.lstmw_free(base, bytes);
  }
}

function coreCrossEntropy(rt: Runtime, logits: Float32Array, c: number, targets: Int32Array) {
  const n = targets.length;
  return withOutputs(
    rt,
    n * c,
    (d, l) => {
      const [zp, tp] = rt.stage([logits, targets]);
      return rt.core.lstmw_softmax_cross_entropy(zp, n, c, tp, d, l);
    },
    (dlogits, loss) => ({ dlogits, loss }),
  );
}

function coreMse(rt: Runtime, pred: Float32Array, target: Float32Array) {
  return withOutputs(
    rt,
    pred.length,
    (d, l) => {
      const [pp, tp] = rt.stage([pred, target]);
      return rt.core.lstmw_mse(pp, tp, pred.length, 1, 0, d, l);
    },
    (dpred, loss) => ({ dpred, loss }),
  );
}

describe('softmax cross-entropy (lstmw_softmax_cross_entropy)', () => {
  const c = 5;
  // Row 2 and row 5 are ignored; row 4 has large logits (stability of the max shift).
  const targets = Int32Array.from([3, 0, -1, 4, 1, -1, 2]);
  const n = targets.length;
  const logits = scaled(randomTensor([n, c], 401), 3).data;
  logits.set([60, 61.5, -40, 59, 0], 4 * c);

  test('loss matches float64 and ignores rows with target -1', async () => {
    const rt = await build('simd');
    const { loss, dlogits } = coreCrossEntropy(rt, logits, c, targets);
    const ref = crossEntropy64(logits, c, targets);
    expect(Math.abs(loss - ref)).toBeLessThan(2e-6 * Math.max(1, Math.abs(ref)));
    // The mean is over the 5 counted rows: changing an ignored row changes nothing.
    const other = logits.slice();
    other.fill(9, 2 * c, 3 * c);
    expect(coreCrossEntropy(rt, other, c, targets).loss).toBe(loss);
    // Each counted row's dlogits is (softmax − onehot) / 5: it sums to 0 and its target entry is negative.
    for (let r = 0; r < n; r++) {
      const row = Array.from(dlogits.subarray(r * c, (r + 1) * c));
      if (targets[r] === -1) {
        expect(row, `row ${r} (ignored)`).toEqual([0, 0, 0, 0, 0]);
      } else {
        expect(Math.abs(row.reduce((a, v) => a + v, 0))).toBeLessThan(1e-7);
        expect(row[targets[r]]).toBeLessThan(0);
        expect(row[targets[r]]).toBeGreaterThan(-1 / 5);
      }
    }
  });

  test('dlogits match finite differences of the returned loss', async () => {
    const rt = await build('simd');
    const { dlogits } = coreCrossEntropy(rt, logits, c, targets);
    // The loss comes back rounded to float32 (~2e-7 on ~3): a wider step keeps that noise at ~2e-5.
    const fd = centralDiff(logits, () => coreCrossEntropy(rt, logits, c, targets).loss, 1e-2);
    expectGrad('softmax cross-entropy', 'dlogits', dlogits, fd);
    // Ignored rows: zero both ways.
    for (const r of [2, 5]) {
      expect(Array.from(fd.subarray(r * c, (r + 1) * c))).toEqual([0, 0, 0, 0, 0]);
    }
  });

  test('all rows ignored: loss 0 and zero gradient', async () => {
    const rt = await build('simd');
    const { loss, dlogits } = coreCrossEntropy(rt, logits.subarray(0, 3 * c), c, Int32Array.from([-1, -1, -1]));
    expect(loss).toBe(0);
    expect(Array.from(dlogits)).toEqual(new Array(3 * c).fill(0));
  });
});

describe('mean squared error (lstmw_mse)', () => {
  // 11 elements: not a multiple of the SIMD width.
  const pred = scaled(randomTensor([11], 501), 2).data;
  const target = randomTensor([11], 502).data;

  test('loss matches float64; dpred = 2(pred − target)/n', async () => {
    const rt = await build('simd');
    const { loss, dpred } = coreMse(rt, pred, target);
    const ref = mse64(pred, target);
    expect(Math.abs(loss - ref)).toBeLessThan(1e-6 * Math.max(1, ref));
    expectClose('dpred', { data: dpred, shape: [11] }, { data: Float32Array.from(pred, (p, i) => (2 * (p - target[i])) / 11), shape: [11] }, 1e-7);
  });

  test('dpred matches finite differences of the returned loss', async () => {
    const rt = await build('simd');
    const { dpred } = coreMse(rt, pred, target);
    expectGrad('mse', 'dpred', dpred, centralDiff(pred, () => coreMse(rt, pred, target).loss));
  });
});

// ----- Sequential -------------------------------------------------------------------------------

describe('Sequential (LSTM + Dense) gradients vs finite differences (SIMD build)', () => {
  const T = 3;
  const B = 2;
  const I = 3;
  const H = 3;
  const C = 4;
  const lr = 1e-3;
  // The losses are means over 6 rows (24 values for mse): gradients and float32 noise are ~10x smaller.
  const tol: Tol = { atol: 2e-5, rtol: 1e-3 };

  const makeModel = (rt: Runtime) =>
    new Sequential([new LSTM({ inputSize: I, hiddenSize: H, seed: 21, runtime: rt }), new Dense({ inputSize: H, units: C, seed: 22, runtime: rt })], { runtime: rt });

  test.each(['crossEntropy', 'mse'] as const)('%s: gradients() after trainOnBatch, then the SGD step', async (lossName) => {
    const rt = await build('simd');
    const piece = `Sequential ${lossName}`;
    const x = scaled(randomTensor([T, B, I], 601), 1.5);
    // Class ids with one ignored row, or float targets shaped like the logits.
    const yCls = { data: Int32Array.from([1, 3, 0, -1, 2, 1]), shape: [T, B] };
    const yReg = randomTensor([T, B, C], 602);

    const model = makeModel(rt);
    model.compile({ loss: lossName, optimizer: new SGD({ lr }) });
    const sd = model.stateDict();
    const lossValue = await model.trainOnBatch(x, lossName === 'crossEntropy' ? yCls : yReg);
    const grads = model.gradients();
    const after = model.stateDict();

    // A fresh model from the same parameters; its loss is computed in float64 from predict().
    const ref = makeModel(rt);
    ref.loadStateDict(sd);
    const jsLoss = () => {
      const logits = ref.predict(x).data;
      return lossName === 'crossEntropy' ? crossEntropy64(logits, C, yCls.data) : mse64(logits, yReg.data);
    };
    expect(Math.abs(lossValue - jsLoss())).toBeLessThan(2e-6);

    expect(Object.keys(grads)).toEqual(Object.keys(sd));
    expect(Object.keys(sd)).toEqual(['0.weight_ih_l0', '0.weight_hh_l0', '0.bias_ih_l0', '0.bias_hh_l0', '1.weight', '1.bias']);
    for (const [k, p] of Object.entries(sd)) {
      expectGrad(piece, k, grads[k].data, centralDiff(p.data, () => {
        ref.loadStateDict(sd);
        return jsLoss();
      }), tol);
    }

    // trainOnBatch applied p ← p − lr·g with the gradients it reports.
    for (const [k, p] of Object.entries(sd)) {
      const want = new Tensor(p.data.map((v, i) => v - lr * grads[k].data[i]), p.shape.slice());
      expectClose(`${k} after step`, after[k], want, 1e-7);
    }
    model.dispose();
    ref.dispose();
  });
});

// Self-test of the comparison on synthetic numbers, independent of the core.
test('the comparison accepts float32 noise and rejects real errors', () => {
  const a = Array.from(randomData(50, 9), (v) => v * 3);
  expect(mismatches(a, a.map((v) => v + 5e-5))).toEqual([]); // absolute noise below ATOL
  expect(mismatches(a, a.map((v) => v * 1.0005))).toEqual([]); // relative noise below RTOL
  expect(mismatches(a, a.map((v) => -v)).length).toBeGreaterThan(40);
  expect(mismatches([0.5, 0.1], [0.5 * 1.01, 0.1])).toEqual([0]); // 1% off on a 0.5 entry
  expect(mismatches([0], [NaN])).toEqual([0]);
  expect(mismatches([0], [2e-4])).toEqual([0]); // an FD of 2e-4 where the analytic gradient is 0
});
