// Drives conformance/suite.js in every runtime and collects the JSON each one prints. Node-only.
//
//   node conformance/runners.mjs [node|deno|bun|chromium|workerd ...]   (default: all)
//
// prints one JSON object { <runtime>: { ok, ms, result | error } } (chromium gives two entries,
// chromium-main and chromium-worker). Needs `npm run build` (dist/) and the devDependencies deno,
// bun, workerd, playwright-core, plus Debian's /usr/bin/chromium.
import { spawn, execFileSync } from 'node:child_process';
import { statSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures');
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Where each runtime's binary is; the npm packages are installed with or without their install scripts. */
const CANDIDATES = {
  deno: ['node_modules/@deno/linux-x64-glibc/deno', 'node_modules/deno/deno'],
  // After bun's postinstall the binary has moved to bun/bin/bun.exe; with scripts ignored it stays in @oven.
  bun: ['node_modules/bun/bin/bun.exe', 'node_modules/@oven/bun-linux-x64/bin/bun', 'node_modules/@oven/bun-linux-x64-baseline/bin/bun'],
  workerd: ['node_modules/@cloudflare/workerd-linux-64/bin/workerd'],
  chromium: ['/usr/bin/chromium'],
};
const INSTALL_HINT = {
  deno: 'npm install (devDependency deno@2.9.6 → @deno/linux-x64-glibc)',
  bun: 'npm install (devDependency bun@1.4.5 → @oven/bun-linux-x64)',
  workerd: 'npm install (devDependency workerd@1.20261117.1 → @cloudflare/workerd-linux-64)',
  chromium: 'apt-get install -y chromium',
};

/** Absolute path of a runtime's binary; throws naming what is missing and how to get it. */
export function binary(name) {
  for (const c of CANDIDATES[name]) {
    const p = c.startsWith('/') ? c : join(ROOT, c);
    // bun/bin/bun.exe is a small placeholder script until bun's postinstall has run.
    if (existsSync(p) && (!p.endsWith('.exe') || statSync(p).size > 1_000_000)) return p;
  }
  throw new Error(`${name} is not available: none of ${CANDIDATES[name].join(', ')} exists (${INSTALL_HINT[name]})`);
}

/** The built package must be there. */
export function checkDist() {
  const need = ['dist/index.js', 'dist/node.js', 'dist/workerd.js', 'dist/lstm-core.js', 'dist/lstm-simd.wasm', 'dist/lstm-scalar.wasm'];
  const missing = need.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) throw new Error(`dist/ is incomplete (${missing.join(', ')} missing): run \`npm run build\` first`);
}

/**
 * A consumer project in a temp folder: package.json, node_modules/lstm-wasm → this repo (a
 * symlink, as `npm link` would make), and the runner entry plus the suite. Returns its path.
 */
export function prepareConsumer(pkgDir = ROOT) {
  const dir = mkdtempSync(join(tmpdir(), 'lstm-conformance-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lstm-wasm-consumer', private: true, type: 'module', dependencies: { 'lstm-wasm': `file:${pkgDir}` } }, null, 2));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(pkgDir, join(dir, 'node_modules', 'lstm-wasm'), 'dir');
  copyFileSync(join(HERE, 'consumer.mjs'), join(dir, 'consumer.mjs'));
  copyFileSync(join(HERE, 'suite.js'), join(dir, 'suite.js'));
  return dir;
}

/** Run a command; resolves { code, stdout, stderr, ms }. Kills it after `timeout` ms. */
export function exec(cmd, args, { cwd, env, timeout = 45_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n[killed after ${timeout} ms]`;
    }, timeout);
    child.on('error', (e) => (clearTimeout(timer), reject(new Error(`${cmd}: ${e.message}`))));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr, ms: Math.round(performance.now() - t0) });
    });
  });
}

/** The JSON object on the last non-empty line of a runner's stdout, or a readable error. */
function parseResult(what, r) {
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  if (r.code !== 0 || !line) throw new Error(`${what} exited with ${r.code}\n--- stderr ---\n${r.stderr.trim().slice(-3000)}\n--- stdout ---\n${r.stdout.trim().slice(-1000)}`);
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${what}: last stdout line is not JSON: ${line.slice(0, 500)}\n${r.stderr.slice(-2000)}`);
  }
}

async function timed(fn) {
  const t0 = performance.now();
  try {
    const result = await fn();
    return { ok: true, ms: Math.round(performance.now() - t0), result };
  } catch (e) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: String(e && e.stack ? e.stack : e) };
  }
}

// ---------------------------------------------------------------- Node, Deno, Bun (by package name)

export async function runNode(consumer) {
  return parseResult('node', await exec(process.execPath, ['consumer.mjs', FIXTURES], { cwd: consumer }));
}

export async function runDeno(consumer) {
  const deno = binary('deno');
  const r = await exec(deno, ['run', '--allow-read', '--no-prompt', '--no-lock', 'consumer.mjs', FIXTURES], {
    cwd: consumer,
    env: { DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(consumer, '.deno'), NO_COLOR: '1' },
  });
  return parseResult('deno', r);
}

