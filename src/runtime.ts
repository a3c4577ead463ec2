/// <reference lib="dom" preserve="true" />
// (The public types name WebAssembly, BufferSource and Response, which TypeScript declares only in
// its DOM lib: this keeps them resolvable in Node projects whose `lib` has no "dom".)
/**
 * Loading the wasm core once, and the few primitives every layer uses to talk to it: fresh views on
 * linear memory, status checks that turn into errors, and a reusable staging area for inputs.
 *
 * This module imports nothing from `node:*`; the Node entry (`node.ts`) supplies the bytes from disk.
 */
import { CoreError, checkOptions, describeValue } from './errors.js';

/** The raw exports of the core (see crates/wasm/src/lib.rs for each contract). @internal */
export interface CoreExports {
  memory: WebAssembly.Memory;
  lstmw_last_error_ptr(): number;
  lstmw_last_error_len(): number;
  lstmw_alloc(bytes: number): number;
  lstmw_free(ptr: number, bytes: number): void;
  lstmw_simd(): number;
  lstmw_live_objects(): number;
  lstmw_lstm_new(input: number, hidden: number, layers: number, bidirectional: number, seedLo: number, seedHi: number): number;
  lstmw_lstm_free(h: number): number;
  lstmw_lstm_params(h: number): number;
  lstmw_lstm_grads(h: number): number;
  lstmw_lstm_param_count(h: number): number;
  lstmw_lstm_bytes(h: number): number;
  lstmw_lstm_forward(h: number, x: number, t: number, b: number, flags: number, h0: number, c0: number, lengths: number): number;
  lstmw_lstm_backward(h: number, dy: number, dhn: number, dcn: number, flags: number): number;
  lstmw_lstm_buffer(h: number, which: number): number;
  lstmw_lstm_step(h: number, x: number, b: number, hState: number, cState: number): number;
  lstmw_lstm_step_output(h: number): number;
  lstmw_params_changed(): void;
  lstmw_dense_new(input: number, units: number, seedLo: number, seedHi: number): number;
  lstmw_dense_free(h: number): number;
  lstmw_dense_params(h: number): number;
  lstmw_dense_grads(h: number): number;
  lstmw_dense_bytes(h: number): number;
  lstmw_dense_forward(h: number, x: number, n: number): number;
  lstmw_dense_backward(h: number, dy: number, flags: number): number;
  lstmw_dense_buffer(h: number, which: number): number;
  lstmw_softmax_cross_entropy(logits: number, n: number, c: number, targets: number, dlogits: number, lossOut: number): number;
  lstmw_mse(pred: number, target: number, n: number, width: number, rowMask: number, dpred: number, lossOut: number): number;
  lstmw_first_nonfinite(ptr: number, n: number): number;
  lstmw_embedding_new(num: number, dim: number, seedLo: number, seedHi: number): number;
  lstmw_embedding_free(h: number): number;
  lstmw_embedding_buffer(h: number, which: number): number;
  lstmw_embedding_forward(h: number, ids: number, n: number, idsF32: number): number;
  lstmw_embedding_backward(h: number, dy: number, flags: number): number;
  lstmw_dropout_new(p: number, seedLo: number, seedHi: number): number;
  lstmw_dropout_free(h: number): number;
  lstmw_dropout_forward(h: number, x: number, n: number, training: number): number;
  lstmw_dropout_backward(h: number, dy: number, n: number): number;
  lstmw_dropout_buffer(h: number, which: number): number;
  lstmw_dropout_rng(h: number, ptr: number, write: number): number;
  lstmw_optim_new(kind: number, hp: number, hpLen: number): number;
  lstmw_optim_free(h: number): number;
  lstmw_optim_add_block(h: number, params: number, grads: number, n: number): number;
  lstmw_optim_step(h: number, lr: number, clipNorm: number, clipValue: number, normOut: number): number;
  lstmw_optim_state(h: number, lenOut: number): number;
  lstmw_optim_steps(h: number, set: number, value: number): number;
  lstmw_gemm(m: number, n: number, k: number, a: number, rsa: number, csa: number, b: number, rsb: number, csb: number, c: number, ldc: number, acc: number): number;
  lstmw_gemm_ref(m: number, n: number, k: number, a: number, rsa: number, csa: number, b: number, rsb: number, csb: number, c: number, ldc: number, acc: number): number;
  lstmw_gemm_set_kernel(kind: number): number;
  lstmw_gemm_kernel(): number;
}

/**
 * The two forms of the core's 4×8 GEMM micro-kernel. They compute the same bits; they differ in
 * how they broadcast A's values. `'splat-loads'` loads each one (six loads per step): the faster
 * form where V8 checks memory bounds with guard pages (measured in Node and Chromium; also the
 * default everywhere else). `'shuffled-splats'` loads four at once and shuffles (three loads per
 * step): the faster form in Deno, whose V8 runs without the trap handler and so checks every load
 * with extra instructions, and in Bun (JavaScriptCore), as measured in bench/README.md.
 */
