/**
 * Errors thrown by lstm-wasm. Every message names the operation and the argument; shape errors also
 * carry the expected and the actual shape.
 */

/** A tensor argument has the wrong shape, length or type. */
export class ShapeError extends RangeError {
  /** Always `'ShapeError'`. */
  override name = 'ShapeError';
  constructor(
    message: string,
    /** The operation, e.g. `LSTM.forward`. */
    readonly op: string,
    /** The argument, e.g. `x`. */
    readonly arg: string,
    /** The expected shape, with `null` where any size is allowed. */
    readonly expected?: readonly (number | null)[],
    /** The shape given. */
    readonly actual?: readonly number[],
  ) {
    super(message);
  }
}

/** The numeric core refused a call (non-finite input, invalid class id, wrong state...). */
export class CoreError extends Error {
  /** Always `'CoreError'`. */
  override name = 'CoreError';
  constructor(
    message: string,
    /** The core's status: 1 shape, 2 value, 3 state, 4 bad handle, 5 bad pointer. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** An object was used after `dispose()`. */
export class DisposedError extends Error {
  /** Always `'DisposedError'`. */
  override name = 'DisposedError';
}

export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '*' : String(d))).join(', ')}]`;
}
