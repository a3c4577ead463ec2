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

/** A value as an error message shows it: strings quoted (so '0.1' differs from 0.1), NaN as NaN. */
export function describeValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? JSON.stringify(v) : String(v);
}

/**
 * `options` as an options object: `undefined` (all defaults) or a plain object whose keys are all
 * in `known`. A misspelt option would otherwise be ignored without a word.
 */
export function checkOptions<T extends object>(op: string, options: T | undefined, known: string): T {
  if (options === undefined || options === null) return {} as T;
  const keys = known.split(' ');
  if (typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${op}: options must be an object such as { ${keys[0]}: ... }, got ${describeValue(options)}`);
  const unknown = Object.keys(options).find((k) => !keys.includes(k));
  if (unknown !== undefined) throw new RangeError(`${op}: unknown option '${unknown}' (the options are ${keys.join(', ')})`);
  return options;
}
