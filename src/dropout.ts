import { ChainLayer, ForwardContext, ParamLayer, ParamSpec, seedWords } from './layer.js';
import { checkOptions } from './errors.js';
import { Runtime, runtime } from './runtime.js';

/** Options of `new Dropout(...)`, as PyTorch's `nn.Dropout(p)`. */
export interface DropoutOptions {
  /** Probability of zeroing an element in training, in [0, 1). Default 0.5. */
  p?: number;
  /** Seed of the mask generator. Default: random. */
  seed?: number;
  /** Runtime to allocate in. Default: the one `ready()` made. */
  runtime?: Runtime;
}

/**
 * Inverted dropout (PyTorch's `nn.Dropout`): in training each element is zeroed with probability p
 * and survivors are scaled by 1/(1-p); outside training it passes values through. Its generator
 * state is saved in checkpoints. Holds wasm memory.
 */
export class Dropout extends ParamLayer implements ChainLayer {
  /** The options that rebuild this layer. */
  readonly config: Readonly<{
    /** Probability of zeroing an element in training. */
    p: number;
  }>;
  /** None: dropout has no parameters. */
  readonly params: readonly ParamSpec[] = [];
  /** Always 0. */
  readonly paramCount = 0;
  readonly kind = 'Dropout';
  private n = 0;

  constructor(options: DropoutOptions = {}) {
    const op = 'new Dropout';
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected an options object { p?, seed? }`);
    checkOptions(op, options, 'p seed runtime');
    const p = options.p ?? 0.5;
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new RangeError(`${op}: p must be a number in [0, 1), got ${String(p)}`);
    const rt = options.runtime ?? runtime();
    const [lo, hi] = seedWords(options.seed, op);
    super(rt, rt.core.lstmw_dropout_new(p, lo, hi));
    this.config = Object.freeze({ p });
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  outputShape(_op: string, s: readonly number[]): number[] {
    return s.slice();
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  forwardPtr(xPtr: number, s: readonly number[], ctx: ForwardContext): number {
    const h = this.live('forward');
    this.n = s.reduce((a, b) => a * b, 1);
    this.rt.check(this.rt.core.lstmw_dropout_forward(h, xPtr, this.n, ctx.training ? 1 : 0));
    return this.rt.core.lstmw_dropout_buffer(h, 0);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  backwardPtr(dyPtr: number): number {
    const h = this.live('backward');
    this.rt.check(this.rt.core.lstmw_dropout_backward(h, dyPtr, this.n));
    return this.rt.core.lstmw_dropout_buffer(h, 1);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  paramsPtr(): number {
    return 0;
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  gradsPtr(): number {
    return 0;
  }

  /** The mask generator's state (4 u32 words), saved in model files. @internal */
  extraState(): number[] {
    const h = this.live('extraState');
    const [p] = this.rt.stage([new Uint32Array(4)]);
    this.rt.check(this.rt.core.lstmw_dropout_rng(h, p, 0));
    return Array.from(new Uint32Array(this.rt.core.memory.buffer, p, 4));
  }

  /** Restore `extraState()` words. @internal */
  setExtraState(words: readonly number[]): void {
    if (words.length !== 4 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new RangeError(`Dropout.setExtraState: expected 4 u32 words, got ${JSON.stringify(words)}`);
    }
    const [p] = this.rt.stage([Uint32Array.from(words)]);
    this.rt.check(this.rt.core.lstmw_dropout_rng(this.live('setExtraState'), p, 1));
  }

  protected freeHandle(h: number): void {
    this.rt.core.lstmw_dropout_free(h);
  }
}
