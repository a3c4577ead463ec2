import { cropTime, putAlong, takeAlong, epochOrder, yieldToEventLoop, AnyTensor } from './batching.js';
import { serializeModel, SerializeOptions } from './io.js';
import { DisposedError, ShapeError, checkOptions, describeValue, formatShape } from './errors.js';
import { checkIds } from './embedding.js';
import { ChainLayer, ForwardContext, StateDict } from './layer.js';
import { LSTM, checkLengths } from './lstm.js';
import { LSTMState } from './state.js';
import { F32Slab } from './slab.js';
import { Optimizer } from './optim.js';
import { Runtime, Scratch, runtime } from './runtime.js';
import { LRSchedule, scheduleConfig } from './schedule.js';
import { Tensor, TensorLike, checkTensor } from './tensor.js';

/** Loss names: `crossEntropy` takes integer class targets (softmax fused in), `mse` float targets. */
export type LossName = 'crossEntropy' | 'mse';

export interface CompileOptions {
  /** Loss over the last layer's output. Required. */
  loss: LossName;
  /** Update rule (bound to this model). Required for training; `evaluate` works without. */
  optimizer?: Optimizer;
  /** Clip the global gradient norm to this before each step (PyTorch's `clip_grad_norm_`). */
  clipGradNorm?: number;
  /** Clamp every gradient element to [-v, v] before each step (applied before norm clipping). */
  clipGradValue?: number;
  /** Extra metrics; `'accuracy'` (argmax over classes, crossEntropy only). */
  metrics?: 'accuracy'[];
  /** Learning-rate schedule applied by `fit` before every batch. Checkpoints store the built-in ones; one of your own must be passed again when resuming. */
  lrSchedule?: LRSchedule;
}

/** Model input: a float tensor, or token ids for a model that starts with an Embedding. */
export type ModelInput =
  | TensorLike
  | {
      /** Token ids (Int32Array, or a Float32Array holding integers), row-major. */
      data: Int32Array | Float32Array;
      /** The size of each axis. */
      shape: readonly number[];
    };

/** Targets: class ids (Int32Array, or Float32Array holding integers; -1 = ignored) or floats for mse. */
export interface TargetLike {
  /** Class ids (crossEntropy; -1 = not counted) or float targets (mse), row-major. */
  data: Int32Array | Float32Array;
  /** crossEntropy: the output's shape without its last axis; mse: the output's shape. */
  shape: readonly number[];
}

/** Options of a call on a batch. */
export interface BatchOptions {
  /** Real length of each sequence (padding at the end): padded ticks neither change the state nor count in the loss. */
  lengths?: Int32Array;
}

/** Loss and metrics: what `evaluate` returns, what `fit` passes to callbacks, and `lastBatchLogs`. */
export interface Logs {
  /** Mean loss over the counted rows (batch, or epoch at epoch ends). */
  loss: number;
  /** Share of counted rows whose argmax is the target (metric `'accuracy'`). */
  accuracy?: number;
  /** Loss on the validation data (epoch ends). */
  valLoss?: number;
  /** Accuracy on the validation data (epoch ends). */
  valAccuracy?: number;
  /** Learning rate used. */
  lr?: number;
  /** Global gradient norm before clipping (batches). */
  gradNorm?: number;
}

/**
 * What a callback keeps across a resume (see `Callback.state`): plain numbers, and optionally
 * weights (all of the model's parameters, in `stateDict()` order).
 */
export interface CallbackState {
  /** The kind of callback it belongs to ('EarlyStopping'). */
  type: string;
  /** Its counters and values. */
  values: Record<string, number>;
  /** Weights it holds (EarlyStopping's best weights), flattened. */
  weights?: Float32Array;
}

/**
 * Hooks `fit` calls (and awaits), in the order given, with one exception: a checkpoint callback
 * (`savesCheckpoints`) listed before a callback with checkpoint state runs right after the last
 * such callback, so that it saves what they decided at that step. Set `model.stopTraining = true`
 * in one to stop after the current batch.
 */
export interface Callback {
  /** It writes checkpoints (`ModelCheckpoint` sets it): see the ordering rule above. */
  readonly savesCheckpoints?: boolean;
  /**
   * The callback's state, which checkpoints store (`EarlyStopping`: its patience counter, best
   * value and best weights). `fit({ resume })` gives each stored state back to the callback of the
   * same `type` in the same position among those of its type.
   */
  checkpointState?(): CallbackState;
  /** Take back a state from `checkpointState()`; called by `fit({ resume })` after `onTrainBegin`. */
  restoreCheckpointState?(state: CallbackState, model: Sequential): void;
  /** Before the first batch. */
  onTrainBegin?(model: Sequential): void | Promise<void>;
  /** After every batch (index within the epoch), with that batch's logs. */
  onBatchEnd?(batch: number, logs: Logs, model: Sequential): void | Promise<void>;
  /** After every epoch (0-based), with the epoch's logs, validation included. */
  onEpochEnd?(epoch: number, logs: Logs, model: Sequential): void | Promise<void>;
  /** After the last epoch, or when stopped (not when aborted). */
  onTrainEnd?(history: History, model: Sequential): void | Promise<void>;
}

