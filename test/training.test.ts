// The training API: sequence lengths (LSTM and Sequential), last-tick output, Embedding ids,
// Dropout, determinism, bit-identical resumption from checkpoints, abort, early stopping, fit's
// history, evaluate, and learning-rate schedules. SIMD build.
import { describe, expect, test } from 'vitest';
import {
  Adam, CoreError, CosineLR, Dense, Dropout, EarlyStopping, Embedding, ExponentialLR, History, LRSchedule, LSTM, Logs,
  ModelCheckpoint, ReduceLROnPlateau, Runtime, SGD, Sequential, StepLR, Tensor, deserializeModel, makeSchedule,
} from '../src/index.js';
import { bitsHash, build, expectClose, randomData, randomTensor } from './helpers.js';

// ----- helpers ----------------------------------------------------------------------------------

/** Hash of every tensor of a state dict, key by key. */
function hashes(d: Record<string, Tensor>): Record<string, string> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, `${v.shape.join('x')}:${bitsHash(v.data)}`]));
}

/** Flat offset of (tick t, sequence b) in a [T, B, F] (time-major) or [B, T, F] (batch-first) tensor. */
const offset = (bf: boolean, T: number, B: number, F: number) => (t: number, b: number) => (bf ? b * T + t : t * B + b) * F;

/** Sequence b's first `len` ticks as its own batch of one: [len, 1, F] or [1, len, F] (same data). */
function sequence(x: Tensor, bf: boolean, b: number, len: number): Tensor {
  const [T, B] = bf ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
  const F = x.shape[2];
  const at = offset(bf, T, B, F);
  const out = new Float32Array(len * F);
  for (let t = 0; t < len; t++) out.set(x.data.subarray(at(t, b), at(t, b) + F), t * F);
  return new Tensor(out, bf ? [1, len, F] : [len, 1, F]);
}

/** Sequence b of a state [L·D, B, H] as [L·D, 1, H]. */
function stateOf(s: Tensor, b: number): Tensor {
  const [LD, B, H] = s.shape;
  const out = new Float32Array(LD * H);
  for (let l = 0; l < LD; l++) out.set(s.data.subarray((l * B + b) * H, (l * B + b + 1) * H), l * H);
  return new Tensor(out, [LD, 1, H]);
}

/** Put `value` (a function of t, b, f) into every padded tick of x. */
function fillPadding(x: Tensor, bf: boolean, lengths: Int32Array, value: (i: number) => number): Tensor {
  const [T, B] = bf ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
  const F = x.shape[2];
  const at = offset(bf, T, B, F);
  const d = x.data.slice();
  let k = 0;
  for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) for (let f = 0; f < F; f++) d[at(t, b) + f] = value(k++);
  return new Tensor(d, x.shape.slice());
}

function zerosLike(shape: number[]): Tensor {
  return new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
}

function addScaled(acc: Record<string, Float32Array>, g: Record<string, Tensor>, w: number): void {
  for (const [k, v] of Object.entries(g)) {
    acc[k] ??= new Float32Array(v.data.length);
    for (let i = 0; i < v.data.length; i++) acc[k][i] += w * v.data[i];
  }
}

const ids = (data: number[] | Int32Array, shape: number[]) => ({ data: Int32Array.from(data), shape });

// ----- LSTM.forward / backward with lengths -------------------------------------------------------

const T = 7, B = 4, I = 3, H = 5;
const LENGTHS = Int32Array.from([7, 3, 1, 5]);

const lengthCases = [
  { name: '1 layer, time-major', numLayers: 1, bidirectional: false, batchFirst: false },
  { name: '1 layer, batchFirst', numLayers: 1, bidirectional: false, batchFirst: true },
  { name: '2 layers, time-major', numLayers: 2, bidirectional: false, batchFirst: false },
  { name: 'bidirectional, time-major', numLayers: 1, bidirectional: true, batchFirst: false },
  { name: 'bidirectional, batchFirst', numLayers: 1, bidirectional: true, batchFirst: true },
  { name: '2 layers bidirectional, batchFirst', numLayers: 2, bidirectional: true, batchFirst: true },
  { name: '2 layers bidirectional, time-major', numLayers: 2, bidirectional: true, batchFirst: false },
];

describe('LSTM with sequence lengths equals running each sequence unpadded', () => {
  test.each(lengthCases.map((c) => [c.name, c] as const))('%s: forward and backward', async (_n, c) => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: I, hiddenSize: H, numLayers: c.numLayers, bidirectional: c.bidirectional, batchFirst: c.batchFirst, seed: 5, runtime: rt });
    const D = c.bidirectional ? 2 : 1;
    const LD = c.numLayers * D;
    const bf = c.batchFirst;
    const xShape = bf ? [B, T, I] : [T, B, I];
    const yShape = bf ? [B, T, D * H] : [T, B, D * H];
    // Garbage in the padded ticks must not matter.
    const x = fillPadding(randomTensor(xShape, 1), bf, LENGTHS, (i) => 40 * Math.sin(i + 1));
    const h0 = randomTensor([LD, B, H], 2);
    const c0 = randomTensor([LD, B, H], 3);
    const dOut = randomTensor(yShape, 4); // nonzero at padded ticks too: they must be ignored
    const dHN = randomTensor([LD, B, H], 5);
    const dCN = randomTensor([LD, B, H], 6);

    const fwd = lstm.forward(x, { h0, c0, lengths: LENGTHS });
    const bwd = lstm.backward({ dOutput: dOut, dHN, dCN });
    // Garbage in padded ticks: a second, different garbage gives bit-identical results.
    const x2 = fillPadding(x, bf, LENGTHS, (i) => -17 * Math.cos(i));
    const fwd2 = lstm.forward(x2, { h0, c0, lengths: LENGTHS });
    const bwd2 = lstm.backward({ dOutput: dOut, dHN, dCN });
    expect(bitsHash(fwd2.output.data)).toBe(bitsHash(fwd.output.data));
    expect(bitsHash(fwd2.hN.data) + bitsHash(fwd2.cN.data)).toBe(bitsHash(fwd.hN.data) + bitsHash(fwd.cN.data));
    expect(hashes(bwd2.grads)).toEqual(hashes(bwd.grads));
    expect(bitsHash(bwd2.dH0.data)).toBe(bitsHash(bwd.dH0.data));

    const atY = offset(bf, T, B, D * H);
    const atX = offset(bf, T, B, I);
    const gradSum: Record<string, Float32Array> = {};
    for (let b = 0; b < B; b++) {
      const len = LENGTHS[b];
      const one = lstm.forward(sequence(x, bf, b, len), { h0: stateOf(h0, b), c0: stateOf(c0, b) });
      // Output at real ticks, zeros at padded ticks.
      for (let t = 0; t < T; t++) {
        const got = new Tensor(fwd.output.data.slice(atY(t, b), atY(t, b) + D * H), [D * H]);
        if (t < len) expectClose(`output t${t} b${b}`, got, new Tensor(one.output.data.slice(t * D * H, (t + 1) * D * H), [D * H]), 1e-6);
        else expect(Array.from(got.data)).toEqual(new Array(D * H).fill(0));
      }
      expectClose(`hN b${b}`, stateOf(fwd.hN, b), one.hN, 1e-6);
      expectClose(`cN b${b}`, stateOf(fwd.cN, b), one.cN, 1e-6);
      const oneB = lstm.backward({ dOutput: sequence(dOut, bf, b, len), dHN: stateOf(dHN, b), dCN: stateOf(dCN, b) });
      addScaled(gradSum, oneB.grads, 1);
      for (let t = 0; t < T; t++) {
        const got = new Tensor(bwd.dInput.data.slice(atX(t, b), atX(t, b) + I), [I]);
        if (t < len) expectClose(`dInput t${t} b${b}`, got, new Tensor(oneB.dInput.data.slice(t * I, (t + 1) * I), [I]), 1e-6);
        else expect(Array.from(got.data)).toEqual(new Array(I).fill(0));
      }
      expectClose(`dH0 b${b}`, stateOf(bwd.dH0, b), oneB.dH0, 1e-6);
      expectClose(`dC0 b${b}`, stateOf(bwd.dC0, b), oneB.dC0, 1e-6);
    }
    for (const [k, g] of Object.entries(bwd.grads)) expectClose(`grad ${k}`, g, new Tensor(gradSum[k], g.shape), 1e-6);
    lstm.dispose();
  });

  test('lengths are validated (Int32Array of B values in 1..T)', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: I, hiddenSize: H, seed: 5, runtime: rt });
    const x = randomTensor([T, B, I], 1);
    expect(() => lstm.forward(x, { lengths: Int32Array.from([7, 3, 0, 5]) })).toThrow(/lengths\[2\] is 0/);
    expect(() => lstm.forward(x, { lengths: Int32Array.from([7, 3, 8, 5]) })).toThrow(/lengths\[2\] is 8/);
    expect(() => lstm.forward(x, { lengths: Int32Array.from([7, 3, 5]) })).toThrow(/lengths/);
    expect(() => lstm.forward(x, { lengths: [7, 3, 1, 5] as unknown as Int32Array })).toThrow(/Int32Array/);
    lstm.dispose();
  });
});

// ----- Sequential.trainOnBatch with lengths -------------------------------------------------------

