// Shared by the node and the browser test projects: loading both builds, fixtures, comparisons.
import { createRuntime, Runtime, Tensor, TensorLike } from '../src/index.js';
import { randomData } from '../conformance/suite.js';

export const inBrowser = typeof window !== 'undefined';

/** Bytes of a built module (dist/lstm-<variant>.wasm), from disk in Node or the dev server in Chromium. */
export async function wasmBytes(variant: 'simd' | 'scalar'): Promise<Uint8Array> {
  if (inBrowser) {
    const r = await fetch(new URL(`/dist/lstm-${variant}.wasm`, location.href));
    if (!r.ok) throw new Error(`fetch dist/lstm-${variant}.wasm: ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }
  const { readFile } = await import('node:fs/promises');
  return readFile(new URL(`../dist/lstm-${variant}.wasm`, import.meta.url));
}

const cache = new Map<string, Promise<Runtime>>();
/** A separate runtime per build, shared within a test file. */
export function build(variant: 'simd' | 'scalar'): Promise<Runtime> {
  if (!cache.has(variant)) cache.set(variant, wasmBytes(variant).then((b) => createRuntime(b)));
  return cache.get(variant)!;
}

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export function tensor(t: FixtureTensor): Tensor {
  return new Tensor(Float32Array.from(t.data), t.shape.slice());
}

export function dict(d: Record<string, FixtureTensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, tensor(v)]));
}

/**
 * Largest |a - b| - rtol·|b| over all elements, with the first offending index; throws a readable
 * error (first mismatches with index, value, reference) when it exceeds `atol`.
 */
export function expectClose(what: string, actual: TensorLike, expected: FixtureTensor | TensorLike, atol: number, rtol = 0): number {
  const exp = expected.data;
  if (actual.shape.join() !== expected.shape.join()) throw new Error(`${what}: shape [${actual.shape}] != expected [${expected.shape}]`);
  let worst = 0;
  const bad: string[] = [];
  for (let i = 0; i < exp.length; i++) {
    const a = actual.data[i];
    const e = exp[i];
    const err = Math.abs(a - e) - rtol * Math.abs(e);
    if (!(err <= atol)) {
      if (bad.length < 5) bad.push(`[${i}] ${a} vs ${e} (diff ${Math.abs(a - e).toExponential(2)})`);
    }
    if (Math.abs(a - e) > worst || Number.isNaN(a)) worst = Number.isNaN(a) ? Infinity : Math.abs(a - e);
  }
  if (bad.length) throw new Error(`${what}: exceeds atol ${atol}${rtol ? ` + rtol ${rtol}` : ''}; max abs diff ${worst.toExponential(2)}; first: ${bad.join('; ')}`);
  return worst;
}

// Shared with the cross-runtime suite (plain JS, so it also runs in Deno, Bun and workerd).
export { bitsHash, randomData } from '../conformance/suite.js';

export function randomTensor(shape: number[], seed: number): Tensor {
  return new Tensor(randomData(shape.reduce((a, b) => a * b, 1), seed), shape);
}
