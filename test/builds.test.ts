// The SIMD128 and the scalar build are really different modules, and they agree bit for bit: same
// LSTM forward/backward, same Sequential training trajectory. Runs in Node and in Chromium
// (no node: imports: the modules come from test/helpers.ts).
import { describe, expect, test } from 'vitest';
import { Dense, LSTM, Runtime, SGD, Sequential, Tensor, simdSupported } from '../src/index.js';
import { bitsHash, build, randomData, randomTensor, wasmBytes } from './helpers.js';

/** Bit-compare two float arrays; the message names the first differing index, both values and hashes. */
function expectSameBits(what: string, simd: Float32Array, scalar: Float32Array): void {
  expect(simd.length, `${what}: length`).toBe(scalar.length);
  const hs = bitsHash(simd);
  const hc = bitsHash(scalar);
  if (hs === hc) return;
  const us = new Uint32Array(simd.buffer, simd.byteOffset, simd.length);
  const uc = new Uint32Array(scalar.buffer, scalar.byteOffset, scalar.length);
  const i = us.findIndex((v, j) => v !== uc[j]);
  throw new Error(`${what}: SIMD build ${hs} != scalar build ${hc}; first difference at [${i}]: simd ${simd[i]} (0x${us[i]?.toString(16)}), scalar ${scalar[i]} (0x${uc[i]?.toString(16)})`);
}

function expectSameDict(what: string, simd: Record<string, Tensor>, scalar: Record<string, Tensor>): void {
  expect(Object.keys(simd), `${what}: keys`).toEqual(Object.keys(scalar));
  for (const k of Object.keys(simd)) {
    expect(simd[k].shape, `${what} ${k}: shape`).toEqual(scalar[k].shape);
    expectSameBits(`${what} ${k}`, simd[k].data, scalar[k].data);
  }
}

/** Count `0xfd <op LEB>` sequences inside the code section (id 10) of a module. */
function countSimdOps(bytes: Uint8Array, ops: number[][]): number {
  let pos = 8; // magic + version
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[pos++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) return v;
    }
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    if (id === 10) {
      let count = 0;
      for (let i = pos; i < pos + size - 2; i++) {
        if (bytes[i] !== 0xfd) continue;
        if (ops.some((op) => op.every((b, j) => bytes[i + 1 + j] === b))) count++;
      }
      return count;
    }
    pos += size;
  }
  throw new Error('no code section');
}

// f32x4.add = 0xfd 228, f32x4.mul = 0xfd 230 (LEB128: e4 01, e6 01): what the GEMM micro-kernel is made of.
const F32X4_ADD_MUL = [
  [0xe4, 0x01],
  [0xe6, 0x01],
];

describe('the two builds are different modules', () => {
  test('runtime flags: rt.simd is true for the SIMD build, false for the scalar build', async () => {
    const [simd, scalar] = await Promise.all([build('simd'), build('scalar')]);
    expect(simd.simd).toBe(true);
    expect(scalar.simd).toBe(false);
    expect(simd.core.lstmw_simd()).toBe(1);
    expect(scalar.core.lstmw_simd()).toBe(0);
    // Separate instances, separate memories.
    expect(simd.core.memory).not.toBe(scalar.core.memory);
  });

  test('module bytes: both validate; only the SIMD build uses SIMD128 (0xfd prefix, f32x4.add/mul)', async () => {
    const [simd, scalar] = await Promise.all([wasmBytes('simd'), wasmBytes('scalar')]);
    expect(simdSupported(), 'this runtime validates SIMD128').toBe(true);
    expect(WebAssembly.validate(new Uint8Array(simd)), 'lstm-simd.wasm validates').toBe(true);
    expect(WebAssembly.validate(new Uint8Array(scalar)), 'lstm-scalar.wasm validates').toBe(true);
    expect(simd.includes(0xfd), 'lstm-simd.wasm contains the SIMD prefix opcode 0xfd').toBe(true);
    const simdOps = countSimdOps(simd, F32X4_ADD_MUL);
    const scalarOps = countSimdOps(scalar, F32X4_ADD_MUL);
    expect(simdOps, 'f32x4.add/f32x4.mul in lstm-simd.wasm code').toBeGreaterThanOrEqual(16);
    // A chance byte match in immediates is possible but rare; a SIMD kernel would give dozens.
    expect(scalarOps, 'f32x4.add/f32x4.mul in lstm-scalar.wasm code').toBeLessThanOrEqual(1);
  });
});

interface LstmCase {
  name: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  t: number;
  b: number;
}

const LSTM_CASES: LstmCase[] = [
  { name: 'I=7 H=13 L=2 bidirectional, T=9 B=3', inputSize: 7, hiddenSize: 13, numLayers: 2, bidirectional: true, batchFirst: false, t: 9, b: 3 },
  { name: 'I=19 H=37 L=3 bidirectional batchFirst, T=20 B=5', inputSize: 19, hiddenSize: 37, numLayers: 3, bidirectional: true, batchFirst: true, t: 20, b: 5 },
  { name: 'I=5 H=8 L=1 unidirectional, T=33 B=1 (batch-1 kernels)', inputSize: 5, hiddenSize: 8, numLayers: 1, bidirectional: false, batchFirst: false, t: 33, b: 1 },
];

