import { ShapeError, describeValue } from './errors.js';

/**
 * The recurrent state of a unidirectional LSTM stack between streaming steps: h and c of every
 * layer, each [numLayers, batch, hiddenSize]. Plain JavaScript memory: serialize it with
 * `toJSON()` / `toBytes()` and restore it with `LSTMState.fromJSON` / `fromBytes`.
 */
export class LSTMState {
  constructor(
    /** Stacked layers of the LSTM this state belongs to. */
    readonly numLayers: number,
    /** Sequences stepped together. */
    readonly batch: number,
    /** Units of each layer's h and c. */
    readonly hiddenSize: number,
    /** [numLayers, batch, hiddenSize] */
    readonly h: Float32Array = new Float32Array(numLayers * batch * hiddenSize),
    /** [numLayers, batch, hiddenSize] */
    readonly c: Float32Array = new Float32Array(numLayers * batch * hiddenSize),
  ) {
    for (const [k, v] of [['numLayers', numLayers], ['batch', batch], ['hiddenSize', hiddenSize]] as const) {
      if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`LSTMState: ${k} must be a positive integer, got ${describeValue(v)}`);
    }
    const n = numLayers * batch * hiddenSize;
    if (!(h instanceof Float32Array) || !(c instanceof Float32Array) || h.length !== n || c.length !== n) {
      throw new ShapeError(`LSTMState: h and c must be Float32Arrays of ${n} values ([${numLayers}, ${batch}, ${hiddenSize}])`, 'LSTMState', 'h', [numLayers, batch, hiddenSize]);
    }
  }

  /** Zeros for a stack of `numLayers` layers of `hiddenSize` units and `batch` sequences. */
  static zeros(numLayers: number, batch: number, hiddenSize: number): LSTMState {
    return new LSTMState(numLayers, batch, hiddenSize);
  }

  /**
   * A deep copy in arrays of its own. States returned by `step` are views into memory chunks
   * shared with the layer's other recent results (allocating per tick costs more than the tick);
   * clone a state you keep for long, so that it does not hold its chunk alive, and send
   * `toBytes()` rather than transferring `h.buffer` to another thread.
   */
  clone(): LSTMState {
    return new LSTMState(this.numLayers, this.batch, this.hiddenSize, this.h.slice(), this.c.slice());
  }

  /** Plain arrays (JSON-safe). */
  toJSON(): {
    /** Stacked layers. */
    numLayers: number;
    /** Sequences. */
    batch: number;
    /** Units per layer. */
    hiddenSize: number;
    /** h, [numLayers, batch, hiddenSize] flattened. */
    h: number[];
    /** c, [numLayers, batch, hiddenSize] flattened. */
    c: number[];
  } {
    return { numLayers: this.numLayers, batch: this.batch, hiddenSize: this.hiddenSize, h: Array.from(this.h), c: Array.from(this.c) };
  }

  /** A state from `toJSON()`'s plain object; throws a ShapeError when the sizes and arrays disagree. */
  static fromJSON(o: { numLayers: number; batch: number; hiddenSize: number; h: number[]; c: number[] }): LSTMState {
    if (!o || typeof o !== 'object') throw new TypeError(`LSTMState.fromJSON: expected { numLayers, batch, hiddenSize, h, c }, got ${String(o)}`);
    for (const k of ['h', 'c'] as const) {
      const a = o[k];
      if (!Array.isArray(a)) throw new TypeError(`LSTMState.fromJSON: ${k} must be an array of numbers`);
      const bad = a.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
      if (bad >= 0) throw new RangeError(`LSTMState.fromJSON: ${k}[${bad}] is ${describeValue(a[bad])}, expected a finite number`);
    }
    return new LSTMState(o.numLayers, o.batch, o.hiddenSize, Float32Array.from(o.h), Float32Array.from(o.c));
  }

  /** 12 bytes of u32 LE sizes (layers, batch, hidden), then h and c as f32 LE. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(12 + 8 * this.h.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, this.numLayers, true);
    dv.setUint32(4, this.batch, true);
    dv.setUint32(8, this.hiddenSize, true);
    out.set(new Uint8Array(this.h.buffer, this.h.byteOffset, this.h.byteLength), 12);
    out.set(new Uint8Array(this.c.buffer, this.c.byteOffset, this.c.byteLength), 12 + this.h.byteLength);
    return out;
  }

  /** A state from `toBytes()`'s bytes (copied); throws a RangeError when the length does not match the sizes. */
  static fromBytes(bytes: Uint8Array): LSTMState {
    if (bytes.length < 12) throw new RangeError(`LSTMState.fromBytes: ${bytes.length} bytes is too short`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const [l, b, hs] = [dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true)];
    const n = l * b * hs;
    if (bytes.length !== 12 + 8 * n) throw new RangeError(`LSTMState.fromBytes: sizes [${l}, ${b}, ${hs}] need ${12 + 8 * n} bytes, got ${bytes.length}`);
    const copy = new Uint8Array(8 * n);
    copy.set(bytes.subarray(12));
    return new LSTMState(l, b, hs, new Float32Array(copy.buffer, 0, n), new Float32Array(copy.buffer, 4 * n, n));
  }
}
