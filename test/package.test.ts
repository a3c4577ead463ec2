// The BUILT package (dist/), resolved by name the way a consumer gets it: a temp project whose
// node_modules/lstm-wasm is a symlink to this repo, running `import * as L from 'lstm-wasm'` in a
// fresh `node` process. Node only (child processes, file system). Needs `npm run build` first.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LSTM } from '../src/index.js';
import { bitsHash, build } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; main: string; exports: Record<string, unknown> };

// Shared by the consumer script and the in-process check: deterministic inputs and the FNV-1a bit hash.
const CONFIG = { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 7 };
const [T, B] = [5, 2];
const inputs = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f + 0.5));

const CONSUMER = `
import * as L from 'lstm-wasm';
import { createRequire } from 'node:module';

const mode = process.argv[2];
const rt = await L.ready(mode === 'scalar' ? { simd: false } : mode === 'simd' ? { simd: true } : undefined);
const again = await L.ready({ simd: mode !== 'scalar' });

const hash = (a) => {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) { h ^= u[i]; h = Math.imul(h, 0x01000193) >>> 0; }
  return h.toString(16).padStart(8, '0');
};
const inputs = ${inputs.toString()};
const config = ${JSON.stringify(CONFIG)};
const [T, B] = [${T}, ${B}];

const lstm = new L.LSTM(config);
const D = config.bidirectional ? 2 : 1;
const st = [config.numLayers * D, B, config.hiddenSize];
const x = new L.Tensor(inputs(T * B * config.inputSize, 0.37), [T, B, config.inputSize]);
const fwd = lstm.forward(x);
const bwd = lstm.backward({ dOutput: { data: inputs(T * B * D * config.hiddenSize, 0.11), shape: fwd.output.shape } });
const grads = Object.keys(bwd.grads).map((k) => k + ':' + hash(bwd.grads[k].data));

const require = createRequire(import.meta.url);
const resolveFails = (spec) => { try { require.resolve(spec); return false; } catch (e) { return e.code; } };
console.log(JSON.stringify({
  simd: rt.simd,
  simdSupported: L.simdSupported(),
  sameRuntime: L.runtime() === rt && again === rt,
  outputShape: fwd.output.shape,
  hNShape: fwd.hN.shape,
  dInputShape: bwd.dInput.shape,
  hash: { output: hash(fwd.output.data), hN: hash(fwd.hN.data), cN: hash(fwd.cN.data), dInput: hash(bwd.dInput.data), dH0: hash(bwd.dH0.data), dC0: hash(bwd.dC0.data) },
  grads,
  finite: [...fwd.output.data, ...bwd.dInput.data].every(Number.isFinite),
  liveBefore: rt.liveObjects(),
  liveAfter: (lstm.dispose(), rt.liveObjects()),
  resolved: {
    main: import.meta.resolve('lstm-wasm'),
    packageJson: import.meta.resolve('lstm-wasm/package.json'),
    packageJsonRequire: require.resolve('lstm-wasm/package.json'),
    simdWasm: import.meta.resolve('lstm-wasm/lstm-simd.wasm'),
    scalarWasm: import.meta.resolve('lstm-wasm/lstm-scalar.wasm'),
    pkg: require('lstm-wasm/package.json').name,
    deepImport: resolveFails('lstm-wasm/dist/node.js'),
  },
}));
`;

interface ConsumerResult {
  simd: boolean;
  simdSupported: boolean;
  sameRuntime: boolean;
  outputShape: number[];
  hNShape: number[];
  dInputShape: number[];
  hash: Record<'output' | 'hN' | 'cN' | 'dInput' | 'dH0' | 'dC0', string>;
  grads: string[];
  finite: boolean;
  liveBefore: number;
  liveAfter: number;
  resolved: { main: string; packageJson: string; packageJsonRequire: string; simdWasm: string; scalarWasm: string; pkg: string; deepImport: string | false };
}

let dir = '';
let link = '';

function consumer(mode?: 'simd' | 'scalar'): ConsumerResult {
  let out: string;
  try {
    out = execFileSync(process.execPath, ['main.mjs', ...(mode ? [mode] : [])], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`consumer (${mode ?? 'default'}) failed: ${err.message}\nstdout: ${err.stdout}\nstderr: ${err.stderr}`);
  }
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ConsumerResult;
  } catch {
    throw new Error(`consumer (${mode ?? 'default'}) printed no JSON:\n${out}`);
  }
}

