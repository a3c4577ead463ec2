// Browser side of the runner, shared by the page and the Worker: ready(), fixtures and the scalar
// build over HTTP from the same origin, then the suite.
import { runSuite, LSTM_FIXTURES } from '../suite.js';

async function getJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`fetch ${path}: HTTP ${r.status}`);
  return r.json();
}

export async function runIn(L) {
  const t0 = performance.now();
  await L.ready();
  const readyMs = performance.now() - t0;
  const fixtures = Object.fromEntries(await Promise.all(LSTM_FIXTURES.map(async (n) => [n, await getJson(`/test/fixtures/${n}.json`)])));
  const result = await runSuite(L, fixtures, { scalarWasm: fetch('/dist/lstm-scalar.wasm') });
  result.readyMs = Math.round(readyMs);
  result.crossOriginIsolated = globalThis.crossOriginIsolated ?? null;
  return result;
}
