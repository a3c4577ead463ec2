/**
 * The Cloudflare Workers (workerd) entry. Workers forbid compiling wasm from bytes, so the module
 * comes in as an import, which wrangler/workerd/miniflare turn into a compiled `WebAssembly.Module`.
 * Selected by the `workerd` export condition of `lstm-wasm`.
 * @module workerd
 */
import simdModule from './lstm-simd.wasm';
import { readyWith } from './runtime.js';
import type { ReadyOptions, Runtime } from './runtime.js';

export * from './index.js';

/**
 * As `ready()` elsewhere; by default instantiates the bundled SIMD module (workerd has SIMD128).
 * This entry bundles no scalar build: `simd: false` needs `wasm` (the scalar module, imported).
 */
export function ready(options: ReadyOptions = {}): Promise<Runtime> {
  return readyWith(options, (simd) => {
    if (!simd) throw new Error('ready: the workerd entry bundles only the SIMD build; for the scalar one, import lstm-scalar.wasm and pass it as { wasm }');
    return simdModule as WebAssembly.Module;
  });
}
