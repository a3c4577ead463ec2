/**
 * Learning-rate schedules. Each gives the learning rate for a (0-based) epoch and global step;
 * `fit` applies it before every batch. Only `ReduceLROnPlateau` has state, saved in checkpoints.
 */

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
    if (!Number.isInteger(options?.stepSize) || options.stepSize < 1) throw new RangeError(`StepLR: stepSize must be a positive integer, got ${options?.stepSize}`);
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
    if (!(options?.gamma > 0)) throw new RangeError(`ExponentialLR: gamma must be > 0, got ${options?.gamma}`);
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
    if (!Number.isInteger(options?.totalSteps) || options.totalSteps < 1) throw new RangeError(`CosineLR: totalSteps must be a positive integer, got ${options?.totalSteps}`);
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
    const f = options.factor ?? 0.1;
    if (!(f > 0 && f < 1)) throw new RangeError(`ReduceLROnPlateau: factor must be in (0, 1), got ${f}`);
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
