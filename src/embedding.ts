import { ShapeError, formatShape, checkOptions } from './errors.js';
import { ChainLayer, ForwardContext, ParamLayer, ParamSpec, layoutParams, positiveInt, seedWords } from './layer.js';
import { Runtime, runtime } from './runtime.js';
import { Tensor } from './tensor.js';

/** Options of `new Embedding(...)`, as PyTorch's `nn.Embedding(num_embeddings, embedding_dim)`. */
export interface EmbeddingOptions {
  /** Vocabulary size V: ids are 0..V-1. Required. */
  numEmbeddings: number;
  /** Vector size E. Required. */
  embeddingDim: number;
  /** Seed of the initial table (N(0, 1), as PyTorch). Default: random. */
  seed?: number;
  /** Runtime to allocate in. Default: the one `ready()` made. */
  runtime?: Runtime;
}

/** Token ids: an Int32Array, or a Float32Array holding integers, with a shape. */
export interface IdsLike {
  /** The ids, row-major: integers in 0..numEmbeddings-1. */
  data: Int32Array | Float32Array;
  /** The size of each axis; their product is `data.length`. */
  shape: readonly number[];
}

/**
 * Lookup table `weight` `[numEmbeddings, embeddingDim]`: ids of any shape `[...]` give vectors `[..., E]`.
 * The gradient of a row is the sum over the positions that used its id. Holds wasm memory.
 */
export class Embedding extends ParamLayer implements ChainLayer {
  /** The options that rebuild this layer. */
  readonly config: Readonly<{
    /** Vocabulary size V: ids are 0..V-1. */
    numEmbeddings: number;
    /** Vector size E. */
    embeddingDim: number;
  }>;
  /** `weight` [numEmbeddings, embeddingDim]. */
  readonly params: readonly ParamSpec[];
  /** Total number of parameters: numEmbeddings · embeddingDim. */
  readonly paramCount: number;
  readonly kind = 'Embedding';
  private n = 0;

  constructor(options: EmbeddingOptions) {
    const op = 'new Embedding';
    if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected an options object { numEmbeddings, embeddingDim }`);
    checkOptions(op, options, 'numEmbeddings embeddingDim seed runtime');
    const numEmbeddings = positiveInt(op, 'numEmbeddings', options.numEmbeddings);
    const embeddingDim = positiveInt(op, 'embeddingDim', options.embeddingDim);
    const rt = options.runtime ?? runtime();
    const [lo, hi] = seedWords(options.seed, op);
    super(rt, rt.core.lstmw_embedding_new(numEmbeddings, embeddingDim, lo, hi));
    this.config = Object.freeze({ numEmbeddings, embeddingDim });
    const { specs, total } = layoutParams([['weight', [numEmbeddings, embeddingDim]]]);
    this.params = specs;
    this.paramCount = total;
  }

  /** Vectors for `ids` (shape [...]) as a tensor [..., embeddingDim]. */
  forward(ids: IdsLike): Tensor {
    const op = 'Embedding.forward';
    this.live('forward');
    checkIds(op, ids);
    const [p] = this.rt.stage([ids.data]);
    const out = this.forwardPtr(p, ids.shape, { training: false, lengthsPtr: 0, inputF32: ids.data instanceof Float32Array });
    return new Tensor(this.rt.copyOut(out, ids.data.length * this.config.embeddingDim), this.outputShape(op, ids.shape));
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  outputShape(_op: string, s: readonly number[]): number[] {
    return [...s, this.config.embeddingDim];
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  forwardPtr(xPtr: number, s: readonly number[], ctx: ForwardContext): number {
    const h = this.live('forward');
    const n = s.reduce((a, b) => a * b, 1);
    this.rt.check(this.rt.core.lstmw_embedding_forward(h, xPtr, n, ctx.inputF32 ? 1 : 0));
    this.n = n;
    return this.rt.core.lstmw_embedding_buffer(h, 2);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  backwardPtr(dyPtr: number): number {
    this.rt.check(this.rt.core.lstmw_embedding_backward(this.live('backward'), dyPtr, 1));
    return 0;
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  paramsPtr(): number {
    return this.rt.core.lstmw_embedding_buffer(this.live('parameters'), 0);
  }

  /** Internal: the chaining contract used by `Sequential` (addresses in wasm memory). @internal */
  gradsPtr(): number {
    return this.rt.core.lstmw_embedding_buffer(this.live('gradients'), 1);
  }

  protected freeHandle(h: number): void {
    this.rt.core.lstmw_embedding_free(h);
  }
}

/** Check an ids tensor: Int32Array or Float32Array data matching its shape. */
export function checkIds(op: string, ids: unknown, arg = 'ids'): void {
  const t = ids as IdsLike;
  if (!t || typeof t !== 'object' || !(t.data instanceof Int32Array || t.data instanceof Float32Array) || !Array.isArray(t.shape)) {
    const d = t && typeof t === 'object' ? (t as { data?: unknown }).data : t;
    const got = d === null || d === undefined ? String(d) : Array.isArray(d) ? 'a plain array' : `a ${(d as object).constructor?.name ?? typeof d}`;
    throw new ShapeError(`${op}: ${arg} must be { data: Int32Array | Float32Array, shape }, got data as ${got}`, op, arg);
  }
  if (t.shape.length === 0 || t.shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: ${arg} shape ${formatShape(t.shape)} must have one or more axes, each a positive integer`, op, arg, undefined, t.shape.slice());
  }
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) {
    throw new ShapeError(`${op}: ${arg} has shape ${formatShape(t.shape)} (${n} values) but its data holds ${t.data.length}`, op, arg, undefined, t.shape.slice());
  }
}