export type GemmKernel = 'splat-loads' | 'shuffled-splats';

/** The micro-kernel for the engine this code runs on (see `GemmKernel`). @internal */
export function defaultGemmKernel(): GemmKernel {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined || g.Bun !== undefined ? 'shuffled-splats' : 'splat-loads';
}

/** Where the wasm comes from: bytes, a compiled module (required on Cloudflare Workers), a fetch response, or a URL. */
export type WasmSource = BufferSource | WebAssembly.Module | Response | PromiseLike<Response> | URL | string;

export interface ReadyOptions {
  /** The module to instantiate. Default: `lstm-simd.wasm` (or `lstm-scalar.wasm`) next to this file. */
  wasm?: WasmSource;
  /** Which build the default source picks: `'auto'` (default) probes SIMD128 support. Ignored when `wasm` is given. */
  simd?: boolean | 'auto';
}

/** A growable allocation in linear memory owned by one JS object. */
export class Scratch {
  private ptr = 0;
  private bytes = 0;
  constructor(private readonly rt: Runtime) {}
  /** Address of at least `bytes` bytes (contents unspecified). May grow memory. */
  reserve(bytes: number): number {
    if (bytes > this.bytes) {
      this.free();
      const want = Math.max(bytes, 64);
      const p = this.rt.core.lstmw_alloc(want);
      if (p === 0) throw new CoreError(`out of wasm memory allocating ${want} bytes`, 2);
      this.ptr = p;
      this.bytes = want;
    }
    return this.ptr;
  }
  free(): void {
    if (this.ptr !== 0) this.rt.core.lstmw_free(this.ptr, this.bytes);
    this.ptr = 0;
    this.bytes = 0;
  }
}

/** The instantiated core plus helpers. One per realm; get it with `await ready()`. */
export class Runtime {
  /** Whether the SIMD128 build is running. */
  readonly simd: boolean;
  private readonly staging: Scratch;
  constructor(
    /** The raw exports of the instance. @internal */
    readonly core: CoreExports,
  ) {
    this.simd = core.lstmw_simd() === 1;
    this.staging = new Scratch(this);
    this.gemmKernel = defaultGemmKernel();
  }
  /**
   * The GEMM micro-kernel in use: chosen for the engine at start (`'shuffled-splats'` on Deno and
   * Bun, `'splat-loads'` elsewhere). Both give the same bits; only speed differs (measured in
   * bench/README.md). Setting it switches every later product of this runtime.
   */
  get gemmKernel(): GemmKernel {
    return this.core.lstmw_gemm_kernel() === 1 ? 'shuffled-splats' : 'splat-loads';
  }
  set gemmKernel(kernel: GemmKernel) {
    if (kernel !== 'splat-loads' && kernel !== 'shuffled-splats') {
      throw new RangeError(`Runtime.gemmKernel: must be 'splat-loads' or 'shuffled-splats', got ${describeValue(kernel)}`);
    }
    this.check(this.core.lstmw_gemm_set_kernel(kernel === 'shuffled-splats' ? 1 : 0));
  }
  private heap: Float32Array | undefined;
  /**
   * A Float32Array over all of linear memory, re-created when memory has grown (the old buffer is
   * then detached). Index = address / 4. Use it right after the call that may have grown memory.
   */
  heapF32(): Float32Array {
    const buf = this.core.memory.buffer;
    if (!this.heap || this.heap.buffer !== buf) this.heap = new Float32Array(buf);
    return this.heap;
  }
  /** A fresh Float32Array view (never cache one across a call that can allocate). */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.core.memory.buffer, ptr, length);
  }
  /** A fresh Int32Array view (never cache one across a call that can allocate). @internal */
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.core.memory.buffer, ptr, length);
  }
  /** Copy `length` floats at `ptr` out of wasm memory. */
  copyOut(ptr: number, length: number): Float32Array {
    return this.f32(ptr, length).slice();
  }
  /** Throw a CoreError carrying the core's message unless `status` is 0. */
  check(status: number): void {
    if (status !== 0) throw new CoreError(this.lastError(), status);
  }
  /** The core's message for the latest failed call. @internal */
  lastError(): string {
    const ptr = this.core.lstmw_last_error_ptr();
    const len = this.core.lstmw_last_error_len();
    return new TextDecoder().decode(new Uint8Array(this.core.memory.buffer, ptr, len).slice());
  }
  /**
   * Copy several arrays into the shared staging area and return their addresses (0 for `undefined`).
   * Valid until the next `stage` call; used for the inputs of a single core call.
   */
  stage(arrays: readonly (Float32Array | Int32Array | Float64Array | Uint32Array | undefined)[]): number[] {
    const offsets: number[] = [];
    let total = 0;
    for (const a of arrays) {
      offsets.push(total);
      if (a) total += (a.byteLength + 15) & ~15;
    }
    const base = this.staging.reserve(total);
    const buf = this.core.memory.buffer;
    return arrays.map((a, i) => {
      if (!a) return 0;
      const p = base + offsets[i];
      new Uint8Array(buf, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      return p;
    });
  }
  /** Live core objects (layers), for leak checks. */
  liveObjects(): number {
    return this.core.lstmw_live_objects();
  }
  /** Bytes of linear memory. */
  memoryBytes(): number {
    return this.core.memory.buffer.byteLength;
  }
}

