#!/usr/bin/env node
// Benchmark driver: runs every (library, workload) pair as a child process, one at a time,
// single-threaded, in several rounds; prints a table of medians and lstm-wasm/peer ratios and
// writes bench/results.json. See README.md.
//
//   npm run bench                  full run (4 rounds, about 3½ minutes on a quiet machine)
//   npm run bench -- --quick       smoke run (1 round, few samples, under a minute or so)
//   options: --rounds=N  --only=W1,W2,W3,GEMM,first,sizes  --libs=lstm-wasm,onnxruntime-web,...
//            --wait-quiet=S (max seconds to wait for a quiet machine before each child; 0 = never)
//            --out=FILE (default results.json; --out= writes nothing)  --verbose
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WORKLOADS, lstmFlops, median } from './lib/common.mjs';
import { writeGraph } from './lib/onnx-graphs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const require = createRequire(import.meta.url);
const started = Date.now();

// ---------- options ----------
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? dflt : a.slice(name.length + 3);
};
const QUICK = flag('quick');
const VERBOSE = flag('verbose');
const ROUNDS = Number(opt('rounds', QUICK ? 1 : 4));
const ONLY = new Set(opt('only', 'GEMM,W1,W2,W3,first,sizes').split(','));
const LIBS = opt('libs', undefined)?.split(',');
const OUT = opt('out', 'results.json');
const FIRST_PROCS = QUICK ? 3 : 5;
// Before each child, wait (up to WAIT_S seconds, WAIT_TOTAL_S in all) for the machine to be quiet.
const WAIT_S = Number(opt('wait-quiet', QUICK ? 3 : 15));
const WAIT_TOTAL_S = QUICK ? 30 : 180;

// ---------- what runs ----------
// Per-round sample counts; `budgetMs` stops a child early (after minSamples) when a sample is slow.
const q = (full, quick) => (QUICK ? quick : full);
const LIBRARIES = [
  { id: 'lstm-wasm', pkg: 'lstm-wasm', suite: 'lstm-wasm.mjs' },
  { id: 'onnxruntime-web', pkg: 'onnxruntime-web', suite: 'ort.mjs', opts: { flavor: 'web' }, note: 'wasm SIMD, numThreads 1' },
  { id: 'onnxruntime-node', pkg: 'onnxruntime-node', suite: 'ort.mjs', opts: { flavor: 'node' }, note: 'native CPU (MLAS), intraOpNumThreads 1: a native reference, not a wasm peer' },
  { id: 'tfjs-wasm', pkg: '@tensorflow/tfjs-backend-wasm', suite: 'tfjs.mjs', opts: { variant: 'cell' }, note: 'wasm SIMD backend, 1 thread' },
  { id: 'tfjs-wasm (layers)', pkg: '@tensorflow/tfjs-backend-wasm', suite: 'tfjs.mjs', opts: { variant: 'layers' }, workloads: ['W1'] },
  { id: 'brain.js', pkg: 'brain.js', suite: 'brain.mjs', note: 'pure JS' },
].filter((l) => !LIBS || LIBS.includes(l.id) || l.id === 'lstm-wasm');

const SAMPLES = {
  'lstm-wasm': { GEMM: [q(9, 5), 3], W1: [q(15, 7), 3], W2: [q(5, 3), 3], W3: [q(9, 5), 3] },
  'onnxruntime-web': { W1: [q(11, 5), 3], W2: [q(5, 3), 3], W3: [1, 1] },
  'onnxruntime-node': { W1: [q(11, 5), 3], W2: [q(5, 3), 3], W3: [1, 1] },
  'tfjs-wasm': { W1: [q(7, 3), 2], W2: [q(3, 2), 2], W3: [q(3, 2), 2] },
  'tfjs-wasm (layers)': { W1: [q(3, 2), 2] },
  'brain.js': { W1: [q(3, 2), 2], W2: [1, 1], W3: [q(2, 1), 1] },
};
const BUDGET_MS = q(8000, 3000);

const TARGETS = [
  { workload: 'W1', peer: 'onnxruntime-web', min: 4, text: 'W1 streaming ≥ 4× faster than onnxruntime-web' },
  { workload: 'W2', peer: 'onnxruntime-web', min: 1.8, text: "W2 batch inference ≥ 1.8× onnxruntime-web's throughput" },
  { workload: 'W3', peer: 'tfjs-wasm', min: 15, text: "W3 training ≥ 15× tfjs-wasm's throughput" },
];

