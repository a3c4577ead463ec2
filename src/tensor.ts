import { ShapeError, formatShape } from './errors.js';

/** A dense float32 tensor: row-major `data` with `shape`. `data.length` is the product of `shape`. */
export class Tensor {
  constructor(
    /** The values, row-major. */
    readonly data: Float32Array,
    /** The size of each axis; their product is `data.length`. */
    readonly shape: number[],
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new ShapeError(
        `Tensor: shape ${formatShape(shape)} holds ${n} values, data has ${data.length}`,
        'Tensor',
        'data',
        shape,
        [data.length],
      );
    }
  }
  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }
}

/** Anything with float32 `data` and a `shape`: a `Tensor` or a plain object. */
export interface TensorLike {
  /** The values, row-major. */
  data: Float32Array;
  /** The size of each axis; their product is `data.length`. */
  shape: readonly number[];
}

/**
 * Check that `t` is a tensor of `expected` shape (`null` = any size, but at least 1) and return its
 * concrete shape. Throws a `ShapeError` naming `op`, `arg`, the expected and the actual shape.
 */
export function checkTensor(op: string, arg: string, t: unknown, expected: readonly (number | null)[], hint = ''): number[] {
  const suffix = hint ? ` (${hint})` : '';
  if (t === null || typeof t !== 'object' || !('data' in t) || !('shape' in t)) {
    throw new ShapeError(`${op}: ${arg} must be a tensor { data: Float32Array, shape } of shape ${formatShape(expected)}${suffix}, got ${describe(t)}`, op, arg, expected);
  }
  const { data, shape } = t as { data: unknown; shape: unknown };
  if (!(data instanceof Float32Array)) {
    throw new ShapeError(`${op}: ${arg}.data must be a Float32Array, got ${describe(data)}`, op, arg, expected);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${op}: ${arg}.shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, op, arg, expected);
  }
  const ok = shape.length === expected.length && expected.every((e, i) => (e === null ? shape[i] >= 1 : shape[i] === e));
  if (!ok) {
    throw new ShapeError(`${op}: ${arg} must have shape ${formatShape(expected)}${suffix}, got ${formatShape(shape)}`, op, arg, expected, shape);
  }
  const n = shape.reduce((a: number, b: number) => a * b, 1);
  if (data.length !== n) {
    throw new ShapeError(`${op}: ${arg} has shape ${formatShape(shape)} (${n} values) but data.length is ${data.length}`, op, arg, expected, shape);
  }
  return shape.slice();
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an Array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of length ${(v as unknown as { length: number }).length}`;
  if (typeof v === 'object') return `an object with keys [${Object.keys(v as object).join(', ')}]`;
  return `${typeof v} ${String(v)}`;
}
