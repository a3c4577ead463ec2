// Sizes of what ships: each .wasm raw and gzipped, and the library JS (the browser entry and the
// shared chunk it imports) minified with terser, raw and gzipped. `--json` prints JSON; with
// `--check` it exits 1 when a budget is exceeded (200 KB per .wasm, 64 KB minified JS).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

const dist = new URL('../dist/', import.meta.url);
const read = (f) => readFileSync(new URL(f, dist));
const gz = (b) => gzipSync(b, { level: 9 }).length;
const out = { wasm: {}, js: {} };
for (const f of ['lstm-simd.wasm', 'lstm-scalar.wasm']) {
  const b = read(f);
  out.wasm[f] = { raw: b.length, gzip: gz(b) };
}
// The browser entry plus the chunk it imports, as one module for terser.
const files = ['index.js', 'lstm-core.js'];
const code = Object.fromEntries(files.map((f) => [f, read(f).toString()]));
const min = await minify(code, { module: true, compress: { passes: 2 }, mangle: true });
const raw = files.reduce((a, f) => a + code[f].length, 0);
out.js['index.js + lstm-core.js'] = { raw, minified: min.code.length, minifiedGzip: gz(Buffer.from(min.code)) };
const budget = { wasm: 200 * 1024, js: 64 * 1024 };
const over = [
  ...Object.entries(out.wasm).filter(([, v]) => v.raw > budget.wasm).map(([k, v]) => `${k} ${v.raw} B > ${budget.wasm} B`),
  ...Object.entries(out.js).filter(([, v]) => v.minified > budget.js).map(([k, v]) => `${k} minified ${v.minified} B > ${budget.js} B`),
];
if (process.argv.includes('--json')) console.log(JSON.stringify({ ...out, budget, over }, null, 2));
else {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  for (const [k, v] of Object.entries(out.wasm)) console.log(`${k.padEnd(26)} ${kb(v.raw).padStart(9)} raw  ${kb(v.gzip).padStart(9)} gzip`);
  for (const [k, v] of Object.entries(out.js)) console.log(`${k.padEnd(26)} ${kb(v.raw).padStart(9)} raw  ${kb(v.minified).padStart(9)} min  ${kb(v.minifiedGzip).padStart(9)} min+gzip`);
  for (const o of over) console.log(`OVER BUDGET: ${o}`);
}
if (process.argv.includes('--check') && over.length) process.exit(1);