describe('Sequential with lengths', () => {
  const U = 4; // classes / output units

  function model(rt: Runtime, cfg: { numLayers: number; bidirectional: boolean; batchFirst: boolean }) {
    const D = cfg.bidirectional ? 2 : 1;
    const m = new Sequential([new LSTM({ inputSize: I, hiddenSize: H, ...cfg, seed: 11, runtime: rt }), new Dense({ inputSize: D * H, units: U, seed: 12, runtime: rt })], { runtime: rt });
    return m;
  }

  test.each([false, true])('crossEntropy, unidirectional (batchFirst %s): lengths equal padded targets set to -1', async (bf) => {
    const rt = await build('simd');
    const m = model(rt, { numLayers: 2, bidirectional: false, batchFirst: bf });
    m.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0 }) });
    const xShape = bf ? [B, T, I] : [T, B, I];
    const x = fillPadding(randomTensor(xShape, 21), bf, LENGTHS, (i) => 30 * Math.sin(3 * i));
    const yData = Int32Array.from(randomData(T * B, 22), (v) => Math.floor((v + 1) * 2) % U);
    const yShape = bf ? [B, T] : [T, B];
    const lossL = await m.trainOnBatch(x, { data: yData, shape: yShape }, { lengths: LENGTHS });
    const gL = m.gradients();
    const masked = yData.slice();
    for (let b = 0; b < B; b++) for (let t = LENGTHS[b]; t < T; t++) masked[bf ? b * T + t : t * B + b] = -1;
    const lossM = await m.trainOnBatch(x, { data: masked, shape: yShape });
    const gM = m.gradients();
    expect(Math.abs(lossL - lossM)).toBeLessThan(1e-6);
    for (const [k, g] of Object.entries(gM)) expectClose(`grad ${k}`, gL[k], g, 1e-6);
    m.dispose();
  });

  const seqCases = [
    { loss: 'crossEntropy' as const, batchFirst: false },
    { loss: 'crossEntropy' as const, batchFirst: true },
    { loss: 'mse' as const, batchFirst: false },
    { loss: 'mse' as const, batchFirst: true },
  ];

  test.each(seqCases.map((c) => [c.loss, c.batchFirst, c] as const))(
    '%s, 2-layer bidirectional (batchFirst %s): loss and gradients are the length-weighted mean of per-sequence runs; garbage padding changes nothing',
    async (_l, _bf, c) => {
      const rt = await build('simd');
      const bf = c.batchFirst;
      const m = model(rt, { numLayers: 2, bidirectional: true, batchFirst: bf });
      m.compile({ loss: c.loss, optimizer: new SGD({ lr: 0 }) });
      const before = hashes(m.stateDict());
      const xShape = bf ? [B, T, I] : [T, B, I];
      const x = fillPadding(randomTensor(xShape, 31), bf, LENGTHS, (i) => 25 * Math.cos(i));
      const y =
        c.loss === 'crossEntropy'
          ? { data: Int32Array.from(randomData(T * B, 32), (v) => Math.floor((v + 1) * 2) % U), shape: bf ? [B, T] : [T, B] }
          : randomTensor(bf ? [B, T, U] : [T, B, U], 32);
      const width = c.loss === 'crossEntropy' ? 1 : U;
      const loss = await m.trainOnBatch(x, y, { lengths: LENGTHS });
      const grads = m.gradients();
      // Different garbage in the padded x and the padded targets: bit-identical.
      const x2 = fillPadding(x, bf, LENGTHS, (i) => -9 * Math.sin(i * 7));
      const y2 = { data: y.data.slice(), shape: y.shape.slice() } as typeof y;
      for (let b = 0; b < B; b++) for (let t = LENGTHS[b]; t < T; t++) for (let f = 0; f < width; f++) y2.data[(bf ? b * T + t : t * B + b) * width + f] = c.loss === 'crossEntropy' ? (b + t) % U : 1e3;
      const loss2 = await m.trainOnBatch(x2, y2, { lengths: LENGTHS });
      expect(loss2).toBe(loss);
      expect(hashes(m.gradients())).toEqual(hashes(grads));
      // Per-sequence runs, weighted by their counted rows.
      const total = LENGTHS.reduce((a, v) => a + v, 0);
      let lossSum = 0;
      const gradSum: Record<string, Float32Array> = {};
      for (let b = 0; b < B; b++) {
        const len = LENGTHS[b];
        const xb = sequence(x, bf, b, len);
        const yb = new (y.data.constructor as Int32ArrayConstructor | Float32ArrayConstructor)(len * width);
        for (let t = 0; t < len; t++) for (let f = 0; f < width; f++) yb[t * width + f] = y.data[(bf ? b * T + t : t * B + b) * width + f];
        const ybShape = c.loss === 'crossEntropy' ? (bf ? [1, len] : [len, 1]) : bf ? [1, len, U] : [len, 1, U];
        const lb = await m.trainOnBatch(xb, { data: yb, shape: ybShape } as typeof y);
        lossSum += (lb * len) / total;
        addScaled(gradSum, m.gradients(), len / total);
      }
      expect(Math.abs(loss - lossSum)).toBeLessThan(1e-6);
      for (const [k, g] of Object.entries(grads)) expectClose(`grad ${k}`, g, new Tensor(gradSum[k], g.shape), 1e-6);
      // lr = 0: nothing moved.
      expect(hashes(m.stateDict())).toEqual(before);
      m.dispose();
    },
  );
});

// ----- returnSequences: false ----------------------------------------------------------------------

describe('LSTM returnSequences: false (last tick) + Dense', () => {
  test.each([
    ['time-major, 2 layers bidirectional', false, 2, true],
    ['batchFirst, 2 layers bidirectional', true, 2, true],
    ['time-major, 1 layer', false, 1, false],
  ] as const)('%s: output is the top layer hN; with lengths the state at each last real tick; gradients flow through it', async (_n, bf, L, bidi) => {
    const rt = await build('simd');
    const D = bidi ? 2 : 1;
    const cfg = { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: bidi, batchFirst: bf };
    const lstmLast = new LSTM({ ...cfg, returnSequences: false, seed: 41, runtime: rt });
    const ident = new Dense({ inputSize: D * H, units: D * H, seed: 1, runtime: rt });
    const eye = new Float32Array(D * H * D * H);
    for (let i = 0; i < D * H; i++) eye[i * D * H + i] = 1;
    ident.loadStateDict({ weight: eye, bias: new Float32Array(D * H) });
    const m = new Sequential([lstmLast, ident], { runtime: rt });
    const ref = new LSTM({ ...cfg, seed: 41, runtime: rt }); // same seed: same weights
    expect(hashes(ref.stateDict())).toEqual(hashes(lstmLast.stateDict()));
    const xShape = bf ? [B, T, I] : [T, B, I];
    const x = fillPadding(randomTensor(xShape, 42), bf, LENGTHS, (i) => 11 * Math.sin(i));
    const top = (hN: Tensor, b: number) => {
      const out = new Float32Array(D * H);
      for (let d = 0; d < D; d++) out.set(hN.data.subarray((((L - 1) * D + d) * B + b) * H, (((L - 1) * D + d) * B + b + 1) * H), d * H);
      return out;
    };
    for (const lengths of [undefined, LENGTHS]) {
      const y = m.predict(x, { lengths });
      expect(y.shape).toEqual([B, D * H]);
      const { hN } = ref.forward(x, { lengths });
      for (let b = 0; b < B; b++) {
        expectClose(`last b${b}`, new Tensor(y.data.slice(b * D * H, (b + 1) * D * H), [D * H]), new Tensor(top(hN, b), [D * H]), 1e-6);
        if (lengths) {
          const one = ref.forward(sequence(x, bf, b, lengths[b]));
          const only = new Float32Array(D * H);
          for (let d = 0; d < D; d++) only.set(one.hN.data.subarray(((L - 1) * D + d) * H, ((L - 1) * D + d + 1) * H), d * H);
          expectClose(`last b${b} vs unpadded`, new Tensor(y.data.slice(b * D * H, (b + 1) * D * H), [D * H]), new Tensor(only, [D * H]), 1e-6);
        }
      }
    }
    // Gradients: a random head and crossEntropy on one class per sequence, against LSTM.backward
    // with dHN set at the top layer only.
    const U = 3;
    const head = new Dense({ inputSize: D * H, units: U, seed: 43, runtime: rt });
    const m2 = new Sequential([new LSTM({ ...cfg, returnSequences: false, seed: 41, runtime: rt }), head], { runtime: rt });
    m2.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0 }) });
    const yIds = Int32Array.from([0, 2, 1, 2]);
    const logits = m2.predict(x, { lengths: LENGTHS });
    const loss = await m2.trainOnBatch(x, { data: yIds, shape: [B] }, { lengths: LENGTHS });
    const W = head.stateDict().weight.data; // [U, D·H]
    const dLogits = new Float32Array(B * U);
    let manualLoss = 0;
    for (let b = 0; b < B; b++) {
      const z = Array.from(logits.data.slice(b * U, (b + 1) * U));
      const mx = Math.max(...z);
      const se = z.reduce((a, v) => a + Math.exp(v - mx), 0);
      manualLoss += (Math.log(se) + mx - z[yIds[b]]) / B;
      for (let u = 0; u < U; u++) dLogits[b * U + u] = (Math.exp(z[u] - mx) / se - (u === yIds[b] ? 1 : 0)) / B;
    }
    expect(Math.abs(loss - manualLoss)).toBeLessThan(1e-6);
    const dHN = zerosLike([L * D, B, H]);
    const { hN } = ref.forward(x, { lengths: LENGTHS });
    const dW = new Float32Array(U * D * H);
    for (let b = 0; b < B; b++) {
      const hb = top(hN, b);
      for (let j = 0; j < D * H; j++) {
        let s = 0;
        for (let u = 0; u < U; u++) {
          s += dLogits[b * U + u] * W[u * D * H + j];
          dW[u * D * H + j] += dLogits[b * U + u] * hb[j];
        }
        const d = Math.floor(j / H);
        dHN.data[(((L - 1) * D + d) * B + b) * H + (j % H)] = s;
      }
    }
    const g = ref.backward({ dOutput: zerosLike(bf ? [B, T, D * H] : [T, B, D * H]), dHN }).grads;
    const got = m2.gradients();
    for (const [k, v] of Object.entries(g)) expectClose(`grad 0.${k}`, got[`0.${k}`], v, 1e-6);
    expectClose('grad 1.weight', got['1.weight'], new Tensor(dW, [U, D * H]), 1e-6);
    m.dispose();
    m2.dispose();
    ref.dispose();
  });
});

