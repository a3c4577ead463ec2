// Bad input gets a clear error (the operation, the argument, and both shapes where there are
// shapes) and changes nothing: after every refused call the object still works and gives
// bit-identical results. SIMD build.
import { describe, expect, test } from 'vitest';
import { Adam, AdamW, CoreError, Dense, DisposedError, Dropout, EarlyStopping, Embedding, LSTM, LSTMState, ModelCheckpoint, Runtime, SGD, Sequential, ShapeError, Tensor, TensorLike, createRuntime } from '../src/index.js';
import { bitsHash, build, randomTensor, wasmBytes } from './helpers.js';

// ----- helpers ----------------------------------------------------------------------------------

/** Any error class (for tables of expected errors). */
type ErrorClass = new (...args: never[]) => Error;

/** The error `f` throws (fails the test if it returns). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw');
}

/** The error a promise rejects with. */
async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

/** Hash of every tensor of a state dict (or any record of tensors), key by key. */
function hashes(d: Record<string, Tensor>): Record<string, string> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, `${v.shape.join('x')}:${bitsHash(v.data)}`]));
}

const with1 = (t: Tensor, i: number, v: number): Tensor => {
  const d = t.data.slice();
  d[i] = v;
  return new Tensor(d, t.shape.slice());
};

// A 2-layer bidirectional LSTM: I = 3, H = 2, state [L·D = 4, B, 2]; input x [T = 4, B = 2, 3].
const CFG = { inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true, seed: 7 } as const;
const X = randomTensor([4, 2, 3], 11);
const H0 = randomTensor([4, 2, 2], 12);
const C0 = randomTensor([4, 2, 2], 13);
const DY = randomTensor([4, 2, 4], 14);
const DHN = randomTensor([4, 2, 2], 15);

/** Everything observable about one valid forward + backward, as hashes. */
function fingerprint(lstm: LSTM): Record<string, string> {
  const f = lstm.forward(X, { h0: H0, c0: C0 });
  const b = lstm.backward({ dOutput: DY, dHN: DHN });
  return {
    output: bitsHash(f.output.data),
    hN: bitsHash(f.hN.data),
    cN: bitsHash(f.cN.data),
    dInput: bitsHash(b.dInput.data),
    dH0: bitsHash(b.dH0.data),
    dC0: bitsHash(b.dC0.data),
    ...hashes(b.grads),
    ...Object.fromEntries(Object.entries(hashes(lstm.stateDict())).map(([k, v]) => [`param ${k}`, v])),
  };
}

async function freshLstm(): Promise<{ rt: Runtime; lstm: LSTM; ref: Record<string, string> }> {
  const rt = await build('simd');
  const lstm = new LSTM({ ...CFG, runtime: rt });
  return { rt, lstm, ref: fingerprint(lstm) };
}

// ----- LSTM.forward -----------------------------------------------------------------------------

