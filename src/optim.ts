/**
 * Optimizers with `torch.optim`'s update rules and defaults (option names in camelCase). Their state
 * lives in wasm memory; one core call updates every parameter block of a model, after clipping.
 * An optimizer is bound to one model by `Sequential.compile`.
 */
import { ChainLayer } from './layer.js';
import { Runtime } from './runtime.js';
import { checkOptions, describeValue } from './errors.js';

export type OptimizerType = 'SGD' | 'RMSprop' | 'Adam' | 'AdamW' | 'Adagrad';

export interface SGDOptions {
  /** Learning rate. Default 0.01. */
  lr?: number;
  /** Momentum factor. Default 0. */
  momentum?: number;
  /** Dampening for momentum. Default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
}

export interface RMSpropOptions {
  /** Default 0.01. */
  lr?: number;
  /** Smoothing constant. Default 0.99. */
  alpha?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Default 0. */
  momentum?: number;
  /** Normalise by the centred second moment (an estimate of the variance). Default false. */
  centered?: boolean;
  /** Default 0. */
  weightDecay?: number;
}

export interface AdamOptions {
  /** Default 0.001. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient, default 0. AdamW: decoupled decay, default 0.01. */
  weightDecay?: number;
  /** Use the maximum of past second moments. Default false. */
  amsgrad?: boolean;
}

export interface AdagradOptions {
  /** Default 0.01. */
  lr?: number;
  /** Default 0. */
  lrDecay?: number;
  /** Default 0. */
  initialAccumulatorValue?: number;
  /** Default 1e-10. */
  eps?: number;
  /** Default 0. */
  weightDecay?: number;
}

/** Clipping applied before each step. */
export interface ClipOptions {
  /** Scale all gradients so their global 2-norm is at most this (`clip_grad_norm_`). */
  clipGradNorm?: number;
  /** Clamp each gradient element to [-v, v] (`clip_grad_value_`); applied before norm clipping. */
  clipGradValue?: number;
}

function num(op: string, name: string, v: unknown, dflt: number, min = 0): number {
  const x = v === undefined ? dflt : v;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new RangeError(`${op}: ${name} must be a finite number >= ${min}, got ${describeValue(v)}`);
  return x;
}

