import { ShapeError, formatShape, checkOptions } from './errors.js';
import { ChainLayer, ForwardContext, ParamLayer, ParamSpec, bool, layoutParams, positiveInt, seedWords } from './layer.js';
import { Runtime, Scratch, runtime } from './runtime.js';
import { F32Slab } from './slab.js';
import { LSTMState } from './state.js';
import { Tensor, TensorLike, checkTensor } from './tensor.js';

/** Options of `new LSTM(...)`, named as PyTorch's `nn.LSTM` (camelCase). */
export interface LSTMOptions {
  /** Features per tick of the input (I). Required. */
  inputSize: number;
  /** Units of the hidden and cell state (H). Required. */
  hiddenSize: number;
  /** Stacked layers (L). Default 1. */
  numLayers?: number;
  /** Run a second, reverse-time LSTM per layer and concatenate (D = 2). Default false. */
  bidirectional?: boolean;
  /** Inputs and outputs are [B, T, F] instead of [T, B, F]. Default false. */
  batchFirst?: boolean;
  /**
   * Inside a `Sequential`: pass on the output at every tick (default true), or only the final h of
   * the top layer's directions, [B, D·H] (each sequence's last real tick when lengths are given),
   * for a head that reads the whole sequence once.
   */
  returnSequences?: boolean;
  /** Seed of the initial weights (uniform in ±1/√H, as PyTorch). Default: random. */
  seed?: number;
  /** Runtime to allocate in. Default: the one `ready()` made. */
  runtime?: Runtime;
}

/** The resolved configuration of an LSTM. */
export interface LSTMConfig {
  /** Features per tick of the input (I). */
  inputSize: number;
  /** Units of the hidden and cell state (H). */
  hiddenSize: number;
  /** Stacked layers (L). */
  numLayers: number;
  /** Two directions per layer (D = 2). */
  bidirectional: boolean;
  /** Inputs and outputs are [B, T, F] instead of [T, B, F]. */
  batchFirst: boolean;
  /** Inside a `Sequential`: the output at every tick (true) or only the final h, [B, D·H]. */
  returnSequences: boolean;
}

export interface LSTMForwardOptions {
  /** Initial hidden state [L·D, B, H]. Default zeros. */
  h0?: TensorLike;
  /** Initial cell state [L·D, B, H]. Default zeros. */
  c0?: TensorLike;
  /**
   * Real length of each of the B sequences (1..T), padding at the end. Padded ticks leave the
   * state unchanged and output zeros; a reverse direction starts at each sequence's last real tick.
   */
  lengths?: Int32Array;
  /**
   * Keep the activations `backward` needs (default `true`). With `false` the forward runs for
   * inference: the same output bit for bit, without the T·B·6H floats per layer-direction of
   * caches (gates, c_t, tanh c_t) or the backward buffers (about 5.6× less wasm memory for 2
   * layers of 256 units, and about 1 % faster). `backward` refuses until the next forward with
   * `grad: true`. `Sequential.predict` and `evaluate` always run this way.
   */
  grad?: boolean;
}

export interface LSTMForwardResult {
  /** Top layer's h at every tick: [T, B, D·H] ([B, T, D·H] with batchFirst). */
  output: Tensor;
  /** Final hidden state of every layer-direction: [L·D, B, H]. */
  hN: Tensor;
  /** Final cell state: [L·D, B, H]. */
  cN: Tensor;
}

export interface LSTMBackwardOptions {
  /** dL/d output, shaped like `output`. Required. */
  dOutput: TensorLike;
  /** dL/d hN [L·D, B, H]. Default zeros. */
  dHN?: TensorLike;
  /** dL/d cN [L·D, B, H]. Default zeros. */
  dCN?: TensorLike;
}

export interface LSTMBackwardResult {
  /** dL/d input, shaped like the input. */
  dInput: Tensor;
  /** dL/d h0 [L·D, B, H]. */
  dH0: Tensor;
  /** dL/d c0 [L·D, B, H]. */
  dC0: Tensor;
  /** dL/d every parameter, keyed like `stateDict()`. */
  grads: Record<string, Tensor>;
}

