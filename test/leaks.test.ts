// Memory has one owner: every object the facade creates in wasm memory is freed by dispose(), and
// repeated calls reuse what the first call allocated. Linear memory never shrinks, so "no leak"
// means rt.memoryBytes() stops growing after a warm-up, and rt.liveObjects() returns to its start.
// SIMD build; the runtime is this file's own (helpers.build caches one per test file).
import { describe, expect, test } from 'vitest';
import { CoreError, Dense, LSTM, Runtime, SGD, Sequential, ShapeError, Tensor } from '../src/index.js';
import { bitsHash, build, randomTensor } from './helpers.js';

/** Run `body(i)` for i in [from, to). */
function repeat(from: number, to: number, body: (i: number) => void): void {
  for (let i = from; i < to; i++) body(i);
}

/** Memory and live objects now. */
const usage = (rt: Runtime) => ({ bytes: rt.memoryBytes(), live: rt.liveObjects() });

describe('create, use, dispose in a loop', () => {
  test('LSTM + Dense: create + forward + backward + dispose ×2000', async () => {
    const rt = await build('simd');
    const start = usage(rt);
    const x = randomTensor([6, 3, 4], 1); // T 6, B 3, I 4
    const dy = randomTensor([6, 3, 5], 2);
    let first = '';
    const once = (i: number) => {
      const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, numLayers: 2, bidirectional: true, seed: 99, runtime: rt });
      const dense = new Dense({ inputSize: 16, units: 5, seed: 98, runtime: rt });
      expect(rt.liveObjects()).toBe(start.live + 2);
      const { output } = lstm.forward(x);
      dense.forward(output);
      const { dInput } = dense.backward({ dOutput: dy });
      const g = lstm.backward({ dOutput: dInput });
      // Same seeds, same numbers every time: nothing reads memory another object freed or reused.
      const h = bitsHash(g.dInput.data) + bitsHash(g.grads.weight_hh_l1_reverse.data);
      if (i === 0) first = h;
      else if (h !== first) throw new Error(`iteration ${i}: results differ from iteration 0`);
      dense.dispose();
      lstm.dispose();
    };
    repeat(0, 200, once);
    const warm = usage(rt);
    expect(warm.live).toBe(start.live);
    repeat(200, 2000, once);
    expect(usage(rt)).toEqual(warm);
  });

  test('Sequential: create + compile + 2× trainOnBatch + dispose ×1000', async () => {
    const rt = await build('simd');
    const start = usage(rt);
    const x = randomTensor([5, 2, 3], 3);
    const y = { data: Int32Array.from([0, 1, 2, 3, -1, 0, 1, 2, 3, 0]), shape: [5, 2] };
    let first: number[] = [];
    const once = async (i: number) => {
      const model = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 6, seed: 5, runtime: rt }), new Dense({ inputSize: 6, units: 4, seed: 6, runtime: rt })], { runtime: rt });
      model.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 0.5 }) });
      const losses = [await model.trainOnBatch(x, y), await model.trainOnBatch(x, y)];
      expect(losses[1]).toBeLessThan(losses[0]);
      if (i === 0) first = losses;
      else expect(losses).toEqual(first);
      model.dispose();
    };
    for (let i = 0; i < 100; i++) await once(i);
    const warm = usage(rt);
    expect(warm.live).toBe(start.live);
    for (let i = 100; i < 1000; i++) await once(i);
    expect(usage(rt)).toEqual(warm);
  });
});

