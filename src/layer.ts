/**
 * What every layer that holds wasm memory shares: a core handle with one owner and `dispose()`,
 * named parameters laid out in one block (PyTorch state_dict order), and the internal
 * pointer-level forward/backward that `Sequential` chains without copying through JavaScript.
 */
import { DisposedError, ShapeError, formatShape } from './errors.js';
import { Runtime } from './runtime.js';
import { Tensor, TensorLike } from './tensor.js';

declare global {
  interface SymbolConstructor {
    /**
     * The disposal symbol of `using` declarations. Declared here too, so that the layers' types
     * compile with TypeScript libs older than `esnext.disposable` (identical to its declaration).
     */
    readonly dispose: unique symbol;
  }
}

/** One named parameter inside a layer's parameter block. */
export interface ParamSpec {
  /** PyTorch's name, e.g. `weight_ih_l0`. */
  name: string;
  /** PyTorch's shape, row-major. */
  shape: number[];
  /** Offset in floats from the start of the block. */
  offset: number;
  /** Number of floats: the product of `shape`. */
  size: number;
}

/** A state dict: PyTorch names to tensors or bare Float32Arrays (row-major, PyTorch layout). */
export type StateDict = Record<string, TensorLike | Float32Array>;

/** What a `Sequential` tells each layer about the batch being run. @internal */
export interface ForwardContext {
  /** Training step (dropout active) or inference. */
  training: boolean;
  /** Address of B i32 sequence lengths in wasm memory, or 0 when every sequence is full length. */
  lengthsPtr: number;
  /** The model input is a Float32Array (matters to an Embedding reading ids). */
  inputF32: boolean;
}

/** Internal contract of a layer inside a `Sequential`: input and output live in wasm memory. */
export interface ChainLayer {
  /** Layer type name used in saved files (`LSTM`, `Dense`, `Embedding`, `Dropout`). */
  readonly kind: string;
  /** The options that rebuild this layer (without seed and runtime). */
  readonly config: Readonly<object>;
  /** Output shape for an input shape; throws a ShapeError naming `op` if the input does not fit. @internal */
  outputShape(op: string, inputShape: readonly number[]): number[];
  /** Forward from input at `xPtr` with `shape`; returns the address of the output. @internal */
  forwardPtr(xPtr: number, shape: readonly number[], ctx: ForwardContext): number;
  /** Backward from dOutput at `dyPtr`; returns the address of dInput (0 for an Embedding, or when
   * `needInputGrad` is false and the layer could skip it). Gradients are reset first: they hold
   * this step's gradient afterwards. @internal */
  backwardPtr(dyPtr: number, ctx: ForwardContext, needInputGrad: boolean): number;
  /** Total number of parameters. */
  readonly paramCount: number;
  /** Address of the parameter block in wasm memory. @internal */
  paramsPtr(): number;
  /** Address of the gradient block in wasm memory. @internal */
  gradsPtr(): number;
  /** Name, shape and position of every parameter, in `stateDict()` order. */
  readonly params: readonly ParamSpec[];
  /** Copies of every parameter, keyed and shaped as PyTorch's `state_dict()`. */
  stateDict(): Record<string, Tensor>;
  /** Copies of every parameter's gradient from the latest backward, keyed like `stateDict()`. */
  gradients(): Record<string, Tensor>;
  /** Replace every parameter (validated first; a failed call changes nothing). */
  loadStateDict(dict: StateDict): void;
  /** Non-parameter state a checkpoint must keep (a dropout generator), as u32 words. @internal */
  extraState?(): number[];
  /** Restore `extraState()` words. @internal */
  setExtraState?(words: readonly number[]): void;
  /** Release the wasm memory. Idempotent; any later use throws a DisposedError. */
  dispose(): void;
  /** The runtime whose memory holds the layer. @internal */
  readonly runtime: Runtime;
  /** Whether `dispose()` has been called. */
  readonly disposed: boolean;
}

/** Lay out `[name, shape]` pairs consecutively. */
export function layoutParams(entries: readonly [string, number[]][]): { specs: ParamSpec[]; total: number } {
  let offset = 0;
  const specs = entries.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const spec = { name, shape, offset, size };
    offset += size;
    return spec;
  });
  return { specs, total: offset };
}

export abstract class ParamLayer {
  protected handle: number;
  abstract readonly params: readonly ParamSpec[];
  abstract readonly paramCount: number;
  abstract readonly kind: string;