// ----- Embedding ------------------------------------------------------------------------------------

describe('Embedding', () => {
  test('ids as Int32Array and as Float32Array give identical results (layer and model)', async () => {
    const rt = await build('simd');
    const emb = new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 3, runtime: rt });
    const idList = [0, 9, 3, 3, 7, 1];
    const a = emb.forward(ids(idList, [2, 3]));
    const b = emb.forward({ data: Float32Array.from(idList), shape: [2, 3] });
    expect(a.shape).toEqual([2, 3, 4]);
    expect(bitsHash(a.data)).toBe(bitsHash(b.data));
    const W = emb.stateDict().weight.data;
    idList.forEach((id, i) => expect(Array.from(a.data.slice(i * 4, i * 4 + 4))).toEqual(Array.from(W.slice(id * 4, id * 4 + 4))));
    emb.dispose();

    const mk = () =>
      new Sequential([
        new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 3, runtime: rt }),
        new LSTM({ inputSize: 4, hiddenSize: 5, batchFirst: true, seed: 4, runtime: rt }),
        new Dense({ inputSize: 5, units: 3, seed: 5, runtime: rt }),
      ], { runtime: rt });
    const m1 = mk();
    const m2 = mk();
    m1.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.01 }) });
    m2.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.01 }) });
    const xi = ids([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2], [3, 4]);
    const xf = { data: Float32Array.from(xi.data), shape: [3, 4] };
    const y = ids([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], [3, 4]);
    expect(bitsHash(m1.predict(xi).data)).toBe(bitsHash(m2.predict(xf).data));
    for (let s = 0; s < 3; s++) expect(await m1.trainOnBatch(xi, y)).toBe(await m2.trainOnBatch(xf, y));
    expect(hashes(m1.stateDict())).toEqual(hashes(m2.stateDict()));
    // The embedding table was trained (its gradient is the sum over the positions of each id).
    expect(hashes(m1.stateDict())['0.weight']).not.toBe(hashes(mk().stateDict())['0.weight']);
    m1.dispose();
    m2.dispose();
  });

  test.each([
    ['id = numEmbeddings', Int32Array.from([1, 2, 10, 3]), /ids\[2\] is 10/],
    ['negative id', Int32Array.from([1, -1, 2, 3]), /ids\[1\] is -1/],
    ['huge float id', Float32Array.from([1, 2, 3, 1e10]), /ids\[3\]/],
    ['non-integer float id', Float32Array.from([1, 2.5, 3, 4]), /ids\[1\] is 2\.5/],
    ['NaN float id', Float32Array.from([1, 2, NaN, 4]), /ids\[2\]/],
    ['negative float id', Float32Array.from([-3, 2, 1, 4]), /ids\[0\]/],
  ] as const)('%s: refused with a CoreError naming the index', async (_n, data, re) => {
    const rt = await build('simd');
    const emb = new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 3, runtime: rt });
    const m = new Sequential([
      new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 3, runtime: rt }),
      new LSTM({ inputSize: 4, hiddenSize: 5, batchFirst: true, seed: 4, runtime: rt }),
      new Dense({ inputSize: 5, units: 3, seed: 5, runtime: rt }),
    ], { runtime: rt });
    m.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0.1 }) });
    const good = ids([1, 2, 3, 4], [2, 2]);
    const ref = bitsHash(m.predict(good).data);
    let err: unknown;
    try {
      emb.forward({ data, shape: [2, 2] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoreError);
    expect((err as Error).message).toMatch(re);
    expect(() => m.predict({ data, shape: [2, 2] })).toThrow(CoreError);
    await expect(m.trainOnBatch({ data, shape: [2, 2] }, ids([0, 1, 2, 0], [2, 2]))).rejects.toThrow(re);
    // Nothing changed: the model still gives the same predictions.
    expect(bitsHash(m.predict(good).data)).toBe(ref);
    emb.dispose();
    m.dispose();
  });
});

// ----- Dropout --------------------------------------------------------------------------------------

describe('Dropout', () => {
  const E = 6;
  function pair(rt: Runtime, p: number, dropSeed: number) {
    const withDrop = new Sequential([
      new LSTM({ inputSize: I, hiddenSize: E, seed: 51, runtime: rt }),
      new Dropout({ p, seed: dropSeed, runtime: rt }),
      new Dense({ inputSize: E, units: 3, seed: 52, runtime: rt }),
    ], { runtime: rt });
    const without = new Sequential([new LSTM({ inputSize: I, hiddenSize: E, seed: 51, runtime: rt }), new Dense({ inputSize: E, units: 3, seed: 52, runtime: rt })], { runtime: rt });
    return { withDrop, without };
  }
  const x = randomTensor([T, B, I], 61);
  const y = { data: Int32Array.from({ length: T * B }, (_, i) => i % 3), shape: [T, B] };

  test('inactive in predict and evaluate', async () => {
    const rt = await build('simd');
    const { withDrop, without } = pair(rt, 0.5, 1);
    expect(bitsHash(withDrop.predict(x).data)).toBe(bitsHash(without.predict(x).data));
    withDrop.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0 }), metrics: ['accuracy'] });
    without.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0 }), metrics: ['accuracy'] });
    expect(withDrop.evaluate(x, y)).toEqual(without.evaluate(x, y));
    // Training is different: dropout is active.
    const lossD = await withDrop.trainOnBatch(x, y);
    const lossN = await without.trainOnBatch(x, y);
    expect(lossD).not.toBe(lossN);
    // …and inference after training steps (lr 0) is still identical.
    expect(bitsHash(withDrop.predict(x).data)).toBe(bitsHash(without.predict(x).data));
    withDrop.dispose();
    without.dispose();
  });

  test('active in training with a new mask every step; p = 0 is the identity', async () => {
    const rt = await build('simd');
    const { withDrop } = pair(rt, 0.5, 2);
    withDrop.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0 }) });
    const losses: number[] = [];
    const grads: string[] = [];
    for (let s = 0; s < 4; s++) {
      losses.push(await withDrop.trainOnBatch(x, y));
      grads.push(bitsHash(withDrop.gradients()['2.weight'].data));
    }
    expect(new Set(losses).size).toBe(4);
    expect(new Set(grads).size).toBe(4);
    withDrop.dispose();
    const z = pair(rt, 0, 3);
    z.withDrop.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.01 }) });
    z.without.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.01 }) });
    for (let s = 0; s < 3; s++) expect(await z.withDrop.trainOnBatch(x, y)).toBe(await z.without.trainOnBatch(x, y));
    const a = z.withDrop.stateDict();
    const b = z.without.stateDict();
    expect(bitsHash(a['2.weight'].data)).toBe(bitsHash(b['1.weight'].data));
    expect(bitsHash(a['0.weight_hh_l0'].data)).toBe(bitsHash(b['0.weight_hh_l0'].data));
    z.withDrop.dispose();
    z.without.dispose();
  });

  test('seeded: identically seeded models train identically; another dropout seed differs', async () => {
    const rt = await build('simd');
    const run = async (dropSeed: number) => {
      const { withDrop, without } = pair(rt, 0.3, dropSeed);
      without.dispose();
      withDrop.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.01 }) });
      const losses: number[] = [];
      for (let s = 0; s < 5; s++) losses.push(await withDrop.trainOnBatch(x, y));
      const h = hashes(withDrop.stateDict());
      withDrop.dispose();
      return { losses, h };
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(b).toEqual(a);
    expect(c.losses).not.toEqual(a.losses);
  });
});

// ----- fit: data, determinism, resume --------------------------------------------------------------

const V = 12, TT = 6, NS = 50, CLASSES = 5;
/** Token ids [NS, TT], targets [NS, TT] (a learnable function of the ids), lengths 2..TT. */
function tokenData() {
  const r = randomData(NS * TT * 2, 77);
  const x = Int32Array.from({ length: NS * TT }, (_, i) => Math.floor((r[i] + 1) * 6) % V);
  const y = Int32Array.from(x, (v, i) => (v + (i % TT > 0 ? x[i - 1] : 0)) % CLASSES);
  const lengths = Int32Array.from({ length: NS }, (_, i) => 2 + (Math.floor((r[NS * TT + i] + 1) * 100) % (TT - 1)));
  return { x: { data: x, shape: [NS, TT] }, y: { data: y, shape: [NS, TT] }, lengths };
}

function tagger(rt: Runtime, p = 0.3) {
  return new Sequential([
    new Embedding({ numEmbeddings: V, embeddingDim: 5, seed: 101, runtime: rt }),
    new LSTM({ inputSize: 5, hiddenSize: 8, batchFirst: true, bidirectional: true, seed: 102, runtime: rt }),
    new Dropout({ p, seed: 103, runtime: rt }),
    new Dense({ inputSize: 16, units: CLASSES, seed: 104, runtime: rt }),
  ], { runtime: rt });
}

function allHash(m: Sequential): string {
  return Object.values(hashes(m.stateDict())).join(',');
}