describe('LSTM.forward refuses bad input and stays usable', () => {
  const f32 = (n: number) => new Float32Array(n);
  const shapeCases: [string, () => unknown, RegExp, Partial<ShapeError>][] = [
    ['wrong rank (2)', () => ({ data: f32(24), shape: [4, 6] }), /^LSTM\.forward: x must have shape \[\*, \*, 3\] \(\[T, B, inputSize\], time-major\), got \[4, 6\]$/, { arg: 'x', expected: [null, null, 3], actual: [4, 6] }],
    ['wrong rank (4)', () => ({ data: f32(24), shape: [1, 4, 2, 3] }), /x must have shape \[\*, \*, 3\].*got \[1, 4, 2, 3\]/, { arg: 'x', actual: [1, 4, 2, 3] }],
    ['wrong inputSize', () => ({ data: f32(16), shape: [4, 2, 2] }), /x must have shape \[\*, \*, 3\].*got \[4, 2, 2\]/, { arg: 'x', expected: [null, null, 3], actual: [4, 2, 2] }],
    ['zero ticks', () => ({ data: f32(0), shape: [0, 2, 3] }), /x must have shape \[\*, \*, 3\].*got \[0, 2, 3\]/, { arg: 'x' }],
    ['data shorter than shape', () => ({ data: f32(23), shape: [4, 2, 3] }), /x has shape \[4, 2, 3\] \(24 values\) but data\.length is 23/, { arg: 'x', actual: [4, 2, 3] }],
    ['data longer than shape', () => ({ data: f32(25), shape: [4, 2, 3] }), /x has shape \[4, 2, 3\] \(24 values\) but data\.length is 25/, { arg: 'x' }],
    ['Float64Array data', () => ({ data: new Float64Array(24), shape: [4, 2, 3] }), /x\.data must be a Float32Array, got a Float64Array of length 24/, { arg: 'x' }],
    ['plain array data', () => ({ data: new Array(24).fill(0), shape: [4, 2, 3] }), /x\.data must be a Float32Array, got an Array of length 24/, { arg: 'x' }],
    ['a plain array as x', () => Array.from(X.data), /x must be a tensor \{ data: Float32Array, shape \} of shape \[\*, \*, 3\].*got an Array of length 24/, { arg: 'x' }],
    ['a bare Float32Array as x', () => X.data, /x must be a tensor .*got a Float32Array of length 24/, { arg: 'x' }],
    ['null', () => null, /x must be a tensor .*got null/, { arg: 'x' }],
    ['undefined', () => undefined, /x must be a tensor .*got undefined/, { arg: 'x' }],
    ['non-integer shape', () => ({ data: f32(24), shape: [4, 2, 3.5] }), /x\.shape must be an array of non-negative integers, got \[4,2,3\.5\]/, { arg: 'x' }],
  ];

  test.each(shapeCases)('x: %s → ShapeError', async (_name, make, message, fields) => {
    const { lstm, ref } = await freshLstm();
    const e = thrown(() => lstm.forward(make() as TensorLike));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(message);
    expect(e).toMatchObject({ op: 'LSTM.forward', ...fields });
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  test.each([
    ['h0', 'batch', [4, 3, 2], /^LSTM\.forward: h0 must have shape \[4, 2, 2\] \(\[numLayers·directions, B, hiddenSize\]\), got \[4, 3, 2\]$/],
    ['h0', 'layers·directions', [2, 2, 2], /h0 must have shape \[4, 2, 2\].*got \[2, 2, 2\]/],
    ['c0', 'hidden', [4, 2, 3], /c0 must have shape \[4, 2, 2\].*got \[4, 2, 3\]/],
    ['c0', 'rank', [8, 2], /c0 must have shape \[4, 2, 2\].*got \[8, 2\]/],
  ] as const)('%s with the wrong %s → ShapeError with both shapes', async (arg, _what, shape, message) => {
    const { lstm, ref } = await freshLstm();
    const bad = randomTensor([...shape], 3);
    const e = thrown(() => lstm.forward(X, arg === 'h0' ? { h0: bad, c0: C0 } : { h0: H0, c0: bad }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(message);
    expect(e).toMatchObject({ op: 'LSTM.forward', arg, expected: [4, 2, 2], actual: [...shape] });
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  test('grad that is not a boolean → TypeError naming options.grad', async () => {
    const { lstm, ref } = await freshLstm();
    expect(() => lstm.forward(X, { grad: 'no' as unknown as boolean })).toThrow(/^LSTM\.forward: options\.grad must be a boolean, got string$/);
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  test('h0 with Float64Array data → ShapeError naming h0', async () => {
    const { lstm, ref } = await freshLstm();
    const e = thrown(() => lstm.forward(X, { h0: { data: new Float64Array(16) as unknown as Float32Array, shape: [4, 2, 2] } }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/LSTM\.forward: h0\.data must be a Float32Array, got a Float64Array of length 16/);
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  // The core checks values; its message names the argument ("input" is x) and the element.
  test.each([
    ['x', 5, NaN, /^LSTM\.forward: (x|input): element 5 is NaN/],
    ['x', 0, Infinity, /^LSTM\.forward: (x|input): element 0 is (inf|Infinity)/],
    ['x', 23, -Infinity, /^LSTM\.forward: (x|input): element 23 is -(inf|Infinity)/],
    ['h0', 3, NaN, /^LSTM\.forward: h0: element 3 is NaN/],
    ['h0', 15, Infinity, /^LSTM\.forward: h0: element 15 is (inf|Infinity)/],
    ['c0', 1, -Infinity, /^LSTM\.forward: c0: element 1 is -(inf|Infinity)/],
  ] as const)('%s[%i] = %s → CoreError naming the argument and the element', async (arg, i, v, message) => {
    const { lstm, ref } = await freshLstm();
    const args = { x: X, h0: H0, c0: C0 };
    args[arg] = with1(args[arg], i, v);
    const e = thrown(() => lstm.forward(args.x, { h0: args.h0, c0: args.c0 }));
    expect(e).toBeInstanceOf(CoreError);
    expect((e as CoreError).status).toBe(2);
    expect(e.message).toMatch(message);
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });
});

test('batchFirst LSTM: the message gives the batch-first layout', async () => {
  const rt = await build('simd');
  const lstm = new LSTM({ ...CFG, batchFirst: true, runtime: rt });
  const ref = hashes({ y: lstm.forward(randomTensor([2, 4, 3], 1)).output });
  expect(() => lstm.forward(randomTensor([2, 4, 5], 1))).toThrow(/^LSTM\.forward: x must have shape \[\*, \*, 3\] \(\[B, T, inputSize\], batchFirst\), got \[2, 4, 5\]$/);
  // h0 is [L·D, B, H] with B from x's first axis.
  expect(() => lstm.forward(randomTensor([2, 4, 3], 1), { h0: randomTensor([4, 4, 2], 2) })).toThrow(/h0 must have shape \[4, 2, 2\].*got \[4, 4, 2\]/);
  lstm.forward(randomTensor([2, 4, 3], 1));
  expect(() => lstm.backward({ dOutput: randomTensor([4, 2, 4], 3) })).toThrow(/dOutput must have shape \[2, 4, 4\].*got \[4, 2, 4\]/);
  expect(hashes({ y: lstm.forward(randomTensor([2, 4, 3], 1)).output })).toEqual(ref);
  lstm.dispose();
});

describe('Dense.forward / backward refuse bad input and stay usable', () => {
  test('wrong feature size, wrong types, NaN, backward before forward, wrong dOutput', async () => {
    const rt = await build('simd');
    const dense = new Dense({ inputSize: 3, units: 2, seed: 1, runtime: rt });
    const x = randomTensor([5, 3], 1);
    expect(() => dense.backward({ dOutput: randomTensor([5, 2], 2) })).toThrow(/^Dense\.backward: call forward first$/);
    const ref = hashes({ y: dense.forward(x) });
    const e = thrown(() => dense.forward(randomTensor([5, 4], 1)));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe('Dense.forward: x must have shape [*, 3] ([..., inputSize]), got [5, 4]');
    expect(() => dense.forward(randomTensor([2, 5, 4], 1))).toThrow(/x must have shape \[\*, \*, 3\].*got \[2, 5, 4\]/);
    expect(() => dense.forward({ data: new Float64Array(15), shape: [5, 3] } as never)).toThrow(/Dense\.forward: x\.data must be a Float32Array/);
    expect(() => dense.forward(null as never)).toThrow(/Dense\.forward: x must be a tensor .*got null/);
    const nan = thrown(() => dense.forward(with1(x, 4, NaN)));
    expect(nan).toBeInstanceOf(CoreError);
    expect(nan.message).toMatch(/^Dense\.forward: (x|input): element 4 is NaN/);
    dense.forward(x);
    expect(() => dense.backward({ dOutput: randomTensor([5, 3], 2) })).toThrow(/^Dense\.backward: dOutput must have shape \[5, 2\] \(the shape of forward's output\), got \[5, 3\]$/);
    expect(() => dense.backward({ dOutput: with1(randomTensor([5, 2], 2), 9, Infinity) })).toThrow(/^Dense\.backward: dOutput: element 9 is (inf|Infinity)/);
    expect(hashes({ y: dense.forward(x) })).toEqual(ref);
    dense.dispose();
  });
});

// ----- LSTM.backward ----------------------------------------------------------------------------

describe('LSTM.backward refuses bad input and stays usable', () => {
  test('before any forward → error, and a later forward + backward works', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ ...CFG, runtime: rt });
    const e = thrown(() => lstm.backward({ dOutput: DY }));
    expect(e.message).toMatch(/^LSTM\.backward: call forward first/);
    const other = new LSTM({ ...CFG, runtime: rt });
    expect(fingerprint(lstm)).toEqual(fingerprint(other));
    lstm.dispose();
    other.dispose();
  });

  test.each([
    ['dOutput', 'hidden width', { dOutput: randomTensor([4, 2, 2], 1) }, /^LSTM\.backward: dOutput must have shape \[4, 2, 4\] \(the shape of forward's output\), got \[4, 2, 2\]$/, [4, 2, 4]],
    ['dOutput', 'ticks', { dOutput: randomTensor([3, 2, 4], 1) }, /dOutput must have shape \[4, 2, 4\].*got \[3, 2, 4\]/, [4, 2, 4]],
    ['dOutput', 'layout (batch-first shape on a time-major layer)', { dOutput: randomTensor([2, 4, 4], 1) }, /dOutput must have shape \[4, 2, 4\].*got \[2, 4, 4\]/, [4, 2, 4]],
    ['dHN', 'batch', { dOutput: DY, dHN: randomTensor([4, 1, 2], 1) }, /dHN must have shape \[4, 2, 2\] \(the shape of hN\), got \[4, 1, 2\]/, [4, 2, 2]],
    ['dCN', 'rank', { dOutput: DY, dCN: randomTensor([4, 4], 1) }, /dCN must have shape \[4, 2, 2\].*got \[4, 4\]/, [4, 2, 2]],
  ] as const)('%s with the wrong %s → ShapeError with both shapes', async (arg, _what, opts, message, expected) => {
    const { lstm, ref } = await freshLstm();
    lstm.forward(X, { h0: H0, c0: C0 });
    const before = hashes(lstm.gradients());
    const e = thrown(() => lstm.backward(opts));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(message);
    expect(e).toMatchObject({ op: 'LSTM.backward', arg, expected });
    expect(hashes(lstm.gradients())).toEqual(before); // refused before touching the gradients
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  test('missing dOutput or no options → error naming dOutput', async () => {
    const { lstm, ref } = await freshLstm();
    lstm.forward(X);
    expect(() => lstm.backward({} as never)).toThrow(/LSTM\.backward: dOutput must be a tensor .*got undefined/);
    expect(() => lstm.backward(undefined as never)).toThrow(TypeError);
    expect(() => lstm.backward(undefined as never)).toThrow(/LSTM\.backward: expected \{ dOutput, dHN\?, dCN\? \}/);
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });

  test.each([
    ['dOutput', 6, NaN, /^LSTM\.backward: dOutput: element 6 is NaN/],
    ['dOutput', 31, Infinity, /^LSTM\.backward: dOutput: element 31 is (inf|Infinity)/],
    ['dHN', 2, NaN, /^LSTM\.backward: dHN: element 2 is NaN/],
  ] as const)('%s[%i] = %s → CoreError naming the argument and the element', async (arg, i, v, message) => {
    const { lstm, ref } = await freshLstm();
    lstm.forward(X, { h0: H0, c0: C0 });
    const e = thrown(() => lstm.backward(arg === 'dOutput' ? { dOutput: with1(DY, i, v), dHN: DHN } : { dOutput: DY, dHN: with1(DHN, i, v) }));
    expect(e).toBeInstanceOf(CoreError);
    expect((e as CoreError).status).toBe(2);
    expect(e.message).toMatch(message);
    // The forward's activations survive: backward of that same forward still gives the reference.
    const b = lstm.backward({ dOutput: DY, dHN: DHN });
    expect(bitsHash(b.dInput.data)).toBe(ref.dInput);
    expect(hashes(b.grads)).toEqual(Object.fromEntries(Object.keys(b.grads).map((k) => [k, ref[k]])));
    expect(fingerprint(lstm)).toEqual(ref);
    lstm.dispose();
  });
});

// ----- loadStateDict ----------------------------------------------------------------------------

describe('loadStateDict refuses bad dicts and writes nothing', () => {
  // 1 layer: weight_ih_l0 [8, 3], weight_hh_l0 [8, 2], bias_ih_l0 [8], bias_hh_l0 [8].
  const small = { inputSize: 3, hiddenSize: 2, seed: 3 } as const;
  /** A valid dict with new values, so that a partial write would show. */
  const valid = (): Record<string, Tensor | Float32Array | unknown> => ({
    weight_ih_l0: randomTensor([8, 3], 21),
    weight_hh_l0: randomTensor([8, 2], 22),
    bias_ih_l0: randomTensor([8], 23),
    bias_hh_l0: randomTensor([8], 24),
  });
  const edit = (f: (d: Record<string, unknown>) => void) => () => {
    const d = valid();
    f(d);
    return d;
  };

  const cases: [string, () => unknown, ErrorClass, RegExp, string | undefined][] = [
    ['missing key', edit((d) => delete d.bias_hh_l0), ShapeError, /^LSTM\.loadStateDict: missing key "bias_hh_l0" \(shape \[8\]\)$/, 'bias_hh_l0'],
    ['unknown key', edit((d) => (d.bias_hh_l1 = randomTensor([8], 1))), ShapeError, /^LSTM\.loadStateDict: unknown key "bias_hh_l1"; expected weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0$/, 'bias_hh_l1'],
    ['misspelt key (missing + unknown)', edit((d) => { d.weight_ih_10 = d.weight_ih_l0; delete d.weight_ih_l0; }), ShapeError, /unknown key "weight_ih_10"/, 'weight_ih_10'],
    ['wrong size (Float32Array)', edit((d) => (d.bias_hh_l0 = new Float32Array(7))), ShapeError, /"bias_hh_l0" must hold 8 values \(shape \[8\]\), got 7/, 'bias_hh_l0'],
    ['wrong size (tensor data)', edit((d) => (d.bias_hh_l0 = { data: new Float32Array(9), shape: [8] })), ShapeError, /"bias_hh_l0" must hold 8 values \(shape \[8\]\), got 9/, 'bias_hh_l0'],
    ['wrong shape (transposed)', edit((d) => (d.weight_hh_l0 = randomTensor([2, 8], 5))), ShapeError, /"weight_hh_l0" must have shape \[8, 2\], got \[2, 8\]/, 'weight_hh_l0'],
    ['wrong shape (flat)', edit((d) => (d.weight_hh_l0 = randomTensor([16], 5))), ShapeError, /"weight_hh_l0" must have shape \[8, 2\], got \[16\]/, 'weight_hh_l0'],
    ['Float64Array value', edit((d) => (d.bias_hh_l0 = new Float64Array(8))), ShapeError, /"bias_hh_l0" must be a Float32Array or a tensor of shape \[8\]/, 'bias_hh_l0'],
    ['number value', edit((d) => (d.bias_hh_l0 = 0)), ShapeError, /"bias_hh_l0" must be a Float32Array or a tensor of shape \[8\]/, 'bias_hh_l0'],
    ['NaN value', edit((d) => (d.bias_hh_l0 = with1(randomTensor([8], 1), 2, NaN))), RangeError, /"bias_hh_l0" element 2 is NaN/, undefined],
    ['Infinity value', edit((d) => (d.weight_hh_l0 = with1(randomTensor([8, 2], 1), 15, -Infinity))), RangeError, /"weight_hh_l0" element 15 is -Infinity/, undefined],
    ['null', () => null, TypeError, /^LSTM\.loadStateDict: expected an object of tensors, got null$/, undefined],
    ['a number', () => 42, TypeError, /expected an object of tensors, got 42/, undefined],
    ['a string', () => 'weights', TypeError, /expected an object of tensors, got weights/, undefined],
  ];

  test.each(cases)('LSTM: %s', async (_name, make, type, message, arg) => {
    const rt = await build('simd');
    const lstm = new LSTM({ ...small, runtime: rt });
    const before = hashes(lstm.stateDict());
    const out = hashes({ y: lstm.forward(X).output });
    const e = thrown(() => lstm.loadStateDict(make() as never));
    expect(e).toBeInstanceOf(type);
    expect(e.message).toMatch(message);
    if (arg !== undefined) expect((e as ShapeError).arg).toBe(arg);
    expect(hashes(lstm.stateDict())).toEqual(before);
    expect(hashes({ y: lstm.forward(X).output })).toEqual(out);
    // The same dict with the fault removed loads.
    lstm.loadStateDict(valid() as never);
    expect(hashes(lstm.stateDict()).bias_hh_l0).toBe(hashes({ b: randomTensor([8], 24) }).b);
    lstm.dispose();
  });

  test('Dense: missing, unknown, wrong shape, NaN → error naming the key, nothing written', async () => {
    const rt = await build('simd');
    const dense = new Dense({ inputSize: 3, units: 2, seed: 4, runtime: rt });
    const before = hashes(dense.stateDict());
    const w = randomTensor([2, 3], 1);
    const b = randomTensor([2], 2);
    expect(() => dense.loadStateDict({ weight: w })).toThrow(/^Dense\.loadStateDict: missing key "bias" \(shape \[2\]\)$/);
    expect(() => dense.loadStateDict({ weight: w, bias: b, scale: b })).toThrow(/unknown key "scale"; expected weight, bias/);
    expect(() => dense.loadStateDict({ weight: randomTensor([3, 2], 1), bias: b })).toThrow(/"weight" must have shape \[2, 3\], got \[3, 2\]/);
    expect(() => dense.loadStateDict({ weight: w, bias: with1(b, 1, NaN) })).toThrow(/"bias" element 1 is NaN/);
    expect(hashes(dense.stateDict())).toEqual(before);
    dense.loadStateDict({ weight: w, bias: b });
    expect(hashes(dense.stateDict())).toEqual(hashes({ weight: w, bias: b }));
    dense.dispose();
  });

  test('Sequential: a bad part for layer 1 leaves layer 0 unchanged too', async () => {
    const rt = await build('simd');
    const model = new Sequential([new LSTM({ ...small, runtime: rt }), new Dense({ inputSize: 2, units: 3, seed: 5, runtime: rt })], { runtime: rt });
    const before = hashes(model.stateDict());
    const good = Object.fromEntries(Object.entries(valid() as Record<string, Tensor>).map(([k, v]) => [`0.${k}`, v]));
    expect(() => model.loadStateDict({ ...good, '1.weight': randomTensor([3, 2], 1), '1.bias': randomTensor([2], 2) })).toThrow(/"1.bias" must have shape \[3\], got \[2\]/);
    expect(hashes(model.stateDict())).toEqual(before);
    expect(() => model.loadStateDict({ ...good, '2.weight': randomTensor([3, 2], 1) })).toThrow(/^Sequential\.loadStateDict: unknown key "2\.weight" \(keys are <layer index>\.<name>, 2 layers\)$/);
    expect(() => model.loadStateDict({ weight: randomTensor([3, 2], 1) })).toThrow(/unknown key "weight"/);
    expect(hashes(model.stateDict())).toEqual(before);
    model.dispose();
  });
});

// ----- constructors -----------------------------------------------------------------------------

describe('constructors refuse invalid options, naming the option', () => {
  const bad: [string, unknown][] = [
    ['0', 0],
    ['negative', -3],
    ['non-integer', 2.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a string', '3'],
    ['missing', undefined],
  ];
  const lstmBase = { inputSize: 3, hiddenSize: 2, numLayers: 1 };
  const denseBase = { inputSize: 3, units: 2 };

  test.each(['inputSize', 'hiddenSize', 'numLayers'].flatMap((opt) => bad.map(([name, v]) => [opt, name, v] as const)))(
    'new LSTM: %s %s → RangeError',
    async (opt, _name, v) => {
      const rt = await build('simd');
      const live = rt.liveObjects();
      const options: Record<string, unknown> = { ...lstmBase, runtime: rt, [opt]: v };
      if (v === undefined) delete options[opt];
      if (opt === 'numLayers' && v === undefined) {
        // numLayers is optional (default 1).
        const l = new LSTM(options as never);
        expect(l.config.numLayers).toBe(1);
        l.dispose();
        return;
      }
      const e = thrown(() => new LSTM(options as never));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toBe(`new LSTM: ${opt} must be a positive integer, got ${String(v)}`);
      expect(rt.liveObjects()).toBe(live);
    },
  );

  test.each(['inputSize', 'units'].flatMap((opt) => bad.map(([name, v]) => [opt, name, v] as const)))('new Dense: %s %s → RangeError', async (opt, _name, v) => {
    const rt = await build('simd');
    const live = rt.liveObjects();
    const options: Record<string, unknown> = { ...denseBase, runtime: rt, [opt]: v };
    if (v === undefined) delete options[opt];
    const e = thrown(() => new Dense(options as never));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe(`new Dense: ${opt} must be a positive integer, got ${String(v)}`);
    expect(rt.liveObjects()).toBe(live);
  });

  test('no options object → TypeError; bad seed → RangeError naming seed', async () => {
    const rt = await build('simd');
    const live = rt.liveObjects();
    expect(() => new LSTM(undefined as never)).toThrow(TypeError);
    expect(() => new LSTM(null as never)).toThrow(/^new LSTM: expected an options object \{ inputSize, hiddenSize, \.\.\. \}$/);
    expect(() => new Dense(7 as never)).toThrow(/^new Dense: expected an options object \{ inputSize, units \}$/);
    expect(() => new LSTM({ ...lstmBase, seed: -1, runtime: rt })).toThrow(/^new LSTM: seed must be a non-negative safe integer, got -1$/);
    expect(() => new Dense({ ...denseBase, seed: 0.5, runtime: rt })).toThrow(/^new Dense: seed must be a non-negative safe integer, got 0\.5$/);
    expect(() => new LSTM({ ...lstmBase, seed: 2 ** 53, runtime: rt })).toThrow(RangeError);
    expect(rt.liveObjects()).toBe(live);
  });

  test('SGD: lr must be positive and finite; Sequential needs layers', () => {
    // torch.optim allows lr = 0 (a frozen step); negative and non-finite rates are refused.
    for (const lr of [-0.1, NaN, Infinity]) expect(() => new SGD({ lr })).toThrow(new RegExp(`^SGD: lr must be a finite number >= 0, got ${lr}$`));
    expect(new SGD().lr).toBe(0.01);
    expect(() => new Sequential([])).toThrow(/^new Sequential: expected a non-empty array of layers$/);
    expect(() => new Sequential(undefined as never)).toThrow(TypeError);
  });
});

// ----- dispose ----------------------------------------------------------------------------------

describe('use after dispose', () => {
  test('LSTM: every method throws DisposedError; dispose twice is a no-op', async () => {
    const rt = await build('simd');
    const live = rt.liveObjects();
    const lstm = new LSTM({ ...CFG, runtime: rt });
    lstm.forward(X);
    expect(rt.liveObjects()).toBe(live + 1);
    lstm.dispose();
    expect(lstm.disposed).toBe(true);
    expect(rt.liveObjects()).toBe(live);
    const calls: [string, () => unknown][] = [
      ['forward', () => lstm.forward(X)],
      ['backward', () => lstm.backward({ dOutput: DY })],
      ['parameters', () => lstm.stateDict()],
      ['gradients', () => lstm.gradients()],
      ['loadStateDict', () => lstm.loadStateDict({})],
    ];
    for (const [name, f] of calls) {
      const e = thrown(f);
      expect(e, name).toBeInstanceOf(DisposedError);
      expect(e.message).toBe(`LSTM.${name}: this LSTM has been disposed`);
    }
    // A new LSTM reuses the freed slot (same core handle); disposing the old one again must not free it.
    const next = new LSTM({ ...CFG, runtime: rt });
    lstm.dispose();
    lstm[Symbol.dispose]();
    expect(rt.liveObjects()).toBe(live + 1);
    expect(next.forward(X).output.shape).toEqual([4, 2, 4]);
    next.dispose();
    expect(rt.liveObjects()).toBe(live);
  });

  test('Dense: every method throws DisposedError; dispose twice is a no-op', async () => {
    const rt = await build('simd');
    const live = rt.liveObjects();
    const dense = new Dense({ inputSize: 3, units: 2, runtime: rt });
    const x = randomTensor([5, 3], 1);
    dense.forward(x);
    dense[Symbol.dispose]();
    expect(rt.liveObjects()).toBe(live);
    expect(() => dense.forward(x)).toThrow(DisposedError);
    expect(() => dense.forward(x)).toThrow(/^Dense\.forward: this Dense has been disposed$/);
    expect(() => dense.backward({ dOutput: randomTensor([5, 2], 2) })).toThrow(/^Dense\.backward: this Dense has been disposed$/);
    expect(() => dense.stateDict()).toThrow(DisposedError);
    expect(() => dense.gradients()).toThrow(DisposedError);
    dense.dispose();
    expect(rt.liveObjects()).toBe(live);
  });

  test('Sequential: dispose disposes its layers, once', async () => {
    const rt = await build('simd');
    const live = rt.liveObjects();
    const model = new Sequential([new LSTM({ ...CFG, runtime: rt }), new Dense({ inputSize: 4, units: 3, runtime: rt })], { runtime: rt });
    expect(rt.liveObjects()).toBe(live + 2);
    model.dispose();
    expect(rt.liveObjects()).toBe(live);
    expect(model.layers.every((l) => (l as LSTM | Dense).disposed)).toBe(true);
    model.dispose();
    expect(rt.liveObjects()).toBe(live);
    for (const f of [() => model.predict(X), () => model.stateDict(), () => model.gradients(), () => model.loadStateDict({})]) {
      expect(f).toThrow(/^Sequential\.\w+: this model has been disposed$/);
    }
    await expect(model.trainOnBatch(X, { data: new Int32Array(8), shape: [4, 2] })).rejects.toThrow(/^Sequential\.trainOnBatch: this model has been disposed$/);
  });
});

// ----- Sequential -------------------------------------------------------------------------------

describe('Sequential refuses bad training input and stays usable', () => {
  // LSTM(3 → 4) + Dense(4 → 5): x [T = 4, B = 2, 3], logits [4, 2, 5], class ids [4, 2].
  const Y = { data: Int32Array.from([0, 4, 1, -1, 3, 2, 2, 0]), shape: [4, 2] };
  const YF = randomTensor([4, 2, 5], 31);
  const make = (rt: Runtime, loss: 'crossEntropy' | 'mse' = 'crossEntropy', compile = true) => {
    const m = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, seed: 41, runtime: rt }), new Dense({ inputSize: 4, units: 5, seed: 42, runtime: rt })], { runtime: rt });
    if (compile) m.compile({ loss, optimizer: new SGD({ lr: 0.1 }) });
    return m;
  };
  /** Loss and parameters after one valid step of a fresh model. */
  async function reference(rt: Runtime, loss: 'crossEntropy' | 'mse') {
    const m = make(rt, loss);
    const value = await m.trainOnBatch(X, loss === 'crossEntropy' ? Y : YF);
    const params = hashes(m.stateDict());
    m.dispose();
    return { value, params };
  }

  test('trainOnBatch before compile', async () => {
    const rt = await build('simd');
    const m = make(rt, 'crossEntropy', false);
    const before = hashes(m.stateDict());
    expect((await rejected(m.trainOnBatch(X, Y))).message).toBe('Sequential.trainOnBatch: call compile({ loss, optimizer }) first');
    expect(hashes(m.stateDict())).toEqual(before);
    m.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0.1 }) });
    const ref = await reference(rt, 'crossEntropy');
    expect(await m.trainOnBatch(X, Y)).toBe(ref.value);
    expect(hashes(m.stateDict())).toEqual(ref.params);
    m.dispose();
  });

  test('compile: unknown loss name, bad optimizer; without an optimizer only evaluation works', async () => {
    const rt = await build('simd');
    const m = make(rt, 'crossEntropy', false);
    const e = thrown(() => m.compile({ loss: 'hinge' as never, optimizer: new SGD() }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe("Sequential.compile: loss must be 'crossEntropy' or 'mse', got hinge");
    expect(() => m.compile({ loss: 'CrossEntropy' as never, optimizer: new SGD() })).toThrow(/got CrossEntropy/);
    expect(() => m.compile(undefined as never)).toThrow(/loss must be 'crossEntropy' or 'mse', got undefined/);
    expect(() => m.compile({ loss: 'mse', optimizer: { lr: 0.1 } } as never)).toThrow(/^Sequential\.compile: optimizer must be an optimizer such as new Adam\(\{ lr: 1e-3 \}\)$/);
    // Still not compiled.
    await expect(m.trainOnBatch(X, Y)).rejects.toThrow(/call compile/);
    // Compiled for evaluation only: training still refuses.
    m.compile({ loss: 'crossEntropy' });
    await expect(m.trainOnBatch(X, Y)).rejects.toThrow(/call compile\(\{ loss, optimizer \}\) first/);
    m.dispose();
  });

  const yCases: [string, 'crossEntropy' | 'mse', () => unknown, ErrorClass, RegExp, number | undefined][] = [
    ['class ids with the wrong shape', 'crossEntropy', () => ({ data: new Int32Array(8), shape: [2, 4] }), ShapeError, /^Sequential\.trainOnBatch: y must have shape \[4, 2\] \(class ids for every output row\), got \[2, 4\] with 8 values$/, undefined],
    ['class ids with the logits shape', 'crossEntropy', () => ({ data: new Int32Array(40), shape: [4, 2, 5] }), ShapeError, /y must have shape \[4, 2\].*got \[4, 2, 5\] with 40 values/, undefined],
    ['class ids shorter than the shape', 'crossEntropy', () => ({ data: new Int32Array(7), shape: [4, 2] }), ShapeError, /y must have shape \[4, 2\].*got \[4, 2\] with 7 values/, undefined],
    ['class ids as a plain array', 'crossEntropy', () => ({ data: [0, 1, 2, 3, 4, 0, 1, 2], shape: [4, 2] }), ShapeError, /y must be \{ data: Int32Array \| Float32Array, shape \} of class ids with shape \[4, 2\]/, undefined],
    // Class ids and mse targets are checked before the forward (which would draw dropout masks).
    ['class id = number of classes', 'crossEntropy', () => ({ data: Int32Array.from([0, 4, 1, 5, 3, 2, 2, 0]), shape: [4, 2] }), RangeError, /^Sequential\.trainOnBatch: y element 3 is 5, expected a class id in 0\.\.4 \(or -1, not counted\)$/, undefined],
    ['negative class id other than -1', 'crossEntropy', () => ({ data: Int32Array.from([0, 4, 1, -1, 3, 2, -2, 0]), shape: [4, 2] }), RangeError, /y element 6 is -2, expected a class id in 0\.\.4/, undefined],
    ['non-integer float class ids', 'crossEntropy', () => ({ data: Float32Array.from([0, 4, 1.5, -1, 3, 2, 2, 0]), shape: [4, 2] }), RangeError, /^Sequential\.trainOnBatch: y element 2 is 1\.5, expected an integer class id$/, undefined],
    ['NaN float class id', 'crossEntropy', () => ({ data: Float32Array.from([0, 4, 1, -1, 3, 2, 2, NaN]), shape: [4, 2] }), RangeError, /y element 7 is NaN, expected an integer class id/, undefined],
    ['mse target with the wrong shape', 'mse', () => randomTensor([4, 2, 4], 1), ShapeError, /^Sequential\.trainOnBatch: y must have shape \[4, 2, 5\] \(the shape of the model output\), got \[4, 2, 4\]$/, undefined],
    ['mse target with Int32Array data', 'mse', () => ({ data: new Int32Array(40), shape: [4, 2, 5] }), ShapeError, /y\.data must be a Float32Array, got a Int32Array of length 40/, undefined],
    ['mse target with NaN', 'mse', () => with1(YF, 9, NaN), RangeError, /^Sequential\.trainOnBatch: y element 9 is NaN, expected a finite number$/, undefined],
  ];

  test.each(yCases)('%s (%s)', async (_name, loss, y, type, message, status) => {
    const rt = await build('simd');
    const m = make(rt, loss);
    const before = hashes(m.stateDict());
    const e = await rejected(m.trainOnBatch(X, y() as never));
    expect(e).toBeInstanceOf(type);
    expect(e.message).toMatch(message);
    if (status !== undefined) expect((e as CoreError).status).toBe(status);
    expect(hashes(m.stateDict())).toEqual(before);
    const ref = await reference(rt, loss);
    expect(await m.trainOnBatch(X, loss === 'crossEntropy' ? Y : YF)).toBe(ref.value);
    expect(hashes(m.stateDict())).toEqual(ref.params);
    m.dispose();
  });

  test('float class ids holding integers train like Int32Array ones', async () => {
    const rt = await build('simd');
    const m = make(rt);
    const ref = await reference(rt, 'crossEntropy');
    expect(await m.trainOnBatch(X, { data: Float32Array.from(Y.data), shape: [4, 2] })).toBe(ref.value);
    expect(hashes(m.stateDict())).toEqual(ref.params);
    m.dispose();
  });

  test('x that does not fit the first layer, layers that do not fit each other', async () => {
    const rt = await build('simd');
    const m = make(rt);
    const before = hashes(m.stateDict());
    const e = await rejected(m.trainOnBatch(randomTensor([4, 2, 4], 1), Y));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe('Sequential.trainOnBatch: LSTM input must have shape [*, *, 3] ([T, B, inputSize]), got [4, 2, 4]');
    expect(() => m.predict(randomTensor([8, 3], 1))).toThrow(/^Sequential\.predict: LSTM input must have shape \[\*, \*, 3\].*got \[8, 3\]$/);
    expect(() => m.predict({ data: new Float64Array(24), shape: [4, 2, 3] } as never)).toThrow(/Sequential\.predict: x\.data must be a Float32Array/);
    expect(hashes(m.stateDict())).toEqual(before);
    m.dispose();

    const mismatched = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, runtime: rt }), new Dense({ inputSize: 6, units: 2, runtime: rt })], { runtime: rt });
    expect(() => mismatched.predict(X)).toThrow(/^Sequential\.predict: Dense input must have shape \[\.\.\., 6\], got \[4, 2, 4\]$/);
    mismatched.dispose();
  });
});

// ----- known bugs: these document current behaviour that contradicts the contract above ---------
// (test.fails passes while the bug is present; turn each into a plain test once it is fixed).

describe('known bugs', () => {
  test('Sequential use after dispose throws DisposedError (throws a plain Error)', async () => {
    const rt = await build('simd');
    const model = new Sequential([new Dense({ inputSize: 3, units: 2, runtime: rt })], { runtime: rt });
    model.dispose();
    expect(() => model.predict(X)).toThrow(DisposedError);
  });

  test('a refused backward (NaN in dOutput) leaves the gradients as they were (they are zeroed)', async () => {
    const { lstm } = await freshLstm();
    lstm.forward(X);
    lstm.backward({ dOutput: DY });
    const before = hashes(lstm.gradients());
    expect(() => lstm.backward({ dOutput: with1(DY, 0, NaN) })).toThrow(CoreError);
    expect(hashes(lstm.gradients())).toEqual(before);
  });

  test('a refused forward (NaN in x) keeps the previous forward for backward (it is discarded)', async () => {
    // A forward refused by the facade (ShapeError) keeps it; one refused by the core does not,
    // although the core itself kept the activations: LSTM.run clears `last` before the core call.
    const { lstm, ref } = await freshLstm();
    lstm.forward(X, { h0: H0, c0: C0 });
    expect(() => lstm.forward(with1(X, 0, NaN))).toThrow(CoreError);
    expect(bitsHash(lstm.backward({ dOutput: DY, dHN: DHN }).dInput.data)).toBe(ref.dInput);
  });

  test('new LSTM refuses a non-boolean bidirectional / batchFirst (accepts "no" as true)', async () => {
    const rt = await build('simd');
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 2, bidirectional: 'no' as never, runtime: rt })).toThrow(/bidirectional/);
  });

  test('new LSTM with sizes too large for wasm32 memory gives a clear error (traps: RuntimeError unreachable)', async () => {
    // A runtime of its own: a trap must not disturb the shared one.
    const rt = await createRuntime(await wasmBytes('simd'));
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 100_000, runtime: rt })).toThrow(/hiddenSize|memory/);
  });
});

