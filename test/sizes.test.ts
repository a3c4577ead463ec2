// Size budgets of what ships: at most 200 KB per .wasm build, at most 64 KB of minified library JS.
import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';

test('wasm and JS sizes are within budget', () => {
  const out = JSON.parse(execFileSync(process.execPath, ['scripts/sizes.mjs', '--json'], { encoding: 'utf8' }));
  expect(out.over).toEqual([]);
  for (const v of Object.values(out.wasm) as { raw: number; gzip: number }[]) {
    expect(v.raw).toBeLessThanOrEqual(200 * 1024);
    expect(v.gzip).toBeLessThan(v.raw);
  }
  const js = Object.values(out.js)[0] as { minified: number };
  expect(js.minified).toBeLessThanOrEqual(64 * 1024);
  expect(js.minified).toBeGreaterThan(10 * 1024); // the real bundle was measured, not an empty file
});