export async function runBun(consumer) {
  const bun = binary('bun');
  const r = await exec(bun, ['--no-install', 'consumer.mjs', FIXTURES], { cwd: consumer, env: { NO_COLOR: '1', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' } });
  return parseResult('bun', r);
}

// ---------------------------------------------------------------- Chromium: main thread + module Worker

export async function runChromium() {
  const exe = binary('chromium');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (devDependency playwright-core@1.65.1): ${e.message}`);
  }
  const server = await serve(ROOT);
  const profile = mkdtempSync(join(tmpdir(), 'lstm-conformance-chromium-'));
  const log = [];
  let ctx;
  const tLaunch = performance.now();
  try {
    ctx = await chromium.launchPersistentContext(profile, { executablePath: exe, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('console', (m) => m.type() === 'error' && log.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(`${server.url}/conformance/browser/index.html`);
    await page.waitForFunction(() => window.conformanceReady === true, null, { timeout: 15_000 }).catch((e) => {
      throw new Error(`the page did not load its modules: ${e.message}\n${log.join('\n')}`);
    });
    const wrap = async (what, fn) => {
      try {
        return { ok: true, result: await page.evaluate(fn) };
      } catch (e) {
        return { ok: false, error: `${what}: ${e.message}\n${log.join('\n')}` };
      }
    };
    const t0 = performance.now();
    const main = await wrap('main thread', () => window.conformanceMain());
    const t1 = performance.now();
    const worker = await wrap('worker', () => window.conformanceWorker());
    const t2 = performance.now();
    const version = ctx.browser()?.version() ?? null;
    const launchMs = Math.round(t0 - tLaunch);
    for (const r of [main, worker]) if (r.ok) Object.assign(r.result, { browserVersion: version, launchMs });
    return { 'chromium-main': { ...main, ms: Math.round(t1 - t0) }, 'chromium-worker': { ...worker, ms: Math.round(t2 - t1) } };
  } finally {
    await ctx?.close().catch(() => {});
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- workerd

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * What a bundler resolving the `workerd` condition gets for 'lstm-wasm' (Node's resolver with
 * --conditions=workerd, from the consumer project), and the relative imports of that file, which
 * conformance/workerd/config.capnp must provide as modules.
 */
export function workerdEntry(consumer) {
  const resolved = execFileSync(process.execPath, ['--conditions=workerd', '--input-type=module', '-e',
    "import { createRequire } from 'node:module'; process.stdout.write(createRequire(process.cwd() + '/x.js').resolve('lstm-wasm'))"], { cwd: consumer, encoding: 'utf8' });
  const src = readFileSync(resolved, 'utf8');
  const imports = [...src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]/gm), ...src.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  return { resolved, imports: [...new Set(imports)] };
}

export async function runWorkerd(consumer) {
  const workerd = binary('workerd');
  const entry = workerdEntry(consumer);
  if (!entry.resolved.endsWith('/dist/workerd.js')) throw new Error(`'lstm-wasm' with the workerd condition resolves to ${entry.resolved}, expected dist/workerd.js`);
  const config = readFileSync(join(HERE, 'workerd', 'config.capnp'), 'utf8');
  const missing = entry.imports.filter((s) => !config.includes(`name = "${s.replace(/^\.\//, '')}"`));
  if (missing.length) throw new Error(`dist/workerd.js imports ${missing.join(', ')}, which conformance/workerd/config.capnp does not provide as modules`);
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(workerd, ['serve', join(HERE, 'workerd', 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
  try {
    let res;
    for (;;) {
      const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 100))]);
      if (early !== undefined) throw new Error(`workerd exited (${early}) before serving:\n${out.slice(-3000)}`);
      try {
        res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(30_000) });
        break;
      } catch (e) {
        if (performance.now() - t0 > 15_000) throw new Error(`workerd did not answer on 127.0.0.1:${port} within 15 s (${e.message}):\n${out.slice(-3000)}`);
      }
    }
    const text = await res.text();
    let result;
    try {
      result = JSON.parse(text);
    } catch {
      throw new Error(`workerd answered HTTP ${res.status} with non-JSON: ${text.slice(0, 1000)}\n${out.slice(-2000)}`);
    }
    if (result.fatal) throw new Error(`the worker failed: ${result.fatal}\n${out.slice(-2000)}`);
    result.workerdEntry = { resolved: entry.resolved.slice(entry.resolved.indexOf('/dist/') + 1), imports: entry.imports };
    result.workerdVersion = execFileSync(workerd, ['--version'], { encoding: 'utf8' }).trim();
    return result;
  } finally {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 3000))]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

// ---------------------------------------------------------------- all

export const RUNTIMES = ['node', 'deno', 'bun', 'chromium', 'workerd'];

/**
 * Run the suite in the given runtimes (in parallel) and return { <runtime>: { ok, ms, result | error } }
 * with the keys node, deno, bun, chromium-main, chromium-worker, workerd.
 */
export async function runAll(names = RUNTIMES) {
  checkDist();
  const consumer = prepareConsumer();
  try {
    const jobs = names.map(async (n) => {
      switch (n) {
        case 'node':
          return { node: await timed(() => runNode(consumer)) };
        case 'deno':
          return { deno: await timed(() => runDeno(consumer)) };
        case 'bun':
          return { bun: await timed(() => runBun(consumer)) };
        case 'workerd':
          return { workerd: await timed(() => runWorkerd(consumer)) };
        case 'chromium': {
          const r = await timed(runChromium);
          if (!r.ok) return { 'chromium-main': r, 'chromium-worker': r };
          return r.result;
        }
        default:
          throw new Error(`unknown runtime ${n} (known: ${RUNTIMES.join(', ')})`);
      }
    });
    return Object.assign({}, ...(await Promise.all(jobs)));
  } finally {
    rmSync(consumer, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.slice(2);
  const results = await runAll(names.length ? names : RUNTIMES);
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exitCode = Object.values(results).every((r) => r.ok && r.result.pass) ? 0 : 1;
}
