// The tiled GEMM kernel (lstmw_gemm) against the scalar triple loop (lstmw_gemm_ref), in both
// builds, through the raw exports. Contract (crates/core/src/gemm.rs): for every (i, j) of the
// m×n window, dot = accumulate ? C(i,j) : +0; for p in 0..k: dot = dot + a(i,p)·b(p,j) (rounded
// mul, rounded add, no FMA), C(i,j) = dot; k = 0 leaves C as is when accumulating.
// Everything outside the window (ldc padding, memory around C) is never touched.
// The tiled result must equal the reference BIT for BIT, and the SIMD build must equal the scalar
// build bit for bit. Runs in Node and in Chromium (no node: imports).
import { describe, expect, test } from 'vitest';
import type { Runtime } from '../src/index.js';
import { createRuntime } from '../src/index.js';
import { build, randomData, wasmBytes } from './helpers.js';

type Kernel = 'lstmw_gemm' | 'lstmw_gemm_ref';

interface Case {
  m: number;
  n: number;
  k: number;
  rsa: number;
  csa: number;
  rsb: number;
  csb: number;
  ldc: number;
  accumulate: boolean;
  a: Float32Array;
  b: Float32Array;
  /** Initial C: `(m-1)·ldc + n` floats (row padding included), or empty when m = 0. */
  c: Float32Array;
  /** Human-readable layout, for failure messages. */
  label: string;
}

/** Floats a rows×cols operand with strides (rs, cs) spans. */
function span(rows: number, cols: number, rs: number, cs: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * rs + (cols - 1) * cs + 1;
}

const SENTINEL = -777.25; // written outside the m×n window; must survive every call
const GUARD = 8; // sentinel floats before and after C

/**
 * Build a case. A: row-major (rs = k + 1, cs = 1) or transposed (rs = 1, cs = m + 1); B likewise
 * with padding 2. C window: NaN when overwriting, random×4 when accumulating; padding: SENTINEL.
 */
function makeCase(m: number, n: number, k: number, ta: boolean, tb: boolean, ldcPad: number, accumulate: boolean, seed: number): Case {
  const [rsa, csa] = ta ? [1, m + 1] : [k + 1, 1];
  const [rsb, csb] = tb ? [1, k + 2] : [n + 2, 1];
  return fillCase({ m, n, k, rsa, csa, rsb, csb, ldc: n + ldcPad, accumulate }, seed);
}

function fillCase(s: Omit<Case, 'a' | 'b' | 'c' | 'label'>, seed: number): Case {
  const { m, n, k, rsa, csa, rsb, csb, ldc, accumulate } = s;
  const a = randomData(span(m, k, rsa, csa), seed);
  const b = randomData(span(k, n, rsb, csb), seed ^ 0x5bd1e995);
  const cr = randomData(m * n, seed ^ 0x27d4eb2f);
  const c = new Float32Array(span(m, n, ldc, 1)).fill(SENTINEL);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[i * ldc + j] = accumulate ? cr[i * n + j] * 4 : NaN;
  const label = `strides A=(${rsa},${csa}) B=(${rsb},${csb}) ldc=${ldc} accumulate=${accumulate ? 1 : 0}`;
  return { ...s, a, b, c, label };
}

/**
 * Run one kernel on a case in `rt`: allocate A, B and C (with GUARD sentinels either side), call,
 * copy C back (guards included: result[GUARD + idx] is c[idx]) and free everything.
 */
