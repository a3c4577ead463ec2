/**
 * The Cloudflare Workers (workerd) entry. Workers forbid compiling wasm from bytes, so the module
 * comes in as an import, which wrangler/workerd/miniflare turn into a compiled `WebAssembly.Module`.
 * Selected by the `workerd` export condition of `lstm-wasm`.
 * @module workerd
 */
import simdModule from './lstm-simd.wasm';
import { ready as coreReady } from './runtime.js';
import type { ReadyOptions, Runtime } from './runtime.js';

export * from './index.js';

/** As `ready()` elsewhere; by default instantiates the bundled SIMD module (workerd has SIMD128). */
export function ready(options: ReadyOptions = {}): Promise<Runtime> {
  return coreReady({ ...options, wasm: options.wasm ?? (simdModule as WebAssembly.Module) });
}
