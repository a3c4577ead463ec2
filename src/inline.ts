/**
 * `lstm-wasm/inline`: the same API with both wasm builds embedded (base64), for single-file use
 * where fetching or reading a .wasm asset is awkward. About a third larger than the assets, and
 * compiled from bytes, so not for Cloudflare Workers (use the package root there).
 * @module lstm-wasm/inline
 */
import { readyWith } from './runtime.js';
import type { ReadyOptions, Runtime } from './runtime.js';
import { SCALAR_WASM_BASE64, SIMD_WASM_BASE64 } from './wasm-base64.js';

export * from './index.js';

function decode(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** As `ready()`; without `wasm`, instantiates the embedded SIMD or scalar build. */
export function ready(options: ReadyOptions = {}): Promise<Runtime> {
  return readyWith(options, (simd) => decode(simd ? SIMD_WASM_BASE64 : SCALAR_WASM_BASE64));
}