describe('fit', () => {
  test('determinism: two identically seeded runs are bit-identical (Embedding → LSTM → Dropout → Dense, Adam, shuffle, validationSplit)', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const run = async (seed: number) => {
      const m = tagger(rt);
      m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), metrics: ['accuracy'] });
      const batchLosses: number[] = [];
      const h = await m.fit(x, y, { epochs: 3, batchSize: 8, shuffle: true, seed, validationSplit: 0.2, lengths, callbacks: { onBatchEnd: (_b, l) => void batchLosses.push(l.loss) } });
      const out = { h, batchLosses, params: allHash(m) };
      m.dispose();
      return out;
    };
    const a = await run(5);
    const b = await run(5);
    expect(b).toEqual(a);
    expect(a.h.loss[2]).toBeLessThan(a.h.loss[0]);
    // The data order depends on the seed.
    const c = await run(6);
    expect(c.params).not.toBe(a.params);
  });

  test('history has one entry per epoch; epoch loss is the mean over its batches; evaluate matches predict', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const m = tagger(rt, 0);
    m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), metrics: ['accuracy'] });
    const perEpoch: { loss: number }[][] = [];
    const epochLogs: Logs[] = [];
    const h = await m.fit(x, y, {
      epochs: 3,
      batchSize: 10,
      seed: 1,
      validationSplit: 0.2,
      callbacks: {
        onBatchEnd: (b, l) => {
          if (b === 0) perEpoch.push([]);
          perEpoch[perEpoch.length - 1].push({ loss: l.loss });
          expect(l.accuracy).toBeGreaterThanOrEqual(0);
          expect(l.lr).toBe(0.02);
          expect(l.gradNorm).toBeGreaterThan(0);
        },
        onEpochEnd: (_e, l) => void epochLogs.push({ ...l }),
      },
    });
    expect(h.epochs).toEqual([0, 1, 2]);
    for (const k of ['loss', 'accuracy', 'valLoss', 'valAccuracy', 'lr'] as const) expect(h[k]).toHaveLength(3);
    expect(h.stopped).toBe(false);
    expect(h.aborted).toBe(false);
    expect(perEpoch.map((e) => e.length)).toEqual([4, 4, 4]); // 40 training samples / 10
    // Full-length sequences without -1: every batch counts the same rows, the epoch loss is the plain mean.
    perEpoch.forEach((e, i) => expect(Math.abs(h.loss[i] - e.reduce((a, v) => a + v.loss, 0) / e.length)).toBeLessThan(1e-6));
    epochLogs.forEach((l, i) => {
      expect(l.loss).toBe(h.loss[i]);
      expect(l.valLoss).toBe(h.valLoss[i]);
      expect(l.valAccuracy).toBe(h.valAccuracy[i]);
    });
    // The validation numbers are evaluate() on the last 10 samples.
    const take = (t: { data: Int32Array; shape: number[] }, from: number) => ({ data: t.data.slice(from * TT), shape: [NS - from, TT] });
    const ev = m.evaluate(take(x, 40), take(y, 40));
    expect(ev.loss).toBe(h.valLoss[2]);
    expect(ev.accuracy).toBe(h.valAccuracy[2]);

    // evaluate vs a computation over predict(), with lengths, -1 targets, and batches of 7.
    const yy = { data: y.data.slice(), shape: y.shape };
    yy.data[3] = -1;
    yy.data[50] = -1;
    const e2 = m.evaluate(x, yy, { lengths, batchSize: 7 });
    const logits = m.predict(x, { lengths, batchSize: 7 });
    const whole = m.predict(x, { lengths });
    expect(bitsHash(logits.data)).toBe(bitsHash(whole.data));
    let sum = 0, correct = 0, counted = 0;
    for (let s = 0; s < NS; s++) {
      for (let t = 0; t < lengths[s]; t++) {
        const r = s * TT + t;
        if (yy.data[r] < 0) continue;
        const z = Array.from(logits.data.slice(r * CLASSES, (r + 1) * CLASSES));
        const mx = Math.max(...z);
        sum += Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0)) + mx - z[yy.data[r]];
        if (z.indexOf(mx) === yy.data[r]) correct++;
        counted++;
      }
    }
    expect(Math.abs(e2.loss - sum / counted)).toBeLessThan(1e-5);
    expect(e2.accuracy).toBeCloseTo(correct / counted, 10);
    m.dispose();
  });

  test.each([true, false])('time-major and batch-first data give the same fit, evaluate and chunked predict (returnSequences %s)', async (seqOut) => {
    const rt = await build('simd');
    const N = 24, TT2 = 5, U = 3;
    const xb = randomTensor([N, TT2, I], 301); // batch-first
    const xt = new Tensor(new Float32Array(xb.size), [TT2, N, I]);
    for (let n = 0; n < N; n++) for (let t = 0; t < TT2; t++) xt.data.set(xb.data.subarray((n * TT2 + t) * I, (n * TT2 + t + 1) * I), (t * N + n) * I);
    const lengths = Int32Array.from({ length: N }, (_, n) => 1 + ((n * 7) % TT2));
    const yb = seqOut ? Int32Array.from({ length: N * TT2 }, (_, i) => (i * 5) % U) : Int32Array.from({ length: N }, (_, n) => n % U);
    const yt = seqOut ? Int32Array.from({ length: N * TT2 }, (_, i) => yb[(i % N) * TT2 + Math.floor(i / N)]) : yb;
    const yShape = (bf: boolean) => (seqOut ? (bf ? [N, TT2] : [TT2, N]) : [N]);
    const run = async (bf: boolean) => {
      const m = new Sequential([
        new LSTM({ inputSize: I, hiddenSize: H, bidirectional: true, batchFirst: bf, returnSequences: seqOut, seed: 311, runtime: rt }),
        // Dropout draws its mask in memory order, which differs between the layouts for per-tick
        // outputs: only the last-tick model [B, D·H] can share masks.
        new Dropout({ p: seqOut ? 0 : 0.2, seed: 312, runtime: rt }),
        new Dense({ inputSize: 2 * H, units: U, seed: 313, runtime: rt }),
      ], { runtime: rt });
      m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), metrics: ['accuracy'] });
      const x = bf ? xb : xt;
      const y = { data: bf ? yb : yt, shape: yShape(bf) };
      const h = await m.fit(x, y, { epochs: 3, batchSize: 5, seed: 4, validationSplit: 0.25, lengths });
      const whole = m.predict(x, { lengths });
      const chunked = m.predict(x, { lengths, batchSize: 7 });
      const ev = m.evaluate(x, y, { lengths });
      const ev7 = m.evaluate(x, y, { lengths, batchSize: 7 });
      const out = { h, whole, chunked, ev, ev7, params: m.stateDict() };
      m.dispose();
      return out;
    };
    const b = await run(true);
    const t = await run(false);
    for (const r of [b, t]) {
      expectClose('chunked predict', r.chunked, r.whole, 1e-6);
      expect(Math.abs(r.ev.loss - r.ev7.loss)).toBeLessThan(1e-6);
      expect(r.ev.accuracy).toBeCloseTo(r.ev7.accuracy!, 12);
    }
    for (const k of ['loss', 'valLoss', 'accuracy', 'valAccuracy'] as const) {
      expect(t.h[k]).toHaveLength(3);
      t.h[k].forEach((v, i) => expect(Math.abs(v - b.h[k][i]), `${k}[${i}]`).toBeLessThan(1e-5));
    }
    for (const [k, v] of Object.entries(b.params)) expectClose(`param ${k}`, t.params[k], v, 1e-5);
    // The outputs, in each layout.
    const U2 = U;
    if (seqOut) {
      for (let n = 0; n < N; n++) for (let tt = 0; tt < TT2; tt++) {
        const pb = b.whole.data.slice((n * TT2 + tt) * U2, (n * TT2 + tt + 1) * U2);
        const pt = t.whole.data.slice((tt * N + n) * U2, (tt * N + n + 1) * U2);
        expectClose(`logits n${n} t${tt}`, new Tensor(pt, [U2]), new Tensor(pb, [U2]), 1e-5);
      }
    } else expectClose('logits', t.whole, b.whole, 1e-5);
  });

  test('fit and evaluate validate their options', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const m = tagger(rt);
    await expect(m.fit(x, y)).rejects.toThrow(/compile/);
    m.compile({ loss: 'crossEntropy', optimizer: new SGD() });
    await expect(m.fit(x, y, { validationSplit: 1 })).rejects.toThrow(/validationSplit/);
    await expect(m.fit(x, y, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(m.fit(x, y, { epochs: 1.5 })).rejects.toThrow(/epochs/);
    expect(() => m.compile({ loss: 'mse', optimizer: new SGD(), metrics: ['accuracy'] })).toThrow(/accuracy/);
    m.dispose();
  });
});

// ----- resume ------------------------------------------------------------------------------------------

