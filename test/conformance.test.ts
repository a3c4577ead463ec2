// Cross-runtime conformance: conformance/suite.js runs unchanged in Node, Chromium (main thread and
// a module Web Worker), Deno, Bun and workerd against the BUILT package (dist/, resolved through the
// package's export conditions), and here in-process against src/. Every check must pass everywhere
// and every output must be bit-identical (equal FNV-1a hashes of the float bits) across runtimes.
// Node only (child processes). Needs `npm run build`, the devDependencies deno, bun, workerd,
// playwright-core, and /usr/bin/chromium; a missing runtime fails the test, naming what is missing.
import { beforeAll, describe, expect, test } from 'vitest';
import { readFile } from 'node:fs/promises';
import * as L from '../src/index.js';
import { runAll, RunnerOutcome } from '../conformance/runners.mjs';
import { bitsHash as suiteBitsHash, LSTM_FIXTURES, runSuite, SuiteResult } from '../conformance/suite.js';
import { randomData } from './helpers.js';

/** Runtime key → what `result.runtime` must start with (proves the runner really ran there). */
const EXPECTED: Record<string, string> = {
  node: 'node ',
  'chromium-main': 'browser ',
  'chromium-worker': 'worker ',
  deno: 'deno ',
  bun: 'bun ',
  workerd: 'workerd',
};

let outcomes: Record<string, RunnerOutcome>;
let wallMs = 0;
let inProcess: SuiteResult;

beforeAll(async () => {
  const t0 = performance.now();
  // In-process first (it blocks the event loop), then every runtime in parallel.
  const dist = new URL('../dist/', import.meta.url);
  await L.ready({ wasm: await readFile(new URL('lstm-simd.wasm', dist)) });
  const fixtures = Object.fromEntries(
    await Promise.all(LSTM_FIXTURES.map(async (n) => [n, JSON.parse(await readFile(new URL(`./fixtures/${n}.json`, import.meta.url), 'utf8'))])),
  );
  inProcess = await runSuite(L, fixtures, { scalarWasm: await readFile(new URL('lstm-scalar.wasm', dist)) });
  outcomes = await runAll();
  wallMs = performance.now() - t0;
}, 120_000);

function result(key: string): SuiteResult {
  const o = outcomes[key];
  if (!o) throw new Error(`no outcome for ${key}`);
  if (!o.ok) throw new Error(`${key} did not run the suite:\n${o.error}`);
  return o.result;
}

test('the suite hashes float bits with FNV-1a (checked against a plain reimplementation)', () => {
  const fnv = (a: Float32Array) => {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    let h = 0x811c9dc5;
    for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 0x01000193) >>> 0;
    return h.toString(16).padStart(8, '0');
  };
  const a = randomData(1001, 5);
  expect(suiteBitsHash(a)).toBe(fnv(a));
  expect(suiteBitsHash(a.subarray(3, 17))).toBe(fnv(a.subarray(3, 17)));
  expect(suiteBitsHash(new Float32Array(0))).toBe('811c9dc5');
  expect(suiteBitsHash(Float32Array.of(0))).not.toBe(suiteBitsHash(Float32Array.of(-0)));
});

describe.each(Object.keys(EXPECTED))('%s', (key) => {
  test('ran the suite in that runtime, on the SIMD build', () => {
    const r = result(key);
    expect(r.runtime.startsWith(EXPECTED[key]), `runtime reported as "${r.runtime}"`).toBe(true);
    expect(r.simd).toBe(true);
    expect(r.simdSupported).toBe(true);
  });

  test('every check passed', () => {
    const r = result(key);
    const failed = r.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.error}`);
    expect(failed, failed.join('\n\n')).toEqual([]);
    expect(r.pass).toBe(true);
  });

  test('the same checks, with bit-identical outputs, as the in-process run on src/', () => {
    const r = result(key);
    expect(r.checks.map((c) => c.name)).toEqual(inProcess.checks.map((c) => c.name));
    const strip = (s: SuiteResult) => s.checks.map(({ name, pass, hash, details }) => ({ name, pass, hash, details }));
    expect(strip(r)).toEqual(strip(inProcess));
  });
});

test('every check hash is identical across Node, Chromium main, Chromium worker, Deno, Bun and workerd', () => {
  const keys = Object.keys(EXPECTED);
  const rows = inProcess.checks.map((c) => c.name);
  const mismatches: string[] = [];
  for (const name of rows) {
    const hashes = Object.fromEntries(keys.map((k) => [k, result(k).checks.find((c) => c.name === name)?.hash ?? 'missing']));
    if (new Set(Object.values(hashes)).size !== 1) mismatches.push(`${name}: ${JSON.stringify(hashes)}`);
  }
  expect(mismatches, mismatches.join('\n')).toEqual([]);
  // Checks with float output carry a hash (only the bookkeeping checks have none).
  expect(inProcess.checks.filter((c) => c.hash === null).map((c) => c.name)).toEqual(['fixtures:present', 'leaks:live-objects']);
});

test('the engines ran both forms of the GEMM micro-kernel (shuffled splats on Deno and Bun), so the identical hashes above cover both', () => {
  const kernels = Object.fromEntries(Object.keys(EXPECTED).map((k) => [k, result(k).gemmKernel]));
  for (const k of Object.keys(kernels)) expect(kernels[k], k).toBe(k === 'deno' || k === 'bun' ? 'shuffled-splats' : 'splat-loads');
});

test('runtime specifics: entries resolved by name to the right files; workerd refuses bytes, so the module import is what works', () => {
  for (const k of ['node', 'deno', 'bun']) expect(result(k).entry, k).toMatch(/\/dist\/node\.js$/);
  const w = result('workerd');
  expect(w.workerdEntry).toEqual({ resolved: 'dist/workerd.js', imports: expect.arrayContaining(['./lstm-core.js', './lstm-simd.wasm']) });
  expect(w.compileFromBytes).toMatch(/^refused/);
});

test('timings (informational) and the whole run under 60 s', () => {
  const line = Object.entries(outcomes)
    .map(([k, o]) => `${k} ${o.ms} ms${o.ok ? ` (suite ${o.result.ms} ms)` : ' FAILED'}`)
    .join(', ');
  console.log(`conformance: ${line}; wall ${Math.round(wallMs)} ms`);
  expect(wallMs).toBeLessThan(60_000);
});
