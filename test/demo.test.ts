// End-to-end test of the browser demo (demo/): builds it, serves it, and drives Debian's Chromium
// with playwright-core: training runs in the worker and the loss falls, the page answers typing
// while the worker trains, the streaming tagger shows one tag per typed token, Stop aborts.
// Needs the library built (`npm run build`). Leaves a screenshot in test-results/demo.png.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** What main.js exposes as window.demo. */
interface DemoState {
  state: string;
  losses: number[];
  epochs: { epoch: number; loss: number; accuracy: number; valAccuracy: number }[];
  weightsVersion: number;
}
const demoState = () => (window as unknown as { demo: DemoState }).demo;

let server: ChildProcess | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

afterAll(async () => {
  await context?.close();
  server?.kill('SIGTERM');
  if (profile) rmSync(profile, { recursive: true, force: true });
});

function startServer(): Promise<string> {
  return new Promise((resolve, reject) => {
    server = spawn(process.execPath, ['demo/serve.mjs', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) resolve(m[0]);
    });
    server.on('exit', (code) => reject(new Error(`demo/serve.mjs exited with ${code}: ${out}`)));
    server.on('error', reject);
  });
}

/** Tokens shown by the tagger: word, tag and whether it was read as <unk>. */
function shownTokens(page: Page) {
  return page.$$eval('#tagged .tok', (els) =>
    els.map((el) => ({ word: el.querySelector('.w')!.textContent, tag: el.querySelector('.t')!.textContent, unk: el.classList.contains('unk') })),
  );
}

test('demo: trains in a worker, stays responsive while training, tags as you type, stops', async () => {
  const started = Date.now();
  execFileSync(process.execPath, ['demo/build.mjs'], { cwd: root, stdio: 'pipe' });
  const url = await startServer();

  profile = mkdtempSync(join(tmpdir(), 'lstm-wasm-demo-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args,
    viewport: { width: 1000, height: 900 },
  });
  // Everything must come from the local server: record and refuse anything else.
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(url)) return route.continue();
    external.push(u);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });

  await page.goto(url);
  await page.waitForFunction(() => /wasm core ready/.test(document.getElementById('model-info')!.textContent ?? ''));
  // 20 epochs, so that training is still running when the test stops it after epoch 3, however
  // fast the machine (the default 6 can finish first on a quiet one).
  await page.selectOption('#cfg-epochs', '20');
  await page.click('#train');
  await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.losses.length > 0, null, { timeout: 15_000 });
  const first = (await page.evaluate(demoState)).losses[0];
  expect(first).toBeGreaterThan(1);

  // Type while the worker trains; every keystroke must show up in the character count quickly.
  const sentence = 'The old man saw a zorblax .';
  await page.fill('#sentence', '');
  const before = await page.evaluate(demoState);
  expect(before.state).toBe('training');
  const latencies: number[] = [];
  let typed = '';
  for (const ch of sentence) {
    typed += ch;
    const t0 = performance.now();
    await page.keyboard.type(ch);
    await page.waitForFunction(
      (n) => document.getElementById('echo')!.textContent!.startsWith(`${n} character`),
      typed.length,
      { polling: 'raf', timeout: 2_000 },
    );
    latencies.push(performance.now() - t0);
  }
  const after = await page.evaluate(demoState);
  expect(after.state).toBe('training');
  expect(after.losses.length).toBeGreaterThan(before.losses.length); // the worker kept training meanwhile
  const maxLatency = Math.max(...latencies);
  expect(maxLatency).toBeLessThan(500);

  // The loss falls below 70 % of its first value.
  await page.waitForFunction((f) => {
    const l = (window as unknown as { demo: DemoState }).demo.losses;
    return l.length > 0 && l[l.length - 1] < 0.7 * f;
  }, first, { timeout: 40_000 });

  // After the first epoch the tagger, on the latest weights, tags every token; the easy ones right.
  await page.waitForFunction(() => {
    const d = (window as unknown as { demo: DemoState }).demo;
    return d.epochs.length >= 1 && d.weightsVersion > 0;
  }, null, { timeout: 40_000 });
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#tagged .tok .t')).every((t) => t.textContent !== '·'));
  const tokens = await shownTokens(page);
  expect(tokens.map((t) => t.word)).toEqual(['The', 'old', 'man', 'saw', 'a', 'zorblax', '.']);
  for (const t of tokens) expect(t.tag).toMatch(/^\S+$/);
  expect(tokens.find((t) => t.word === 'The')!.tag).toBe('at');
  expect(tokens.find((t) => t.word === '.')!.tag).toBe('.');
  expect(tokens.filter((t) => t.unk).map((t) => t.word)).toEqual(['zorblax']);

  // Streaming: one more word steps one token on top of the kept state.
  await page.keyboard.press('Backspace');
  await page.keyboard.type('in the park .');
  await page.waitForFunction(() => document.querySelectorAll('#tagged .tok').length === 10);
  expect((await shownTokens(page)).map((t) => t.word).slice(-4)).toEqual(['in', 'the', 'park', '.']);

  // Let a few epochs land on the chart, then stop.
  await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.epochs.length >= 3, null, { timeout: 30_000 });
  await page.click('#stop');
  await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.state === 'stopped', null, { timeout: 5_000 });
  const stopped = await page.evaluate(demoState);
  await page.waitForTimeout(300);
  expect((await page.evaluate(demoState)).losses.length).toBe(stopped.losses.length);

  mkdirSync(join(root, 'test-results'), { recursive: true });
  await page.screenshot({ path: join(root, 'test-results', 'demo.png'), fullPage: true });

  const l = stopped.losses;
  console.log(
    `demo: ${l.length} batches, loss ${first.toFixed(3)} → ${l[l.length - 1].toFixed(3)}; ` +
      `epochs ${stopped.epochs.map((e) => `${e.loss.toFixed(3)}/${(100 * e.valAccuracy).toFixed(1)}%`).join(', ')}; ` +
      `typing latency max ${maxLatency.toFixed(0)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1].toFixed(0)} ms; ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(errors).toEqual([]);
  expect(external).toEqual([]);
}, 90_000);