describe('states, runtimes and options are checked, naming what is wrong', () => {
  test('LSTMState refuses sizes that are not positive integers and values that are not finite numbers', () => {
    expect(() => LSTMState.zeros(1.5, 2, 2)).toThrow(/^LSTMState: numLayers must be a positive integer, got 1\.5$/);
    expect(() => LSTMState.fromJSON({ numLayers: -1, batch: -2, hiddenSize: 2, h: [0, 0, 0, 0], c: [0, 0, 0, 0] })).toThrow(/numLayers must be a positive integer, got -1/);
    expect(() => LSTMState.fromJSON({ numLayers: 1, batch: 1, hiddenSize: 2, h: ['a', null] as never, c: [0, 0] })).toThrow(/^LSTMState\.fromJSON: h\[0\] is "a", expected a finite number$/);
    expect(() => LSTMState.fromJSON({ numLayers: 1, batch: 1, hiddenSize: 2, h: [0, 1], c: [NaN, 0] })).toThrow(/c\[0\] is NaN/);
    expect(LSTMState.fromJSON({ numLayers: 1, batch: 1, hiddenSize: 2, h: [0, 1], c: [2, 3] }).c).toEqual(Float32Array.from([2, 3]));
  });

  test('a Sequential takes its layers\' runtime and refuses layers of two runtimes', async () => {
    const rt2 = await createRuntime(await wasmBytes('simd'));
    const rt = await build('simd');
    const own = new Sequential([new Dense({ inputSize: 2, units: 2, seed: 1, runtime: rt2 })]);
    const ref = new Dense({ inputSize: 2, units: 2, seed: 1, runtime: rt2 });
    expect(own.predict(new Tensor(Float32Array.from([1, 2]), [1, 2])).data).toEqual(ref.forward(new Tensor(Float32Array.from([1, 2]), [1, 2])).data);
    const mixed = [new Dense({ inputSize: 2, units: 2, runtime: rt2 }), new Dense({ inputSize: 2, units: 2, runtime: rt })];
    expect(() => new Sequential(mixed)).toThrow(/layers\[1\] \(Dense\) was created in another runtime than layers\[0\]/);
    expect(() => new Sequential(mixed.slice(0, 1), { runtime: rt })).toThrow(/layers\[0\] \(Dense\) was created in another runtime than options\.runtime/);
    own.dispose();
    ref.dispose();
    for (const l of mixed) l.dispose();
  });

  test('a layer may be shared by models, but not be in one model twice or be disposed', async () => {
    const rt = await build('simd');
    const shared = new Dense({ inputSize: 2, units: 2, seed: 3, runtime: rt });
    const a = new Sequential([shared], { runtime: rt });
    const x = new Tensor(Float32Array.from([1, 2]), [1, 2]);
    const b = new Sequential([shared], { runtime: rt }); // a feature extractor sharing the layer
    expect(b.predict(x).data).toEqual(a.predict(x).data);
    const d = new Dense({ inputSize: 2, units: 2, runtime: rt });
    expect(() => new Sequential([d, d], { runtime: rt })).toThrow(/layers\[1\] \(Dense\) is also layers\[0\]/);
    a.dispose(); // disposes the shared layer for both
    expect(() => b.predict(x)).toThrow(DisposedError);
    expect(() => new Sequential([shared], { runtime: rt })).toThrow(/layers\[0\] \(Dense\) is disposed/);
    expect(() => new Dense({ inputSize: 2, units: 2, runtime: rt, bias: false } as never)).toThrow(/new Dense: unknown option 'bias' \(the options are inputSize, units, seed, runtime\)/);
    expect(() => new LSTM({ inputSize: 2, hiddenSize: 2, batch_first: true } as never)).toThrow(/new LSTM: unknown option 'batch_first'/);
    b.dispose();
    d.dispose();
  });

  test('messages name what was given: step states, ids, a disposed zeroState, null options', async () => {
    const rt = await build('simd');
    const m = new Sequential([new LSTM({ inputSize: 2, hiddenSize: 4, seed: 1, runtime: rt })], { runtime: rt });
    const e = thrown(() => m.step(new Tensor(new Float32Array(2), [1, 2]), [LSTMState.zeros(1, 2, 4)])) as ShapeError;
    expect(e.message).toMatch(/state\[0\] must be an LSTMState of \[1, 1, 4\] \(numLayers, batch, hiddenSize\), got \[1, 2, 4\]$/);
    expect(e.actual).toEqual([1, 2, 4]);
    expect(m.predict(new Tensor(new Float32Array(6), [3, 1, 2]), null as never).shape).toEqual([3, 1, 4]);
    const emb = new Embedding({ numEmbeddings: 4, embeddingDim: 2, runtime: rt });
    expect(() => emb.forward({ data: new Int32Array(0), shape: [2, 0] })).toThrow(/ids shape \[2, 0\] must have one or more axes, each a positive integer/);
    expect(() => emb.forward({ data: new Float64Array(2), shape: [2] } as never)).toThrow(/got data as a Float64Array/);
    expect(() => emb.forward({ data: new Int32Array(3), shape: [2] })).toThrow(/ids has shape \[2\] \(2 values\) but its data holds 3/);
    expect(() => new Dropout(null as never)).toThrow(/new Dropout: expected an options object/);
    const l = new LSTM({ inputSize: 2, hiddenSize: 3, runtime: rt });
    l.dispose();
    expect(() => l.zeroState()).toThrow(DisposedError);
    emb.dispose();
    m.dispose();
  });

  test('optimizer, EarlyStopping and ModelCheckpoint options: unknown keys, wrong types and ranges are refused by name', () => {
    expect(() => new Adam(0.1 as never)).toThrow(/^Adam: options must be an object such as \{ lr: \.\.\. \}, got 0\.1$/);
    expect(() => new SGD({ learningRate: 0.5 } as never)).toThrow(/^SGD: unknown option 'learningRate' \(the options are lr, momentum, dampening, nesterov, weightDecay\)$/);
    expect(() => new AdamW({ lr: -1 })).toThrow(/^AdamW: lr must be/);
    expect(new AdamW().options.weightDecay).toBe(0.01);
    expect(new AdamW({ weightDecay: 0 }).options.weightDecay).toBe(0);
    expect(() => new Adam({ lr: '0.1' as never })).toThrow(/got "0\.1"$/);
    expect(() => new EarlyStopping({ patience: -3 })).toThrow(/EarlyStopping: patience must be a non-negative integer, got -3/);
    expect(() => new EarlyStopping({ minDelta: NaN })).toThrow(/EarlyStopping: minDelta must be a finite number >= 0, got NaN/);
    expect(() => new EarlyStopping({ monitor: 'val_loss' as never })).toThrow(/monitor must be one of loss, valLoss, accuracy, valAccuracy, got "val_loss"/);
    expect(() => new EarlyStopping({ patience: 2, restore: true } as never)).toThrow(/unknown option 'restore'/);
    expect(() => new ModelCheckpoint({ save: () => {}, everyBatches: 2.5 })).toThrow(/ModelCheckpoint: everyBatches must be a non-negative integer, got 2\.5/);
  });
});

