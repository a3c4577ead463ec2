/**
 * Learning-rate schedules. Each gives the learning rate for a (0-based) epoch and global step;
 * `fit` applies it before every batch. Checkpoints store the built-in schedules (type and options)
 * and `ReduceLROnPlateau`'s state.
 */

import { checkOptions, describeValue } from './errors.js';

/** `v` if it is a finite number in [min, max] (integer when asked), else a RangeError naming `what`. */
function checkNumber(what: string, v: unknown, min: number, max = Infinity, integer = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${what} must be ${integer ? 'an integer' : 'a finite number'} in [${min}, ${max}], got ${describeValue(v)}`);
  }
}

export interface LRSchedule {
  /** The schedule's name. */
  readonly type: string;
  /** Learning rate for this epoch and global step, from the optimizer's base rate. */
  lrAt(baseLr: number, epoch: number, step: number): number;
  /** Called with the monitored value at the end of each epoch. */
  onEpochEnd?(value: number): void;
  /** State to keep in checkpoints (only stateful schedules). */
  state?(): Record<string, number>;
  /** Restore `state()`. */
  setState?(s: Record<string, number>): void;
}

/** lr · gamma^floor(epoch / stepSize) (`StepLR`). */
export class StepLR implements LRSchedule {
  /** Always `'StepLR'`. */
  readonly type = 'StepLR';
  constructor(
    /** The options given to the constructor. */
    readonly options: {
      /** Epochs between two decays. Required. */
      stepSize: number;
      /** Factor per decay. Default 0.1. */
      gamma?: number;
    },
  ) {
    checkOptions('StepLR', options, 'stepSize gamma');
    if (!Number.isInteger(options?.stepSize) || options.stepSize < 1) throw new RangeError(`StepLR: stepSize must be a positive integer, got ${options?.stepSize}`);
    if (options.gamma !== undefined) checkNumber('StepLR: gamma', options.gamma, Number.MIN_VALUE);
  }
  lrAt(base: number, epoch: number): number {
    return base * Math.pow(this.options.gamma ?? 0.1, Math.floor(epoch / this.options.stepSize));
  }
}

/** lr · gamma^epoch (`ExponentialLR`). */
export class ExponentialLR implements LRSchedule {
  /** Always `'ExponentialLR'`. */
  readonly type = 'ExponentialLR';
  constructor(
    /** The options given to the constructor. */
    readonly options: {
      /** Factor per epoch (> 0). Required. */
      gamma: number;
    },
  ) {
    checkOptions('ExponentialLR', options, 'gamma');
    if (!(options?.gamma > 0 && Number.isFinite(options.gamma))) throw new RangeError(`ExponentialLR: gamma must be a finite number > 0, got ${options?.gamma}`);
  }
  lrAt(base: number, epoch: number): number {
    return base * Math.pow(this.options.gamma, epoch);
  }
}

/** Linear warm-up over `warmupSteps`, then cosine decay to `minLr` at `totalSteps` (per batch step). */
export class CosineLR implements LRSchedule {
  /** Always `'CosineLR'`. */
  readonly type = 'CosineLR';
  constructor(
    /** The options given to the constructor. */
    readonly options: {
      /** Batch step at which the rate reaches `minLr`. Required. */
      totalSteps: number;
      /** Batch steps of linear warm-up from lr/warmupSteps to lr. Default 0. */
      warmupSteps?: number;
      /** Final rate. Default 0. */
      minLr?: number;
    },
  ) {
    checkOptions('CosineLR', options, 'totalSteps warmupSteps minLr');
    if (!Number.isInteger(options?.totalSteps) || options.totalSteps < 1) throw new RangeError(`CosineLR: totalSteps must be a positive integer, got ${options?.totalSteps}`);
    if (options.warmupSteps !== undefined) checkNumber('CosineLR: warmupSteps', options.warmupSteps, 0, Number.MAX_SAFE_INTEGER, true);
    if (options.minLr !== undefined) checkNumber('CosineLR: minLr', options.minLr, 0);
  }
  lrAt(base: number, _epoch: number, step: number): number {
    const { totalSteps, warmupSteps = 0, minLr = 0 } = this.options;
    if (step < warmupSteps) return (base * (step + 1)) / warmupSteps;
    const p = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return minLr + 0.5 * (base - minLr) * (1 + Math.cos(Math.PI * p));
  }
}

/** Multiply the rate by `factor` when the monitored value has not improved for `patience` epochs. */
export class ReduceLROnPlateau implements LRSchedule {
  /** Always `'ReduceLROnPlateau'`. */
  readonly type = 'ReduceLROnPlateau';
  private scale = 1;
  private best = Infinity;
  private bad = 0;
  constructor(
    /** The options given to the constructor. */
    readonly options: {
      /** Multiplier applied on a plateau, in (0, 1). Default 0.1. */
      factor?: number;
      /** Epochs without improvement tolerated before reducing. Default 10. */
      patience?: number;
      /** Lower bound of the rate. Default 0. */
      minLr?: number;
      /** Relative improvement that counts (value < best · (1 − threshold)). Default 1e-4. */
      threshold?: number;
    } = {},
  ) {
    checkOptions('ReduceLROnPlateau', options, 'factor patience minLr threshold');
    const f = options?.factor ?? 0.1;
    if (!(f > 0 && f < 1)) throw new RangeError(`ReduceLROnPlateau: factor must be in (0, 1), got ${f}`);
    if (options.patience !== undefined) checkNumber('ReduceLROnPlateau: patience', options.patience, 0, Number.MAX_SAFE_INTEGER, true);
    if (options.minLr !== undefined) checkNumber('ReduceLROnPlateau: minLr', options.minLr, 0);
    if (options.threshold !== undefined) checkNumber('ReduceLROnPlateau: threshold', options.threshold, 0, 1);
  }
  lrAt(base: number): number {
    return Math.max(base * this.scale, this.options.minLr ?? 0);
  }
  onEpochEnd(value: number): void {
    const threshold = this.options.threshold ?? 1e-4;
    if (value < this.best * (1 - threshold)) {
      this.best = value;
      this.bad = 0;
    } else if (++this.bad > (this.options.patience ?? 10)) {
      this.scale *= this.options.factor ?? 0.1;
      this.bad = 0;
    }
  }
  /** `{ scale, best, bad }`, kept in checkpoints. */
  state(): Record<string, number> {
    return { scale: this.scale, best: this.best, bad: this.bad };
  }
  /** Restore `state()`. */
  setState(s: Record<string, number>): void {
    this.scale = s.scale;
    this.best = s.best ?? Infinity;
    this.bad = s.bad;
  }
}

/** The built-in schedules, by `type`. */
const SCHEDULES = { StepLR, ExponentialLR, CosineLR, ReduceLROnPlateau } as const;

/**
 * `{ type, options }` of a built-in schedule (what a checkpoint stores), or undefined for your own,
 * subclasses of the built-in ones included (their `lrAt` may differ).
 */
export function scheduleConfig(s: LRSchedule): { type: string; options: unknown } | undefined {
  const builtIn = Object.values(SCHEDULES).some((C) => Object.getPrototypeOf(s) === C.prototype);
  return builtIn ? { type: s.type, options: (s as unknown as { options: unknown }).options } : undefined;
}


/** A built-in schedule from its `type` and options (as `makeOptimizer`); RangeError when either is invalid. */
export function makeSchedule(type: string, options: unknown): LRSchedule {
  if (!Object.prototype.hasOwnProperty.call(SCHEDULES, type)) throw new RangeError(`unknown schedule type ${JSON.stringify(type)}; expected ${Object.keys(SCHEDULES).join(', ')}`);
  const C = SCHEDULES[type as keyof typeof SCHEDULES] as new (o: unknown) => LRSchedule;
  return new C(options);
}