function run(rt: Runtime, kernel: Kernel, cs: Case): Float32Array {
  const core = rt.core;
  const cLen = cs.c.length + 2 * GUARD;
  const aBytes = Math.max(cs.a.length * 4, 4);
  const bBytes = Math.max(cs.b.length * 4, 4);
  const cBytes = cLen * 4;
  const pa = core.lstmw_alloc(aBytes);
  const pb = core.lstmw_alloc(bBytes);
  const pc = core.lstmw_alloc(cBytes);
  if (!pa || !pb || !pc) throw new Error('lstmw_alloc failed');
  try {
    // Fresh views only now: each allocation may have grown (and detached) the memory buffer.
    rt.f32(pa, cs.a.length).set(cs.a);
    rt.f32(pb, cs.b.length).set(cs.b);
    const cv = rt.f32(pc, cLen);
    cv.fill(SENTINEL);
    cv.set(cs.c, GUARD);
    let status: number;
    try {
      status = core[kernel](cs.m, cs.n, cs.k, pa, cs.rsa, cs.csa, pb, cs.rsb, cs.csb, pc + 4 * GUARD, cs.ldc, cs.accumulate ? 1 : 0);
    } catch (e) {
      // A wasm trap (a Rust panic under panic=abort): name the case.
      throw new Error(`${kernel} (m,n,k)=(${cs.m},${cs.n},${cs.k}) ${cs.label} trapped: ${String(e)}`);
    }
    if (status !== 0) throw new Error(`${kernel} (m,n,k)=(${cs.m},${cs.n},${cs.k}) ${cs.label}: status ${status}: ${rt.lastError()}`);
    return rt.copyOut(pc, cLen);
  } finally {
    core.lstmw_free(pa, aBytes);
    core.lstmw_free(pb, bBytes);
    core.lstmw_free(pc, cBytes);
  }
}

const f32bits = new Float32Array(1);
const u32bits = new Uint32Array(f32bits.buffer);
function hex(v: number): string {
  f32bits[0] = v;
  return `0x${u32bits[0].toString(16).padStart(8, '0')}`;
}
function sameBits(x: number, y: number): boolean {
  f32bits[0] = x;
  const bx = u32bits[0];
  f32bits[0] = y;
  return bx === u32bits[0];
}

/**
 * The contract in plain JS: one rounded product (exact in double, then fround) and one rounded sum
 * per step (exact-enough in double, then fround), increasing p from +0. Same layout as run().
 */
function oracle(cs: Case): Float32Array {
  const { m, n, k, a, b, rsa, csa, rsb, csb, ldc, accumulate } = cs;
  const out = new Float32Array(cs.c.length + 2 * GUARD).fill(SENTINEL);
  out.set(cs.c, GUARD);
  if (k === 0 && accumulate) return out;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const idx = GUARD + i * ldc + j;
      let dot = accumulate ? out[idx] : 0;
      for (let p = 0; p < k; p++) dot = Math.fround(dot + Math.fround(a[i * rsa + p * csa] * b[p * rsb + j * csb]));
      out[idx] = dot;
    }
  }
  return out;
}

/**
 * First difference between `got` and `want` (bitwise), as a message naming (m,n,k), the layout, and
 * either the (i,j) with value and reference, or the index outside the window that was modified.
 * Also checks that nothing in the window is left NaN when overwriting. Returns '' when equal.
 */
function diff(what: string, cs: Case, got: Float32Array, want: Float32Array): string {
  const { m, n, k, ldc } = cs;
  const head = `${what}: (m,n,k)=(${m},${n},${k}) ${cs.label}`;
  for (let idx = 0; idx < want.length; idx++) {
    if (sameBits(got[idx], want[idx]) && !(Number.isNaN(got[idx]) && idx >= GUARD && idx < GUARD + cs.c.length)) continue;
    const r = idx - GUARD;
    const i = Math.floor(r / ldc);
    const j = r - i * ldc;
    if (r >= 0 && r < cs.c.length && i < m && j < n) {
      if (Number.isNaN(got[idx]) && Number.isNaN(want[idx])) return `${head}: (i,j)=(${i},${j}) left NaN (C not fully overwritten), in both`;
      return `${head}: first mismatch at (i,j)=(${i},${j}): got ${got[idx]} (${hex(got[idx])}), reference ${want[idx]} (${hex(want[idx])})`;
    }
    const where = r < 0 ? `${-r} floats before C` : r >= cs.c.length ? `${r - cs.c.length + 1} floats after C's last element` : `C padding (i,j)=(${i},${j}), j >= n`;
    return `${head}: memory outside the m×n window modified (${where}): ${got[idx]} (${hex(got[idx])}), expected ${want[idx]}`;
  }
  return '';
}