/** Options of `fit`. */
export interface FitOptions extends BatchOptions {
  /** Default 1. */
  epochs?: number;
  /** Default 32. */
  batchSize?: number;
  /** Shuffle the training samples every epoch. Default true. */
  shuffle?: boolean;
  /** Seed of the data order (the shuffle of each epoch depends only on it and the epoch). Default 0. */
  seed?: number;
  /** Hold out this fraction of the samples (the last ones, before shuffling) for validation. */
  validationSplit?: number;
  /** Validation samples. */
  validationData?: {
    /** Validation inputs. */
    x: ModelInput;
    /** Validation targets. */
    y: TargetLike;
    /** Their sequence lengths. */
    lengths?: Int32Array;
  };
  /** Called during training, in order. */
  callbacks?: Callback | Callback[];
  /** Stops training between batches; `fit` then resolves with `history.aborted` set. */
  signal?: AbortSignal;
  /** 1: a line per epoch on the console. Default 0. */
  verbose?: 0 | 1;
  /**
   * Continue a checkpointed run: the `training` of `deserializeModel(bytes)` or `loadModel(path)`.
   * Give the same data and options as the interrupted run (`epochs` is the total). A loaded model
   * comes compiled with its built-in `lrSchedule`; a schedule of your own is not stored, so
   * compile the loaded model again with it.
   */
  resume?: TrainingState;
}

/** A callback with checkpoint state (a `checkpointState` method). */
function hasState(cb: Callback): cb is Callback & { checkpointState(): CallbackState } {
  return typeof cb.checkpointState === 'function';
}

/**
 * The order `fit` calls callbacks in: as given, except that a checkpoint callback listed before
 * the last callback with checkpoint state moves right after it (keeping the order among those it
 * moves), so that a checkpoint holds what `EarlyStopping` decided at that step.
 */
function checkpointOrder(given: Callback[]): Callback[] {
  const last = given.reduce((at, cb, i) => (hasState(cb) ? i : at), -1);
  const moved = given.map((cb, i) => cb.savesCheckpoints === true && i < last);
  if (!moved.includes(true)) return given;
  const out: Callback[] = [];
  given.forEach((cb, i) => {
    if (!moved[i]) out.push(cb);
    if (i === last) out.push(...given.filter((_, j) => moved[j]));
  });
  return out;
}

/** `v` if it is a positive integer, else a RangeError naming `batchSize`. */
function checkBatchSize(op: string, v: unknown): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new RangeError(`${op}: batchSize must be a positive integer, got ${describeValue(v)}`);
  return v;
}

/** Where a run is, for bit-identical resumption. */
export interface TrainingState {
  /** Epoch to run next (0-based) and the batch to start it at. */
  epoch: number;
  /** Batch of `epoch` to run next. */
  batch: number;
  /** Optimizer steps taken. */
  step: number;
  /** Seed of the data order. */
  seed: number;
  /** The learning-rate schedule's `type` ('' for none; absent in files of older versions). */
  scheduleType?: string;
  /** Whether that schedule is one of the built-in classes (stored in files), not your own or a subclass. */
  scheduleBuiltIn?: boolean;
  /** The learning-rate schedule's state (ReduceLROnPlateau). */
  scheduleState?: Record<string, number>;
  /** The states of the callbacks that have one (`EarlyStopping`), as of the checkpoint. */
  callbacks?: CallbackState[];
  /** Sums over the finished batches of the current epoch. */
  partial?: {
    /** Σ loss · counted rows. */
    lossSum: number;
    /** Rows whose argmax was right. */
    correct: number;
    /** Rows counted. */
    counted: number;
  };
  /** The history so far. */
  history: History;
}

/** What `fit` resolves to: one entry per finished epoch. */
export interface History {
  /** The epochs (0-based) finished. */
  epochs: number[];
  /** Training loss per epoch. */
  loss: number[];
  /** Training accuracy per epoch (metric `'accuracy'`). */
  accuracy: number[];
  /** Validation loss per epoch (with validation data). */
  valLoss: number[];
  /** Validation accuracy per epoch. */
  valAccuracy: number[];
  /** Learning rate at the end of each epoch. */
  lr: number[];
  /** Stopped by `model.stopTraining = true` (early stopping). */
  stopped: boolean;
  /** Stopped by the AbortSignal. */
  aborted: boolean;
}

const CE_STATS = 3;

/**
 * Layers applied in order, every intermediate staying in wasm memory. Parameter names are
 * `<index>.<layer key>` as PyTorch's `nn.Sequential` (`0.weight_ih_l0`, `1.weight`).
 * The model owns its layers and its optimizer: `dispose()` disposes them.
 */
export class Sequential {
  /** The layers, in order (owned by the model). */
  readonly layers: readonly ChainLayer[];
  /** Set to true (by a callback) to stop `fit` after the current batch. */
  stopTraining = false;
  private readonly rt: Runtime;
  private compiled: CompileOptions | undefined;
  private stepSlab: F32Slab | undefined;
  private readonly scratch: Scratch;
  private disposedFlag = false;
  /** The state of the running (or last) `fit`, for checkpoints. */
  training: TrainingState | undefined;
  /** The running (or last) `fit`'s callbacks, in the order it calls them. */
  private fitCallbacks: Callback[] = [];

  constructor(layers: ChainLayer[], options: { runtime?: Runtime } = {}) {
    if (!Array.isArray(layers) || layers.length === 0) throw new TypeError('new Sequential: expected a non-empty array of layers');
    layers.forEach((l, i) => {
      if (!l || typeof (l as ChainLayer).forwardPtr !== 'function') throw new TypeError(`new Sequential: layers[${i}] is not a layer`);
    });
    options = checkOptions('new Sequential', options, 'runtime');
    // A layer may be shared by models (disposing one disposes it for all), but not be in one
    // model twice (its forward keeps one set of activations), nor be disposed.
    layers.forEach((l, i) => {
      const why = l.disposed ? 'is disposed' : layers.indexOf(l) !== i ? `is also layers[${layers.indexOf(l)}]` : '';
      if (why) throw new Error(`new Sequential: layers[${i}] (${l.kind}) ${why}`);
    });
    this.layers = layers.slice();
    // The layers' runtime unless one is given; all must share it (their memories are separate).
    this.rt = options.runtime ?? layers[0].runtime ?? runtime();
    layers.forEach((l, i) => {
      if (l.runtime !== undefined && l.runtime !== this.rt) {
        throw new Error(`new Sequential: layers[${i}] (${l.kind}) was created in another runtime than ${options.runtime ? 'options.runtime' : 'layers[0]'}`);
      }
    });
    this.scratch = new Scratch(this.rt);
  }

