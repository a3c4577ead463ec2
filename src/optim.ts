import { ChainLayer } from './layer.js';
import { Runtime } from './runtime.js';

/** An optimizer updates every layer's parameter block from its gradient block, one core call per layer. */
export interface Optimizer {
  step(rt: Runtime, layers: readonly ChainLayer[]): void;
}

export interface SGDOptions {
  /** Learning rate. Default 0.01. */
  lr?: number;
}

/** Plain stochastic gradient descent, p ← p − lr·g (`torch.optim.SGD` with no momentum or decay). */
export class SGD implements Optimizer {
  readonly lr: number;
  constructor(options: SGDOptions = {}) {
    const lr = options.lr ?? 0.01;
    if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`SGD: lr must be a positive finite number, got ${lr}`);
    this.lr = lr;
  }
  step(rt: Runtime, layers: readonly ChainLayer[]): void {
    for (const l of layers) rt.check(rt.core.lstmw_sgd_step(l.paramsPtr(), l.gradsPtr(), l.paramCount, this.lr));
  }
}
