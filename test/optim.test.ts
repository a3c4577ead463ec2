// Optimizer trajectories against PyTorch (test/fixtures/optim/*.json, see test/fixtures/README.md):
// the same LSTM(4, 6, 2) → Linear(6, 5) model trained 3 steps by every torch.optim rule (and with
// clip_grad_norm_ / clip_grad_value_). After each step the loss (1e-5) and every parameter
// (1e-5 absolute; RMSprop 1e-4) must match, in both builds. Also: option defaults and validation.
import { afterAll, describe, expect, test } from 'vitest';
import { Adagrad, Adam, AdamW, Dense, LSTM, RMSprop, SGD, Sequential, makeOptimizer } from '../src/index.js';
import { build, dict, expectClose, tensor, FixtureTensor } from './helpers.js';
import adagrad from './fixtures/optim/adagrad.json';
import adam from './fixtures/optim/adam.json';
import adamAmsgradWd from './fixtures/optim/adam_amsgrad_wd.json';
import adamClipnorm from './fixtures/optim/adam_clipnorm.json';
import adamClipvalue from './fixtures/optim/adam_clipvalue.json';
import adamw from './fixtures/optim/adamw.json';
import adamwAmsgrad from './fixtures/optim/adamw_amsgrad.json';
import rmsprop from './fixtures/optim/rmsprop.json';
import rmspropCenteredMomentum from './fixtures/optim/rmsprop_centered_momentum.json';
import sgdClipnorm from './fixtures/optim/sgd_clipnorm.json';
import sgdMomentum from './fixtures/optim/sgd_momentum.json';
import sgdNesterov from './fixtures/optim/sgd_nesterov.json';
import sgdPlain from './fixtures/optim/sgd_plain.json';

interface OptimFixture {
  name: string;
  model: {
    lstm: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; batchFirst: boolean };
    dense: { inputSize: number; units: number };
  };
  loss: 'crossEntropy';
  optimizer: { type: string; options: Record<string, unknown> };
  clipGradNorm: number | null;
  clipGradValue: number | null;
  initial: { stateDict: Record<string, FixtureTensor> } | Record<string, FixtureTensor>;
  batches: { x: FixtureTensor; y: FixtureTensor }[];
  steps: { loss: number; gradNorm: number; stateDict: Record<string, FixtureTensor> }[];
}

const cases = [
  sgdPlain, sgdMomentum, sgdNesterov, sgdClipnorm,
  rmsprop, rmspropCenteredMomentum,
  adam, adamAmsgradWd, adamClipnorm, adamClipvalue,
  adamw, adamwAmsgrad,
  adagrad,
] as unknown as OptimFixture[];