/** Run tiled and reference in `rt` on every case; collect failures (the first few) and return the tiled results. */
function checkAll(rt: Runtime, variant: string, cases: Case[], withOracle = true): Float32Array[] {
  const failures: string[] = [];
  const results: Float32Array[] = [];
  for (const cs of cases) {
    const ref = run(rt, 'lstmw_gemm_ref', cs);
    const got = run(rt, 'lstmw_gemm', cs);
    results.push(got);
    if (withOracle) {
      const d = diff(`${variant} lstmw_gemm_ref vs JS oracle`, cs, ref, oracle(cs));
      if (d) failures.push(d);
    }
    const d = diff(`${variant} lstmw_gemm vs lstmw_gemm_ref`, cs, got, ref);
    if (d) failures.push(d);
    if (failures.length >= 5) break;
  }
  if (failures.length) throw new Error(`${failures.length}${failures.length >= 5 ? '+' : ''} failing case(s):\n${failures.join('\n')}`);
  return results;
}

const LAYOUTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

function sweepCases(layouts: readonly (readonly [boolean, boolean])[], max: number, step = 1): Case[] {
  const cases: Case[] = [];
  let seed = 1;
  for (const [ta, tb] of layouts) {
    for (let m = 0; m <= max; m += step) {
      for (let n = 0; n <= max; n += step) {
        for (let k = 0; k <= max; k += step) {
          for (const accumulate of [false, true]) {
            // ldc = n on even (m+n+k), n + 3 on odd: both tight and padded rows.
            cases.push(makeCase(m, n, k, ta, tb, (m + n + k) & 1 ? 3 : 0, accumulate, seed++));
          }
        }
      }
    }
  }
  return cases;
}

function tailCases(): Case[] {
  const cases: Case[] = [];
  let seed = 1000;
  for (const m of [3, 4, 5, 7, 8, 9]) {
    for (const n of [7, 8, 9, 15, 16, 17]) {
      for (const k of [1, 31, 32, 33]) {
        for (const [ta, tb] of LAYOUTS) {
          for (const accumulate of [false, true]) cases.push(makeCase(m, n, k, ta, tb, (m + n + k) & 1 ? 5 : 0, accumulate, seed++));
        }
      }
    }
  }
  return cases;
}

/** m = 1 takes dedicated kernels: row-major B in 32/16/4/scalar column blocks, strided B gathered 8 at a time. */
function rowVectorCases(): Case[] {
  const cases: Case[] = [];
  let seed = 5000;
  for (let n = 0; n <= 41; n++) {
    for (const k of [1, 2, 5, 17]) {
      for (const [ta, tb] of LAYOUTS) {
        for (const accumulate of [false, true]) cases.push(makeCase(1, n, k, ta, tb, 1, accumulate, seed++));
      }
    }
  }
  return cases;
}

function largeCases(): Case[] {
  const cases: Case[] = [];
  let seed = 9000;
  for (const [m, n, k] of [
    [17, 257, 33],
    [65, 130, 259],
    [1, 1024, 256],
  ]) {
    for (const [ta, tb] of LAYOUTS) {
      for (const accumulate of [false, true]) cases.push(makeCase(m, n, k, ta, tb, accumulate ? 3 : 0, accumulate, seed++));
    }
  }
  return cases;
}

/** Zero strides (broadcast rows/columns) and other unusual strides the contract allows. */
function strideCases(): Case[] {
  const cases: Case[] = [];
  let seed = 12000;
  for (const [m, n, k] of [
    [1, 9, 5],
    [5, 9, 7],
    [9, 17, 33],
    [4, 8, 3],
  ]) {
    for (const accumulate of [false, true]) {
      const base = { m, n, k, accumulate };
      cases.push(fillCase({ ...base, rsa: 0, csa: 1, rsb: n, csb: 1, ldc: n }, seed++)); // every row of A the same
      cases.push(fillCase({ ...base, rsa: k, csa: 1, rsb: 0, csb: 1, ldc: n + 1 }, seed++)); // every row of B the same
      cases.push(fillCase({ ...base, rsa: k, csa: 1, rsb: 1, csb: 0, ldc: n }, seed++)); // every column of B the same
      cases.push(fillCase({ ...base, rsa: 3 * k + 2, csa: 3, rsb: 2, csb: 2 * k + 1, ldc: 2 * n + 7 }, seed++)); // wide strides
    }
  }
  return cases;
}