  private live(op: string): void {
    if (this.disposedFlag) throw new DisposedError(`Sequential.${op}: this model has been disposed`);
  }

  /** The compile options, once compiled. */
  get compileOptions(): Readonly<CompileOptions> | undefined {
    return this.compiled;
  }

  /** Time-major or batch-first, from the first LSTM (batch-first when there is none). */
  private get batchFirst(): boolean {
    const lstm = this.layers.find((l) => l.kind === 'LSTM');
    return lstm ? (lstm.config as { batchFirst: boolean }).batchFirst : true;
  }

  /** Axis of the samples in a tensor of rank `rank` that has a time axis when rank >= 2 (input ids) or 3. */
  private sampleAxis(rank: number, hasTime: boolean): number {
    return hasTime && !this.batchFirst ? 1 : 0;
  }

  /** Output shape for an input shape, checking every layer fits the one before it. */
  private shapes(op: string, input: readonly number[]): number[] {
    let s = input.slice();
    this.layers.forEach((l) => (s = l.outputShape(op, s)));
    return s;
  }

  private checkInput(op: string, x: ModelInput, arg?: string): number[] {
    if (this.layers[0].kind === 'Embedding') {
      checkIds(op, x, arg);
      return x.shape.slice();
    }
    return checkTensor(op, arg ?? 'x', x, x && Array.isArray(x.shape) ? x.shape.map(() => null) : [null]);
  }

