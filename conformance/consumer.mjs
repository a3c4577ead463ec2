// Entry for Node, Deno and Bun: resolves the library BY NAME ('lstm-wasm', through the runtime's
// own export condition: node / deno / bun -> dist/node.js), runs the suite, prints its JSON.
// Runs from a consumer folder whose node_modules/lstm-wasm is the package (conformance/runners.mjs
// sets it up): `node consumer.mjs <fixturesDir>`, `deno run --allow-read consumer.mjs <dir>`, `bun consumer.mjs <dir>`.
import * as L from 'lstm-wasm';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { createRequire } from 'node:module';
import { runSuite, LSTM_FIXTURES } from './suite.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: consumer.mjs <fixtures dir>');
const t0 = performance.now();
await L.ready();
const readyMs = performance.now() - t0;
const fixtures = Object.fromEntries(
  await Promise.all(LSTM_FIXTURES.map(async (n) => [n, JSON.parse(await readFile(join(dir, `${n}.json`), 'utf8'))])),
);
// The scalar build, read next to the resolved entry (the package's own ./lstm-scalar.wasm export).
const require = createRequire(import.meta.url);
let scalarWasm;
try {
  scalarWasm = await readFile(require.resolve('lstm-wasm/lstm-scalar.wasm'));
} catch (e) {
  scalarWasm = undefined;
  console.error(`lstm-wasm/lstm-scalar.wasm did not resolve: ${e.message}`);
}
const result = await runSuite(L, fixtures, { scalarWasm });
result.readyMs = Math.round(readyMs);
result.entry = import.meta.resolve ? import.meta.resolve('lstm-wasm') : null;
process.stdout.write(JSON.stringify(result) + '\n');
