/**
 * The Node entry: the same API, with `ready()` reading the .wasm next to this file from disk
 * (Node 20's fetch cannot read `file:` URLs).
 */
import { ready as coreReady, resolveSimd, wasmFileName } from './runtime.js';
import type { ReadyOptions, Runtime } from './runtime.js';

export * from './index.js';

/** As `ready()` in the browser build; without `wasm`, reads the SIMD or scalar build from disk. */
export async function ready(options: ReadyOptions = {}): Promise<Runtime> {
  if (options.wasm === undefined) {
    const { readFile } = await import('node:fs/promises');
    const url = new URL(`./${wasmFileName(resolveSimd(options.simd))}`, import.meta.url);
    options = { ...options, wasm: await readFile(url) };
  }
  return coreReady(options);
}