/** torch.optim's defaults (1.13), camelCased as the facade names them. */
const DEFAULTS: Record<string, Record<string, unknown>> = {
  SGD: { lr: 0.01, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
  RMSprop: { lr: 0.01, alpha: 0.99, eps: 1e-8, momentum: 0, centered: false, weightDecay: 0 },
  Adam: { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false },
  AdamW: { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false },
  Adagrad: { lr: 0.01, lrDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, weightDecay: 0 },
};

/** The initial state dict: `initial.stateDict` (README) or `initial` itself. */
function initialDict(fx: OptimFixture): Record<string, FixtureTensor> {
  const i = fx.initial as Record<string, unknown>;
  return (i.stateDict ?? i) as Record<string, FixtureTensor>;
}

/** Largest parameter deviation per fixture and build, printed at the end. */
const worst = new Map<string, { params: number; loss: number; gradNorm: number }>();

afterAll(() => {
  const rows = [...worst.entries()].map(([k, v]) => `${k.padEnd(36)} params ${v.params.toExponential(2)}  loss ${v.loss.toExponential(2)}  gradNorm ${v.gradNorm.toExponential(2)}`);
  console.log(`optimizer fixtures, max |deviation| from torch:\n${rows.join('\n')}`);
});

test('there are 13 optimizer fixtures covering every optimizer type', () => {
  expect(cases).toHaveLength(13);
  expect(new Set(cases.map((c) => c.optimizer.type))).toEqual(new Set(['SGD', 'RMSprop', 'Adam', 'AdamW', 'Adagrad']));
  expect(cases.filter((c) => c.clipGradNorm !== null).length).toBe(2);
  expect(cases.filter((c) => c.clipGradValue !== null).length).toBe(1);
});

describe.each(['simd', 'scalar'] as const)('torch.optim trajectories, %s build', (variant) => {
  test.each(cases.map((c) => [c.name, c] as const))('%s: 3 steps match torch', async (_name, fx) => {
    const rt = await build(variant);
    const model = new Sequential([new LSTM({ ...fx.model.lstm, seed: 1, runtime: rt }), new Dense({ ...fx.model.dense, seed: 2, runtime: rt })], { runtime: rt });
    model.loadStateDict(dict(initialDict(fx)));
    const optimizer = makeOptimizer(fx.optimizer.type, fx.optimizer.options);
    expect(optimizer.type).toBe(fx.optimizer.type);
    // Options: the fixture's (exactly torch's keyword arguments) over torch's defaults.
    expect({ ...optimizer.options }).toEqual({ ...DEFAULTS[fx.optimizer.type], ...fx.optimizer.options });
    expect(optimizer.lr).toBe(fx.optimizer.options.lr ?? DEFAULTS[fx.optimizer.type].lr);
    model.compile({
      loss: 'crossEntropy',
      optimizer,
      clipGradNorm: fx.clipGradNorm ?? undefined,
      clipGradValue: fx.clipGradValue ?? undefined,
    });
    expect(optimizer.steps).toBe(0);
    const tol = fx.optimizer.type === 'RMSprop' ? 1e-4 : 1e-5;
    const w = { params: 0, loss: 0, gradNorm: 0 };
    for (let k = 0; k < 3; k++) {
      const b = fx.batches[k];
      const y = { data: Int32Array.from(b.y.data), shape: b.y.shape };
      const loss = await model.trainOnBatch(tensor(b.x), y);
      const dl = Math.abs(loss - fx.steps[k].loss);
      w.loss = Math.max(w.loss, dl);
      if (!(dl <= 1e-5)) throw new Error(`step ${k}: loss ${loss} vs torch ${fx.steps[k].loss} (diff ${dl.toExponential(2)})`);
      expect(optimizer.steps).toBe(k + 1);
      // The gradient norm of this step, from the gradients the model holds (clipped in place when
      // clipping is on, so only without clipping; the clip cases are checked through fit below).
      if (fx.clipGradNorm === null && fx.clipGradValue === null) {
        let sq = 0;
        for (const g of Object.values(model.gradients())) for (const v of g.data) sq += v * v;
        w.gradNorm = Math.max(w.gradNorm, Math.abs(Math.sqrt(sq) - fx.steps[k].gradNorm));
        expect(Math.abs(Math.sqrt(sq) - fx.steps[k].gradNorm)).toBeLessThan(1e-5);
      }
      const after = model.stateDict();
      expect(Object.keys(after).sort()).toEqual(Object.keys(fx.steps[k].stateDict).sort());
      for (const [name, p] of Object.entries(fx.steps[k].stateDict)) {
        w.params = Math.max(w.params, expectClose(`${fx.name} step ${k} param ${name}`, after[name], p, tol));
      }
    }
    // AdamW's decay order (before vs after the update) moves parameters by only ~3e-6 (README):
    // the trajectories are this close, so hold AdamW to 1e-6 to tell the orders apart.
    if (fx.optimizer.type === 'AdamW') expect(w.params).toBeLessThan(1e-6);
    worst.set(`${variant} ${fx.name}`, w);
    model.dispose();
  });

  test('the step returns the gradient norm before clipping (clip cases)', async () => {
    const rt = await build(variant);
    for (const fx of cases.filter((c) => c.clipGradNorm !== null || c.clipGradValue !== null)) {
      const model = new Sequential([new LSTM({ ...fx.model.lstm, seed: 1, runtime: rt }), new Dense({ ...fx.model.dense, seed: 2, runtime: rt })], { runtime: rt });
      model.loadStateDict(dict(initialDict(fx)));
      const optimizer = makeOptimizer(fx.optimizer.type, fx.optimizer.options);
      model.compile({ loss: 'crossEntropy', optimizer, clipGradNorm: fx.clipGradNorm ?? undefined, clipGradValue: fx.clipGradValue ?? undefined });
      // fit logs the optimizer's returned norm: before clipping, so torch's gradNorm.
      const b = fx.batches[0];
      const logs: number[] = [];
      await model.fit(tensor(b.x), { data: Int32Array.from(b.y.data), shape: b.y.shape }, {
        epochs: 1, batchSize: 3, shuffle: false,
        callbacks: { onBatchEnd: (_i, l) => void logs.push(l.gradNorm!) },
      });
      expect(logs).toHaveLength(1);
      expect(Math.abs(logs[0] - fx.steps[0].gradNorm)).toBeLessThan(1e-5);
      // After clipping, the gradients the model holds are clipped.
      const g = model.gradients();
      let sq = 0, maxAbs = 0;
      for (const t of Object.values(g)) for (const v of t.data) { sq += v * v; maxAbs = Math.max(maxAbs, Math.abs(v)); }
      if (fx.clipGradNorm !== null) expect(Math.sqrt(sq)).toBeLessThanOrEqual(fx.clipGradNorm * (1 + 1e-5));
      if (fx.clipGradValue !== null) expect(maxAbs).toBeLessThanOrEqual(fx.clipGradValue);
      model.dispose();
    }
  });
});

describe('optimizer options', () => {
  test('defaults are torch.optim defaults', () => {
    expect({ ...new SGD().options }).toEqual(DEFAULTS.SGD);
    expect({ ...new RMSprop().options }).toEqual(DEFAULTS.RMSprop);
    expect({ ...new Adam().options }).toEqual(DEFAULTS.Adam);
    expect({ ...new AdamW().options }).toEqual(DEFAULTS.AdamW);
    expect({ ...new Adagrad().options }).toEqual(DEFAULTS.Adagrad);
    expect(new AdamW().type).toBe('AdamW');
    expect(new Adam().type).toBe('Adam');
    expect(new AdamW({ weightDecay: 0 }).options.weightDecay).toBe(0);
    for (const t of ['SGD', 'RMSprop', 'Adam', 'AdamW', 'Adagrad']) expect(makeOptimizer(t, {}).type).toBe(t);
  });

  test.each([
    ['SGD lr < 0', () => new SGD({ lr: -0.1 }), /SGD.*\blr\b/],
    ['SGD lr NaN', () => new SGD({ lr: NaN }), /SGD.*\blr\b/],
    ['SGD momentum < 0', () => new SGD({ momentum: -1 }), /SGD.*momentum/],
    ['SGD weightDecay < 0', () => new SGD({ weightDecay: -1 }), /SGD.*weightDecay/],
    ['SGD nesterov without momentum', () => new SGD({ nesterov: true }), /SGD.*nesterov.*momentum/],
    ['SGD nesterov with dampening', () => new SGD({ nesterov: true, momentum: 0.9, dampening: 0.1 }), /SGD.*nesterov.*dampening/],
    ['SGD nesterov not boolean', () => new SGD({ nesterov: 1 as unknown as boolean, momentum: 0.9 }), /SGD.*nesterov/],
    ['RMSprop lr < 0', () => new RMSprop({ lr: -1 }), /RMSprop.*\blr\b/],
    ['RMSprop alpha > 1', () => new RMSprop({ alpha: 1.5 }), /RMSprop.*alpha/],
    ['RMSprop eps < 0', () => new RMSprop({ eps: -1e-8 }), /RMSprop.*eps/],
    ['Adam lr < 0', () => new Adam({ lr: -1e-3 }), /Adam.*\blr\b/],
    ['Adam beta1 = 1', () => new Adam({ betas: [1, 0.999] }), /Adam.*betas/],
    ['Adam beta2 < 0', () => new Adam({ betas: [0.9, -0.1] }), /Adam.*betas/],
    ['Adam betas of length 1', () => new Adam({ betas: [0.9] as unknown as [number, number] }), /Adam.*betas/],
    ['Adam weightDecay < 0', () => new Adam({ weightDecay: -1 }), /Adam.*weightDecay/],
    ['AdamW lr < 0', () => new AdamW({ lr: -1 }), /Adam.*\blr\b/],
    ['AdamW beta1 > 1', () => new AdamW({ betas: [1.2, 0.9] }), /Adam.*betas/],
    ['Adagrad lrDecay < 0', () => new Adagrad({ lrDecay: -1 }), /Adagrad.*lrDecay/],
    ['Adagrad initialAccumulatorValue < 0', () => new Adagrad({ initialAccumulatorValue: -1 }), /Adagrad.*initialAccumulatorValue/],
    ['unknown type', () => makeOptimizer('Lion', {}), /Lion/],
  ] as const)('%s is refused naming the option', (_name, f, re) => {
    expect(f).toThrow(re);
  });

  test('an optimizer binds to one model only; steps count and reset with a new optimizer', async () => {
    const rt = await build('simd');
    const mk = () => new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, runtime: rt }), new Dense({ inputSize: 3, units: 2, seed: 2, runtime: rt })], { runtime: rt });
    const a = mk();
    const b = mk();
    const opt = new Adam({ lr: 0.01 });
    expect(opt.steps).toBe(0);
    expect(() => opt.step()).toThrow(/not bound/);
    a.compile({ loss: 'mse', optimizer: opt });
    expect(() => b.compile({ loss: 'mse', optimizer: opt })).toThrow(/already bound/);
    const x = { data: new Float32Array(2 * 1 * 2).fill(0.5), shape: [2, 1, 2] };
    const y = { data: new Float32Array(2 * 1 * 2).fill(0.1), shape: [2, 1, 2] };
    for (let i = 0; i < 4; i++) await a.trainOnBatch(x, y);
    expect(opt.steps).toBe(4);
    const state = opt.state();
    expect(state.length).toBe(2 * (4 * 3 * 2 + 4 * 3 * 3 + 2 * 4 * 3 + 3 * 2 + 2));
    a.compile({ loss: 'mse', optimizer: new Adam({ lr: 0.01 }) });
    expect(a.compileOptions!.optimizer!.steps).toBe(0);
    expect(opt.steps).toBe(0); // disposed with the old compile
    a.dispose();
    b.dispose();
  });
});
