// Shared pieces of the benchmark: workload shapes, FLOP counts, seeded data, timing, child protocol.
import { performance } from 'node:perf_hooks';

/** The three workloads. Shapes are the same for every library. */
export const WORKLOADS = {
  W1: { name: 'streaming', input: 32, hidden: 128, layers: 1, batch: 1, ticks: 1000 },
  W2: { name: 'batch inference', input: 64, hidden: 256, layers: 2, batch: 64, ticks: 100 },
  W3: { name: 'training', input: 64, hidden: 128, layers: 2, batch: 32, ticks: 50, classes: 50, lr: 1e-3 },
};

/** Multiply-add FLOPs of the LSTM GEMMs for one pass: 2·T·B·Σ_l 4H(I_l + H). */
export function lstmFlops({ input, hidden, layers, batch, ticks }) {
  let perTick = 0;
  for (let l = 0; l < layers; l++) perTick += 4 * hidden * ((l === 0 ? input : hidden) + hidden);
  return 2 * ticks * batch * perTick;
}

/** mulberry32: a small seeded generator, so every library sees the same inputs. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n floats uniform in [-scale, scale). */
export function uniform(n, seed, scale = 1) {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * r() - 1) * scale;
  return out;
}

/** n integers uniform in [0, k). */
export function classes(n, k, seed) {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * k);
  return out;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Time `fn` (sync or async): `warmup` untimed calls, then up to `samples` timed calls, stopping
 * early (after at least `minSamples`) once `budgetMs` of timed work has passed. Returns ms per call
 * (wall clock), with the process CPU ms of each call as `.cpu`.
 */
export async function measure(fn, { warmup = 1, samples = 7, minSamples = 3, budgetMs = Infinity } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  const cpu = [];
  let spent = 0;
  while (times.length < samples && (times.length < minSamples || spent < budgetMs)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    times.push(dt);
    cpu.push((dc.user + dc.system) / 1000);
    spent += dt;
  }
  // `cpu` is this process's CPU time per sample (all its threads, GC included): well below the
  // wall time means the sample waited for a core (the machine was busy with something else).
  return Object.assign(times, { cpu });
}

/** Parse the child's argv: `node suites/x.mjs <workload> '<json options>'`. */
export function childArgs() {
  const [workload, json] = process.argv.slice(2);
  return { workload, opts: json ? JSON.parse(json) : {} };
}

/** Report a child's result to the driver (one tagged JSON line on stdout) and exit. */
export function emit(result) {
  const u = process.cpuUsage();
  result = { ...result, processCpuMs: (u.user + u.system) / 1000 };
  process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** Report that a library cannot do a workload (not an error: a documented gap). */
export function unsupported(reason) {
  emit({ unsupported: reason });
}

/** Run a child's main, turning any exception into an error result for the driver. */
export function runChild(main) {
  main().then((r) => emit(r?.times?.cpu ? { ...r, times: [...r.times], cpuMs: r.times.cpu } : r), (err) => {
    process.stdout.write(`@@RESULT ${JSON.stringify({ error: String(err?.stack ?? err).split('\n').slice(0, 3).join(' | ') })}\n`);
    process.exit(1);
  });
}