const BUF = { output: 0, hN: 1, cN: 2, dInput: 3, dH0: 4, dC0: 5, last: 6 } as const;
// lstmw_lstm_forward flags.
const FWD_BATCH_FIRST = 1;
const FWD_INFERENCE = 2;
const RESET_GRADS = 1;
const D_LAST = 2;
const NO_INPUT_GRAD = 4;

/**
 * A stacked, optionally bidirectional LSTM, numerically PyTorch's `nn.LSTM`: gates i, f, g, o;
 * c = f⊙c + i⊙g; h = o⊙tanh(c). Parameters use PyTorch's names and layouts (`weight_ih_l0`,
 * `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `_reverse` for the reverse direction).
 *
 * Holds wasm memory: call `dispose()` when done.
 */
export class LSTM extends ParamLayer implements ChainLayer {
  readonly config: Readonly<LSTMConfig>;
  /** Name, shape and position of every parameter, in `stateDict()` order. */
  readonly params: readonly ParamSpec[];
  /** Total number of parameters. */
  readonly paramCount: number;
  readonly kind = 'LSTM';
  /** [T, B] of the latest forward (time-major order), for backward's shape checks. */
  private last: { t: number; b: number } | undefined;
  /** Wasm memory for streaming input and state: [x | h | c]. */
  private stepIO: Scratch | undefined;
  private stepSlab: F32Slab | undefined;
  /** The new h and c in wasm memory (a view kept while the scratch and the memory stay put). */
  private stepOut: Float32Array | undefined;