describe('bit-identical resume from checkpoints', () => {
  const schedules: [string, () => LRSchedule][] = [
    ['StepLR', () => new StepLR({ stepSize: 1, gamma: 0.7 })],
    ['CosineLR', () => new CosineLR({ totalSteps: 20, warmupSteps: 3, minLr: 1e-3 })],
    ['ReduceLROnPlateau', () => new ReduceLROnPlateau({ patience: 0, factor: 0.5, threshold: 0.5 })],
  ];

  test.each(schedules)('%s + Dropout: interrupted mid-epoch and at an epoch end, every checkpoint resumes to the uninterrupted result', async (_name, sched) => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const opts = { epochs: 4, batchSize: 8, seed: 9, shuffle: true, validationSplit: 0.2, lengths };
    const compile = (m: Sequential, optimizer = new Adam({ lr: 0.02 })) =>
      m.compile({ loss: 'crossEntropy', optimizer, metrics: ['accuracy'], lrSchedule: sched(), clipGradNorm: 5 });

    // Run A: uninterrupted.
    const a = tagger(rt);
    compile(a);
    const lrsA: number[] = [];
    const hA = await a.fit(x, y, { ...opts, callbacks: { onBatchEnd: (_b, l) => void lrsA.push(l.lr!) } });
    expect(hA.loss).toHaveLength(4);
    expect(new Set(lrsA).size).toBeGreaterThan(1); // the schedule did something
    const finalA = allHash(a);
    a.dispose();

    // Run B: checkpoints every 3 batches (and at epoch ends), aborted in the middle of epoch 2
    // (5 batches an epoch: steps 11..15; abort after step 13; the last checkpoint is at step 12).
    const ckpts: { bytes: Uint8Array; info: { epoch: number; batch: number; step: number } }[] = [];
    const b = tagger(rt);
    compile(b);
    const ac = new AbortController();
    const hB = await b.fit(x, y, {
      ...opts,
      signal: ac.signal,
      callbacks: [
        new ModelCheckpoint({ save: (bytes, info) => void ckpts.push({ bytes, info }), everyBatches: 3 }),
        { onBatchEnd: (_i, _l, m) => void (m.training!.step === 13 && ac.abort()) },
      ],
    });
    expect(hB.aborted).toBe(true);
    expect(b.compileOptions!.optimizer!.steps).toBe(13);
    expect(hB.loss).toEqual(hA.loss.slice(0, 2));
    b.dispose();
    expect(ckpts.map((c) => c.info.step)).toEqual([3, 5, 6, 9, 10, 12]);
    expect(ckpts.at(-1)!.info).toEqual({ epoch: 2, batch: 2, step: 12 });
    expect(ckpts[1].info).toEqual({ epoch: 1, batch: 0, step: 5 }); // epoch end

    // Run C: stopped (stopTraining) at the end of epoch 1: its last checkpoint is an epoch end.
    const c = tagger(rt);
    compile(c);
    const hC = await c.fit(x, y, {
      ...opts,
      callbacks: [new ModelCheckpoint({ save: (bytes, info) => void ckpts.push({ bytes, info }) }), { onEpochEnd: (e, _l, m) => void (e === 1 && (m.stopTraining = true)) }],
    });
    expect(hC.stopped).toBe(true);
    expect(hC.loss).toEqual(hA.loss.slice(0, 2));
    expect(ckpts.at(-1)!.info).toEqual({ epoch: 2, batch: 0, step: 10 });
    c.dispose();

    // Every checkpoint, reloaded and continued, ends bit-identical to run A.
    for (const ck of ckpts) {
      const loaded = deserializeModel(ck.bytes, { runtime: rt });
      expect(loaded.training).toBeDefined();
      expect(loaded.optimizer!.steps).toBe(ck.info.step);
      const m = loaded.model;
      compile(m, loaded.optimizer as Adam); // same optimizer (not rebound), the schedule back
      const lrs: number[] = [];
      const h: History = await m.fit(x, y, { ...opts, resume: loaded.training, callbacks: { onBatchEnd: (_b, l) => void lrs.push(l.lr!) } });
      const where = `checkpoint at step ${ck.info.step}`;
      expect(lrs, where).toEqual(lrsA.slice(ck.info.step));
      expect(allHash(m), where).toBe(finalA);
      expect(h.loss, where).toEqual(hA.loss);
      expect(h.valLoss, where).toEqual(hA.valLoss);
      expect(h.accuracy, where).toEqual(hA.accuracy);
      expect(h.valAccuracy, where).toEqual(hA.valAccuracy);
      expect(h.lr, where).toEqual(hA.lr);
      expect(h.epochs, where).toEqual(hA.epochs);
      expect(m.compileOptions!.optimizer!.steps).toBe(20);
      m.dispose();
    }
    // A checkpoint comes back compiled with its built-in schedule: resuming needs no compile.
    const plain = deserializeModel(ckpts[3].bytes, { runtime: rt });
    expect(plain.model.compileOptions!.lrSchedule!.type).toBe(sched().type);
    const hPlain = await plain.model.fit(x, y, { ...opts, resume: plain.training });
    expect(allHash(plain.model)).toBe(finalA);
    expect(hPlain.lr).toEqual(hA.lr);
    plain.model.dispose();
  });

  test('a schedule of your own is not stored: resuming without compiling it again is refused, with it the run continues', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const halving: LRSchedule = { type: 'Halving', lrAt: (base, epoch) => base / 2 ** epoch };
    const opts = { epochs: 2, batchSize: 8, seed: 9, lengths };
    const m = tagger(rt);
    m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), lrSchedule: halving });
    let first: Uint8Array = new Uint8Array(0);
    const h = await m.fit(x, y, { ...opts, callbacks: new ModelCheckpoint({ save: (b, info) => void (info.epoch === 1 && (first = b)) }) });
    const final = allHash(m);
    m.dispose();
    const loaded = deserializeModel(first, { runtime: rt });
    expect(loaded.model.compileOptions!.lrSchedule).toBeUndefined();
    expect(loaded.training!.scheduleType).toBe('Halving');
    await expect(loaded.model.fit(x, y, { ...opts, resume: loaded.training })).rejects.toThrow(/trained with a Halving \(your own\) schedule, the model has none; files store only the built-in schedules: compile the loaded model with yours/);
    loaded.model.compile({ ...loaded.model.compileOptions!, lrSchedule: halving });
    const h2 = await loaded.model.fit(x, y, { ...opts, resume: loaded.training });
    expect(h2.lr).toEqual(h.lr);
    expect(allHash(loaded.model)).toBe(final);
    loaded.model.dispose();
  });
  /** Run A (uninterrupted) and run B stopped by `stopTraining` from onBatchEnd after step 7 (epoch 1, 2 of 5 batches). */
  async function stoppedMidEpoch(rt: Runtime) {
    const { x, y, lengths } = tokenData();
    const opts = { epochs: 3, batchSize: 8, seed: 9, shuffle: true, validationSplit: 0.2, lengths };
    const compile = (m: Sequential, optimizer = new Adam({ lr: 0.02 })) => m.compile({ loss: 'crossEntropy', optimizer, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5 }) });
    const a = tagger(rt);
    compile(a);
    const hA = await a.fit(x, y, opts);
    const finalA = allHash(a);
    a.dispose();
    const b = tagger(rt);
    compile(b);
    const ckpts: { bytes: Uint8Array; info: { epoch: number; batch: number; step: number } }[] = [];
    const hB = await b.fit(x, y, {
      ...opts,
      callbacks: [new ModelCheckpoint({ save: (bytes, info) => void ckpts.push({ bytes, info }), everyBatches: 1 }), { onBatchEnd: (_i, _l, m) => void (m.training!.step === 7 && (m.stopTraining = true)) }],
    });
    expect(hB.stopped).toBe(true);
    expect(b.compileOptions!.optimizer!.steps).toBe(7);
    b.dispose();
    const resume = async (bytes: Uint8Array) => {
      const loaded = deserializeModel(bytes, { runtime: rt });
      compile(loaded.model, loaded.optimizer as Adam);
      const h = await loaded.model.fit(x, y, { ...opts, resume: loaded.training });
      const out = { h, steps: loaded.model.compileOptions!.optimizer!.steps, final: allHash(loaded.model) };
      loaded.model.dispose();
      return out;
    };
    return { hA, finalA, ckpts, resume };
  }

  test('stopTraining set mid-epoch: the batch checkpoint taken at the stop resumes bit-identically', async () => {
    const rt = await build('simd');
    const { hA, finalA, ckpts, resume } = await stoppedMidEpoch(rt);
    const atStop = ckpts.find((c) => c.info.step === 7 && c.info.batch === 2)!;
    expect(atStop.info).toEqual({ epoch: 1, batch: 2, step: 7 });
    const r = await resume(atStop.bytes);
    expect(r.steps).toBe(15);
    expect(r.h.loss).toEqual(hA.loss);
    expect(r.final).toBe(finalA);
  });

  // `stopTraining` set in onBatchEnd must not run the epoch-end block for the partial epoch (no
  // validation, history entry or epoch-end checkpoint): the last checkpoint is the batch's, and
  // resuming from it runs the 3 remaining batches of epoch 1 (15 steps in all).
  test('stopTraining set mid-epoch: the last checkpoint is the batch one and resumes bit-identically', async () => {
    const rt = await build('simd');
    const { hA, finalA, ckpts, resume } = await stoppedMidEpoch(rt);
    const last = ckpts.at(-1)!;
    const r = await resume(last.bytes);
    expect(r.steps).toBe(15);
    expect(last.info).toEqual({ epoch: 1, batch: 2, step: 7 });
    expect(r.h.loss).toEqual(hA.loss);
    expect(r.final).toBe(finalA);
  });

  test('EarlyStopping (patience 3, restoreBestWeights) resumed from each epoch-end checkpoint stops where the uninterrupted run stopped, with its weights', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const opts = { epochs: 8, batchSize: 8, seed: 3, shuffle: true, validationSplit: 0.2, lengths };
    const compile = (m: Sequential, optimizer = new Adam({ lr: 0.05 })) => m.compile({ loss: 'crossEntropy', optimizer });
    // With this minDelta only the first epoch improves on Infinity: the run stops after epoch 3
    // (3 epochs without improvement) and puts back epoch 0's weights.
    const es = () => new EarlyStopping({ monitor: 'valLoss', patience: 3, minDelta: 1e9, restoreBestWeights: true });

    const a = tagger(rt);
    compile(a);
    const epoch0: string[] = [];
    const hA = await a.fit(x, y, { ...opts, callbacks: [es(), { onEpochEnd: (e, _l, m) => void (e === 0 && epoch0.push(allHash(m))) }] });
    expect(hA.stopped).toBe(true);
    expect(hA.epochs).toEqual([0, 1, 2, 3]);
    const finalA = allHash(a);
    expect(finalA).toBe(epoch0[0]);
    a.dispose();

    // The checkpoint callback comes first in the list: it still runs after EarlyStopping.
    const b = tagger(rt);
    compile(b);
    const ckpts: Uint8Array[] = [];
    const hB = await b.fit(x, y, { ...opts, callbacks: [new ModelCheckpoint({ save: (bytes) => void ckpts.push(bytes) }), es()] });
    expect(hB.epochs).toEqual(hA.epochs);
    b.dispose();
    expect(ckpts).toHaveLength(4);
    const stored = deserializeModel(ckpts[2], { runtime: rt });
    expect(stored.training!.callbacks).toHaveLength(1);
    expect(stored.training!.callbacks![0].type).toBe('EarlyStopping');
    expect(stored.training!.callbacks![0].values).toMatchObject({ wait: 2, bestEpoch: 0 });
    expect(stored.training!.callbacks![0].weights!.length).toBe(stored.model.layers.reduce((n, l) => n + l.paramCount, 0));
    stored.model.dispose();

    const resume = async (bytes: Uint8Array, dropStates = false) => {
      const loaded = deserializeModel(bytes, { runtime: rt });
      compile(loaded.model, loaded.optimizer as Adam);
      const training = dropStates ? { ...loaded.training!, callbacks: undefined } : loaded.training;
      const h = await loaded.model.fit(x, y, { ...opts, resume: training, callbacks: es() });
      const final = allHash(loaded.model);
      loaded.model.dispose();
      return { h, final };
    };
    for (const [i, bytes] of ckpts.slice(0, 3).entries()) {
      const r = await resume(bytes);
      expect(r.h.epochs, `checkpoint after epoch ${i}`).toEqual(hA.epochs);
      expect(r.h.valLoss, `checkpoint after epoch ${i}`).toEqual(hA.valLoss);
      expect(r.h.stopped).toBe(true);
      expect(r.final, `checkpoint after epoch ${i}`).toBe(finalA);
    }
    // The checkpoint written at the stop resumes as a finished run: no more epochs.
    const atStop = await resume(ckpts[3]);
    expect(atStop.h.epochs).toEqual(hA.epochs);
    expect(atStop.h.stopped).toBe(true);
    expect(atStop.final).toBe(finalA);
    // Without the stored state the resumed EarlyStopping starts over and stops later.
    const fresh = await resume(ckpts[1], true);
    expect(fresh.h.epochs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(fresh.final).not.toBe(finalA);
  });
});

