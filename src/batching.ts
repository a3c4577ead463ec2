/**
 * Cutting datasets into batches without loops over floats: rows of a tensor are gathered along its
 * batch axis with one `set(subarray)` per contiguous block.
 */

export interface AnyTensor<A extends Float32Array | Int32Array = Float32Array | Int32Array> {
  data: A;
  shape: readonly number[];
}

/** The sub-tensor holding samples `idx` (in that order) along `axis` (0 or 1). */
export function takeAlong<A extends Float32Array | Int32Array>(t: AnyTensor<A>, axis: number, idx: ArrayLike<number>): AnyTensor<A> {
  const shape = t.shape.slice();
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const Ctor = t.data.constructor as { new (n: number): A };
  const out = new Ctor(outer * idx.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < idx.length; k++) {
      const src = (o * n + idx[k]) * inner;
      out.set(t.data.subarray(src, src + inner) as never, (o * idx.length + k) * inner);
    }
  }
  shape[axis] = idx.length;
  return { data: out, shape };
}

/** mulberry32: a small seeded generator, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample order of `epoch`: a permutation that depends only on (seed, epoch), so a run resumed
 * at any epoch sees the same order as one that was never interrupted. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rnd = mulberry32((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  return order;
}

/** Let the event loop run (a page stays responsive, an AbortSignal can fire). */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel !== 'undefined') {
    return new Promise((r) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        r();
      };
      ch.port2.postMessage(0);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

/** Write `src` into `dst` at samples [start, start + src.shape[axis]) along `axis`. */
export function putAlong(dst: Float32Array, dstShape: readonly number[], axis: number, start: number, src: AnyTensor<Float32Array>): void {
  const outer = dstShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = dstShape[axis];
  const k = src.shape[axis];
  const inner = dstShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let o = 0; o < outer; o++) {
    dst.set(src.data.subarray(o * k * inner, (o + 1) * k * inner), (o * n + start) * inner);
  }
}

/** The first `t` steps along `axis` (0 or 1) of a tensor; the tensor itself when it is that short. */
export function cropTime<A extends Float32Array | Int32Array>(x: AnyTensor<A>, axis: number, t: number): AnyTensor<A> {
  if (x.shape[axis] <= t) return x;
  const idx = Array.from({ length: t }, (_, i) => i);
  return takeAlong(x, axis, idx);
}