describe('the raw ABI: hostile sizes and handles return a status and a message, never a trap', () => {
  test('wrapping or oversized products, a bad steps value and freeing a dead handle', async () => {
    const rt = await createRuntime(await wasmBytes('simd')); // a runtime of its own: a trap would poison it
    const c = rt.core;
    const buf = c.lstmw_alloc(4096);
    const h = c.lstmw_lstm_new(4, 4, 1, 0, 1, 0);
    expect(h).toBeGreaterThan(0);
    const status = (s: number, re: RegExp) => {
      expect(s).toBe(2);
      expect(rt.lastError()).toMatch(re);
    };
    status(c.lstmw_lstm_step(h, buf, 2 ** 30 + 1, buf + 256, buf + 512), /LSTM\.step: state: 1073741825×4 values is more than one buffer may hold/);
    status(c.lstmw_softmax_cross_entropy(buf, 65536, 65536, buf + 1024, buf + 2048, buf + 3072), /crossEntropy: logits: 65536×65536 values/);
    status(c.lstmw_gemm(2, 1, 2 ** 30, buf, 0, 0, buf, 0, 0, buf + 2048, 1, 0), /gemm: m×k: 2×1073741824 values/);
    new Float64Array(c.memory.buffer, buf + 3584, 4).fill(0); // SGD: momentum, dampening, nesterov, weight decay
    const o = c.lstmw_optim_new(0, buf + 3584, 4);
    expect(o).toBeGreaterThan(0);
    expect(c.lstmw_optim_steps(o, 1, 2.7)).toBe(-1);
    expect(rt.lastError()).toMatch(/optimizer: steps must be a non-negative integer, got 2\.7/);
    expect(c.lstmw_optim_free(o)).toBe(0);
    expect(c.lstmw_optim_free(o)).toBe(4);
    expect(rt.lastError()).toMatch(/free: handle \d+ is not live \(freed already\?\)/);
    // Outputs that overlap inputs, and optimizer blocks that overlap each other, are refused.
    expect(c.lstmw_softmax_cross_entropy(buf, 2, 2, buf + 1024, buf, buf + 3072)).toBe(5);
    expect(rt.lastError()).toMatch(/crossEntropy: an output buffer overlaps an input or another output/);
    expect(c.lstmw_mse(buf, buf + 64, 4, 2, 0, buf + 128, buf + 132)).toBe(5);
    const o2 = c.lstmw_optim_new(0, buf + 3584, 4);
    expect(c.lstmw_optim_add_block(o2, buf, buf + 512, 8)).toBe(0);
    expect(c.lstmw_optim_add_block(o2, buf + 4, buf + 1024, 4)).toBe(5);
    expect(c.lstmw_optim_add_block(o2, buf + 512, buf + 1536, 4)).toBe(5);
    expect(c.lstmw_optim_step(o2, 0.1, 0, 0, buf + 8)).toBe(5);
    expect(c.lstmw_optim_free(o2)).toBe(0);
    // Still alive: a small product works and the LSTM is still there.
    expect(c.lstmw_gemm(1, 1, 1, buf, 1, 1, buf, 1, 1, buf + 2048, 1, 0)).toBe(0);
    expect(c.lstmw_lstm_free(h)).toBe(0);
    c.lstmw_free(buf, 4096);
  });
});