  constructor(options: LSTMOptions) {
    const op = 'new LSTM';
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected an options object { inputSize, hiddenSize, ... }`);
    checkOptions(op, options, 'inputSize hiddenSize numLayers bidirectional batchFirst returnSequences seed runtime');
    const cfg: LSTMConfig = {
      inputSize: positiveInt(op, 'inputSize', options.inputSize),
      hiddenSize: positiveInt(op, 'hiddenSize', options.hiddenSize),
      numLayers: positiveInt(op, 'numLayers', options.numLayers ?? 1),
      bidirectional: bool(op, 'bidirectional', options.bidirectional, false),
      batchFirst: bool(op, 'batchFirst', options.batchFirst, false),
      returnSequences: bool(op, 'returnSequences', options.returnSequences, true),
    };
    const rt = options.runtime ?? runtime();
    const [lo, hi] = seedWords(options.seed, op);
    super(rt, rt.core.lstmw_lstm_new(cfg.inputSize, cfg.hiddenSize, cfg.numLayers, cfg.bidirectional ? 1 : 0, lo, hi));
    this.config = Object.freeze(cfg);
    const { specs, total } = layoutParams(lstmParamShapes(cfg));
    this.params = specs;
    this.paramCount = total;
    const coreCount = rt.core.lstmw_lstm_param_count(this.handle);
    if (coreCount !== total) throw new Error(`LSTM: core holds ${coreCount} parameters, facade expects ${total} (mismatched builds?)`);
  }

  private get dirs(): number {
    return this.config.bidirectional ? 2 : 1;
  }

  /** Shape of h0, c0, hN, cN for batch B: `[L·D, B, H]`. */
  private stateShape(b: number): number[] {
    return [this.config.numLayers * this.dirs, b, this.config.hiddenSize];
  }

  /**
   * Run the whole sequence. `x` is [T, B, inputSize] (or [B, T, inputSize] with batchFirst).
   * Returns copies of the output and the final states; keeps what backward needs unless
   * `options.grad` is `false`.
   */
  forward(x: TensorLike, options: LSTMForwardOptions = {}): LSTMForwardResult {
    const op = 'LSTM.forward';
    const h = this.live('forward');
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object { h0?, c0?, lengths?, grad? }, got ${String(options)}`);
    checkOptions(op, options, 'h0 c0 lengths grad');
    if (options.grad !== undefined && typeof options.grad !== 'boolean') throw new TypeError(`${op}: options.grad must be a boolean, got ${typeof options.grad}`);
    const { batchFirst, inputSize } = this.config;
    const shape = checkTensor(op, 'x', x, [null, null, inputSize], batchFirst ? '[B, T, inputSize], batchFirst' : '[T, B, inputSize], time-major');
    const [t, b] = batchFirst ? [shape[1], shape[0]] : [shape[0], shape[1]];
    const st = this.stateShape(b);
    if (options.h0 !== undefined) checkTensor(op, 'h0', options.h0, st, '[numLayers·directions, B, hiddenSize]');
    if (options.c0 !== undefined) checkTensor(op, 'c0', options.c0, st, '[numLayers·directions, B, hiddenSize]');
    checkLengths(op, options.lengths, b, t);
    const [xp, h0p, c0p, lp] = this.rt.stage([x.data, options.h0?.data, options.c0?.data, options.lengths]);
    this.run(h, xp, t, b, h0p, c0p, lp, options.grad === false);
    const outShape = batchFirst ? [b, t, this.dirs * this.config.hiddenSize] : [t, b, this.dirs * this.config.hiddenSize];
    return {
      output: this.result('output', outShape),
      hN: this.result('hN', st),
      cN: this.result('cN', st),
    };
  }

  /**
   * Backpropagate through time for the most recent `forward`. Returns dInput, dH0, dC0 and the
   * gradient of every parameter for this call alone (gradients are reset first).
   */
  backward(options: LSTMBackwardOptions): LSTMBackwardResult {
    const op = 'LSTM.backward';
    const h = this.live('backward');
    if (!this.last) throw new Error(`${op}: call forward first (backward needs the activations it keeps)`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected { dOutput, dHN?, dCN? }`);
    checkOptions(op, options, 'dOutput dHN dCN');
    const { t, b } = this.last;
    const { batchFirst, hiddenSize, inputSize } = this.config;
    const dh = this.dirs * hiddenSize;
    checkTensor(op, 'dOutput', options.dOutput, batchFirst ? [b, t, dh] : [t, b, dh], 'the shape of forward\'s output');
    const st = this.stateShape(b);
    if (options.dHN !== undefined) checkTensor(op, 'dHN', options.dHN, st, 'the shape of hN');
    if (options.dCN !== undefined) checkTensor(op, 'dCN', options.dCN, st, 'the shape of cN');
    const [dyp, dhp, dcp] = this.rt.stage([options.dOutput.data, options.dHN?.data, options.dCN?.data]);
    this.rt.check(this.rt.core.lstmw_lstm_backward(h, dyp, dhp, dcp, RESET_GRADS));
    return {
      dInput: this.result('dInput', batchFirst ? [b, t, inputSize] : [t, b, inputSize]),
      dH0: this.result('dH0', st),
      dC0: this.result('dC0', st),
      grads: this.gradients(),
    };
  }

  /**
   * One tick of streaming inference for a unidirectional LSTM: `x` is [batch, inputSize]; `state`
   * (zeros when omitted) is the result of the previous step. Returns the top layer's output
   * [batch, hiddenSize] and the new state; the given state is not modified. Stepping through a
   * sequence gives exactly (bit for bit) what `forward` gives over it.
   */
  step(x: TensorLike, state?: LSTMState): {
    /** The top layer's h for this tick, [batch, hiddenSize]. */
    output: Tensor;
    /** The state after this tick, for the next call. */
    state: LSTMState;
  } {
    const op = 'LSTM.step';
    const h = this.live('step');
    const { inputSize, hiddenSize, numLayers } = this.config;
    if (this.config.bidirectional) throw new Error(`${op}: a bidirectional LSTM cannot stream (its reverse direction needs the whole sequence); use forward`);
    const b = streamBatch(op, x, inputSize);
    if (state !== undefined && (!(state instanceof LSTMState) || state.numLayers !== numLayers || state.batch !== b || state.hiddenSize !== hiddenSize)) {
      const got = state instanceof LSTMState ? `[${state.numLayers}, ${state.batch}, ${state.hiddenSize}]` : String(state);
      throw new ShapeError(`${op}: state must be an LSTMState of [${numLayers}, ${b}, ${hiddenSize}] (numLayers, batch, hiddenSize), got ${got}`, op, 'state', [numLayers, b, hiddenSize], state instanceof LSTMState ? [state.numLayers, state.batch, state.hiddenSize] : undefined);
    }
    const n = numLayers * b * hiddenSize;
    const xs = b * inputSize;
    const bh = b * hiddenSize;
    this.stepIO ??= new Scratch(this.rt);
    const base = this.stepIO.reserve((xs + 2 * n) * 4);
    const hp = base + xs * 4;
    const cp = hp + n * 4;
    let heap = this.rt.heapF32();
    heap.set(x.data, base >> 2);
    if (state) {
      heap.set(state.h, hp >> 2);
      heap.set(state.c, cp >> 2);
    } else {
      heap.fill(0, hp >> 2, (cp >> 2) + n);
    }
    const status = this.rt.core.lstmw_lstm_step(h, base, b, hp, cp);
    if (status !== 0) this.rt.check(status);
    heap = this.rt.heapF32();
    // [output | h | c] in one region of the slab; the output is the top layer's new h.
    const slab = (this.stepSlab ??= new F32Slab());
    const at = slab.take(bh + 2 * n);
    const all = slab.chunk;
    if (this.stepOut?.buffer !== heap.buffer || this.stepOut.byteOffset !== hp || this.stepOut.length !== 2 * n) {
      this.stepOut = heap.subarray(hp >> 2, (hp >> 2) + 2 * n);
    }
    all.set(this.stepOut, at + bh);
    all.copyWithin(at, at + n, at + n + bh);
    return {
      output: new Tensor(all.subarray(at, at + bh), [b, hiddenSize]),
      state: new LSTMState(numLayers, b, hiddenSize, all.subarray(at + bh, at + bh + n), all.subarray(at + bh + n, at + bh + 2 * n)),
    };
  }

  /** Streaming tick inside wasm memory (Sequential): x at `xPtr` (b×I), state updated in place. @internal */
  stepPtr(xPtr: number, b: number, hPtr: number, cPtr: number): number {
    const h = this.live('step');
    if (this.config.bidirectional) throw new Error('LSTM.step: a bidirectional LSTM cannot stream (its reverse direction needs the whole sequence); use forward');
    this.rt.check(this.rt.core.lstmw_lstm_step(h, xPtr, b, hPtr, cPtr));
    return this.rt.core.lstmw_lstm_step_output(h);
  }

  /**
   * Bytes of wasm memory this layer holds: parameters, gradients, and the activations and scratch
   * of the largest forward so far (they are kept for reuse until `dispose()`).
   */
  get memoryBytes(): number {
    return this.rt.core.lstmw_lstm_bytes(this.live('memoryBytes'));
  }

  /** Zero state for streaming `batch` sequences. */
  zeroState(batch = 1): LSTMState {
    this.live('zeroState');
    return LSTMState.zeros(this.config.numLayers, batch, this.config.hiddenSize);
  }

  override dispose(): void {
    this.stepIO?.free();
    this.stepIO = undefined;
    this.stepOut = undefined;
    super.dispose();
  }

  private run(h: number, xp: number, t: number, b: number, h0p: number, c0p: number, lengthsPtr: number, inference: boolean): void {
    // A refused call leaves the previous forward usable (the core checks before it overwrites).
    const flags = (this.config.batchFirst ? FWD_BATCH_FIRST : 0) | (inference ? FWD_INFERENCE : 0);
    this.rt.check(this.rt.core.lstmw_lstm_forward(h, xp, t, b, flags, h0p, c0p, lengthsPtr));
    this.last = { t, b };
  }

  private result(which: keyof typeof BUF, shape: number[]): Tensor {
    const n = shape.reduce((a, c) => a * c, 1);
    return new Tensor(this.rt.copyOut(this.rt.core.lstmw_lstm_buffer(this.handle, BUF[which]), n), shape);
  }

  // ----- ChainLayer (used by Sequential; inputs and outputs stay in wasm memory) -----

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  outputShape(op: string, s: readonly number[]): number[] {
    if (s.length !== 3 || s[2] !== this.config.inputSize) {
      const want = [null, null, this.config.inputSize];
      throw new ShapeError(`${op}: LSTM input must have shape ${formatShape(want)} (${this.config.batchFirst ? '[B, T, inputSize]' : '[T, B, inputSize]'}), got ${formatShape(s)}`, op, 'x', want, s.slice());
    }
    const dh = this.dirs * this.config.hiddenSize;
    if (!this.config.returnSequences) return [this.config.batchFirst ? s[0] : s[1], dh];
    return [s[0], s[1], dh];
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  forwardPtr(xPtr: number, s: readonly number[], ctx: ForwardContext): number {
    const h = this.live('forward');
    const [t, b] = this.config.batchFirst ? [s[1], s[0]] : [s[0], s[1]];
    this.run(h, xPtr, t, b, 0, 0, ctx.lengthsPtr, !ctx.training);
    return this.rt.core.lstmw_lstm_buffer(h, this.config.returnSequences ? BUF.output : BUF.last);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  backwardPtr(dyPtr: number, _ctx: unknown, needInputGrad: boolean): number {
    const h = this.live('backward');
    const flags = RESET_GRADS | (this.config.returnSequences ? 0 : D_LAST) | (needInputGrad ? 0 : NO_INPUT_GRAD);
    this.rt.check(this.rt.core.lstmw_lstm_backward(h, dyPtr, 0, 0, flags));
    return needInputGrad ? this.rt.core.lstmw_lstm_buffer(h, BUF.dInput) : 0;
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  paramsPtr(): number {
    return this.rt.core.lstmw_lstm_params(this.live('parameters'));
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  gradsPtr(): number {
    return this.rt.core.lstmw_lstm_grads(this.live('gradients'));
  }

  protected freeHandle(h: number): void {
    this.rt.core.lstmw_lstm_free(h);
  }
}

/** Check optional sequence lengths: an Int32Array of B values in 1..T. */
export function checkLengths(op: string, lengths: unknown, b: number, t: number, arg = 'lengths'): void {
  if (lengths === undefined) return;
  if (!(lengths instanceof Int32Array)) throw new ShapeError(`${op}: ${arg} must be an Int32Array of ${b} sequence lengths, got ${lengths === null ? 'null' : (lengths as object).constructor?.name ?? typeof lengths}`, op, arg, [b]);
  if (lengths.length !== b) throw new ShapeError(`${op}: ${arg} must have shape [${b}] (one per sequence), got [${lengths.length}]`, op, arg, [b], [lengths.length]);
  const bad = lengths.findIndex((v) => v < 1 || v > t);
  if (bad >= 0) throw new RangeError(`${op}: ${arg}[${bad}] is ${lengths[bad]}, expected 1..${t} (the padded length T)`);
}

/** PyTorch's parameter names and shapes for an LSTM config, in state_dict order. */
export function lstmParamShapes(cfg: Pick<LSTMConfig, 'inputSize' | 'hiddenSize' | 'numLayers' | 'bidirectional'>): [string, number[]][] {
  const out: [string, number[]][] = [];
  const g = 4 * cfg.hiddenSize;
  const dirs = cfg.bidirectional ? 2 : 1;
  for (let l = 0; l < cfg.numLayers; l++) {
    const inp = l === 0 ? cfg.inputSize : dirs * cfg.hiddenSize;
    for (let d = 0; d < dirs; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      out.push([`weight_ih${sfx}`, [g, inp]], [`weight_hh${sfx}`, [g, cfg.hiddenSize]], [`bias_ih${sfx}`, [g]], [`bias_hh${sfx}`, [g]]);
    }
  }
  return out;
}

/**
 * The batch of a streaming input `x` of shape [batch, inputSize]: the common case checked inline
 * (this runs once per tick), anything else handed to `checkTensor` for its precise message.
 */
function streamBatch(op: string, x: TensorLike, inputSize: number): number {
  const shape = x?.shape;
  if (x?.data instanceof Float32Array && shape?.length === 2 && shape[1] === inputSize && Number.isInteger(shape[0]) && shape[0] >= 1 && x.data.length === shape[0] * inputSize) {
    return shape[0];
  }
  return checkTensor(op, 'x', x, [null, inputSize], '[batch, inputSize]')[0];
}