describe('the SIMD and the scalar build agree bit for bit', () => {
  test.each(LSTM_CASES.map((c) => [c.name, c] as const))('LSTM %s: forward and backward', async (_name, c) => {
    const [simdRt, scalarRt] = await Promise.all([build('simd'), build('scalar')]);
    const live = [simdRt.liveObjects(), scalarRt.liveObjects()];
    const cfg = { inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: c.bidirectional, batchFirst: c.batchFirst };
    const a = new LSTM({ ...cfg, seed: 20240611, runtime: simdRt });
    // Same seed in the other build: the initialisation is the same code, so the same bits.
    const sameSeed = new LSTM({ ...cfg, seed: 20240611, runtime: scalarRt });
    expectSameDict('initial weights from the same seed', a.stateDict(), sameSeed.stateDict());
    sameSeed.dispose();
    // A different seed, then the SIMD build's weights copied over.
    const b = new LSTM({ ...cfg, seed: 1, runtime: scalarRt });
    b.loadStateDict(a.stateDict());
    expectSameDict('weights after loadStateDict', a.stateDict(), b.stateDict());

    const d = c.bidirectional ? 2 : 1;
    const xShape = c.batchFirst ? [c.b, c.t, c.inputSize] : [c.t, c.b, c.inputSize];
    const outShape = c.batchFirst ? [c.b, c.t, d * c.hiddenSize] : [c.t, c.b, d * c.hiddenSize];
    const stShape = [c.numLayers * d, c.b, c.hiddenSize];
    const x = randomTensor(xShape, 101);
    const h0 = randomTensor(stShape, 102);
    const c0 = randomTensor(stShape, 103);
    const fa = a.forward(x, { h0, c0 });
    const fb = b.forward(x, { h0, c0 });
    expect(fa.output.shape).toEqual(outShape);
    expectSameBits('output', fa.output.data, fb.output.data);
    expectSameBits('hN', fa.hN.data, fb.hN.data);
    expectSameBits('cN', fa.cN.data, fb.cN.data);

    const bwd = { dOutput: randomTensor(outShape, 201), dHN: randomTensor(stShape, 202), dCN: randomTensor(stShape, 203) };
    const ba = a.backward(bwd);
    const bb = b.backward(bwd);
    expectSameBits('dInput', ba.dInput.data, bb.dInput.data);
    expectSameBits('dH0', ba.dH0.data, bb.dH0.data);
    expectSameBits('dC0', ba.dC0.data, bb.dC0.data);
    expectSameDict('grads', ba.grads, bb.grads);
    // Not trivially equal: the gradients are not all zero.
    expect(Object.values(ba.grads).some((g) => g.data.some((v) => v !== 0))).toBe(true);

    // Without initial states too (the core's zero-state path).
    expectSameBits('output (no h0/c0)', a.forward(x).output.data, b.forward(x).output.data);

    a.dispose();
    b.dispose();
    expect([simdRt.liveObjects(), scalarRt.liveObjects()]).toEqual(live);
  });

  test.each(['crossEntropy', 'mse'] as const)('Sequential LSTM + Dense, %s: identical loss and parameters over 3 SGD steps', async (loss) => {
    const [simdRt, scalarRt] = await Promise.all([build('simd'), build('scalar')]);
    const [I, H, T, B, C] = [7, 13, 9, 3, 5];
    const make = (rt: Runtime, seed: number) =>
      new Sequential([new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed, runtime: rt }), new Dense({ inputSize: 2 * H, units: C, seed: seed + 1, runtime: rt })], { runtime: rt });
    const ma = make(simdRt, 77);
    const mb = make(scalarRt, 5);
    mb.loadStateDict(ma.stateDict());
    const initial = ma.stateDict();
    expectSameDict('initial parameters', initial, mb.stateDict());
    ma.compile({ loss, optimizer: new SGD({ lr: 0.1 }) });
    mb.compile({ loss, optimizer: new SGD({ lr: 0.1 }) });

    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      const x = randomTensor([T, B, I], 300 + step);
      const y =
        loss === 'crossEntropy'
          ? { data: Int32Array.from(randomData(T * B, 400 + step), (v) => Math.floor((v + 1) * 2.5) % C), shape: [T, B] }
          : randomTensor([T, B, C], 400 + step);
      const la = await ma.trainOnBatch(x, y);
      const lb = await mb.trainOnBatch(x, y);
      expect(Number.isFinite(la), `step ${step}: loss ${la}`).toBe(true);
      expectSameBits(`step ${step}: loss`, Float32Array.of(la), Float32Array.of(lb));
      expectSameDict(`step ${step}: gradients`, ma.gradients(), mb.gradients());
      expectSameDict(`step ${step}: parameters after the step`, ma.stateDict(), mb.stateDict());
      losses.push(la);
    }
    // Training did something: the parameters moved.
    const after = ma.stateDict();
    expect(Object.keys(after).filter((k) => bitsHash(after[k].data) !== bitsHash(initial[k].data))).toEqual(Object.keys(after));
    expect(losses.length).toBe(3);
    const x = randomTensor([T, B, I], 999);
    expectSameBits('predict after training', ma.predict(x).data, mb.predict(x).data);
    ma.dispose();
    mb.dispose();
  });
});
