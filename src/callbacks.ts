import { Callback, CallbackState, Logs, Sequential } from './sequential.js';
import { Tensor } from './tensor.js';
import { checkOptions, describeValue } from './errors.js';

const MONITORED = ['loss', 'valLoss', 'accuracy', 'valAccuracy'] as const;

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

/**
 * Stop `fit` when the monitored value stops improving (Keras's `EarlyStopping`). Checkpoints store
 * its state (the patience counter, the best value and epoch, and the best weights with
 * `restoreBestWeights`), so a run resumed with the same callback stops where it would have.
 */
export class EarlyStopping implements Callback {
  private best = Infinity;
  private bestEpoch = -1;
  private wait = 0;
  private bestWeights: Record<string, Tensor> | undefined;
  /** Epoch at which training was stopped, or -1. */
  stoppedEpoch = -1;
  constructor(
    /** The options given to the constructor. */
    readonly options: EarlyStoppingOptions = {},
  ) {
    const o = checkOptions('EarlyStopping', options, 'monitor patience minDelta restoreBestWeights');
    const check = (k: keyof EarlyStoppingOptions, ok: boolean, want: string) => {
      if (o[k] !== undefined && !ok) throw new RangeError(`EarlyStopping: ${k} must be ${want}, got ${describeValue(o[k])}`);
    };
    check('monitor', MONITORED.includes(o.monitor!), `one of ${MONITORED.join(', ')}`);
    check('patience', Number.isInteger(o.patience) && o.patience! >= 0, 'a non-negative integer');
    check('minDelta', Number.isFinite(o.minDelta) && o.minDelta! >= 0, 'a finite number >= 0');
    check('restoreBestWeights', typeof o.restoreBestWeights === 'boolean', 'true or false');
  }

  /** Resets the best value and the patience counter; refuses an accuracy monitor without the accuracy metric. */
  onTrainBegin(model?: Sequential): void {
    const monitor = this.options.monitor ?? 'valLoss';
    if (model && monitor.endsWith('ccuracy') && !model.compileOptions?.metrics?.includes('accuracy')) {
      throw new Error(`EarlyStopping: monitor '${monitor}' needs compile({ metrics: ['accuracy'] })`);
    }
    this.best = Infinity;
    this.bestEpoch = -1;
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
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.options.restoreBestWeights) this.bestWeights = model.stateDict();
    } else if (++this.wait >= Math.max(1, this.options.patience ?? 0)) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
      if (this.bestWeights) model.loadStateDict(this.bestWeights);
    }
  }

  /** Its counters and the best weights (with `restoreBestWeights`), for checkpoints. */
  checkpointState(): CallbackState {
    // `stoppedEpoch`: the run stopped at that epoch (a checkpoint written then resumes as finished).
    const values: Record<string, number> = { wait: this.wait, bestEpoch: this.bestEpoch, stoppedEpoch: this.stoppedEpoch };
    if (Number.isFinite(this.best)) values.best = this.best;
    if (!this.bestWeights) return { type: 'EarlyStopping', values };
    const parts = Object.values(this.bestWeights);
    const weights = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
    let at = 0;
    for (const t of parts) {
      weights.set(t.data, at);
      at += t.data.length;
    }
    return { type: 'EarlyStopping', values, weights };
  }

  /** Takes back a `checkpointState()` (a resumed run); the weights must fit `model`. */
  restoreCheckpointState(state: CallbackState, model: Sequential): void {
    const { wait, best, bestEpoch } = state.values;
    if (state.type !== 'EarlyStopping' || !(Number.isInteger(wait) && wait >= 0)) {
      throw new Error(`EarlyStopping.restoreCheckpointState: not an EarlyStopping state: ${JSON.stringify(state.values)}`);
    }
    this.wait = wait;
    this.best = best ?? Infinity;
    this.bestEpoch = bestEpoch ?? -1;
    this.stoppedEpoch = state.values.stoppedEpoch ?? -1;
    // Stopped when the checkpoint was written: the resumed run is over too.
    if (this.stoppedEpoch >= 0) model.stopTraining = true;
    this.bestWeights = undefined;
    if (!state.weights || !this.options.restoreBestWeights) return;
    const dict = model.stateDict();
    const need = Object.values(dict).reduce((n, t) => n + t.data.length, 0);
    if (state.weights.length !== need) throw new Error(`EarlyStopping.restoreCheckpointState: ${state.weights.length} best weights for ${need} parameters`);
    let at = 0;
    for (const [k, t] of Object.entries(dict)) {
      dict[k] = new Tensor(state.weights.slice(at, at + t.data.length), t.shape);
      at += t.data.length;
    }
    this.bestWeights = dict;
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
  /** It writes checkpoints: `fit` runs it after the callbacks whose state it saves (see `Callback`). */
  readonly savesCheckpoints = true;
  constructor(
    /** The options given to the constructor. */
    readonly options: ModelCheckpointOptions,
  ) {
    checkOptions('ModelCheckpoint', options, 'save everyBatches metadata');
    if (typeof options?.save !== 'function') throw new TypeError('ModelCheckpoint: options.save must be a function (bytes, info) => void');
    const every = options.everyBatches;
    if (every !== undefined && !(Number.isInteger(every) && every >= 0)) throw new RangeError(`ModelCheckpoint: everyBatches must be a non-negative integer, got ${describeValue(every)}`);
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