// ---------- helpers ----------
function version(pkg) {
  try {
    return JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    try {
      return JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      return undefined;
    }
  }
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * p;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

/** Busy and total CPU time of the whole machine so far, in seconds (Linux /proc/stat). */
function machineCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return { busy: (user + nice + system + irq + softirq + steal) / 100, total: f.slice(0, 8).reduce((a, b) => a + b, 0) / 100 };
  } catch {
    return undefined;
  }
}

let waitedTotal = 0;
/** Wait until other processes use < 0.3 core (sampled over 0.5 s), for at most WAIT_S seconds. */
async function waitQuiet() {
  const t0 = Date.now();
  for (;;) {
    const c0 = machineCpu();
    await new Promise((res) => setTimeout(res, 500));
    const c1 = machineCpu();
    if (!c0 || !c1 || (c1.busy - c0.busy) / 0.5 < 0.3) break;
    if ((Date.now() - t0) / 1000 >= WAIT_S || waitedTotal + (Date.now() - t0) / 1000 >= WAIT_TOTAL_S) break;
  }
  waitedTotal += (Date.now() - t0) / 1000;
}

/**
 * Run one child; resolve with its parsed @@RESULT object (or { error }), plus `otherCores`: the
 * average number of cores that everything else on the machine kept busy while it ran (0 = quiet;
 * on 2 cores, ≳ 0.8 means the child had to share).
 */
function child(script, args, timeoutMs = 300_000) {
  const c0 = machineCpu();
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(HERE, script), ...args], { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      err += `\ntimed out after ${timeoutMs / 1000} s`;
    }, timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      clearTimeout(timer);
      if (VERBOSE && (err.trim() || out.trim())) process.stderr.write(`[${script} ${args.join(' ')}]\n${out}${err}\n`);
      const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (line) {
        const r = JSON.parse(line.slice(9));
        const c1 = machineCpu();
        const wall = (Date.now() - t0) / 1000;
        if (c0 && c1 && r.processCpuMs !== undefined) r.otherCores = Math.max(0, (c1.busy - c0.busy - r.processCpuMs / 1000) / wall);
        return resolve(r);
      }
      const msg = (err.trim().split('\n').find((l) => /Error|error/.test(l)) ?? err.trim().split('\n').pop() ?? '').trim();
      resolve({ error: `exit ${code}: ${msg || 'no result'}` });
    });
  });
}

