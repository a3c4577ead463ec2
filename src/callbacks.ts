import { Callback, Logs, Sequential } from './sequential.js';
import { Tensor } from './tensor.js';

/** Options of `new EarlyStopping(...)`. */
export interface EarlyStoppingOptions {
  /** Logged value to watch. Default 'valLoss' (falls back to 'loss' without validation data). */
  monitor?: 'loss' | 'valLoss' | 'accuracy' | 'valAccuracy';
  /** Epochs without improvement after which training stops (as Keras: 0 and 1 both stop at the first). Default 0. */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Put back the weights of the best epoch when stopping. Default false. */
  restoreBestWeights?: boolean;
}

/** Stop `fit` when the monitored value stops improving (Keras's `EarlyStopping`). */
export class EarlyStopping implements Callback {
  private best = Infinity;
  private wait = 0;
  private bestWeights: Record<string, Tensor> | undefined;
  /** Epoch at which training was stopped, or -1. */
  stoppedEpoch = -1;
  constructor(
    /** The options given to the constructor. */
    readonly options: EarlyStoppingOptions = {},
  ) {}

  /** Resets the best value and the patience counter. */
  onTrainBegin(): void {
    this.best = Infinity;
    this.wait = 0;
    this.stoppedEpoch = -1;
    this.bestWeights = undefined;
  }

  /** Compares the monitored value with the best so far; stops (and restores the best weights) after `patience` epochs without improvement. */
  onEpochEnd(epoch: number, logs: Logs, model: Sequential): void {
    const key = this.options.monitor ?? 'valLoss';
    let v = logs[key] ?? (key === 'valLoss' ? logs.loss : undefined);
    if (v === undefined) throw new Error(`EarlyStopping: '${key}' is not logged (add validation data or the accuracy metric)`);
    if (key.toLowerCase().includes('accuracy')) v = -v; // higher is better
    if (v < this.best - (this.options.minDelta ?? 0)) {
      this.best = v;
      this.wait = 0;
      if (this.options.restoreBestWeights) this.bestWeights = model.stateDict();
    } else if (++this.wait >= Math.max(1, this.options.patience ?? 0)) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
      if (this.bestWeights) model.loadStateDict(this.bestWeights);
    }
  }
}

/** Options of `new ModelCheckpoint(...)`. */
export interface ModelCheckpointOptions {
  /** Receives the checkpoint (model, optimizer state and training position) as bytes. */
  save: (bytes: Uint8Array, info: { epoch: number; batch: number; step: number }) => void | Promise<void>;
  /** Also checkpoint every this many batches (0: only at epoch ends). Default 0. */
  everyBatches?: number;
  /** JSON stored in each checkpoint's header (vocabularies, task settings...). */
  metadata?: unknown;
}

/**
 * Save a checkpoint at the end of every epoch (and optionally every N batches). Loading one with
 * `deserializeModel` (or `loadModel`), compiling it again with the same `lrSchedule` if any, and passing
 * its `training` as `fit({ resume })` continues the run bit-identically.
 * In Node, `checkpointToFile(path)` from the Node entry writes each one atomically.
 */
export class ModelCheckpoint implements Callback {
  constructor(
    /** The options given to the constructor. */
    readonly options: ModelCheckpointOptions,
  ) {
    if (typeof options?.save !== 'function') throw new TypeError('ModelCheckpoint: options.save must be a function (bytes, info) => void');
  }

  private async write(model: Sequential): Promise<void> {
    const st = model.training!;
    await this.options.save(model.toBytes({ optimizer: true, training: true, metadata: this.options.metadata }), { epoch: st.epoch, batch: st.batch, step: st.step });
  }

  /** Saves every `everyBatches` optimizer steps. */
  async onBatchEnd(_batch: number, _logs: Logs, model: Sequential): Promise<void> {
    const every = this.options.everyBatches ?? 0;
    if (every > 0 && model.training!.step % every === 0) await this.write(model);
  }

  /** Saves at the end of every epoch. */
  async onEpochEnd(_epoch: number, _logs: Logs, model: Sequential): Promise<void> {
    await this.write(model);
  }
}