  /**
   * Check a whole dataset before `fit` or `evaluate` changes anything: x (finite numbers, or ids
   * the Embedding has), the lengths, and y against the output x gives (its shape, and class ids
   * in 0..units−1 or −1, or finite numbers). Errors name the argument (`prefix` + 'x', 'y',
   * 'lengths') and the offending element's index in its `data`.
   */
  private checkDataset(op: string, x: ModelInput, y: TargetLike, lengths: Int32Array | undefined, prefix = ''): void {
    const shape = this.checkInput(op, x, prefix ? `${prefix}x` : undefined);
    const out = this.shapes(op, shape);
    const { b, t } = this.batchDims(shape);
    checkLengths(op, lengths, b, t, `${prefix}lengths`);
    const xs = x.data;
    const first = this.layers[0];
    if (first.kind === 'Embedding') {
      const v = (first.config as { numEmbeddings: number }).numEmbeddings;
      for (let i = 0; i < xs.length; i++) {
        const id = xs[i];
        if (!(Number.isInteger(id) && id >= 0 && id < v)) throw new RangeError(`${op}: ${prefix}x element ${i} is ${id}, expected a token id in 0..${v - 1}`);
      }
    } else {
      for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) throw new RangeError(`${op}: ${prefix}x element ${i} is ${xs[i]}, expected a finite number`);
    }
    const { t: targets } = this.targets(op, y, out, lengths, `${prefix}y`, true);
    if (this.compiled!.loss === 'mse') {
      for (let i = 0; i < targets.length; i++) if (!Number.isFinite(targets[i])) throw new RangeError(`${op}: ${prefix}y element ${i} is ${targets[i]}, expected a finite number`);
    }
  }

  /** Batch size and sequence length implied by an input shape (T = 1 without a time axis). */
  private batchDims(shape: readonly number[]): { b: number; t: number; hasTime: boolean } {
    const hasTime = this.layers[0].kind === 'Embedding' ? shape.length >= 2 : shape.length >= 3;
    if (!hasTime) return { b: shape[0], t: 1, hasTime };
    return this.batchFirst ? { b: shape[0], t: shape[1], hasTime } : { b: shape[1], t: shape[0], hasTime };
  }

  /** Run every layer on staged input; returns the address of the last output. */
  private forwardPtr(xPtr: number, shape: readonly number[], ctx: ForwardContext): number {
    let ptr = xPtr;
    let s: readonly number[] = shape;
    for (const l of this.layers) {
      ptr = l.forwardPtr(ptr, s, ctx);
      s = l.outputShape('Sequential', s);
    }
    return ptr;
  }

  /**
   * Forward pass in inference mode: the last layer's output, e.g. logits [B, T, units] (batch-first)
   * for per-tick heads. With `batchSize`, runs in chunks along the sample axis.
   */
  predict(x: ModelInput, options: BatchOptions & { batchSize?: number } = {}): Tensor {
    const op = 'Sequential.predict';
    options = checkOptions(op, options, 'lengths batchSize');
    this.live('predict');
    const shape = this.checkInput(op, x);
    const out = this.shapes(op, shape);
    const { b, t, hasTime } = this.batchDims(shape);
    checkLengths(op, options.lengths, b, t);
    const chunk = options.batchSize === undefined ? b : checkBatchSize(op, options.batchSize);
    if (chunk >= b) return this.predictBatch(x, shape, out, options.lengths);
    const axisIn = this.sampleAxis(shape.length, hasTime);
    const axisOut = out.length >= 3 ? this.sampleAxis(out.length, true) : 0;
    const result = new Float32Array(out.reduce((a, c) => a * c, 1));
    for (let s = 0; s < b; s += chunk) {
      const idx = Array.from({ length: Math.min(chunk, b - s) }, (_, i) => s + i);
      const xb = takeAlong(x as AnyTensor, axisIn, idx);
      const lb = options.lengths ? options.lengths.subarray(s, s + idx.length) : undefined;
      const yb = this.predictBatch(xb, xb.shape.slice(), this.shapes(op, xb.shape), lb);
      putAlong(result, out, axisOut, s, yb);
    }
    return new Tensor(result, out);
  }

  private predictBatch(x: ModelInput, shape: number[], out: number[], lengths?: Int32Array): Tensor {
    const [xPtr, lPtr] = this.rt.stage([x.data, lengths]);
    const ptr = this.forwardPtr(xPtr, shape, { training: false, lengthsPtr: lPtr, inputF32: x.data instanceof Float32Array });
    return new Tensor(this.rt.copyOut(ptr, out.reduce((a, c) => a * c, 1)), out);
  }

  /**
   * One tick of streaming inference through the whole model: `x` is [batch, features] (or [batch]
   * token ids for a model that starts with an Embedding); `state` holds one `LSTMState` per LSTM
   * layer (zeros when omitted). Returns the head's output for this tick and the new state; stepping
   * through a sequence gives what `predict` gives at every tick.
   */
  step(x: ModelInput, state?: LSTMState[]): {
    /** The last layer's output for this tick, [batch, ...]. */
    output: Tensor;
    /** One state per LSTM layer, for the next call. */
    state: LSTMState[];
  } {
    const op = 'Sequential.step';
    this.live('step');
    const shape = this.checkInput(op, x);
    const wantRank = this.layers[0].kind === 'Embedding' ? 1 : 2;
    if (shape.length !== wantRank) {
      throw new ShapeError(`${op}: x must have shape ${wantRank === 1 ? '[batch] (token ids)' : '[batch, features]'} for one tick, got ${formatShape(shape)}`, op, 'x', wantRank === 1 ? [null] : [null, null], shape);
    }
    const b = shape[0];
    const lstms = this.layers.filter((l): l is LSTM => l.kind === 'LSTM');
    const states = state ?? lstms.map((l) => l.zeroState(b));
    if (!Array.isArray(states) || states.length !== lstms.length) throw new ShapeError(`${op}: state must be an array of ${lstms.length} LSTMState (one per LSTM layer)`, op, 'state');
    states.forEach((st, i) => {
      const c = lstms[i].config;
      if (!(st instanceof LSTMState) || st.numLayers !== c.numLayers || st.batch !== b || st.hiddenSize !== c.hiddenSize) {
        const got = st instanceof LSTMState ? [st.numLayers, st.batch, st.hiddenSize] : undefined;
        throw new ShapeError(`${op}: state[${i}] must be an LSTMState of [${c.numLayers}, ${b}, ${c.hiddenSize}] (numLayers, batch, hiddenSize), got ${got ? formatShape(got) : String(st)}`, op, `state[${i}]`, [c.numLayers, b, c.hiddenSize], got);
      }
    });
    // Stage the input and every state; each LSTM updates its state in place.
    const [xPtr, ...sp] = this.rt.stage([x.data, ...states.flatMap((st) => [st.h, st.c])]);
    const ctx: ForwardContext = { training: false, lengthsPtr: 0, inputF32: x.data instanceof Float32Array };
    let ptr = xPtr;
    let s: number[] = shape;
    let k = 0;
    for (const l of this.layers) {
      if (l.kind === 'LSTM') {
        const lstm = l as LSTM;
        ptr = lstm.stepPtr(ptr, b, sp[2 * k], sp[2 * k + 1]);
        s = [b, lstm.config.hiddenSize];
        k++;
      } else {
        ptr = l.forwardPtr(ptr, s, ctx);
        s = l.outputShape(op, s);
      }
    }
    const heap = this.rt.heapF32();
    const n = s.reduce((a, v) => a * v, 1);
    // The output and every new state as views into one region of the slab (see F32Slab).
    const all = (this.stepSlab ??= new F32Slab()).view(n + states.reduce((a, st) => a + 2 * st.h.length, 0));
    const copy = (from: number, len: number, at: number): Float32Array => {
      const v = all.subarray(at, at + len);
      v.set(heap.subarray(from >> 2, (from >> 2) + len));
      return v;
    };
    const output = new Tensor(copy(ptr, n, 0), s);
    let at = n;
    const next = states.map((st, i) => {
      const len = st.h.length;
      const h = copy(sp[2 * i], len, at);
      const c = copy(sp[2 * i + 1], len, at + len);
      at += 2 * len;
      return new LSTMState(st.numLayers, b, st.hiddenSize, h, c);
    });
    return { output, state: next };
  }

  /** Choose the loss, the optimizer (bound to this model's parameters) and clipping. */
  compile(options: CompileOptions): void {
    this.live('compile');
    if (options?.loss !== 'crossEntropy' && options?.loss !== 'mse') throw new RangeError(`Sequential.compile: loss must be 'crossEntropy' or 'mse', got ${String(options?.loss)}`);
    checkOptions('Sequential.compile', options, 'loss optimizer clipGradNorm clipGradValue metrics lrSchedule');
    if (options.optimizer !== undefined && !(options.optimizer instanceof Optimizer)) throw new TypeError('Sequential.compile: optimizer must be an optimizer such as new Adam({ lr: 1e-3 })');
    for (const k of ['clipGradNorm', 'clipGradValue'] as const) {
      const v = options[k];
      if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new RangeError(`Sequential.compile: ${k} must be a positive number, got ${String(v)}`);
    }
    if (options.metrics !== undefined && !(Array.isArray(options.metrics) && options.metrics.every((m) => m === 'accuracy'))) {
      throw new RangeError(`Sequential.compile: metrics must be ['accuracy'] or [], got ${JSON.stringify(options.metrics)}`);
    }
    if (options.metrics?.includes('accuracy') && options.loss !== 'crossEntropy') throw new RangeError("Sequential.compile: metric 'accuracy' needs loss 'crossEntropy'");
    // Bind the new optimizer first: if that is refused, the model keeps its old one.
    const old = this.compiled?.optimizer;
    if (options.optimizer && old !== options.optimizer) options.optimizer.bind(this.rt, this.layers);
    if (old && old !== options.optimizer) old.dispose();
    this.compiled = { ...options };
  }

  /**
   * Targets as the core wants them, with padded ticks masked: class ids (-1 = not counted) for
   * crossEntropy; floats plus a row mask for mse.
   */
  private targets(op: string, y: TargetLike, out: number[], lengths: Int32Array | undefined, arg = 'y', checkOnly = false): { t: Int32Array | Float32Array; mask?: Int32Array } {
    const loss = this.compiled!.loss;
    const want = loss === 'crossEntropy' ? out.slice(0, -1) : out;
    if (loss === 'mse') {
      checkTensor(op, arg, y, want, 'the shape of the model output');
    } else {
      if (!y || !(y.data instanceof Int32Array || y.data instanceof Float32Array) || !Array.isArray(y.shape)) {
        throw new ShapeError(`${op}: ${arg} must be { data: Int32Array | Float32Array, shape } of class ids with shape ${formatShape(want)}`, op, arg, want);
      }
      if (y.shape.length !== want.length || y.shape.some((d, i) => d !== want[i]) || y.data.length !== want.reduce((a, b) => a * b, 1)) {
        throw new ShapeError(`${op}: ${arg} must have shape ${formatShape(want)} (class ids for every output row), got ${formatShape(y.shape)} with ${y.data.length} values`, op, arg, want, y.shape.slice());
      }
    }
    // Rows of the output (all axes but the last) that are padding.
    const rows = out.slice(0, -1).reduce((a, b) => a * b, 1);
    let padded: ((r: number) => boolean) | undefined;
    if (lengths && out.length >= 3) {
      const [d0, d1] = out;
      padded = this.batchFirst ? (r) => r % d1 >= lengths[Math.floor(r / d1)] : (r) => Math.floor(r / d1) >= lengths[r % d1];
      void d0;
    }
    if (loss === 'mse') {
      const mask = padded && !checkOnly ? Int32Array.from({ length: rows }, (_, r) => (padded!(r) ? 0 : 1)) : undefined;
      return { t: y.data as Float32Array, mask };
    }
    // Class ids of the rows that count (padded rows may hold anything, e.g. a PAD id or -100),
    // checked here, before the forward (which would draw dropout masks), not by the loss after it.
    const units = out[out.length - 1];
    const d = y.data;
    for (let i = 0; i < d.length; i++) {
      if (padded?.(i)) continue;
      if (!Number.isInteger(d[i])) throw new RangeError(`${op}: ${arg} element ${i} is ${d[i]}, expected an integer class id`);
      if (d[i] < -1 || d[i] >= units) throw new RangeError(`${op}: ${arg} element ${i} is ${d[i]}, expected a class id in 0..${units - 1} (or -1, not counted)`);
    }
    if (checkOnly) return { t: d };
    const ids = d instanceof Int32Array ? (padded ? d.slice() : d) : Int32Array.from(d);
    if (padded) for (let r = 0; r < rows; r++) if (padded(r)) ids[r] = -1;
    return { t: ids };
  }

  /**
   * Forward, loss and (when training) backward + one optimizer step on a batch.
   * Returns the loss and, for crossEntropy, the correct and counted rows.
   */
  private runBatch(op: string, x: ModelInput, y: TargetLike, lengths: Int32Array | undefined, train: boolean): { loss: number; correct: number; counted: number; gradNorm?: number } {
    const c = this.compiled;
    if (!c) throw new Error(`${op}: call compile({ loss, optimizer }) first`);
    const shape = this.checkInput(op, x);
    const out = this.shapes(op, shape);
    const { b, t } = this.batchDims(shape);
    checkLengths(op, lengths, b, t);
    const { t: targets, mask } = this.targets(op, y, out, lengths);
    const units = out[out.length - 1];
    const rows = out.slice(0, -1).reduce((a, v) => a * v, 1);
    const n = rows * units;
    const [xPtr, lPtr, tPtr, mPtr] = this.rt.stage([x.data, lengths, targets, mask]);
    if (c.loss === 'mse') {
      // Before the forward, which would draw dropout masks for a batch that is then refused.
      const bad = this.rt.core.lstmw_first_nonfinite(tPtr, n);
      if (bad >= 0) throw new RangeError(`${op}: y element ${bad} is ${targets[bad]}, expected a finite number`);
    }
    const ctx: ForwardContext = { training: train, lengthsPtr: lPtr, inputF32: x.data instanceof Float32Array };
    const outPtr = this.forwardPtr(xPtr, shape, ctx);
    const dPtr = this.scratch.reserve(n * 4 + 16);
    const statsPtr = dPtr + n * 4;
    let loss: number, correct = 0, counted: number;
    if (c.loss === 'crossEntropy') {
      this.rt.check(this.rt.core.lstmw_softmax_cross_entropy(outPtr, rows, units, tPtr, dPtr, statsPtr));
      [loss, correct, counted] = this.rt.f32(statsPtr, CE_STATS);
    } else {
      this.rt.check(this.rt.core.lstmw_mse(outPtr, tPtr, n, units, mPtr, dPtr, statsPtr));
      loss = this.rt.f32(statsPtr, 1)[0];
      counted = mask ? mask.reduce((a, v) => a + v, 0) * units : n;
    }
    if (!train) return { loss, correct, counted };
    if (!c.optimizer) throw new Error(`${op}: compile with an optimizer to train`);
    let d = dPtr;
    // The first layer's input gradient would be thrown away: it is not computed.
    for (let i = this.layers.length - 1; i >= 0 && d !== 0; i--) d = this.layers[i].backwardPtr(d, ctx, i > 0);
    const gradNorm = c.optimizer!.step({ clipGradNorm: c.clipGradNorm, clipGradValue: c.clipGradValue });
    return { loss, correct, counted, gradNorm };
  }

  /** Loss, accuracy (crossEntropy) and gradient norm of the latest `trainOnBatch` or fit batch. */
  lastBatchLogs: Logs | undefined;

  /** One training step on a batch. Resolves to the loss before the update (details in `lastBatchLogs`). */
  async trainOnBatch(x: ModelInput, y: TargetLike, options: BatchOptions = {}): Promise<number> {
    const op = 'Sequential.trainOnBatch';
    options = checkOptions(op, options, 'lengths');
    this.live('trainOnBatch');
    if (!this.compiled?.optimizer) throw new Error(`${op}: call compile({ loss, optimizer }) first`);
    const r = this.runBatch(op, x, y, options.lengths, true);
    this.lastBatchLogs = { loss: r.loss, gradNorm: r.gradNorm, lr: this.compiled.optimizer.lr };
    if (this.compiled.loss === 'crossEntropy') this.lastBatchLogs.accuracy = r.counted ? r.correct / r.counted : 0;
    return r.loss;
  }

  /** Loss (and accuracy for crossEntropy) over a dataset, in inference mode, batch by batch. */
  evaluate(x: ModelInput, y: TargetLike, options: BatchOptions & { batchSize?: number } = {}): Logs {
    const op = 'Sequential.evaluate';
    options = checkOptions(op, options, 'lengths batchSize');
    this.live('evaluate');
    if (!this.compiled) throw new Error(`${op}: call compile({ loss }) first`);
    const bs = checkBatchSize(op, options.batchSize ?? 256);
    this.checkDataset(op, x, y, options.lengths);
    return this.evaluateChecked(op, x, y, options.lengths, bs);
  }

  /** `evaluate` on data already checked (fit's validation data, every epoch). */
  private evaluateChecked(op: string, x: ModelInput, y: TargetLike, lengths: Int32Array | undefined, bs: number): Logs {
    const shape = x.shape;
    const { b, hasTime } = this.batchDims(shape);
    let lossSum = 0, correct = 0, counted = 0;
    const axisX = this.sampleAxis(shape.length, hasTime);
    const axisY = this.targetAxis(shape);
    for (let s = 0; s < b; s += bs) {
      const idx = Array.from({ length: Math.min(bs, b - s) }, (_, i) => s + i);
      const whole = idx.length === b;
      const xb = whole ? x : takeAlong(x as AnyTensor, axisX, idx);
      const yb = whole ? y : takeAlong(y as AnyTensor, axisY, idx);
      const lb = lengths ? lengths.subarray(s, s + idx.length) : undefined;
      const r = this.runBatch(op, xb, yb, lb, false);
      lossSum += r.loss * r.counted;
      correct += r.correct;
      counted += r.counted;
    }
    const logs: Logs = { loss: counted ? lossSum / counted : 0 };
    if (this.compiled!.loss === 'crossEntropy') logs.accuracy = counted ? correct / counted : 0;
    return logs;
  }

  /** Sample axis of the targets: the output's sample axis. */
  private targetAxis(inputShape: readonly number[]): number {
    const out = this.shapes('Sequential', inputShape);
    return out.length >= 3 ? this.sampleAxis(out.length, true) : 0;
  }

  /**
   * Train for `epochs`, yielding to the event loop between batches. Resolves to the history of
   * losses and metrics. A `seed` fixes the data order; with seeded layers the run is bit-identical.
   */
  async fit(x: ModelInput, y: TargetLike, options: FitOptions = {}): Promise<History> {
    const op = 'Sequential.fit';
    options = checkOptions(op, options, 'epochs batchSize shuffle seed validationSplit validationData lengths callbacks signal verbose resume');
    this.live('fit');
    const c = this.compiled;
    if (!c?.optimizer) throw new Error(`${op}: call compile({ loss, optimizer }) first`);
    const optimizer = c.optimizer;
    // Everything is checked before the first batch: a refused fit changes nothing.
    const epochs = options.epochs ?? 1;
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`${op}: epochs must be a non-negative integer, got ${epochs}`);
    checkBatchSize(op, batchSize);
    if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw new RangeError(`${op}: seed must be an integer, got ${describeValue(options.seed)}`);
    if (options.shuffle !== undefined && typeof options.shuffle !== 'boolean') throw new TypeError(`${op}: shuffle must be a boolean, got ${describeValue(options.shuffle)}`);
    this.checkDataset(op, x, y, options.lengths);
    const shape = x.shape;
    const { b: n, hasTime } = this.batchDims(shape);
    const axisX = this.sampleAxis(shape.length, hasTime);
    const axisY = this.targetAxis(shape);
    // Targets have a time axis when the output has one (not after an LSTM with returnSequences: false).
    const yHasTime = this.shapes(op, shape).length >= 3;
    // Validation data: explicit, or the last fraction of the samples.
    let nTrain = n;
    let val = options.validationData;
    if (options.validationSplit !== undefined) {
      if (val !== undefined) throw new RangeError(`${op}: give validationSplit or validationData, not both`);
      const f = options.validationSplit;
      if (!(f > 0 && f < 1)) throw new RangeError(`${op}: validationSplit must be in (0, 1), got ${f}`);
      const held = Math.floor(n * f);
      if (held < 1) throw new RangeError(`${op}: validationSplit ${f} of ${n} samples holds out none`);
      nTrain = n - held;
      const vIdx = Array.from({ length: held }, (_, i) => nTrain + i);
      val = { x: takeAlong(x as AnyTensor, axisX, vIdx), y: takeAlong(y as AnyTensor, axisY, vIdx), lengths: options.lengths?.slice(nTrain) };
    } else if (val !== undefined) {
      if (!val || typeof val !== 'object') throw new TypeError(`${op}: validationData must be { x, y, lengths? }`);
      this.checkDataset(op, val.x, val.y, val.lengths, 'validationData.');
    }
    const given = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? options.callbacks : [options.callbacks];
    const callbacks = checkpointOrder(given);
    const seed = options.resume?.seed ?? options.seed ?? 0;
    const baseLr = optimizer.lr;
    const r = options.resume;
    const history: History = r ? structuredClone(r.history) : { epochs: [], loss: [], accuracy: [], valLoss: [], valAccuracy: [], lr: [], stopped: false, aborted: false };
    history.stopped = false;
    history.aborted = false;
    // Resuming continues the same run: the same schedule (class included), or none.
    const now = c.lrSchedule;
    const nowBuiltIn = now !== undefined && scheduleConfig(now) !== undefined;
    const was = r?.scheduleType ?? (r?.scheduleState ? 'a stateful' : undefined); // older files: no type
    if (r && was !== undefined) {
      const wasName = was === '' ? 'no' : `a ${was}${r.scheduleBuiltIn === false ? ' (your own)' : ''}`;
      const nowName = now ? `${now.type}${nowBuiltIn ? '' : ' (your own)'}` : 'none';
      const same = was === '' ? !now : was === 'a stateful' ? now !== undefined : now?.type === was && (r.scheduleBuiltIn === undefined || r.scheduleBuiltIn === nowBuiltIn);
      if (!same) {
        const hint = was === '' || now ? 'resume with the same schedule' : r.scheduleBuiltIn ? 'a loaded checkpoint comes compiled with it: compile({ ...model.compileOptions, ... }) keeps it' : 'files store only the built-in schedules: compile the loaded model with yours';
        throw new Error(`${op}: the checkpoint was trained with ${wasName} schedule, the model has ${nowName}; ${hint}`);
      }
    }
    if (r?.scheduleState && c.lrSchedule?.setState) c.lrSchedule.setState(r.scheduleState);
    this.training = { epoch: r?.epoch ?? 0, batch: r?.batch ?? 0, step: r?.step ?? 0, seed, history, scheduleType: now?.type ?? '', scheduleBuiltIn: now ? nowBuiltIn : undefined, scheduleState: now?.state?.(), partial: r?.partial };
    this.stopTraining = false;
    this.fitCallbacks = callbacks;
    for (const cb of callbacks) await cb.onTrainBegin?.(this);
    if (r?.callbacks) this.restoreCallbackStates(callbacks, r.callbacks);
    const batches = Math.ceil(nTrain / batchSize);
    const st = this.training;
    try {
      // Resumed from a checkpoint taken after an epoch's last batch but before its end: the
      // epoch-end logs show the rate of that batch, as they did in the run that wrote it.
      if (r && c.lrSchedule && r.batch > 0 && r.step > 0) optimizer.lr = c.lrSchedule.lrAt(baseLr, r.epoch, r.step - 1);
      // A restored callback can say the run had already stopped (EarlyStopping at its stop epoch).
      if (this.stopTraining) history.stopped = true;
      for (; st.epoch < epochs && !this.stopTraining; st.epoch++, st.batch = 0) {
        const order = epochOrder(nTrain, seed, st.epoch, options.shuffle ?? true);
        // Sums over the epoch's batches, weighted by counted rows (the resumed part of an epoch included).
        let lossSum = 0, correct = 0, counted = 0;
        if (st.batch > 0 && st.partial) ({ lossSum, correct, counted } = st.partial);
        for (; st.batch < batches; st.batch++) {
          if (options.signal?.aborted) {
            history.aborted = true;
            return history;
          }
          const idx = order.subarray(st.batch * batchSize, Math.min(nTrain, (st.batch + 1) * batchSize));
          let xb = takeAlong(x as AnyTensor, axisX, idx);
          let yb = takeAlong(y as AnyTensor, axisY, idx);
          const lb = options.lengths ? takeAlong({ data: options.lengths, shape: [n] }, 0, idx).data as Int32Array : undefined;
          if (lb && hasTime) {
            // Pad only to this batch's longest sequence, not the dataset's.
            const tMax = lb.reduce((a, v) => Math.max(a, v), 1);
            xb = cropTime(xb, this.batchFirst ? 1 : 0, tMax);
            if (yHasTime) yb = cropTime(yb, this.batchFirst ? 1 : 0, tMax);
          }
          if (c.lrSchedule) optimizer.lr = c.lrSchedule.lrAt(baseLr, st.epoch, st.step);
          const res = this.runBatch(op, xb, yb, lb, true);
          st.step++;
          lossSum += res.loss * res.counted;
          correct += res.correct;
          counted += res.counted;
          st.partial = { lossSum, correct, counted };
          const logs: Logs = { loss: res.loss, lr: optimizer.lr, gradNorm: res.gradNorm };
          if (c.metrics?.includes('accuracy')) logs.accuracy = res.counted ? res.correct / res.counted : 0;
          st.batch++; // a checkpoint taken in the callback resumes after this batch
          for (const cb of callbacks) await cb.onBatchEnd?.(st.batch - 1, logs, this);
          st.batch--;
          if (this.stopTraining) {
            st.batch++;
            break;
          }
          await yieldToEventLoop();
        }
        if (this.stopTraining && st.batch < batches) {
          // Stopped inside the epoch: no epoch-end work; the state resumes at the next batch.
          history.stopped = true;
          break;
        }
        const logs: Logs = { loss: counted ? lossSum / counted : 0, lr: optimizer.lr };
        if (c.metrics?.includes('accuracy')) logs.accuracy = counted ? correct / counted : 0;
        if (val) {
          const v = this.evaluateChecked('Sequential.evaluate', val.x, val.y, val.lengths, 256);
          logs.valLoss = v.loss;
          if (v.accuracy !== undefined) logs.valAccuracy = v.accuracy;
        }
        c.lrSchedule?.onEpochEnd?.(logs.valLoss ?? logs.loss);
        st.scheduleState = c.lrSchedule?.state?.();
        history.epochs.push(st.epoch);
        history.loss.push(logs.loss);
        history.lr.push(logs.lr!);
        if (logs.accuracy !== undefined) history.accuracy.push(logs.accuracy);
        if (logs.valLoss !== undefined) history.valLoss.push(logs.valLoss);
        if (logs.valAccuracy !== undefined) history.valAccuracy.push(logs.valAccuracy);
        st.partial = undefined;
        if (options.verbose) {
          const parts = Object.entries(logs).filter(([k]) => k !== 'gradNorm').map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`);
          console.log(`epoch ${st.epoch + 1}/${epochs}  ${parts.join('  ')}`);
        }
        // The epoch is complete: a checkpoint taken now resumes at the next one.
        st.epoch++;
        st.batch = 0;
        for (const cb of callbacks) await cb.onEpochEnd?.(st.epoch - 1, logs, this);
        st.epoch--;
        if (this.stopTraining) {
          history.stopped = true;
          st.epoch++;
          break;
        }
      }
    } finally {
      optimizer.lr = baseLr;
    }
    for (const cb of callbacks) await cb.onTrainEnd?.(history, this);
    return history;
  }

  /**
   * Hand stored callback states back: the k-th stored state of a type goes to the k-th callback of
   * that type (a callback that has no stored state keeps its fresh one; a state nobody takes is dropped).
   */
  private restoreCallbackStates(callbacks: Callback[], stored: CallbackState[]): void {
    const taken = new Map<string, number>();
    for (const cb of callbacks) {
      if (!hasState(cb) || typeof cb.restoreCheckpointState !== 'function') continue;
      const type = cb.checkpointState().type;
      const k = taken.get(type) ?? 0;
      taken.set(type, k + 1);
      const s = stored.filter((x) => x.type === type)[k];
      if (s) cb.restoreCheckpointState(s, this);
    }
  }

  /** The states of the running (or last) `fit`'s callbacks that have one, for a checkpoint. @internal */
  callbackStates(): CallbackState[] {
    return this.fitCallbacks.filter(hasState).map((cb, i) => {
      const s = cb.checkpointState();
      const ok = s && typeof s.type === 'string' && s.values && typeof s.values === 'object' && Object.values(s.values).every((v) => typeof v === 'number') && (s.weights === undefined || s.weights instanceof Float32Array);
      if (!ok) throw new TypeError(`checkpoint: callback ${i} with state: checkpointState() must return { type: string, values: { [name]: number }, weights?: Float32Array }`);
      return s;
    });
  }

  /** The model as a version-1 model file (see io.ts); with `optimizer`/`training`, a checkpoint. */
  toBytes(options: SerializeOptions = {}): Uint8Array {
    this.live('toBytes');
    return serializeModel(this, options);
  }

  /** Every layer's parameters as `<index>.<name>`. */
  stateDict(): Record<string, Tensor> {
    this.live('stateDict');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.stateDict())) out[`${i}.${k}`] = v;
    });
    return out;
  }

  /** Gradients of the latest training step, keyed like `stateDict()`. */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.gradients())) out[`${i}.${k}`] = v;
    });
    return out;
  }

  /** Load `<index>.<name>` keys; every layer's part is validated before any is written. */
  loadStateDict(dict: StateDict): void {
    const op = 'Sequential.loadStateDict';
    this.live('loadStateDict');
    if (dict === null || typeof dict !== 'object') throw new TypeError(`${op}: expected an object of tensors`);
    const parts: StateDict[] = this.layers.map(() => ({}));
    for (const [k, v] of Object.entries(dict)) {
      const m = /^(\d+)\.(.+)$/.exec(k);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= this.layers.length) throw new ShapeError(`${op}: unknown key "${k}" (keys are <layer index>.<name>, ${this.layers.length} layers)`, op, k);
      parts[i][m[2]] = v;
    }
    const before = this.layers.map((l) => l.stateDict());
    let i = 0;
    try {
      for (; i < this.layers.length; i++) this.layers[i].loadStateDict(parts[i]);
    } catch (e) {
      for (let j = 0; j < i; j++) this.layers[j].loadStateDict(before[j]);
      if (e instanceof Error) e.message = e.message.replace(/"([^"]+)"/, `"${i}.$1"`);
      throw e;
    }
  }

  /** Dispose every layer, the optimizer and the model's scratch memory. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.scratch.free();
    this.compiled?.optimizer?.dispose();
    for (const l of this.layers) l.dispose();
  }

  /** `dispose()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