// wasm module `(func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)`: validates only with SIMD128.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Whether this runtime validates WebAssembly SIMD128. */
export function simdSupported(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}


/**
 * URL of the build next to this module. Each is a literal `new URL('./x.wasm', import.meta.url)`,
 * the pattern bundlers (Vite, webpack 5, rollup) recognise and copy as one asset.
 */
export function wasmUrl(simd: boolean): URL {
  return simd ? new URL('./lstm-simd.wasm', import.meta.url) : new URL('./lstm-scalar.wasm', import.meta.url);
}

/** Resolve `'auto'`/undefined to a concrete choice. */
export function resolveSimd(simd: ReadyOptions['simd']): boolean {
  return simd === undefined || simd === 'auto' ? simdSupported() : simd;
}

async function instantiate(src: WasmSource): Promise<WebAssembly.Instance> {
  const s = await src;
  if (s instanceof WebAssembly.Module) return WebAssembly.instantiate(s, {});
  if (typeof s === 'string' || s instanceof URL) return instantiate(fetch(s));
  if (typeof Response !== 'undefined' && s instanceof Response) {
    if (!s.ok) throw new Error(`ready: fetching the wasm failed with HTTP ${s.status} (${s.url})`);
    if (typeof WebAssembly.instantiateStreaming === 'function' && s.headers.get('content-type')?.startsWith('application/wasm')) {
      return (await WebAssembly.instantiateStreaming(s, {})).instance;
    }
    return (await WebAssembly.instantiate(await s.arrayBuffer(), {})).instance;
  }
  return (await WebAssembly.instantiate(s as BufferSource, {})).instance;
}

let current: Runtime | undefined;
let pending: Promise<Runtime> | undefined;

/**
 * Instantiate the core once (later calls return the same runtime). Without `wasm`, picks the SIMD
 * build when the runtime validates SIMD128 and the scalar build otherwise, next to this module.
 */
export function ready(options: ReadyOptions = {}): Promise<Runtime> {
  return readyWith(options, wasmUrl);
}

/**
 * `ready()` with an entry's own default source for a build (the inline entry decodes it, workerd
 * imports the module) and its own way to read a source (the Node entry reads paths and `file:`
 * URLs from disk): the same rules in every entry. @internal
 */
export function readyWith(
  options: ReadyOptions,
  defaultWasm: (simd: boolean) => WasmSource | Promise<WasmSource>,
  prepare: (wasm: WasmSource) => WasmSource | Promise<WasmSource> = (w) => w,
): Promise<Runtime> {
  try {
    options = checkOptions('ready', options, 'simd wasm');
  } catch (e) {
    return Promise.reject(e);
  }
  if (current) {
    if (typeof options.simd === 'boolean' && options.wasm === undefined && options.simd !== current.simd) {
      return Promise.reject(new Error(`ready: already initialised with the ${current.simd ? 'SIMD' : 'scalar'} build; ready({ simd: ${options.simd} }) cannot switch (use createRuntime for a second runtime)`));
    }
    return Promise.resolve(current);
  }
  if (!pending) {
    const { wasm, simd } = options;
    pending = Promise.resolve()
      .then(() => wasm ?? defaultWasm(resolveSimd(simd)))
      .then(prepare)
      .then(instantiate)
      .then(
      (inst) => (current = new Runtime(inst.exports as unknown as CoreExports)),
      (err) => {
        pending = undefined;
        throw err;
      },
    );
  }
  return pending;
}

/** The runtime made by `ready()`; throws if it has not finished. */
export function runtime(): Runtime {
  if (!current) throw new Error('lstm-wasm is not initialised: `await ready()` before creating layers');
  return current;
}

/**
 * Instantiate a separate runtime (its own memory), for tests that compare builds side by side.
 * Layers, models and `deserializeModel` use it when given `{ runtime }` (by default they use the
 * `ready()` runtime); objects of different runtimes cannot be mixed.
 */
export async function createRuntime(wasm: WasmSource): Promise<Runtime> {
  return new Runtime((await instantiate(wasm)).exports as unknown as CoreExports);
}
