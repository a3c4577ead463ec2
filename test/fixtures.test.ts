// Forward and backward against PyTorch (float64 oracle, see test/fixtures/README.md), in both builds.
// Outputs within 1e-5; gradients within 1e-4 (the 1000-tick case: 1e-4 + relative 1e-3).
import { describe, expect, test } from 'vitest';
import { LSTM, Sequential, Dense, SGD, Tensor } from '../src/index.js';
import { build, dict, expectClose, tensor, FixtureTensor } from './helpers.js';
import single from './fixtures/single.json';
import stacked3 from './fixtures/stacked3.json';
import bidir2 from './fixtures/bidir2.json';
import long1000 from './fixtures/long1000.json';
import batchfirstBidir from './fixtures/batchfirst_bidir.json';
import nostate from './fixtures/nostate.json';
import seqCe from './fixtures/seq_ce.json';
import seqMse from './fixtures/seq_mse.json';

interface LstmFixture {
  name: string;
  config: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; batchFirst: boolean };
  stateDict: Record<string, FixtureTensor>;
  grads: Record<string, FixtureTensor>;
  x: FixtureTensor;
  h0: FixtureTensor | null;
  c0: FixtureTensor | null;
  output: FixtureTensor;
  hN: FixtureTensor;
  cN: FixtureTensor;
  dOutput: FixtureTensor;
  dHN: FixtureTensor | null;
  dCN: FixtureTensor | null;
  dInput: FixtureTensor;
  dH0: FixtureTensor;
  dC0: FixtureTensor;
}

const cases = [single, stacked3, bidir2, long1000, batchfirstBidir, nostate] as unknown as LstmFixture[];

describe.each(['simd', 'scalar'] as const)('PyTorch fixtures, %s build', (variant) => {
  test.each(cases.map((c) => [c.name, c] as const))('LSTM %s: forward and backward', async (_name, fx) => {
    const rt = await build(variant);
    const lstm = new LSTM({ ...fx.config, runtime: rt });
    lstm.loadStateDict(dict(fx.stateDict));
    const state = { h0: fx.h0 ? tensor(fx.h0) : undefined, c0: fx.c0 ? tensor(fx.c0) : undefined };
    // The inference forward first: it gives the training forward's bits in less memory.
    const inf = lstm.forward(tensor(fx.x), { ...state, grad: false });
    const inferenceBytes = lstm.memoryBytes;
    const fwd = lstm.forward(tensor(fx.x), state);
    expect(lstm.memoryBytes).toBeGreaterThan(inferenceBytes);
    expect(inf.output.data).toEqual(fwd.output.data);
    expect(inf.hN.data).toEqual(fwd.hN.data);
    expect(inf.cN.data).toEqual(fwd.cN.data);
    expectClose('output', fwd.output, fx.output, 1e-5);
    expectClose('hN', fwd.hN, fx.hN, 1e-5);
    expectClose('cN', fwd.cN, fx.cN, 1e-5);
    const bwd = lstm.backward({
      dOutput: tensor(fx.dOutput),
      dHN: fx.dHN ? tensor(fx.dHN) : undefined,
      dCN: fx.dCN ? tensor(fx.dCN) : undefined,
    });
    const rtol = fx.name === 'long1000' ? 1e-3 : 0;
    expectClose('dInput', bwd.dInput, fx.dInput, 1e-4, rtol);
    expectClose('dH0', bwd.dH0, fx.dH0, 1e-4, rtol);
    expectClose('dC0', bwd.dC0, fx.dC0, 1e-4, rtol);
    expect(Object.keys(bwd.grads)).toEqual(Object.keys(fx.grads));
    for (const [k, g] of Object.entries(fx.grads)) expectClose(`grad ${k}`, bwd.grads[k], g, 1e-4, rtol);
    // A second backward of the same forward gives the same gradients (they are reset, not summed).
    const again = lstm.backward({ dOutput: tensor(fx.dOutput), dHN: fx.dHN ? tensor(fx.dHN) : undefined, dCN: fx.dCN ? tensor(fx.dCN) : undefined });
    expect(again.grads[Object.keys(fx.grads)[0]].data).toEqual(bwd.grads[Object.keys(fx.grads)[0]].data);
    // After an inference forward there is nothing to backpropagate through.
    lstm.forward(tensor(fx.x), { ...state, grad: false });
    expect(() => lstm.backward({ dOutput: tensor(fx.dOutput) })).toThrow(/inference forward does not keep them/);
    lstm.dispose();
  });

  interface SeqFixture {
    name: string;
    lstm: LstmFixture['config'];
    dense: { inputSize: number; units: number };
    loss: 'crossEntropy' | 'mse';
    lr: number;
    stateDict: Record<string, FixtureTensor>;
    x: FixtureTensor;
    y: FixtureTensor;
    logits: FixtureTensor;
    lossValue: number;
    grads: Record<string, FixtureTensor>;
    stateDictAfterStep: Record<string, FixtureTensor>;
  }

  test.each([seqCe, seqMse].map((c) => [(c as { name: string }).name, c as unknown as SeqFixture] as const))(
    'Sequential %s: logits, loss, gradients and one SGD step',
    async (_name, fx) => {
      const rt = await build(variant);
      const model = new Sequential([new LSTM({ ...fx.lstm, runtime: rt }), new Dense({ ...fx.dense, runtime: rt })], { runtime: rt });
      model.loadStateDict(dict(fx.stateDict));
      expectClose('logits', model.predict(tensor(fx.x)), fx.logits, 1e-5);
      model.compile({ loss: fx.loss, optimizer: new SGD({ lr: fx.lr }) });
      const y = fx.loss === 'crossEntropy' ? { data: Int32Array.from(fx.y.data), shape: fx.y.shape } : tensor(fx.y);
      const loss = await model.trainOnBatch(tensor(fx.x), y);
      expect(Math.abs(loss - fx.lossValue)).toBeLessThan(1e-5);
      const grads = model.gradients();
      for (const [k, g] of Object.entries(fx.grads)) expectClose(`grad ${k}`, grads[k], g, 1e-4);
      const after = model.stateDict();
      for (const [k, p] of Object.entries(fx.stateDictAfterStep)) expectClose(`param ${k} after step`, after[k], p, 1e-5);
      model.dispose();
    },
  );
});

test('fixture numbers are float32 values (shortest decimals that round-trip)', () => {
  const t = tensor(single.x as FixtureTensor);
  expect(t).toBeInstanceOf(Tensor);
  expect(Array.from(t.data)).toEqual((single.x as FixtureTensor).data.map(Math.fround));
  expect(t.data.length).toBe(6 * 3 * 5);
});
