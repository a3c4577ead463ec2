// Replaced at build time (scripts/gen-inline.mjs) by the base64 of dist/lstm-simd.wasm and
// dist/lstm-scalar.wasm; empty in the sources.
export const SIMD_WASM_BASE64 = '';
export const SCALAR_WASM_BASE64 = '';