describe('one object, many calls', () => {
  test('100,000 forward calls on one small LSTM: no growth after the first call', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, runtime: rt });
    const x = randomTensor([3, 2, 2], 4);
    const h0 = randomTensor([1, 2, 3], 5);
    const c0 = randomTensor([1, 2, 3], 6);
    const ref = lstm.forward(x, { h0, c0 });
    const after1 = usage(rt);
    let last: Tensor = ref.output;
    for (let i = 1; i < 100_000; i++) last = lstm.forward(x, { h0, c0 }).output;
    expect(usage(rt)).toEqual(after1);
    expect(last.data).toEqual(ref.output.data);
    lstm.dispose();
  });

  test('forward + backward over varying shapes: no growth once the largest was seen', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, batchFirst: true, seed: 2, runtime: rt });
    const shapes: [number, number][] = [];
    for (let t = 1; t <= 7; t += 2) for (let b = 1; b <= 4; b++) shapes.push([t, b]);
    const run = ([t, b]: [number, number], i: number) => {
      const { output } = lstm.forward(randomTensor([b, t, 3], i + 1));
      return lstm.backward({ dOutput: new Tensor(output.data.map((v) => v * 0.5), output.shape) });
    };
    shapes.forEach(run); // warm-up: every shape once
    const warm = usage(rt);
    const first = bitsHash(run([3, 2], 0).dInput.data);
    repeat(0, 5000, (i) => run(shapes[(i * 7) % shapes.length], i));
    expect(usage(rt)).toEqual(warm);
    expect(bitsHash(run([3, 2], 0).dInput.data)).toBe(first);
    lstm.dispose();
  });

  test('training and inference forwards alternating over varying shapes: no growth once both were seen', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 3, runtime: rt });
    const shapes: [number, number][] = [[1, 1], [5, 2], [9, 3], [2, 4]];
    const run = ([t, b]: [number, number], i: number) => {
      const x = randomTensor([t, b, 3], i + 1);
      const inference = lstm.forward(x, { grad: false }).output;
      const { output } = lstm.forward(x);
      expect(inference.data).toEqual(output.data);
      return lstm.backward({ dOutput: new Tensor(output.data.map((v) => v * 0.5), output.shape) });
    };
    shapes.forEach(run);
    const warm = usage(rt);
    const first = bitsHash(run([5, 2], 0).dInput.data);
    repeat(0, 2000, (i) => run(shapes[(i * 3) % shapes.length], i));
    expect(usage(rt)).toEqual(warm);
    expect(bitsHash(run([5, 2], 0).dInput.data)).toBe(first);
    lstm.dispose();
  });

  test('5,000 trainOnBatch steps on one Sequential: no growth after the first step', async () => {
    const rt = await build('simd');
    const model = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 5, seed: 8, runtime: rt }), new Dense({ inputSize: 5, units: 2, seed: 9, runtime: rt })], { runtime: rt });
    model.compile({ loss: 'mse', optimizer: new SGD({ lr: 0.05 }) });
    const x = randomTensor([4, 3, 3], 10);
    const y = randomTensor([4, 3, 2], 11);
    const firstLoss = await model.trainOnBatch(x, y);
    const after1 = usage(rt);
    let loss = firstLoss;
    for (let i = 1; i < 5000; i++) loss = await model.trainOnBatch(x, y);
    expect(usage(rt)).toEqual(after1);
    expect(loss).toBeLessThan(firstLoss); // it trained: the loop did real work
    model.dispose();
    expect(rt.liveObjects()).toBe(after1.live - 3); // LSTM, Dense and the optimizer's state
  });
});

describe('refused calls allocate nothing', () => {
  test('10,000 refused forwards, backwards, loads and constructions', async () => {
    const rt = await build('simd');
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 3, runtime: rt });
    const x = randomTensor([5, 2, 3], 12);
    const ref = lstm.forward(x);
    // A second layer for the refused backwards: a refused forward discards the latest forward.
    const other = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 3, runtime: rt });
    other.forward(x);
    const nanX = new Tensor(x.data.map((v, i) => (i === 17 ? NaN : v)), x.shape.slice());
    const wide = randomTensor([5, 2, 4], 13);
    const sd = lstm.stateDict();
    const badSd = { ...sd, bias_hh_l0: new Float32Array(3) };
    const warm = usage(rt);
    const refusals: [() => unknown, new (...a: never[]) => Error][] = [
      [() => lstm.forward(nanX), CoreError],
      [() => lstm.forward(wide), ShapeError],
      [() => other.backward({ dOutput: x }), ShapeError], // [5, 2, 3] where [5, 2, 4] is due
      [() => lstm.loadStateDict(badSd), ShapeError],
      [() => new LSTM({ inputSize: 0, hiddenSize: 4, runtime: rt }), RangeError],
      [() => new Dense({ inputSize: 3, units: -1, runtime: rt }), RangeError],
    ];
    repeat(0, 10_000, (i) => {
      const [f, type] = refusals[i % refusals.length];
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      if (!(err instanceof type)) throw new Error(`refusal ${i % refusals.length}: expected ${type.name}, got ${String(err)}`);
    });
    expect(usage(rt)).toEqual(warm);
    expect(lstm.forward(x).output.data).toEqual(ref.output.data);
    lstm.dispose();
    other.dispose();
  });
});