// ----- refused calls change nothing ------------------------------------------------------------------

describe('fit checks all of its input before the first batch; refused calls change nothing', () => {
  /** A seeded tagger with Dropout, compiled; its weights' hash and optimizer steps. */
  function fresh(rt: Runtime) {
    const m = tagger(rt);
    m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), metrics: ['accuracy'] });
    return m;
  }
  const unchanged = (m: Sequential, before: string) => {
    expect(allHash(m)).toBe(before);
    expect(m.compileOptions!.optimizer!.steps).toBe(0);
  };

  test('bad targets, data, validation data, seeds and options are refused before any step, naming the argument', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const m = fresh(rt);
    const before = allHash(m);
    const opts = { epochs: 2, batchSize: 8, seed: 9, lengths };
    const refused = async (o: object, re: RegExp, xx = x, yy = y) => {
      await expect(m.fit(xx, yy, { ...opts, ...o })).rejects.toThrow(re);
      unchanged(m, before);
    };
    // y that does not match x: too few samples, or too few values.
    await refused({}, /Sequential\.fit: y must have shape \[50, 6\].*got \[20, 6\]/, x, { data: y.data.slice(0, 120), shape: [20, 6] });
    await refused({}, /Sequential\.fit: y must have shape \[50, 6\].*with 100 values/, x, { data: y.data.slice(0, 100), shape: [50, 6] });
    // A bad value late in the data is found before training, at its index in `data`.
    const late = Int32Array.from(x.data);
    late[203] = 99;
    await refused({}, /Sequential\.fit: x element 203 is 99, expected a token id in 0\.\.\d+/, { data: late, shape: x.shape });
    const badY = Int32Array.from(y.data);
    badY[271] = CLASSES;
    await refused({}, new RegExp(`Sequential\\.fit: y element 271 is ${CLASSES}, expected a class id in 0\\.\\.${CLASSES - 1}`), x, { data: badY, shape: y.shape });
    // Validation data is checked up front too, under its own name.
    await refused({ validationSplit: 0.01 }, /validationSplit 0\.01 of 50 samples holds out none/);
    await refused({ validationData: { x, y: { data: y.data.slice(0, 250), shape: [50, 5] } } }, /validationData\.y must have shape \[50, 6\]/);
    await refused({ validationData: { x, y, lengths: Int32Array.from([3, 4]) } }, /validationData\.lengths must have shape \[50\]/);
    await refused({ validationSplit: 0.2, validationData: { x, y } }, /validationSplit or validationData, not both/);
    // Options.
    for (const seed of [1.5, NaN, '3']) await refused({ seed }, /Sequential\.fit: seed must be an integer/);
    await refused({ shuffle: 'no' }, /Sequential\.fit: shuffle must be a boolean, got "no"/);
    await refused({ batchSize: 2.5 }, /batchSize must be a positive integer, got 2\.5/);
    // A monitor the run cannot log is refused before training (this model logs accuracy, not without it).
    const plain = tagger(rt);
    plain.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }) });
    const plainBefore = allHash(plain);
    await expect(plain.fit(x, y, { ...opts, callbacks: new EarlyStopping({ monitor: 'accuracy' }) })).rejects.toThrow(/EarlyStopping: monitor 'accuracy' needs compile\(\{ metrics: \['accuracy'\] \}\)/);
    unchanged(plain, plainBefore);
    plain.dispose();
    // And then it trains.
    const h = await m.fit(x, y, { ...opts, epochs: 1 });
    expect(h.loss).toHaveLength(1);
    m.dispose();
  });

  test('a refused batch (a class id out of range) draws no dropout mask: the next batch is as if it never came', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const xb = { data: x.data.slice(0, 48), shape: [8, 6] };
    const yb = { data: y.data.slice(0, 48), shape: [8, 6] };
    const bad = { data: Int32Array.from(yb.data, (v, i) => (i === 40 ? CLASSES : v)), shape: yb.shape };
    const a = fresh(rt), b = fresh(rt);
    await expect(b.trainOnBatch(xb, bad)).rejects.toThrow(/y element 40 is \d+, expected a class id/);
    expect(await b.trainOnBatch(xb, yb)).toBe(await a.trainOnBatch(xb, yb));
    expect(allHash(b)).toBe(allHash(a));
    a.dispose();
    b.dispose();
  });

  test('a refused compile keeps the model\'s optimizer; evaluate and predict check batchSize', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const a = fresh(rt), b = fresh(rt);
    const own = b.compileOptions!.optimizer!;
    expect(() => b.compile({ loss: 'crossEntropy', optimizer: a.compileOptions!.optimizer })).toThrow(/already bound to a model/);
    expect(b.compileOptions!.optimizer).toBe(own);
    await b.trainOnBatch({ data: x.data.slice(0, 48), shape: [8, 6] }, { data: y.data.slice(0, 48), shape: [8, 6] });
    expect(own.steps).toBe(1);
    for (const bs of [0, -1, NaN, 2.5]) {
      expect(() => b.evaluate(x, y, { batchSize: bs })).toThrow(/Sequential\.evaluate: batchSize must be a positive integer/);
      expect(() => b.predict(x, { batchSize: bs })).toThrow(/Sequential\.predict: batchSize must be a positive integer/);
    }
    expect(() => b.evaluate(x, { data: y.data.slice(0, 100), shape: [50, 6] }, { batchSize: 8 })).toThrow(/Sequential\.evaluate: y must have shape \[50, 6\]/);
    expect(() => b.compile({ loss: 'crossEntropy', metrics: ['acc' as 'accuracy'] })).toThrow(/metrics must be \['accuracy'\] or \[\], got \["acc"\]/);
    a.dispose();
    b.dispose();
  });

  test('mse on a last-tick output (returnSequences: false) with lengths: fit trains on [B, units] targets as trainOnBatch does', async () => {
    const rt = await build('simd');
    const make = () => {
      const m = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, batchFirst: true, returnSequences: false, seed: 1, runtime: rt }), new Dense({ inputSize: 4, units: 2, seed: 2, runtime: rt })], { runtime: rt });
      m.compile({ loss: 'mse', optimizer: new SGD({ lr: 0.1 }) });
      return m;
    };
    const x = randomTensor([6, 5, 3], 1);
    const y = randomTensor([6, 2], 2);
    const lengths = Int32Array.from([5, 2, 3, 1, 4, 2]);
    const a = make(), b = make();
    await a.fit(x, y, { epochs: 1, batchSize: 6, shuffle: false, lengths });
    await b.trainOnBatch(x, y, { lengths });
    expect(allHash(a)).toBe(allHash(b));
    a.dispose();
    b.dispose();
  });

  test('resume from a checkpoint taken after an epoch\'s last batch logs that batch\'s learning rate at the epoch end', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const opts = { epochs: 3, batchSize: 10, seed: 4 };
    const make = () => {
      const m = tagger(rt, 0);
      m.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0.1 }), lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5 }) });
      return m;
    };
    const a = make();
    const hA = await a.fit(x, y, opts);
    const b = make();
    const ckpts: { bytes: Uint8Array; info: { epoch: number; batch: number } }[] = [];
    await b.fit(x, y, { ...opts, callbacks: new ModelCheckpoint({ save: (bytes, info) => void ckpts.push({ bytes, info }), everyBatches: 5 }) });
    const atLast = ckpts.find((c) => c.info.epoch === 1 && c.info.batch === 5)!; // 5 batches an epoch
    expect(atLast).toBeDefined();
    const loaded = deserializeModel(atLast.bytes, { runtime: rt });
    const h = await loaded.model.fit(x, y, { ...opts, resume: loaded.training });
    expect(h.lr).toEqual(hA.lr);
    expect(h.loss).toEqual(hA.loss);
    expect(allHash(loaded.model)).toBe(allHash(a));
    for (const m of [a, b, loaded.model]) m.dispose();
  });
});

