// The published artifact: `npm pack` the built project, install the tarball into a clean temp
// project (offline: the package has no dependencies), and run the same script there in Node, Deno
// and Bun, through the package root and `lstm-wasm/inline`. The output bits must match across all of
// them and the in-process run on src/. Also checks the tarball holds only dist/, data/, README.md,
// LICENSE and package.json, and every file package.json points at. Node only; needs `npm run build`.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Lsrc from '../src/index.js';
import { binary, checkDist, exec, ROOT } from '../conformance/runners.mjs';

/**
 * The workload, run in the consumer project (as source text) and in-process: a seeded 2-layer
 * bidirectional LSTM, forward and backward on fixed inputs, FNV-1a hashes of every output's bits.
 * Self-contained on purpose (its text is pasted into the consumer script).
 */
function workload(L: typeof Lsrc) {
  const hash = (a: Float32Array) => {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    let h = 0x811c9dc5;
    for (let i = 0; i < u.length; i++) {
      h ^= u[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16).padStart(8, '0');
  };
  const seq = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * f + 0.25)));
  const [T, B, I, H, NL] = [7, 3, 4, 6, 2];
  const lstm = new L.LSTM({ inputSize: I, hiddenSize: H, numLayers: NL, bidirectional: true, seed: 1234 });
  const fwd = lstm.forward(new L.Tensor(seq(T * B * I, 0.37), [T, B, I]));
  const bwd = lstm.backward({ dOutput: { data: seq(T * B * 2 * H, 0.11), shape: fwd.output.shape } });
  const dense = new L.Dense({ inputSize: 2 * H, units: 3, seed: 99 });
  const logits = dense.forward(fwd.output);
  const out = {
    output: hash(fwd.output.data),
    hN: hash(fwd.hN.data),
    cN: hash(fwd.cN.data),
    dInput: hash(bwd.dInput.data),
    grads: Object.keys(bwd.grads).map((k) => `${k}:${hash(bwd.grads[k].data)}`).join(' '),
    params: Object.entries(lstm.stateDict()).map(([k, t]) => `${k}:${hash(t.data)}`).join(' '),
    logits: hash(logits.data),
  };
  lstm.dispose();
  dense.dispose();
  return out;
}

const SCRIPT = `// written by test/pack.test.ts
import process from 'node:process';
const spec = process.argv[2] === 'inline' ? 'lstm-wasm/inline' : 'lstm-wasm';
const L = await import(spec);
const rt = await L.ready();
const workload = ${workload.toString()};
const runtime = globalThis.Deno ? 'deno ' + Deno.version.deno : globalThis.Bun ? 'bun ' + Bun.version : 'node ' + process.versions.node;
console.log(JSON.stringify({ runtime, spec, entry: import.meta.resolve(spec), simd: rt.simd, live: rt.liveObjects(), hashes: workload(L) }));
`;

interface Out {
  runtime: string;
  spec: string;
  entry: string;
  simd: boolean;
  live: number;
  hashes: Record<string, string>;
}

let work: string;
let tarball: string;
let files: string[];
let packed: { name: string; exports: unknown; main: string; module: string; types: string; bin: Record<string, string>; dependencies?: unknown; peerDependencies?: unknown };
let project: string;
const timings: Record<string, number> = {};

beforeAll(async () => {
  checkDist();
  work = mkdtempSync(join(tmpdir(), 'lstm-pack-'));
  let t0 = performance.now();
  const pack = await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, timeout: 60_000 });
  if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.stderr}`);
  tarball = join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0].filename);
  timings.pack = performance.now() - t0;
  files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^package\//, ''));
  packed = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));

  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'lstm-wasm-pack-consumer', private: true, type: 'module' }));
  t0 = performance.now();
  const install = await exec('npm', ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--offline', '--no-package-lock'], { cwd: project, timeout: 60_000 });
  if (install.code !== 0) throw new Error(`npm install <tarball> --offline failed (${install.code}):\n${install.stderr}`);
  timings.install = performance.now() - t0;
  writeFileSync(join(project, 'check.mjs'), SCRIPT);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('tarball contents', () => {
  test('only dist/, data/, README.md, LICENSE and package.json', () => {
    const stray = files.filter((f) => !/^(dist\/|data\/)/.test(f) && !['README.md', 'LICENSE', 'package.json'].includes(f));
    expect(stray).toEqual([]);
    for (const dir of ['src/', 'test/', 'crates/', 'target/', 'conformance/', 'bench/', 'node_modules/', 'build/', 'scripts/']) {
      expect(files.filter((f) => f.startsWith(dir)), dir).toEqual([]);
    }
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json', 'dist/lstm-simd.wasm', 'dist/lstm-scalar.wasm', 'dist/lstm-core.js']));
  });

  test('every file package.json points at is in the tarball, and it needs no dependencies', () => {
    const targets: string[] = [packed.main, packed.module, packed.types, ...Object.values(packed.bin ?? {})];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(packed.exports);
    const missing = [...new Set(targets)].map((t) => t.replace(/^\.\//, '')).filter((t) => !files.includes(t));
    expect(missing).toEqual([]);
    expect(packed.dependencies ?? {}).toEqual({});
    expect(packed.peerDependencies ?? {}).toEqual({});
  });
});

describe('installed from the tarball, the same bits in Node, Deno and Bun', () => {
  const runs: Record<string, Out> = {};
  let expected: Record<string, string>;

  beforeAll(async () => {
    await Lsrc.ready({ wasm: await readFile(join(ROOT, 'dist', 'lstm-simd.wasm')) });
    expected = workload(Lsrc);
    const cmds: Record<string, [string, string[]]> = {
      node: [process.execPath, []],
      deno: [binary('deno'), ['run', '--allow-read', '--no-prompt', '--no-lock']],
      bun: [binary('bun'), ['--no-install']],
    };
    const env = { DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(project, '.deno'), NO_COLOR: '1' };
    await Promise.all(
      Object.entries(cmds).flatMap(([name, [cmd, pre]]) =>
        ['root', 'inline'].map(async (which) => {
          const r = await exec(cmd, [...pre, 'check.mjs', which], { cwd: project, env });
          const line = r.stdout.trim().split('\n').pop() ?? '';
          if (r.code !== 0 || !line.startsWith('{')) throw new Error(`${name} ${which} exited with ${r.code}:\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-1000)}`);
          runs[`${name} ${which}`] = JSON.parse(line) as Out;
          timings[`${name} ${which}`] = r.ms;
        }),
      ),
    );
  }, 120_000);

  test.each(['node', 'deno', 'bun'].flatMap((n) => [`${n} root`, `${n} inline`]))('%s: resolves inside the installed copy, SIMD build, output bits equal src/', (key) => {
    const r = runs[key];
    expect(r, `${key} did not run`).toBeDefined();
    expect(r.runtime.startsWith(key.split(' ')[0])).toBe(true);
    const installed = `file://${join(project, 'node_modules', 'lstm-wasm')}/dist/`;
    expect(r.entry).toBe(installed + (key.endsWith('inline') ? 'inline.js' : 'node.js'));
    expect(r.simd).toBe(true);
    expect(r.live).toBe(0);
    expect(r.hashes).toEqual(expected);
  });

  test('timings (informational)', () => {
    console.log(`pack: ${Object.entries(timings).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')}; tarball ${Math.round(readFileSync(tarball).length / 1024)} KB, ${files.length} files`);
    expect(Object.keys(runs)).toHaveLength(6);
  });
});
