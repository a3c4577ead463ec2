import { ShapeError, formatShape, checkOptions } from './errors.js';
import { ChainLayer, ParamLayer, ParamSpec, layoutParams, positiveInt, seedWords } from './layer.js';
import { Runtime, runtime } from './runtime.js';
import { Tensor, TensorLike, checkTensor } from './tensor.js';

/** Options of `new Dense(...)`, as PyTorch's `nn.Linear(in_features, out_features)`. */
export interface DenseOptions {
  /** Features of each input row. Required. */
  inputSize: number;
  /** Output features. Required. */
  units: number;
  /** Seed of the initial weights (uniform in ±1/√inputSize, as PyTorch). Default: random. */
  seed?: number;
  /** Runtime to allocate in. Default: the one `ready()` made. */
  runtime?: Runtime;
}

export interface DenseBackwardResult {
  /** dL/d input, shaped like the input. */
  dInput: Tensor;
  /** dL/d weight [units, inputSize] and dL/d bias [units]. */
  grads: Record<string, Tensor>;
}

/**
 * Affine layer y = x Wᵀ + b over the last axis (`weight` [units, inputSize], `bias` [units]).
 * Any leading axes are kept, so a [T, B, F] LSTM output gives [T, B, units]: a head at every tick.
 *
 * Holds wasm memory: call `dispose()` when done.
 */
export class Dense extends ParamLayer implements ChainLayer {
  /** The options that rebuild this layer. */
  readonly config: Readonly<{
    /** Features of each input row. */
    inputSize: number;
    /** Output features. */
    units: number;
  }>;
  /** `weight` [units, inputSize], then `bias` [units]. */
  readonly params: readonly ParamSpec[];
  /** Total number of parameters: units · (inputSize + 1). */
  readonly paramCount: number;
  readonly kind = 'Dense';
  private lastShape: number[] | undefined;

  constructor(options: DenseOptions) {
    const op = 'new Dense';
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected an options object { inputSize, units }`);
    checkOptions(op, options, 'inputSize units seed runtime');
    const inputSize = positiveInt(op, 'inputSize', options.inputSize);
    const units = positiveInt(op, 'units', options.units);
    const rt = options.runtime ?? runtime();
    const [lo, hi] = seedWords(options.seed, op);
    super(rt, rt.core.lstmw_dense_new(inputSize, units, lo, hi));
    this.config = Object.freeze({ inputSize, units });
    const { specs, total } = layoutParams([
      ['weight', [units, inputSize]],
      ['bias', [units]],
    ]);
    this.params = specs;
    this.paramCount = total;
  }

  /** y = x Wᵀ + b for x of shape [..., inputSize]; returns a copy of shape [..., units]. */
  forward(x: TensorLike): Tensor {
    const op = 'Dense.forward';
    this.live('forward');
    if (x && Array.isArray(x.shape) && x.shape.length >= 1) {
      checkTensor(op, 'x', x, [...x.shape.slice(0, -1).map(() => null), this.config.inputSize], '[..., inputSize]');
    } else {
      checkTensor(op, 'x', x, [null, this.config.inputSize], '[..., inputSize]');
    }
    const shape = this.outputShape(op, x.shape);
    const [xp] = this.rt.stage([x.data]);
    const yp = this.forwardPtr(xp, x.shape);
    return new Tensor(this.rt.copyOut(yp, x.data.length / this.config.inputSize * this.config.units), shape);
  }

  /** Backward for the most recent forward; gradients are for this call alone. */
  backward(options: { dOutput: TensorLike }): DenseBackwardResult {
    const op = 'Dense.backward';
    this.live('backward');
    if (!this.lastShape) throw new Error(`${op}: call forward first`);
    checkOptions(op, options, 'dOutput');
    const inShape = this.lastShape;
    checkTensor(op, 'dOutput', options?.dOutput, this.outputShape(op, inShape), 'the shape of forward\'s output');
    const [dyp] = this.rt.stage([options.dOutput.data]);
    const dxp = this.backwardPtr(dyp);
    const n = inShape.reduce((a, b) => a * b, 1);
    return { dInput: new Tensor(this.rt.copyOut(dxp, n), inShape.slice()), grads: this.gradients() };
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  outputShape(op: string, s: readonly number[]): number[] {
    if (s.length < 1 || s[s.length - 1] !== this.config.inputSize) {
      throw new ShapeError(`${op}: Dense input must have shape [..., ${this.config.inputSize}], got ${formatShape(s)}`, op, 'x', [null, this.config.inputSize], s.slice());
    }
    return [...s.slice(0, -1), this.config.units];
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  forwardPtr(xPtr: number, s: readonly number[]): number {
    const h = this.live('forward');
    const rows = s.slice(0, -1).reduce((a, b) => a * b, 1);
    this.rt.check(this.rt.core.lstmw_dense_forward(h, xPtr, rows));
    this.lastShape = s.slice();
    return this.rt.core.lstmw_dense_buffer(h, 0);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  backwardPtr(dyPtr: number): number {
    const h = this.live('backward');
    this.rt.check(this.rt.core.lstmw_dense_backward(h, dyPtr, 1));
    return this.rt.core.lstmw_dense_buffer(h, 1);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  paramsPtr(): number {
    return this.rt.core.lstmw_dense_params(this.live('parameters'));
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  gradsPtr(): number {
    return this.rt.core.lstmw_dense_grads(this.live('gradients'));
  }

  protected freeHandle(h: number): void {
    this.rt.core.lstmw_dense_free(h);
  }
}