describe.each(['simd', 'scalar'] as const)('GEMM, %s build: tiled kernel is bit-identical to the reference', (variant) => {
  test('build flag', async () => {
    const rt = await build(variant);
    expect(rt.simd).toBe(variant === 'simd');
  });

  test('small known product, accumulate, and summation order (no reassociation)', async () => {
    const rt = await build(variant);
    // A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[1,1]] -> [[4,5],[10,11]]; accumulated twice -> doubled.
    const base = { m: 2, n: 2, k: 3, rsa: 3, csa: 1, rsb: 2, csb: 1, ldc: 2, label: 'known' };
    const a = Float32Array.of(1, 2, 3, 4, 5, 6);
    const b = Float32Array.of(1, 0, 0, 1, 1, 1);
    for (const kernel of ['lstmw_gemm', 'lstmw_gemm_ref'] as const) {
      const r0 = run(rt, kernel, { ...base, accumulate: false, a, b, c: new Float32Array(4).fill(NaN) });
      expect(Array.from(r0.subarray(GUARD, GUARD + 4))).toEqual([4, 5, 10, 11]);
      const r1 = run(rt, kernel, { ...base, accumulate: true, a, b, c: Float32Array.of(4, 5, 10, 11) });
      expect(Array.from(r1.subarray(GUARD, GUARD + 4))).toEqual([8, 10, 20, 22]);
    }
    // (1e8 + 1) - 1e8 = 0 in f32 (1e8 - 1e8 + 1 would be 1): strictly increasing p, broadcast strides.
    for (const [m, n] of [
      [1, 1],
      [4, 8],
      [5, 9],
      [1, 33],
    ]) {
      const cs: Case = { m, n, k: 3, rsa: 0, csa: 1, rsb: 1, csb: 0, ldc: n, accumulate: false, a: Float32Array.of(1, 1, 1), b: Float32Array.of(1e8, 1, -1e8), c: new Float32Array(m * n).fill(NaN), label: 'order' };
      for (const kernel of ['lstmw_gemm', 'lstmw_gemm_ref'] as const) {
        const r = run(rt, kernel, cs).subarray(GUARD, GUARD + m * n);
        expect(Array.from(r), `${kernel} (m,n)=(${m},${n})`).toEqual(new Array(m * n).fill(0));
      }
      // Accumulating starts the sum at C: (1 + 1e8) - 1e8 = 0, where C + (1e8 - 1e8) would be 1.
      const acc: Case = { ...cs, k: 2, accumulate: true, a: Float32Array.of(1, 1), b: Float32Array.of(1e8, -1e8), c: new Float32Array(m * n).fill(1), label: 'order acc' };
      for (const kernel of ['lstmw_gemm', 'lstmw_gemm_ref'] as const) {
        const r = run(rt, kernel, acc).subarray(GUARD, GUARD + m * n);
        expect(Array.from(r), `${kernel} accumulate (m,n)=(${m},${n})`).toEqual(new Array(m * n).fill(0));
      }
    }
  });

  test('k = 0: writes +0 when overwriting, leaves C untouched when accumulating', async () => {
    const rt = await build(variant);
    for (const kernel of ['lstmw_gemm', 'lstmw_gemm_ref'] as const) {
      for (const [m, n] of [
        [1, 5],
        [3, 9],
      ]) {
        const over = run(rt, kernel, { m, n, k: 0, rsa: 1, csa: 1, rsb: n, csb: 1, ldc: n + 2, accumulate: false, a: new Float32Array(0), b: new Float32Array(0), c: new Float32Array((m - 1) * (n + 2) + n).fill(NaN), label: 'k=0' });
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) expect(Object.is(over[GUARD + i * (n + 2) + j], 0), `${kernel} (${m},${n},0) (i,j)=(${i},${j})`).toBe(true);
        const c = randomData((m - 1) * (n + 2) + n, 77);
        c[0] = -0; // -0 + 0 would be +0: "untouched" must mean untouched
        const acc = run(rt, kernel, { m, n, k: 0, rsa: 1, csa: 1, rsb: n, csb: 1, ldc: n + 2, accumulate: true, a: new Float32Array(0), b: new Float32Array(0), c, label: 'k=0 acc' });
        expect(Object.is(acc[GUARD], -0), `${kernel} k=0 accumulate changed -0`).toBe(true);
        expect(Array.from(acc.subarray(GUARD, GUARD + c.length))).toEqual(Array.from(c));
      }
    }
  });

  test('sweep m, n, k in 0..12, row-major A and B, NaN-filled C (overwrite) and random C (accumulate)', async () => {
    checkAll(await build(variant), variant, sweepCases([LAYOUTS[0]], 12));
  });

  test('sweep m, n, k in 0..12, transposed A and/or B', async () => {
    checkAll(await build(variant), variant, sweepCases(LAYOUTS.slice(1), 12));
  });

  test('tails around the 4×8 tile: m ∈ {3,4,5,7,8,9}, n ∈ {7,8,9,15,16,17}, k ∈ {1,31,32,33}, all layouts', async () => {
    checkAll(await build(variant), variant, tailCases());
  });

  test('m = 1 row-vector kernels: n in 0..41, k ∈ {1,2,5,17}, all layouts', async () => {
    checkAll(await build(variant), variant, rowVectorCases());
  });

  test('zero (broadcast) and wide strides', async () => {
    checkAll(await build(variant), variant, strideCases());
  });

  test('odd large sizes: 17×257×33, 65×130×259, 1×1024×256, all layouts', async () => {
    checkAll(await build(variant), variant, largeCases());
  });
});

