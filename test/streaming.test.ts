// Streaming inference: step equals forward/predict bit for bit; state serializes and restores.
import { describe, expect, test } from 'vitest';
import { Dense, Embedding, LSTM, LSTMState, Sequential, ShapeError, Tensor } from '../src/index.js';
import { bitsHash, build, randomTensor } from './helpers.js';

describe.each(['simd', 'scalar'] as const)('%s build', (variant) => {
  test.each([
    [1, 1],
    [3, 2],
    [2, 5],
  ])('LSTM.step over %i layers, batch %i equals forward, and hN/cN equal the final state', async (numLayers, b) => {
    const rt = await build(variant);
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 7, numLayers, seed: 11, runtime: rt });
    const t = 6;
    const x = randomTensor([t, b, 5], 3);
    const h0 = randomTensor([numLayers, b, 7], 4);
    const c0 = randomTensor([numLayers, b, 7], 5);
    const full = lstm.forward(x, { h0, c0 });
    let state = new LSTMState(numLayers, b, 7, h0.data.slice(), c0.data.slice());
    for (let tick = 0; tick < t; tick++) {
      const xt = new Tensor(x.data.slice(tick * b * 5, (tick + 1) * b * 5), [b, 5]);
      const r = lstm.step(xt, state);
      expect(r.output.shape).toEqual([b, 7]);
      expect(bitsHash(r.output.data)).toBe(bitsHash(full.output.data.subarray(tick * b * 7, (tick + 1) * b * 7)));
      state = r.state;
    }
    expect(bitsHash(state.h)).toBe(bitsHash(full.hN.data));
    expect(bitsHash(state.c)).toBe(bitsHash(full.cN.data));
    lstm.dispose();
  });

  test('parameters loaded after a step are used by the next step (packed weights are refreshed)', async () => {
    const rt = await build(variant);
    const a = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1, runtime: rt });
    const b = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 2, runtime: rt });
    const x = randomTensor([1, 3], 9);
    a.step(x);
    a.loadStateDict(b.stateDict());
    expect(bitsHash(a.step(x).output.data)).toBe(bitsHash(b.step(x).output.data));
    a.dispose();
    b.dispose();
  });

  test('results stay independent of each other; a transferred result buffer does not break the next step', async () => {
    const rt = await build(variant);
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 5, runtime: rt });
    const x = randomTensor([1, 3], 2);
    const first = lstm.step(x);
    const keep = first.state.clone();
    const second = lstm.step(x, first.state);
    first.output.data.fill(NaN); // writing into one result leaves the others alone
    first.state.h.fill(NaN);
    expect(bitsHash(second.state.h)).toBe(bitsHash(lstm.step(x, keep).state.h));
    expect(Array.from(second.output.data).every(Number.isFinite)).toBe(true);
    // Transferring the buffer detaches the chunk the layer was handing out results from.
    structuredClone(second.state.h, { transfer: [second.state.h.buffer] });
    expect(second.output.data.length).toBe(0);
    const third = lstm.step(x, keep);
    expect(third.output.data.length).toBe(4);
    expect(bitsHash(third.state.c)).toBe(bitsHash(lstm.step(x, keep).state.c));
    lstm.dispose();
  });

  test('Sequential.step (Embedding → 2-layer LSTM → Dense) equals predict at every tick', async () => {
    const rt = await build(variant);
    const m = new Sequential(
      [
        new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 1, runtime: rt }),
        new LSTM({ inputSize: 4, hiddenSize: 6, numLayers: 2, batchFirst: true, seed: 2, runtime: rt }),
        new Dense({ inputSize: 6, units: 3, seed: 3, runtime: rt }),
      ],
      { runtime: rt },
    );
    const ids = { data: new Int32Array([1, 5, 7, 2, 9, 3, 0, 4]), shape: [2, 4] };
    const full = m.predict(ids).data;
    let state: LSTMState[] | undefined;
    for (let t = 0; t < 4; t++) {
      const r = m.step({ data: new Int32Array([ids.data[t], ids.data[4 + t]]), shape: [2] }, state);
      state = r.state;
      for (let b = 0; b < 2; b++) expect(Array.from(r.output.data.subarray(b * 3, b * 3 + 3))).toEqual(Array.from(full.subarray((b * 4 + t) * 3, (b * 4 + t) * 3 + 3)));
    }
    m.dispose();
  });
});

test('LSTMState round-trips through JSON and bytes, and a restored state continues identically', async () => {
  const rt = await build('simd');
  const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, numLayers: 2, seed: 5, runtime: rt });
  const x = randomTensor([2, 2], 1);
  const s1 = lstm.step(x).state;
  const viaJson = LSTMState.fromJSON(JSON.parse(JSON.stringify(s1)));
  const viaBytes = LSTMState.fromBytes(s1.toBytes());
  const ref = bitsHash(lstm.step(x, s1).output.data);
  expect(bitsHash(lstm.step(x, viaJson).output.data)).toBe(ref);
  expect(bitsHash(lstm.step(x, viaBytes).output.data)).toBe(ref);
  expect(() => LSTMState.fromBytes(s1.toBytes().subarray(0, 20))).toThrow(/need \d+ bytes, got 20/);
  lstm.dispose();
});

test('step refuses a bidirectional LSTM, a wrong x shape and a mismatched state', async () => {
  const rt = await build('simd');
  const bi = new LSTM({ inputSize: 2, hiddenSize: 3, bidirectional: true, runtime: rt });
  expect(() => bi.step(randomTensor([1, 2], 1))).toThrow(/bidirectional LSTM cannot stream/);
  const l = new LSTM({ inputSize: 2, hiddenSize: 3, runtime: rt });
  expect(() => l.step(randomTensor([1, 3], 1))).toThrow(ShapeError);
  expect(() => l.step(randomTensor([2, 2], 1), LSTMState.zeros(1, 1, 3))).toThrow(/state must be an LSTMState of \[1, 2, 3\]/);
  bi.dispose();
  l.dispose();
});
