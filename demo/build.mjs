#!/usr/bin/env node
// Assembles the static demo in demo/dist/ (run `npm run build` first so dist/ holds the library):
//
//   demo/dist/index.html, style.css, main.js, worker.js, tags.js   the page (copied as they are)
//   demo/dist/lib/index.js + the chunks it imports                  the library's browser entry (dist/)
//   demo/dist/lib/lstm-simd.wasm, lstm-scalar.wasm                  fetched next to the entry
//   demo/dist/lib/pos.js                                            src/data/pos.ts, transpiled
//   demo/dist/data/brown.txt, LICENSE.md                            data/brown/
//
// Usage: node demo/build.mjs
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const out = join(here, 'dist');
const libDist = join(root, 'dist');

const need = ['index.js', 'lstm-simd.wasm', 'lstm-scalar.wasm'].map((f) => join(libDist, f));
const missing = need.filter((f) => !existsSync(f));
if (missing.length) {
  console.error(`demo/build.mjs: ${missing.join(', ')} missing; run \`npm run build\` first.`);
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'lib'), { recursive: true });
mkdirSync(join(out, 'data'), { recursive: true });

// The page.
for (const f of ['index.html', 'style.css', 'main.js', 'worker.js', 'tags.js']) copyFileSync(join(here, f), join(out, f));

// The browser entry and every chunk it imports, followed statically.
const seen = new Set();
const copyModule = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  const src = readFileSync(join(libDist, name), 'utf8');
  writeFileSync(join(out, 'lib', name), src);
  for (const m of src.matchAll(/\b(?:from|import)\s*\(?\s*['"]\.\/([^'"]+\.js)['"]/g)) copyModule(m[1]);
};
copyModule('index.js');
for (const f of ['lstm-simd.wasm', 'lstm-scalar.wasm']) copyFileSync(join(libDist, f), join(out, 'lib', f));

// The POS data pipeline: dependency-free TypeScript, transpiled on its own.
const pos = ts.transpileModule(readFileSync(join(root, 'src/data/pos.ts'), 'utf8'), {
  compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
  fileName: 'pos.ts',
});
writeFileSync(join(out, 'lib', 'pos.js'), pos.outputText);

// The corpus sample and its license.
copyFileSync(join(root, 'data/brown/sample.txt'), join(out, 'data', 'brown.txt'));
copyFileSync(join(root, 'data/brown/LICENSE.md'), join(out, 'data', 'LICENSE.md'));

console.log(`demo built in ${out} (library modules: ${[...seen].join(', ')})`);