function fmt(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toPrecision(digits);
}

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const log = (s = '') => process.stdout.write(s + '\n');
const progress = (s) => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${s}`);
};

function gitInfo() {
  try {
    const commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'crates'], { encoding: 'utf8' }).trim() !== '';
    return { commit, dirtySources: dirty };
  } catch {
    return {};
  }
}

// ---------- preflight ----------
const DIST = ['dist/node.js', 'dist/index.js', 'dist/lstm-simd.wasm', 'dist/lstm-scalar.wasm'];
for (let waited = 0; ; waited++) {
  const missing = DIST.filter((f) => !fs.existsSync(path.join(ROOT, f)));
  if (missing.length === 0) break;
  // A build in progress deletes dist/*.js for a few seconds; give it up to 30 s.
  if (waited >= 30) {
    console.error(`bench: ${missing.join(', ')} missing: build the library first (in ${ROOT}: npm run build)`);
    process.exit(2);
  }
  await new Promise((res) => setTimeout(res, 1000));
}
if (!fs.existsSync(path.join(HERE, 'node_modules'))) {
  console.error('bench: bench/node_modules is missing: run `npm ci --ignore-scripts` in bench/ first');
  process.exit(2);
}

const machine = {
  cpu: os.cpus()[0]?.model?.trim(),
  cores: os.cpus().length,
  memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  v8: process.versions.v8,
  date: new Date().toISOString(),
  loadavgStart: os.loadavg().map((x) => +x.toFixed(2)),
};
const versions = Object.fromEntries(
  ['lstm-wasm', 'onnxruntime-web', 'onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'brain.js', 'onnx-proto'].map((p) => [p, version(p) ?? null]),
);
const lstmBuild = { ...gitInfo(), distBuilt: fs.statSync(path.join(ROOT, 'dist/lstm-simd.wasm')).mtime.toISOString() };

log(`lstm-wasm bench (${QUICK ? 'quick' : 'full'}, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}): ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}`);
log(`lstm-wasm ${versions['lstm-wasm']} at ${lstmBuild.commit ?? '?'}${lstmBuild.dirtySources ? ' (+ uncommitted src/crates changes)' : ''}, dist built ${lstmBuild.distBuilt}; load average ${machine.loadavgStart.join(' ')}`);
log('Every library runs single-threaded in its own child process, one at a time.\n');

// ---------- measurements ----------
const results = {}; // results[workload][lib] = { times: [], extras... }
const order = ['GEMM', 'W1', 'W2', 'W3'].filter((w) => ONLY.has(w));
if (order.some((w) => w === 'W1' || w === 'W2')) {
  writeGraph('W1');
  writeGraph('W2');
}

// Same weights, same inputs: the ONNX graphs must compute what lstm-wasm computes.
let parity;
if (order.some((w) => w === 'W1' || w === 'W2') && (!LIBS || LIBS.includes('onnxruntime-web'))) {
  progress('  parity check (onnxruntime-web vs lstm-wasm) ...');
  parity = await child('suites/parity.mjs', ['parity', JSON.stringify({ flavor: 'web' })]);
}

for (let round = 0; round < ROUNDS; round++) {
  const libs = round % 2 === 0 ? LIBRARIES : [...LIBRARIES].reverse();
  for (const w of order) {
    for (const lib of libs) {
      const counts = SAMPLES[lib.id]?.[w];
      if (!counts || (lib.workloads && !lib.workloads.includes(w))) continue;
      const slot = ((results[w] ??= {})[lib.id] ??= { times: [], cpuMs: [], rounds: 0 });
      if (slot.unsupported) continue;
      progress(`  round ${round + 1}/${ROUNDS}  ${w}  ${lib.id} ...`);
      const [samples, minSamples] = counts;
      const args = [w, JSON.stringify({ ...lib.opts, samples, minSamples, budgetMs: BUDGET_MS })];
      await waitQuiet();
      let r = await child(path.join('suites', lib.suite), args);
      if (r.error) {
        // Once more after a pause: a failure can be transient (e.g. dist/ being rebuilt right now).
        await new Promise((res) => setTimeout(res, 3000));
        r = await child(path.join('suites', lib.suite), args);
      }
      if (r.unsupported) slot.unsupported = r.unsupported;
      else if (r.error) (slot.errors ??= []).push(r.error);
      else {
        const { times, cpuMs, otherCores, processCpuMs, ...rest } = r;
        slot.times.push(...times);
        slot.cpuMs.push(...cpuMs);
        (slot.otherCores ??= []).push(+(otherCores ?? NaN).toFixed(2));
        slot.rounds++;
        Object.assign(slot, rest);
        if (rest.memory) slot.memoryMax = Math.max(slot.memoryMax ?? 0, rest.memory.wasmMemoryBytes);
      }
    }
  }
}
progress('');

// First forward in fresh processes.
const firstForward = {};
if (ONLY.has('first')) {
  const graph = writeGraph('W1');
  const ffLibs = QUICK ? ['lstm-wasm'] : ['lstm-wasm', 'onnxruntime-web', 'onnxruntime-node', 'tfjs-wasm'];
  for (const lib of ffLibs.filter((l) => !LIBS || LIBS.includes(l) || l === 'lstm-wasm')) {
    const ms = [];
    let error;
    for (let i = 0; i < FIRST_PROCS; i++) {
      progress(`  first forward  ${lib}  process ${i + 1}/${FIRST_PROCS} ...`);
      await waitQuiet();
      const r = await child('suites/first-forward.mjs', [lib, graph], 60_000);
      if (r.error) {
        error = r.error;
        break;
      }
      ms.push(r.ms);
    }
    firstForward[lib] = error ? { error } : { samplesMs: ms, medianMs: median(ms) };
  }
  progress('');
}

// .wasm sizes.
const sizes = {};
if (ONLY.has('sizes')) {
  const files = {
    'lstm-wasm dist/lstm-simd.wasm': path.join(ROOT, 'dist/lstm-simd.wasm'),
    'lstm-wasm dist/lstm-scalar.wasm': path.join(ROOT, 'dist/lstm-scalar.wasm'),
    'tfjs-backend-wasm-simd.wasm': path.join(HERE, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'),
    'ort-wasm-simd-threaded.wasm (onnxruntime-web)': path.join(HERE, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'),
  };
  for (const [name, file] of Object.entries(files)) {
    if (!fs.existsSync(file)) continue;
    const raw = fs.readFileSync(file);
    sizes[name] = { bytes: raw.length, gzipBytes: zlib.gzipSync(raw, { level: 9 }).length };
  }
}

// ---------- summarise ----------
const UNITS = {
  GEMM: { unit: 'GFLOP/s', lowerIsBetter: false },
  W1: { unit: 'µs/step', lowerIsBetter: true },
  W2: { unit: 'seq/s', lowerIsBetter: false },
  W3: { unit: 'seq/s', lowerIsBetter: false },
};
/** Per-sample metric from a sample's milliseconds. */
function metric(w, slot, ms) {
  if (w === 'GEMM') return slot.flopsPerSample / (ms * 1e6);
  if (w === 'W1') return (ms * 1000) / slot.stepsPerSample;
  return slot.seqsPerSample / (ms / 1000);
}

const summary = {};
for (const w of order) {
  const libs = {};
  for (const [id, slot] of Object.entries(results[w] ?? {})) {
    if (slot.unsupported) libs[id] = { na: slot.unsupported };
    else if (slot.times.length === 0) libs[id] = { na: `failed: ${slot.errors?.[0] ?? 'no samples'}` };
    else {
      const values = slot.times.map((ms) => metric(w, slot, ms));
      const { times, cpuMs, rounds, memoryMax, memory, errors, otherCores, ...rest } = slot;
      const share = times.map((t, i) => cpuMs[i] / t);
      const cpuValues = cpuMs.map((ms) => metric(w, slot, ms));
      libs[id] = {
        median: median(values),
        // process CPU time / wall time per sample; < 0.9 in many samples = the machine was contended
        // the same metric computed from process CPU time instead of wall time (robust to waiting for a core)
        medianCpuTime: median(cpuValues),
        cpuShareMedian: +median(share).toFixed(3),
        contendedSamples: share.filter((x) => x < 0.9).length,
        // cores kept busy by other processes while each child ran (0 = quiet machine)
        otherCores,
        p25: pct(values, 0.25),
        p75: pct(values, 0.75),
        n: values.length,
        processes: rounds,
        failedProcesses: errors ?? [],
        samples: values.map((v) => +v.toPrecision(5)),
        samplesMs: times.map((t) => +t.toFixed(3)),
        ...rest,
      };
      if (w === 'W2') {
        const flops = lstmFlops(WORKLOADS.W2);
        libs[id].gflops = (flops * libs[id].median) / WORKLOADS.W2.batch / 1e9;
      }
      if (memory) libs[id].memory = { ...memory, wasmMemoryBytes: memoryMax };
    }
  }
  const lw = libs['lstm-wasm'];
  for (const [id, r] of Object.entries(libs)) {
    if (id === 'lstm-wasm' || r.na || !lw || lw.na) continue;
    // ratio > 1: lstm-wasm is that many times faster (µs/step: peer / lstm-wasm; throughput: lstm-wasm / peer).
    r.ratio = UNITS[w].lowerIsBetter ? r.median / lw.median : lw.median / r.median;
    r.ratioCpuTime = UNITS[w].lowerIsBetter ? r.medianCpuTime / lw.medianCpuTime : lw.medianCpuTime / r.medianCpuTime;
  }
  summary[w] = { ...(WORKLOADS[w] ?? {}), ...UNITS[w], libraries: libs };
}

// ---------- print ----------
const TITLES = {
  GEMM: 'GEMM (raw core export lstmw_gemm, C = A·B, fp32)',
  W1: 'W1 streaming: 1 layer, input 32, hidden 128, batch 1, 1000 single steps carrying state',
  W2: 'W2 batch inference: 2 layers, input 64, hidden 256, batch 64, 100 ticks',
  W3: 'W3 training: 2 layers, input 64, hidden 128, batch 32, 50 ticks, Dense→50 classes, cross-entropy every tick, Adam',
};
for (const w of order) {
  const s = summary[w];
  log(`${TITLES[w]}  [${s.unit}, ${s.lowerIsBetter ? 'lower' : 'higher'} is better]`);
  log(`  ${pad('library', 32)}${lpad('median', 9)}  ${pad('p25–p75', 17)}${lpad('n', 4)}  ${w === 'W2' ? 'GFLOP/s  ' : ''}${pad('lstm-wasm ×', 12)}${pad('(CPU-time ×)', 13)}cpu/wall  others`);
  for (const [id, r] of Object.entries(s.libraries)) {
    const ver = versions[LIBRARIES.find((l) => l.id === id)?.pkg];
    let label = `${id}${ver && id !== 'lstm-wasm' ? ' ' + ver : ''}`;
    if (id === 'lstm-wasm' && r.fallback) label += ' (forward fallback)';
    if (r.na) {
      log(`  ${pad(label, 32)}${lpad('n/a', 9)}  ${r.na}`);
      continue;
    }
    const ratio = id === 'lstm-wasm' || r.ratio === undefined ? '—' : `${fmt(r.ratio)}×`;
    const ratioCpu = id === 'lstm-wasm' || r.ratio === undefined ? '' : `(${fmt(r.ratioCpuTime)}×)`;
    const others = r.otherCores.filter((x) => Number.isFinite(x));
    const othersMedian = others.length ? median(others) : NaN;
    const busy = `${pad(r.cpuShareMedian.toFixed(2), 8)}  ${Number.isFinite(othersMedian) ? othersMedian.toFixed(1) : '?'}${r.contendedSamples > r.n / 3 || othersMedian > 0.8 ? '  contended' : ''}`;
    log(`  ${pad(label, 32)}${lpad(fmt(r.median), 9)}  ${pad(`${fmt(r.p25)}–${fmt(r.p75)}`, 17)}${lpad(r.n, 4)}  ${w === 'W2' ? pad(fmt(r.gflops), 9) : ''}${pad(ratio, 12)}${pad(ratioCpu, 13)}${busy}`);
  }
  if (w === 'W1' && s.libraries['lstm-wasm']?.note) log(`  note: ${s.libraries['lstm-wasm'].note}`);
  log();
}

// The ORT ratios only mean something if both sides compute the same numbers.
const PARITY_TOL = 1e-4;
const parityOk = !parity || (!parity.error && parity.W1.maxAbsDiff <= PARITY_TOL && parity.W2.maxAbsDiff <= PARITY_TOL);
if (parity) {
  log(parity.error
    ? `Parity check failed: ${parity.error}\n`
    : `Parity: the ONNX graphs and lstm-wasm's timed calls (lstm.step; forward with grad: false), given the same weights and inputs, agree to max |Δ| ${parity.W1.maxAbsDiff.toExponential(1)} (W1, all ${parity.W1.steps} steps) and ${parity.W2.maxAbsDiff.toExponential(1)} (W2 output)${parityOk ? '' : `: MORE THAN ${PARITY_TOL}, the onnxruntime ratios are not valid`}.\n`);
}