describe('what the stricter checks must still allow (regressions found by review)', () => {
  test('padded ticks may hold any target (a PAD id, -100); real ticks are checked', async () => {
    const rt = await build('simd');
    const { x, y, lengths } = tokenData();
    const padded = Int32Array.from(y.data);
    for (let s = 0; s < NS; s++) for (let t = lengths[s]; t < TT; t++) padded[s * TT + t] = -100; // batch-first [NS, TT]
    const m = tagger(rt);
    m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }) });
    const yp = { data: padded, shape: y.shape };
    const h = await m.fit(x, yp, { epochs: 1, batchSize: 8, lengths });
    expect(Number.isFinite(h.loss[0])).toBe(true);
    expect(Number.isFinite(m.evaluate(x, yp, { lengths, batchSize: 16 }).loss)).toBe(true);
    const real = Int32Array.from(padded);
    real[0] = -100; // tick 0 is always real
    await expect(m.fit(x, { data: real, shape: y.shape }, { epochs: 1, lengths })).rejects.toThrow(/y element 0 is -100, expected a class id/);
    m.dispose();
  });

  test('callbacks keep their own `state`; checkpoint callbacks move only past callbacks with checkpoint state', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const m = tagger(rt);
    m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }) });
    const order: string[] = [];
    let saved = 0;
    const user = { state: { best: 1 }, onEpochEnd: () => void order.push(`user sees ${saved} checkpoints`) };
    const withMethod = { state: () => 'mine', onEpochEnd: () => void order.push('method') };
    const ck = new ModelCheckpoint({ save: () => void (saved++, order.push('checkpoint')) });
    await m.fit(x, y, { epochs: 1, batchSize: 25, callbacks: [ck, user as never, withMethod as never] });
    expect(order).toEqual(['checkpoint', 'user sees 1 checkpoints', 'method']); // the given order
    expect(() => m.toBytes({ training: true })).not.toThrow();
    // With an EarlyStopping after it, the checkpoint runs right after the EarlyStopping.
    order.length = 0;
    const es = new EarlyStopping({ monitor: 'loss', patience: 5 });
    const esSpy = Object.assign(es, { onEpochEnd: ((f) => (e: number, l: Logs, mm: Sequential) => (order.push('es'), f.call(es, e, l, mm)))(es.onEpochEnd) });
    await m.fit(x, y, { epochs: 1, batchSize: 25, callbacks: [ck, user as never, esSpy, withMethod as never] });
    expect(order).toEqual(['user sees 1 checkpoints', 'es', 'checkpoint', 'method']);
    // The same callback twice keeps both places (moved ones land after the last EarlyStopping).
    order.length = 0;
    await m.fit(x, y, { epochs: 1, batchSize: 25, callbacks: [ck, esSpy, ck, esSpy] });
    expect(order).toEqual(['es', 'es', 'checkpoint', 'checkpoint']);
    // A checkpointState() that is not { type, values } is refused when the checkpoint is written.
    const bad = { checkpointState: () => ({ type: 'Mine', values: { when: 'now' } }), restoreCheckpointState: () => {} };
    await expect(m.fit(x, y, { epochs: 1, batchSize: 25, callbacks: [bad as never, new ModelCheckpoint({ save: () => {} })] })).rejects.toThrow(/checkpointState\(\) must return \{ type: string, values: \{ \[name\]: number \}/);
    m.dispose();
  });

  test('resume with another schedule, without the stored one, or with a subclass of a built-in one is refused by name', async () => {
    const rt = await build('simd');
    const { x, y } = tokenData();
    const opts = { epochs: 2, batchSize: 25, seed: 1 };
    const checkpointOf = async (lrSchedule: LRSchedule) => {
      const m = tagger(rt, 0);
      m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.02 }), lrSchedule });
      let first: Uint8Array = new Uint8Array(0);
      await m.fit(x, y, { ...opts, callbacks: new ModelCheckpoint({ save: (b, info) => void (info.epoch === 1 && (first = b)) }) });
      m.dispose();
      return deserializeModel(first, { runtime: rt });
    };
    const a = await checkpointOf(new StepLR({ stepSize: 1, gamma: 0.5 }));
    a.model.compile({ ...a.model.compileOptions!, lrSchedule: new ExponentialLR({ gamma: 0.5 }) });
    await expect(a.model.fit(x, y, { ...opts, resume: a.training })).rejects.toThrow(/trained with a StepLR schedule, the model has ExponentialLR; resume with the same schedule/);
    a.model.compile({ loss: 'crossEntropy', optimizer: a.model.compileOptions!.optimizer, clipGradNorm: 1 });
    await expect(a.model.fit(x, y, { ...opts, resume: a.training })).rejects.toThrow(/trained with a StepLR schedule, the model has none; a loaded checkpoint comes compiled with it: compile\(\{ \.\.\.model\.compileOptions, \.\.\. \}\) keeps it/);
    a.model.dispose();
    class Warm extends CosineLR {
      override lrAt(base: number): number {
        return base / 4;
      }
    }
    const b = await checkpointOf(new Warm({ totalSteps: 10 }));
    expect(b.model.compileOptions!.lrSchedule).toBeUndefined(); // a subclass is not stored as its base class
    await expect(b.model.fit(x, y, { ...opts, resume: b.training })).rejects.toThrow(/trained with a CosineLR \(your own\) schedule, the model has none; files store only the built-in schedules/);
    // The base class is not the same schedule.
    b.model.compile({ ...b.model.compileOptions!, lrSchedule: new CosineLR({ totalSteps: 10 }) });
    await expect(b.model.fit(x, y, { ...opts, resume: b.training })).rejects.toThrow(/trained with a CosineLR \(your own\) schedule, the model has CosineLR; resume with the same schedule/);
    b.model.dispose();
    // A run without a schedule resumes without one.
    const c = await checkpointOf(undefined as never);
    c.model.compile({ ...c.model.compileOptions!, lrSchedule: new StepLR({ stepSize: 1 }) });
    await expect(c.model.fit(x, y, { ...opts, resume: c.training })).rejects.toThrow(/trained with no schedule, the model has StepLR; resume with the same schedule/);
    c.model.dispose();
    // Files of the previous version name no schedule: any schedule resumes a stateful one.
    const d = await checkpointOf(new ReduceLROnPlateau({ patience: 0 }));
    delete (d.training as { scheduleType?: string }).scheduleType;
    delete (d.training as { scheduleBuiltIn?: boolean }).scheduleBuiltIn;
    await d.model.fit(x, y, { ...opts, resume: d.training });
    d.model.dispose();
  });
});

// ----- abort ------------------------------------------------------------------------------------------

describe('abort', () => {
  function small(rt: Runtime) {
    const m = new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, runtime: rt }), new Dense({ inputSize: 3, units: 2, seed: 2, runtime: rt })], { runtime: rt });
    m.compile({ loss: 'mse', optimizer: new SGD({ lr: 0.01 }), lrSchedule: new ExponentialLR({ gamma: 0.5 }) });
    return m;
  }
  const n = 200;
  const x = randomTensor([3, n, 2], 5);
  const y = randomTensor([3, n, 2], 6);

  test('aborted from onBatchEnd: stops before the next batch, resolves with history.aborted', async () => {
    const rt = await build('simd');
    const m = small(rt);
    const ac = new AbortController();
    const seen: number[] = [];
    const h = await m.fit(x, y, {
      epochs: 3,
      batchSize: 10,
      signal: ac.signal,
      callbacks: {
        onBatchEnd: (b) => {
          seen.push(b);
          if (b === 2) ac.abort();
        },
      },
    });
    expect(h.aborted).toBe(true);
    expect(h.stopped).toBe(false);
    expect(seen).toEqual([0, 1, 2]);
    expect(m.compileOptions!.optimizer!.steps).toBe(3);
    expect(h.loss).toEqual([]);
    expect(m.compileOptions!.optimizer!.lr).toBe(0.01); // the schedule's rate is undone
    // An already aborted signal runs nothing.
    const h2 = await m.fit(x, y, { epochs: 1, batchSize: 10, signal: ac.signal });
    expect(h2.aborted).toBe(true);
    expect(m.compileOptions!.optimizer!.steps).toBe(3);
    m.dispose();
  });

  test('aborted from a timer while fit runs (fit yields to the event loop between batches)', async () => {
    const rt = await build('simd');
    const m = small(rt);
    const ac = new AbortController();
    let batches = 0;
    const timer = setTimeout(() => ac.abort(), 30);
    const t0 = performance.now();
    const h = await m.fit(x, y, { epochs: 1000, batchSize: 1, signal: ac.signal, callbacks: { onBatchEnd: () => void batches++ } });
    clearTimeout(timer);
    expect(h.aborted).toBe(true);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(1000 * n);
    expect(m.compileOptions!.optimizer!.steps).toBe(batches);
    expect(performance.now() - t0).toBeLessThan(5000);
    m.dispose();
  });
});

// ----- early stopping ----------------------------------------------------------------------------------

