// lstm-wasm alone on W1/W2/W3 and the GEMM in every engine the package supports with a local binary:
// Node, Deno, Bun and Chromium (a page). One fresh process (or browser) per engine and round, one
// engine at a time. Not part of the targets, which are Node's (run.mjs); this shows what the engine
// changes, with the GEMM micro-kernel each one chose (Runtime.gemmKernel).
//   node bench/engines.mjs [--rounds=N] [--only=node,deno,bun,chromium]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const ROUNDS = Number(arg('rounds', '3'));
const ONLY = arg('only', 'node,deno,bun,chromium').split(',');
const WORKLOADS = new URL('./lib/engine-workloads.mjs', import.meta.url).href;
const DIST = pathToFileURL(`${ROOT}dist/node.js`).href;

// The child: import the package's Node/Deno/Bun entry by path, run, print one JSON line.
const CHILD = `const L = await import(${JSON.stringify(DIST)}); await L.ready();
const { runWorkloads } = await import(${JSON.stringify(WORKLOADS)});
console.log('@@' + JSON.stringify(await runWorkloads(L)));`;

function binary(name) {
  const candidates = {
    deno: ['node_modules/.bin/deno'],
    bun: ['node_modules/@oven/bun-linux-x64/bin/bun', 'node_modules/@oven/bun-linux-x64-baseline/bin/bun', 'node_modules/bun/bin/bun.exe'],
  }[name];
  return candidates.map((p) => ROOT + p).find((p) => existsSync(p));
}

function runChild(cmd, args) {
  const text = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  const line = text.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`no result from ${cmd}:\n${text}`);
  return JSON.parse(line.slice(2));
}

async function runChromium() {
  const { chromium } = await import('playwright-core');
  const { serve } = await import('../conformance/serve.mjs');
  const srv = await serve();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${srv.url}/conformance/browser/index.html`);
    const src = readFileSync(new URL(WORKLOADS), 'utf8');
    return await page.evaluate(
      async ({ base, src }) => {
        const L = await import(`${base}/dist/index.js`);
        await L.ready();
        const { runWorkloads } = await import(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
        return runWorkloads(L);
      },
      { base: srv.url, src },
    );
  } finally {
    await browser.close();
    await srv.close();
  }
}

const ENGINES = {
  node: () => runChild(process.execPath, ['--input-type=module', '-e', CHILD]),
  deno: () => runChild(binary('deno'), ['eval', '--ext=js', CHILD]),
  bun: () => runChild(binary('bun'), ['--eval', CHILD]),
  chromium: runChromium,
};

const results = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const name of ONLY) {
    try {
      (results[name] ??= []).push(await ENGINES[name]());
    } catch (e) {
      console.error(`${name}: ${String(e.message ?? e).split('\n')[0]}`);
    }
  }
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const fmt = (v, d) => (v === undefined ? '—' : v.toFixed(d));
console.log(`lstm-wasm by engine, ${ROUNDS} rounds (medians of the per-process medians), ${new Date().toISOString()}`);
console.log('engine     kernel            W1 µs/step   W2 seq/s   W3 seq/s   GEMM GFLOP/s');
for (const [name, rs] of Object.entries(results)) {
  const m = (key) => med(rs.map((x) => x[key]));
  console.log(`${name.padEnd(10)} ${rs[0].gemmKernel.padEnd(17)} ${fmt(m('w1UsPerStep'), 2).padStart(10)} ${fmt(m('w2SeqPerS'), 0).padStart(10)} ${fmt(m('w3SeqPerS'), 0).padStart(10)} ${fmt(m('gemmGflops'), 1).padStart(14)}`);
}