const targets = TARGETS.filter((t) => summary[t.workload]).map((t) => {
  const r = summary[t.workload].libraries[t.peer];
  const lw = summary[t.workload].libraries['lstm-wasm'];
  const ratio = r?.ratio;
  const met = ratio === undefined || (t.peer.startsWith('onnxruntime') && !parityOk) ? null : ratio >= t.min;
  return { ...t, ratio: ratio ?? null, met, note: t.workload === 'W1' && lw?.fallback ? 'lstm-wasm measured with the forward fallback (no lstm.step yet)' : undefined };
});
if (targets.length) {
  log('Targets (ratio of medians, single thread):');
  for (const t of targets) {
    const verdict = t.met === null ? (t.peer.startsWith('onnxruntime') && !parityOk ? 'INVALID (parity check failed)' : 'n/a (peer or lstm-wasm not measured)') : t.met ? 'MET' : 'NOT MET';
    log(`  ${pad(t.text, 58)} ${lpad(t.ratio === null ? '—' : fmt(t.ratio) + '×', 8)}  ${verdict}${t.note ? `  (${t.note})` : ''}`);
  }
  log();
}

const w2lw = summary.W2?.libraries['lstm-wasm'];
if (w2lw?.memory?.layerBytes) {
  const m = w2lw.memory;
  const mb = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  log('W2 memory (lstm-wasm): what the LSTM holds (parameters, gradients, packed weights, activations)');
  log(`  forward(x, { grad: false }) ${mb(m.layerBytes)}; forward(x), keeping what backward needs, ${mb(m.layerBytesWithGrad)}\n`);
}
const w3lw = summary.W3?.libraries['lstm-wasm'];
if (w3lw?.memory) {
  const m = w3lw.memory;
  const e = m.estimate;
  const mb = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  log('W3 memory (lstm-wasm, after warm-up; wasm memory only grows):');
  log(`  wasm linear memory ${mb(m.wasmMemoryBytes)} (${mb(m.wasmMemoryBytesAtStart)} before the model was built)`);
  log(`  estimate ${mb(e.totalBytes)} = params ${mb(e.paramBytes)} (${e.params} floats) + grads ${mb(e.gradBytes)} + Adam m,v ${mb(e.adamBytes)} + activations ${mb(e.activationBytes)}`);
  log(`  ${e.formula}`);
  log(`  memory / estimate = ${(m.wasmMemoryBytes / e.totalBytes).toFixed(2)}×\n`);
}
if (Object.keys(sizes).length) {
  log('.wasm sizes (raw / gzip -9):');
  for (const [name, s] of Object.entries(sizes)) log(`  ${pad(name, 48)} ${lpad((s.bytes / 1024).toFixed(1), 8)} KiB / ${lpad((s.gzipBytes / 1024).toFixed(1), 7)} KiB`);
  log();
}
if (Object.keys(firstForward).length) {
  log(`Time from import to first forward output (fresh process each, median of ${FIRST_PROCS}):`);
  for (const [lib, r] of Object.entries(firstForward)) log(`  ${pad(lib, 20)} ${r.error ? 'n/a: ' + r.error : `${r.medianMs.toFixed(1)} ms  (${r.samplesMs.map((x) => x.toFixed(0)).join(', ')})`}`);
  log();
}

