// Writes build/tsc/wasm-base64.js with the base64 of both wasm builds (for lstm-wasm/inline).
import { readFileSync, writeFileSync } from 'node:fs';
const b64 = (f) => readFileSync(new URL(`../dist/${f}`, import.meta.url)).toString('base64');
writeFileSync(
  new URL('../build/tsc/wasm-base64.js', import.meta.url),
  `export const SIMD_WASM_BASE64 = '${b64('lstm-simd.wasm')}';\nexport const SCALAR_WASM_BASE64 = '${b64('lstm-scalar.wasm')}';\n`,
);