beforeAll(() => {
  for (const f of ['dist/node.js', 'dist/index.js', 'dist/lstm-core.js', 'dist/index.d.ts', 'dist/lstm-simd.wasm', 'dist/lstm-scalar.wasm']) {
    if (!existsSync(join(root, f))) throw new Error(`${f} is missing: the package is not built. Run \`npm run build\` (build:wasm + build:ts) before the tests.`);
  }
  dir = mkdtempSync(join(tmpdir(), 'lstm-wasm-consumer-'));
  mkdirSync(join(dir, 'node_modules'));
  link = join(dir, 'node_modules', 'lstm-wasm');
  symlinkSync(root, link, 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(dir, 'main.mjs'), CONSUMER);
});

afterAll(() => {
  // Remove the symlink itself first (never what it points to), then the temp dir.
  if (link && existsSync(link)) unlinkSync(link);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the built package, imported by name from a consumer project', () => {
  let simdRun: ConsumerResult;

  test('`import * as L from "lstm-wasm"`: ready(), LSTM forward + backward (default build = SIMD)', () => {
    simdRun = consumer();
    expect(simdRun.simdSupported).toBe(true);
    expect(simdRun.simd).toBe(true);
    expect(simdRun.sameRuntime).toBe(true);
    expect(simdRun.outputShape).toEqual([T, B, 2 * CONFIG.hiddenSize]);
    expect(simdRun.hNShape).toEqual([CONFIG.numLayers * 2, B, CONFIG.hiddenSize]);
    expect(simdRun.dInputShape).toEqual([T, B, CONFIG.inputSize]);
    expect(simdRun.finite).toBe(true);
    expect(simdRun.grads.map((g) => g.split(':')[0])).toEqual([
      'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0',
      'weight_ih_l0_reverse', 'weight_hh_l0_reverse', 'bias_ih_l0_reverse', 'bias_hh_l0_reverse',
      'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1',
      'weight_ih_l1_reverse', 'weight_hh_l1_reverse', 'bias_ih_l1_reverse', 'bias_hh_l1_reverse',
    ]);
    expect([simdRun.liveBefore, simdRun.liveAfter]).toEqual([1, 0]);
  });

  test('the package gives the same bits as the source facade on the same build', async () => {
    simdRun ??= consumer();
    const rt = await build('simd');
    const lstm = new LSTM({ ...CONFIG, runtime: rt });
    const fwd = lstm.forward({ data: inputs(T * B * CONFIG.inputSize, 0.37), shape: [T, B, CONFIG.inputSize] });
    const bwd = lstm.backward({ dOutput: { data: inputs(T * B * 2 * CONFIG.hiddenSize, 0.11), shape: fwd.output.shape } });
    expect(simdRun.hash).toEqual({
      output: bitsHash(fwd.output.data),
      hN: bitsHash(fwd.hN.data),
      cN: bitsHash(fwd.cN.data),
      dInput: bitsHash(bwd.dInput.data),
      dH0: bitsHash(bwd.dH0.data),
      dC0: bitsHash(bwd.dC0.data),
    });
    expect(simdRun.grads).toEqual(Object.entries(bwd.grads).map(([k, g]) => `${k}:${bitsHash(g.data)}`));
    lstm.dispose();
  });

  test('ready({ simd: false }) in a fresh process picks the scalar build, with the same output bits', () => {
    simdRun ??= consumer();
    const scalarRun = consumer('scalar');
    expect(scalarRun.simd).toBe(false);
    expect(scalarRun.sameRuntime).toBe(true);
    expect(scalarRun.outputShape).toEqual(simdRun.outputShape);
    expect(scalarRun.hash).toEqual(simdRun.hash);
    expect(scalarRun.grads).toEqual(simdRun.grads);
    // And { simd: true } explicitly is the SIMD build.
    expect(consumer('simd').simd).toBe(true);
  });

  test('package exports: ".", "./package.json" and the .wasm files resolve; deep imports are encapsulated', () => {
    const r = (simdRun ??= consumer()).resolved;
    const dist = (f: string) => new URL(`dist/${f}`, `file://${root.endsWith('/') ? root : `${root}/`}`).href;
    expect(r.main).toBe(dist('node.js')); // the "node" condition
    expect(r.packageJson).toBe(new URL('package.json', `file://${root.endsWith('/') ? root : `${root}/`}`).href);
    expect(r.packageJsonRequire).toBe(join(root, 'package.json'));
    expect(r.pkg).toBe(pkg.name);
    expect(r.simdWasm).toBe(dist('lstm-simd.wasm'));
    expect(r.scalarWasm).toBe(dist('lstm-scalar.wasm'));
    expect(r.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    // Every file the export map names exists.
    const targets: string[] = [];
    const walk = (v: unknown) => (typeof v === 'string' ? targets.push(v) : v && typeof v === 'object' && Object.values(v).forEach(walk));
    walk(pkg.exports);
    walk(pkg.main);
    expect(targets.filter((t) => !existsSync(join(root, t)))).toEqual([]);
  });

  test('TypeScript (nodenext, strict) sees the Node entry\'s file helpers when importing "lstm-wasm"', () => {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true }, files: ['typed.ts'] }));
    writeFileSync(join(dir, 'typed.ts'), [
      "import { ready, LSTM, saveModel, loadModel, checkpointToFile, writeFileAtomic } from 'lstm-wasm';",
      'await ready();',
      'const lstm: LSTM = new LSTM({ inputSize: 2, hiddenSize: 3 });',
      'const helpers: unknown[] = [saveModel, loadModel, checkpointToFile, writeFileAtomic];',
      'export { lstm, helpers };',
    ].join('\n'));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Our own declarations also check on their own: no skipLibCheck, an ES2022 lib without
    // esnext.disposable, and no @types at all (a browser project).
    writeFileSync(join(dir, 'tsconfig.strictlib.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true, skipLibCheck: false }, files: ['browser.ts'] }));
    writeFileSync(join(dir, 'browser.ts'), "import { ready, LSTM, Sequential, Dense } from 'lstm-wasm/inline';\nawait ready();\nexport const m = new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3, returnSequences: false }), new Dense({ inputSize: 3, units: 1 })]);\n");
    const r2 = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.strictlib.json')], { encoding: 'utf8' });
    expect(r2.stdout + r2.stderr).toBe('');
    expect(r2.status).toBe(0);
    // And in a Node project whose lib has no "dom" (WebAssembly and BufferSource come from it).
    writeFileSync(join(dir, 'tsconfig.nodelib.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['esnext'], types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], strict: true, noEmit: true, skipLibCheck: false }, files: ['typed.ts'] }));
    const r3 = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.nodelib.json')], { encoding: 'utf8' });
    expect(r3.stdout + r3.stderr).toBe('');
    expect(r3.status).toBe(0);
  }, 120_000); // three tsc runs: several seconds each on a loaded machine

  test('every entry follows the same ready() rules; the Node entry reads paths and file: URLs from disk', () => {
    writeFileSync(join(dir, 'ready.mjs'), `
      import { ready, createRuntime } from 'lstm-wasm';
      const msg = async (p) => { try { await p; return 'resolved'; } catch (e) { return e.message; } };
      const rt = await ready();
      const out = {
        simd: rt.simd,
        switchBuild: await msg(ready({ simd: !rt.simd })),
        unknownOption: await msg(ready({ smid: false })),
        fromPath: (await createRuntime('node_modules/lstm-wasm/dist/lstm-scalar.wasm')).simd,
        fromUrl: (await createRuntime(new URL('./node_modules/lstm-wasm/dist/lstm-scalar.wasm', import.meta.url))).simd,
      };
      console.log(JSON.stringify(out));`);
    const out = JSON.parse(execFileSync(process.execPath, ['ready.mjs'], { cwd: dir, encoding: 'utf8' }));
    expect(out).toEqual({
      simd: true,
      switchBuild: 'ready: already initialised with the SIMD build; ready({ simd: false }) cannot switch (use createRuntime for a second runtime)',
      unknownOption: "ready: unknown option 'smid' (the options are simd, wasm)",
      fromPath: false,
      fromUrl: false,
    });
  });
});