machine.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));
lstmBuild.distBuiltAtEnd = fs.statSync(path.join(ROOT, 'dist/lstm-simd.wasm')).mtime.toISOString();
if (lstmBuild.distBuiltAtEnd !== lstmBuild.distBuilt) log(`WARNING: dist/ was rebuilt during the run (${lstmBuild.distBuiltAtEnd}); lstm-wasm's samples may mix two builds.`);
const elapsed = (Date.now() - started) / 1000;
log("Ratios are lstm-wasm's speed over the peer's (>1: lstm-wasm faster); '(CPU-time ×)' is the same ratio from process CPU time.");
log("cpu/wall: median process CPU / wall time per sample; others: cores used by other processes while the library's children ran (median over its processes; 'contended' when > 0.8 or when over a third of the samples have cpu/wall < 0.9).");
log(`Load average at the end ${machine.loadavgEnd.join(' ')}; waited ${waitedTotal.toFixed(0)} s for a quiet machine; took ${elapsed.toFixed(0)} s.`);

if (OUT) {
  const file = path.resolve(HERE, OUT);
  const doc = {
    machine,
    versions,
    libraries: LIBRARIES.map(({ id, pkg, note }) => ({ id, pkg, version: versions[pkg] ?? version(pkg) ?? null, note })),
    lstmWasm: { ...lstmBuild, simd: summary.W1?.libraries['lstm-wasm']?.simd ?? summary.W2?.libraries['lstm-wasm']?.simd ?? null },
    run: { mode: QUICK ? 'quick' : 'full', rounds: ROUNDS, elapsedSeconds: +elapsed.toFixed(1), waitedForQuietSeconds: +waitedTotal.toFixed(1), argv },
    ratioDefinition: "lstm-wasm's speed / the peer's speed: for W1 peer µs per step / lstm-wasm µs per step; for W2, W3 lstm-wasm seq/s / peer seq/s. Medians over all samples.",
    workloads: summary,
    targets,
    parity: parity ?? null,
    firstForward,
    wasmSizes: sizes,
  };
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  log(`Wrote ${path.relative(process.cwd(), file) || file}`);
}