describe('GEMM across builds', () => {
  test('SIMD build tiled result equals scalar build tiled result, bit for bit', async () => {
    const [simd, scalar] = await Promise.all([build('simd'), build('scalar')]);
    const cases = [...sweepCases(LAYOUTS, 12, 3), ...tailCases(), ...rowVectorCases(), ...strideCases(), ...largeCases()];
    const failures: string[] = [];
    for (const cs of cases) {
      const d = diff('lstmw_gemm simd vs scalar', cs, run(simd, 'lstmw_gemm', cs), run(scalar, 'lstmw_gemm', cs));
      if (d && failures.push(d) >= 5) break;
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  test('repeated calls reuse the workspace: same bits after a larger and a smaller product', async () => {
    for (const variant of ['simd', 'scalar'] as const) {
      const rt = await build(variant);
      const cs = makeCase(13, 21, 19, false, false, 2, true, 4242);
      const first = run(rt, 'lstmw_gemm', cs);
      run(rt, 'lstmw_gemm', makeCase(65, 130, 259, true, false, 0, false, 1));
      run(rt, 'lstmw_gemm', makeCase(2, 3, 4, false, true, 0, false, 2));
      const again = run(rt, 'lstmw_gemm', cs);
      expect(diff(`${variant} lstmw_gemm repeated`, cs, again, first)).toBe('');
    }
  });
});

// Robustness of the raw exports. lib.rs promises "Nothing panics across the boundary: arguments are
// validated before they reach the core" (a non-zero status, never a trap). Each case runs in a fresh
// instance: a trap would leave one unusable.
describe.each(['simd', 'scalar'] as const)('GEMM raw exports, %s build: invalid or degenerate arguments', (variant) => {
  const fresh = async () => createRuntime(await wasmBytes(variant));

  test('lstmw_gemm_ref(m=3, n=0, k=0, ldc=3, accumulate=0) does nothing and returns 0', async () => {
    const rt = await fresh();
    const p = rt.core.lstmw_alloc(64);
    expect(rt.core.lstmw_gemm_ref(3, 0, 0, p, 1, 1, p, 1, 1, p, 3, 0)).toBe(0);
  });

  test('lstmw_gemm with ldc < n (m=2, n=3, ldc=2) returns a status and the instance stays usable', async () => {
    const rt = await fresh();
    const p = rt.core.lstmw_alloc(256);
    let status: number | string;
    try {
      status = rt.core.lstmw_gemm(2, 3, 2, p, 2, 1, p + 64, 3, 1, p + 128, 2, 0);
    } catch (e) {
      status = String(e);
    }
    expect(status).not.toBe(0);
    expect(typeof status, `trapped: ${status}`).toBe('number');
    // The instance must still work afterwards (a trap inside with_state leaves STATE borrowed).
    expect(rt.core.lstmw_gemm(2, 3, 2, p, 2, 1, p + 64, 3, 1, p + 128, 3, 0)).toBe(0);
  });

  test('lstmw_gemm with strides whose span overflows 32 bits (rsa = csa = 2^31) returns a status', async () => {
    const rt = await fresh();
    const p = rt.core.lstmw_alloc(256);
    let status: number | string;
    try {
      status = rt.core.lstmw_gemm(2, 2, 2, p, 2 ** 31, 2 ** 31, p + 64, 2, 1, p + 128, 2, 0);
    } catch (e) {
      status = String(e);
    }
    expect(typeof status, `trapped: ${status}`).toBe('number');
    expect(status).not.toBe(0);
  });
});

describe.each(['simd', 'scalar'] as const)('GEMM, %s build: the shuffled-splat micro-kernel', (variant) => {
  // A runtime of its own: the kernel choice is per instance, and `build()`'s is shared.
  const fresh = async () => createRuntime(await wasmBytes(variant));

  test('gives the reference bits on the tile tails, a sweep and large shapes', async () => {
    const rt = await fresh();
    rt.gemmKernel = 'shuffled-splats';
    expect(rt.gemmKernel).toBe('shuffled-splats');
    expect(rt.core.lstmw_gemm_kernel()).toBe(1);
    const cases = [...tailCases(), ...largeCases(), ...sweepCases([LAYOUTS[0], LAYOUTS[3]], 9, 2)];
    const shuffled = checkAll(rt, `${variant} shuffled`, cases, false);
    // And the same bits as the splat-load kernel on the same cases.
    rt.gemmKernel = 'splat-loads';
    const splat = checkAll(rt, `${variant} splat`, cases, false);
    const bits = (r: Float32Array) => Array.from(new Uint32Array(r.buffer, r.byteOffset, r.length));
    shuffled.forEach((r, i) => expect(bits(r), cases[i].label).toEqual(bits(splat[i])));
  });

  test('an LSTM forward and backward give the same bits with either kernel', async () => {
    const rt = await fresh();
    const { LSTM, Tensor } = await import('../src/index.js');
    const run = () => {
      const lstm = new LSTM({ inputSize: 40, hiddenSize: 36, numLayers: 2, seed: 3, runtime: rt });
      const x = new Tensor(randomData(7 * 9 * 40, 5), [7, 9, 40]);
      const { output } = lstm.forward(x);
      const { dInput } = lstm.backward({ dOutput: output });
      const out = [output.data.slice(), dInput.data.slice()];
      lstm.dispose();
      return out;
    };
    rt.gemmKernel = 'splat-loads';
    const a = run();
    rt.gemmKernel = 'shuffled-splats';
    const b = run();
    for (let i = 0; i < a.length; i++) expect(Array.from(b[i])).toEqual(Array.from(a[i]));
  });

  test('an unknown kernel is refused and changes nothing', async () => {
    const rt = await fresh();
    const before = rt.gemmKernel;
    expect(() => {
      rt.gemmKernel = 'fma' as never;
    }).toThrow(/Runtime.gemmKernel: must be 'splat-loads' or 'shuffled-splats', got "fma"/);
    expect(rt.core.lstmw_gemm_set_kernel(7)).toBe(1);
    expect(rt.lastError()).toMatch(/kind must be 0 \(splat loads\) or 1 \(shuffled splats\), got 7/);
    expect(rt.gemmKernel).toBe(before);
  });
});