describe('EarlyStopping', () => {
  test('stops when the validation loss stops improving; restoreBestWeights puts back the best epoch', async () => {
    const rt = await build('simd');
    // Train to predict class 0 everywhere; validate on the same inputs labelled 1: the
    // validation loss gets worse every epoch, so epoch 0 is the best.
    const x = randomTensor([4, 16, 3], 91);
    const y0 = { data: new Int32Array(4 * 16), shape: [4, 16] };
    const y1 = { data: new Int32Array(4 * 16).fill(1), shape: [4, 16] };
    const run = async (restoreBestWeights: boolean) => {
      const m = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1, runtime: rt }), new Dense({ inputSize: 4, units: 2, seed: 2, runtime: rt })], { runtime: rt });
      m.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: 0.05 }) });
      const snaps: string[] = [];
      const es = new EarlyStopping({ patience: 1, restoreBestWeights });
      const h = await m.fit(x, y0, {
        epochs: 20,
        batchSize: 8,
        validationData: { x, y: y1 },
        callbacks: [{ onEpochEnd: (_e, _l, mm) => void snaps.push(allHash(mm)) }, es],
      });
      const out = { h, snaps, final: allHash(m), stoppedEpoch: es.stoppedEpoch };
      m.dispose();
      return out;
    };
    const r = await run(true);
    expect(r.h.valLoss[1]).toBeGreaterThan(r.h.valLoss[0]);
    expect(r.h.stopped).toBe(true);
    expect(r.stoppedEpoch).toBe(1); // best 0, then 1 epoch without improvement = patience 1 (Keras)
    expect(r.h.loss).toHaveLength(2);
    expect(r.final).toBe(r.snaps[0]);
    const n = await run(false);
    expect(n.h.stopped).toBe(true);
    expect(n.final).toBe(n.snaps[1]);
    expect(n.final).not.toBe(n.snaps[0]);
  });

  test('a monitored value that improves, then stalls: stops after patience and restores the best epoch', async () => {
    const rt = await build('simd');
    const m = new Sequential([new Dense({ inputSize: 2, units: 2, seed: 1, runtime: rt })], { runtime: rt });
    const es = new EarlyStopping({ monitor: 'valLoss', patience: 1, restoreBestWeights: true });
    es.onTrainBegin();
    const values = [3, 2, 2.5, 2.1, 1];
    const weights: string[] = [];
    for (let e = 0; e < values.length && !m.stopTraining; e++) {
      m.loadStateDict({ '0.weight': Float32Array.from([e, e, e, e]), '0.bias': Float32Array.from([e, -e]) });
      weights.push(allHash(m));
      es.onEpochEnd(e, { loss: 0, valLoss: values[e] }, m);
    }
    expect(m.stopTraining).toBe(true);
    expect(es.stoppedEpoch).toBe(2); // 2.5 does not improve on 2: patience 1 is used up
    expect(allHash(m)).toBe(weights[1]);
    // Accuracy is maximised.
    const es2 = new EarlyStopping({ monitor: 'valAccuracy', patience: 0 });
    const m2 = new Sequential([new Dense({ inputSize: 2, units: 2, seed: 1, runtime: rt })], { runtime: rt });
    es2.onTrainBegin();
    es2.onEpochEnd(0, { loss: 1, valAccuracy: 0.5 }, m2);
    es2.onEpochEnd(1, { loss: 1, valAccuracy: 0.6 }, m2);
    expect(m2.stopTraining).toBe(false);
    es2.onEpochEnd(2, { loss: 1, valAccuracy: 0.6 }, m2);
    expect(m2.stopTraining).toBe(true);
    expect(() => new EarlyStopping({ monitor: 'accuracy' }).onEpochEnd(0, { loss: 1 }, m2)).toThrow(/accuracy/);
    m.dispose();
    m2.dispose();
  });
});

// ----- schedules ------------------------------------------------------------------------------------------

describe('learning-rate schedules', () => {
  test('StepLR, ExponentialLR, CosineLR values', () => {
    const s: LRSchedule = new StepLR({ stepSize: 2, gamma: 0.5 });
    expect([0, 1, 2, 3, 4, 5].map((e) => s.lrAt(0.1, e, 0))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    expect((new StepLR({ stepSize: 3 }) as LRSchedule).lrAt(1, 3, 0)).toBeCloseTo(0.1, 15);
    const x: LRSchedule = new ExponentialLR({ gamma: 0.9 });
    [0, 1, 2, 5].forEach((e) => expect(x.lrAt(0.1, e, 0)).toBeCloseTo(0.1 * 0.9 ** e, 15));
    const c = new CosineLR({ totalSteps: 10, warmupSteps: 2, minLr: 0.01 });
    const at = (step: number) => c.lrAt(0.1, 0, step);
    expect(at(0)).toBeCloseTo(0.05, 15); // warm-up: (step + 1) / warmupSteps
    expect(at(1)).toBeCloseTo(0.1, 15);
    expect(at(2)).toBeCloseTo(0.1, 15); // cosine starts at the base rate
    expect(at(6)).toBeCloseTo(0.01 + 0.5 * 0.09, 15); // halfway
    expect(at(10)).toBeCloseTo(0.01, 15);
    expect(at(50)).toBeCloseTo(0.01, 15); // stays at minLr
    for (let k = 2; k < 10; k++) expect(at(k + 1)).toBeLessThan(at(k));
    const c0 = new CosineLR({ totalSteps: 4 });
    expect([0, 1, 2, 3, 4].map((k) => c0.lrAt(1, 0, k))).toEqual([1, 0.5 + 0.5 * Math.cos(Math.PI / 4), 0.5 + 0.5 * Math.cos(Math.PI / 2), 0.5 + 0.5 * Math.cos((3 * Math.PI) / 4), 0]);
    expect(() => new StepLR({ stepSize: 0 })).toThrow(/stepSize/);
    expect(() => new ExponentialLR({ gamma: 0 })).toThrow(/gamma/);
    expect(() => new CosineLR({ totalSteps: 0 })).toThrow(/totalSteps/);
    expect(() => new ReduceLROnPlateau({ factor: 1 })).toThrow(/factor/);
    // Every option is checked, naming it (a schedule can also come from a file).
    expect(() => new StepLR({ stepSize: 1, gamma: -0.5 })).toThrow(/StepLR: gamma/);
    expect(() => new ExponentialLR({ gamma: Infinity })).toThrow(/gamma/);
    expect(() => new CosineLR({ totalSteps: 5, warmupSteps: 1.5 })).toThrow(/CosineLR: warmupSteps/);
    expect(() => new CosineLR({ totalSteps: 5, minLr: NaN })).toThrow(/CosineLR: minLr/);
    expect(() => new ReduceLROnPlateau({ patience: -1 })).toThrow(/ReduceLROnPlateau: patience/);
    expect(() => new ReduceLROnPlateau({ threshold: 2 })).toThrow(/ReduceLROnPlateau: threshold/);
    expect(() => new ReduceLROnPlateau({ minLr: '0' as unknown as number })).toThrow(/ReduceLROnPlateau: minLr/);
    expect(makeSchedule('CosineLR', { totalSteps: 4 }).lrAt(1, 0, 4)).toBe(0);
    expect(() => makeSchedule('Warp', {})).toThrow(/unknown schedule type "Warp"/);
  });

  test('ReduceLROnPlateau reduces after patience epochs without improvement, honours minLr, and round-trips its state', () => {
    const r = new ReduceLROnPlateau({ patience: 2, factor: 0.5, minLr: 0.02 });
    const lrs: number[] = [];
    for (const v of [1, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]) {
      r.onEpochEnd(v);
      lrs.push(r.lrAt(0.1));
    }
    // Best 0.9 at epoch 1; bad epochs 2, 3, 4: the 3rd (> patience 2) reduces; then 3 more.
    expect(lrs.slice(0, 4)).toEqual([0.1, 0.1, 0.1, 0.1]);
    expect(lrs[4]).toBeCloseTo(0.05, 15);
    expect(lrs[7]).toBeCloseTo(0.025, 15);
    expect(lrs[8]).toBeCloseTo(0.025, 15); // 0.8 improves
    expect(lrs[11]).toBeCloseTo(0.02, 15); // 0.0125 clipped to minLr
    const s = JSON.parse(JSON.stringify(r.state()));
    const r2 = new ReduceLROnPlateau({ patience: 2, factor: 0.5, minLr: 0.02 });
    r2.setState(s);
    expect(r2.state()).toEqual(r.state());
    // Fresh state survives JSON (best = Infinity becomes null).
    const fresh = new ReduceLROnPlateau();
    const r3 = new ReduceLROnPlateau();
    r3.setState(JSON.parse(JSON.stringify(fresh.state())));
    r3.onEpochEnd(5);
    expect(r3.state().best).toBe(5);
  });

  test('fit applies the schedule before every batch and logs it per epoch; the base rate is restored', async () => {
    const rt = await build('simd');
    const m = new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, runtime: rt }), new Dense({ inputSize: 3, units: 2, seed: 2, runtime: rt })], { runtime: rt });
    const opt = new SGD({ lr: 0.2 });
    m.compile({ loss: 'mse', optimizer: opt, lrSchedule: new StepLR({ stepSize: 2, gamma: 0.1 }) });
    const x = randomTensor([3, 12, 2], 1);
    const y = randomTensor([3, 12, 2], 2);
    const lrs: number[] = [];
    const h = await m.fit(x, y, { epochs: 5, batchSize: 4, callbacks: { onBatchEnd: (_b, l) => void lrs.push(l.lr!) } });
    expect(h.lr).toHaveLength(5);
    [0.2, 0.2, 0.02, 0.02, 0.002].forEach((v, e) => expect(h.lr[e]).toBeCloseTo(v, 15));
    expect(lrs).toHaveLength(15);
    lrs.forEach((v, i) => expect(v).toBe(h.lr[Math.floor(i / 3)]));
    expect(opt.lr).toBe(0.2);
    // ReduceLROnPlateau in fit, monitoring the training loss (no validation data).
    const m2 = new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, runtime: rt }), new Dense({ inputSize: 3, units: 2, seed: 2, runtime: rt })], { runtime: rt });
    const plateau = new ReduceLROnPlateau({ patience: 0, factor: 0.5, threshold: 0.5 }); // no epoch halves the loss of the first
    m2.compile({ loss: 'mse', optimizer: new SGD({ lr: 0.2 }), lrSchedule: plateau });
    const h2 = await m2.fit(x, y, { epochs: 4, batchSize: 4 });
    expect(h2.lr.map((v) => +v.toPrecision(12))).toEqual([0.2, 0.2, 0.1, 0.05]);
    m.dispose();
    m2.dispose();
  });
});