  constructor(
    protected readonly rt: Runtime,
    handle: number,
  ) {
    if (handle === 0) this.rt.check(2); // the core set the reason
    this.handle = handle;
  }

  /** The runtime whose memory holds the layer. @internal */
  get runtime(): Runtime {
    return this.rt;
  }

  /** The handle, or a DisposedError naming `op`. */
  protected live(op: string): number {
    if (this.handle === 0) throw new DisposedError(`${this.kind}.${op}: this ${this.kind} has been disposed`);
    return this.handle;
  }

  protected abstract freeHandle(h: number): void;
  abstract paramsPtr(): number;
  abstract gradsPtr(): number;

  /** Release the wasm memory. Idempotent; any later use throws. */
  dispose(): void {
    if (this.handle !== 0) {
      this.freeHandle(this.handle);
      this.handle = 0;
    }
  }

  /** `dispose()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Whether `dispose()` has been called. */
  get disposed(): boolean {
    return this.handle === 0;
  }

  /** Copies of every parameter, keyed and shaped as PyTorch's `state_dict()`. */
  stateDict(): Record<string, Tensor> {
    const base = this.paramsPtr();
    return this.readBlock(base);
  }

  /** Copies of every parameter's gradient (from the latest backward), keyed like `stateDict()`. */
  gradients(): Record<string, Tensor> {
    return this.readBlock(this.gradsPtr());
  }

  private readBlock(base: number): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const p of this.params) out[p.name] = new Tensor(this.rt.copyOut(base + 4 * p.offset, p.size), p.shape.slice());
    return out;
  }

  /**
   * Replace every parameter. Each key must be present with the exact size (and shape, for tensors);
   * unknown keys are refused. Everything is checked before anything is written, so a failed call
   * leaves the layer as it was.
   */
  loadStateDict(dict: StateDict): void {
    const op = `${this.kind}.loadStateDict`;
    this.live('loadStateDict');
    if (dict === null || typeof dict !== 'object') throw new TypeError(`${op}: expected an object of tensors, got ${String(dict)}`);
    const known = new Set(this.params.map((p) => p.name));
    const unknown = Object.keys(dict).filter((k) => !known.has(k));
    if (unknown.length) {
      throw new ShapeError(`${op}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected ${[...known].join(', ')}`, op, unknown[0]);
    }
    const values: Float32Array[] = this.params.map((p) => {
      const v = dict[p.name];
      if (v === undefined) throw new ShapeError(`${op}: missing key "${p.name}" (shape ${formatShape(p.shape)})`, op, p.name, p.shape);
      const data = v instanceof Float32Array ? v : v?.data;
      if (!(data instanceof Float32Array)) {
        throw new ShapeError(`${op}: "${p.name}" must be a Float32Array or a tensor of shape ${formatShape(p.shape)}`, op, p.name, p.shape);
      }
      if (!(v instanceof Float32Array)) {
        const shape = (v as TensorLike).shape;
        if (!Array.isArray(shape) || shape.length !== p.shape.length || shape.some((d, i) => d !== p.shape[i])) {
          throw new ShapeError(`${op}: "${p.name}" must have shape ${formatShape(p.shape)}, got ${Array.isArray(shape) ? formatShape(shape) : String(shape)}`, op, p.name, p.shape, Array.isArray(shape) ? shape : undefined);
        }
      }
      if (data.length !== p.size) {
        throw new ShapeError(`${op}: "${p.name}" must hold ${p.size} values (shape ${formatShape(p.shape)}), got ${data.length}`, op, p.name, p.shape, [data.length]);
      }
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) throw new RangeError(`${op}: "${p.name}" element ${i} is ${data[i]} (parameters must be finite)`);
      }
      return data;
    });
    if (this.paramCount === 0) return;
    const block = this.rt.f32(this.paramsPtr(), this.paramCount);
    this.params.forEach((p, i) => block.set(values[i], p.offset));
    this.rt.core.lstmw_params_changed();
  }
}

/** Validate an optional boolean option. */
export function bool(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be true or false, got ${String(v)}`);
  return v;
}

/** Split a seed (integer up to 2^53) into the two u32 halves the core takes; random when absent. */
export function seedWords(seed: number | undefined, op: string): [number, number] {
  if (seed === undefined) return [(Math.random() * 2 ** 32) >>> 0, (Math.random() * 2 ** 32) >>> 0];
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${op}: seed must be a non-negative safe integer, got ${seed}`);
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

/** Validate a positive-integer option. */
export function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}