function flag(op: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be true or false, got ${String(v)}`);
  return v;
}

/** Base of every optimizer: the rule's code and hyper-parameters, and the core object once bound. */
export abstract class Optimizer {
  /** The rule's name, as stored in model files. */
  abstract readonly type: OptimizerType;
  /** The resolved options (defaults filled in). */
  abstract readonly options: Readonly<Record<string, unknown>>;
  /** The current learning rate (schedules change it). */
  lr: number;
  private rt: Runtime | undefined;
  private handle = 0;
  private normSlot = 0;

  protected constructor(lr: number) {
    this.lr = lr;
  }

  protected abstract code(): { kind: number; hp: number[] };

  /** Number of f32 state arrays per parameter. */
  abstract slots(): number;

  /** Bind to the parameter blocks of `layers` (done by `Sequential.compile`). */
  bind(rt: Runtime, layers: readonly ChainLayer[]): void {
    if (this.handle !== 0) throw new Error(`${this.type}: this optimizer is already bound to a model; create one per model`);
    const { kind, hp } = this.code();
    const [hpPtr] = rt.stage([Float64Array.from(hp)]);
    const h = rt.core.lstmw_optim_new(kind, hpPtr, hp.length);
    if (h === 0) rt.check(2);
    try {
      for (const l of layers) if (l.paramCount > 0) rt.check(rt.core.lstmw_optim_add_block(h, l.paramsPtr(), l.gradsPtr(), l.paramCount));
    } catch (e) {
      rt.core.lstmw_optim_free(h);
      throw e;
    }
    this.rt = rt;
    this.handle = h;
    this.normSlot = rt.core.lstmw_alloc(16);
  }

  private bound(op: string): Runtime {
    if (!this.rt || this.handle === 0) throw new Error(`${this.type}.${op}: not bound to a model (pass it to model.compile)`);
    return this.rt;
  }

  /** One update of every parameter from its gradient; returns the gradient norm before clipping. */
  step(clip: ClipOptions = {}): number {
    const rt = this.bound('step');
    rt.check(rt.core.lstmw_optim_step(this.handle, this.lr, clip.clipGradNorm ?? 0, clip.clipGradValue ?? 0, this.normSlot));
    return new Float64Array(rt.core.memory.buffer, this.normSlot, 1)[0];
  }

  /** Steps taken. */
  get steps(): number {
    if (this.handle === 0) return 0;
    return this.rt!.core.lstmw_optim_steps(this.handle, 0, 0);
  }

  /** A copy of the state (moments, buffers) for checkpoints. */
  state(): Float32Array {
    const rt = this.bound('state');
    const [lenPtr] = rt.stage([new Uint32Array(1)]);
    const ptr = rt.core.lstmw_optim_state(this.handle, lenPtr);
    const len = new Uint32Array(rt.core.memory.buffer, lenPtr, 1)[0];
    return rt.copyOut(ptr, len);
  }

  /** Restore `state()` and the step count from a checkpoint. */
  setState(state: Float32Array, steps: number): void {
    const rt = this.bound('setState');
    const [lenPtr] = rt.stage([new Uint32Array(1)]);
    const ptr = rt.core.lstmw_optim_state(this.handle, lenPtr);
    const len = new Uint32Array(rt.core.memory.buffer, lenPtr, 1)[0];
    if (state.length !== len) throw new RangeError(`${this.type}.setState: expected ${len} state values for this model, got ${state.length}`);
    if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`${this.type}.setState: steps must be a non-negative integer, got ${steps}`);
    rt.f32(ptr, len).set(state);
    rt.core.lstmw_optim_steps(this.handle, 1, steps);
  }

  /** Release the state. Idempotent. */
  dispose(): void {
    if (this.rt && this.handle !== 0) {
      this.rt.core.lstmw_optim_free(this.handle);
      this.rt.core.lstmw_free(this.normSlot, 16);
    }
    this.handle = 0;
  }
}

/** `torch.optim.SGD`. */
export class SGD extends Optimizer {
  /** Always `'SGD'`. */
  readonly type = 'SGD';
  readonly options: Readonly<Required<SGDOptions>>;
  constructor(options: SGDOptions = {}) {
    const op = 'SGD';
    options = checkOptions(op, options, 'lr momentum dampening nesterov weightDecay');
    const o = {
      lr: num(op, 'lr', options.lr, 0.01),
      momentum: num(op, 'momentum', options.momentum, 0),
      dampening: num(op, 'dampening', options.dampening, 0),
      nesterov: flag(op, 'nesterov', options.nesterov),
      weightDecay: num(op, 'weightDecay', options.weightDecay, 0),
    };
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new RangeError(`${op}: nesterov requires momentum > 0 and dampening = 0`);
    super(o.lr);
    this.options = Object.freeze(o);
  }
  protected code() {
    const o = this.options;
    return { kind: 0, hp: [o.momentum, o.dampening, o.nesterov ? 1 : 0, o.weightDecay] };
  }
  slots(): number {
    return this.options.momentum !== 0 ? 1 : 0;
  }
}

/** `torch.optim.RMSprop`. */
export class RMSprop extends Optimizer {
  /** Always `'RMSprop'`. */
  readonly type = 'RMSprop';
  readonly options: Readonly<Required<RMSpropOptions>>;
  constructor(options: RMSpropOptions = {}) {
    const op = 'RMSprop';
    options = checkOptions(op, options, 'lr alpha eps momentum centered weightDecay');
    const o = {
      lr: num(op, 'lr', options.lr, 0.01),
      alpha: num(op, 'alpha', options.alpha, 0.99),
      eps: num(op, 'eps', options.eps, 1e-8),
      momentum: num(op, 'momentum', options.momentum, 0),
      centered: flag(op, 'centered', options.centered),
      weightDecay: num(op, 'weightDecay', options.weightDecay, 0),
    };
    if (o.alpha > 1) throw new RangeError(`${op}: alpha must be in [0, 1], got ${o.alpha}`);
    super(o.lr);
    this.options = Object.freeze(o);
  }
  protected code() {
    const o = this.options;
    return { kind: 1, hp: [o.alpha, o.eps, o.momentum, o.centered ? 1 : 0, o.weightDecay] };
  }
  slots(): number {
    return 1 + (this.options.centered ? 1 : 0) + (this.options.momentum !== 0 ? 1 : 0);
  }
}

function adamOptions(op: string, options: AdamOptions, wdDefault: number): Required<AdamOptions> {
  options = checkOptions(op, options, 'lr betas eps weightDecay amsgrad');
  const betas = options.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
    throw new RangeError(`${op}: betas must be two numbers in [0, 1), got ${JSON.stringify(options.betas)}`);
  }
  return {
    lr: num(op, 'lr', options.lr, 0.001),
    betas: [betas[0], betas[1]],
    eps: num(op, 'eps', options.eps, 1e-8),
    weightDecay: num(op, 'weightDecay', options.weightDecay, wdDefault),
    amsgrad: flag(op, 'amsgrad', options.amsgrad),
  };
}

/** `torch.optim.Adam` (weight decay as an L2 term in the gradient). */
export class Adam extends Optimizer {
  /** `'Adam'` (`'AdamW'` in the subclass). */
  readonly type: 'Adam' | 'AdamW' = 'Adam';
  readonly options: Readonly<Required<AdamOptions>>;
  constructor(options: AdamOptions = {}) {
    // AdamW runs this constructor too: its errors name AdamW, and its weight decay defaults to 0.01.
    const w = new.target === AdamW;
    const o = adamOptions(w ? 'AdamW' : 'Adam', options, w ? 0.01 : 0);
    super(o.lr);
    this.options = Object.freeze(o);
  }
  protected code() {
    const o = this.options;
    return { kind: this.type === 'AdamW' ? 3 : 2, hp: [o.betas[0], o.betas[1], o.eps, o.weightDecay, o.amsgrad ? 1 : 0] };
  }
  slots(): number {
    return this.options.amsgrad ? 3 : 2;
  }
}

/** `torch.optim.AdamW`: decoupled weight decay (default 0.01), p ← p·(1 − lr·wd) before the Adam step. */
export class AdamW extends Adam {
  /** Always `'AdamW'`. */
  override readonly type = 'AdamW';
  constructor(options: AdamOptions = {}) {
    super(options);
  }
}

/** `torch.optim.Adagrad`. */
export class Adagrad extends Optimizer {
  /** Always `'Adagrad'`. */
  readonly type = 'Adagrad';
  readonly options: Readonly<Required<AdagradOptions>>;
  constructor(options: AdagradOptions = {}) {
    const op = 'Adagrad';
    options = checkOptions(op, options, 'lr lrDecay initialAccumulatorValue eps weightDecay');
    const o = {
      lr: num(op, 'lr', options.lr, 0.01),
      lrDecay: num(op, 'lrDecay', options.lrDecay, 0),
      initialAccumulatorValue: num(op, 'initialAccumulatorValue', options.initialAccumulatorValue, 0),
      eps: num(op, 'eps', options.eps, 1e-10),
      weightDecay: num(op, 'weightDecay', options.weightDecay, 0),
    };
    super(o.lr);
    this.options = Object.freeze(o);
  }
  protected code() {
    const o = this.options;
    return { kind: 4, hp: [o.lrDecay, o.initialAccumulatorValue, o.eps, o.weightDecay] };
  }
  slots(): number {
    return 1;
  }
}

/** Rebuild an optimizer from its saved type and options. */
export function makeOptimizer(type: string, options: Record<string, unknown>): Optimizer {
  switch (type) {
    case 'SGD':
      return new SGD(options as SGDOptions);
    case 'RMSprop':
      return new RMSprop(options as RMSpropOptions);
    case 'Adam':
      return new Adam(options as AdamOptions);
    case 'AdamW':
      return new AdamW(options as AdamOptions);
    case 'Adagrad':
      return new Adagrad(options as AdagradOptions);
    default:
      throw new RangeError(`unknown optimizer type ${JSON.stringify(type)}; expected SGD, RMSprop, Adam, AdamW or Adagrad`);
  }
}
