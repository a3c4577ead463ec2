import { ShapeError, formatShape } from './errors.js';
import { ChainLayer, StateDict } from './layer.js';
import { Optimizer } from './optim.js';
import { Runtime, Scratch, runtime } from './runtime.js';
import { Tensor, TensorLike, checkTensor } from './tensor.js';

/** Loss names: `crossEntropy` takes integer class targets (softmax fused in), `mse` float targets. */
export type LossName = 'crossEntropy' | 'mse';

export interface CompileOptions {
  /** Loss over the last layer's output. Required. */
  loss: LossName;
  /** Update rule. Required. */
  optimizer: Optimizer;
}

/** Integer class targets: an Int32Array, or a Float32Array holding integers; -1 marks an ignored row. */
export interface TargetLike {
  data: Int32Array | Float32Array;
  shape: readonly number[];
}

/**
 * Layers applied in order, every intermediate staying in wasm memory. Parameter names are
 * `<index>.<layer key>` as PyTorch's `nn.Sequential` (`0.weight_ih_l0`, `1.weight`).
 * The model owns its layers: `dispose()` disposes them.
 */
export class Sequential {
  readonly layers: readonly ChainLayer[];
  private readonly rt: Runtime;
  private compiled: CompileOptions | undefined;
  private readonly scratch: Scratch;
  private disposedFlag = false;

  constructor(layers: ChainLayer[], options: { runtime?: Runtime } = {}) {
    if (!Array.isArray(layers) || layers.length === 0) throw new TypeError('new Sequential: expected a non-empty array of layers');
    this.layers = layers.slice();
    this.rt = options.runtime ?? runtime();
    this.scratch = new Scratch(this.rt);
  }

  private live(op: string): void {
    if (this.disposedFlag) throw new Error(`Sequential.${op}: this model has been disposed`);
  }

  /** Output shape for an input shape, checking every layer fits the one before it. */
  private shapes(op: string, input: readonly number[]): number[] {
    let s = input.slice();
    this.layers.forEach((l) => (s = l.outputShape(op, s)));
    return s;
  }

  /** Run every layer; returns the address and shape of the last output (in wasm memory). */
  private forwardPtr(op: string, x: TensorLike): { ptr: number; shape: number[] } {
    checkTensor(op, 'x', x, x && Array.isArray(x.shape) ? x.shape.map(() => null) : [null]);
    const shape = this.shapes(op, x.shape);
    let ptr = this.rt.stage([x.data])[0];
    let s: readonly number[] = x.shape;
    for (const l of this.layers) {
      ptr = l.forwardPtr(ptr, s);
      s = l.outputShape(op, s);
    }
    return { ptr, shape };
  }

  /** Forward pass: the last layer's output, e.g. logits [T, B, units] for an LSTM + Dense model. */
  predict(x: TensorLike): Tensor {
    this.live('predict');
    const { ptr, shape } = this.forwardPtr('Sequential.predict', x);
    return new Tensor(this.rt.copyOut(ptr, shape.reduce((a, b) => a * b, 1)), shape);
  }

  /** Choose the loss and the optimizer used by `trainOnBatch`. */
  compile(options: CompileOptions): void {
    if (options?.loss !== 'crossEntropy' && options?.loss !== 'mse') throw new RangeError(`Sequential.compile: loss must be 'crossEntropy' or 'mse', got ${String(options?.loss)}`);
    if (!options.optimizer || typeof options.optimizer.step !== 'function') throw new TypeError('Sequential.compile: optimizer must be an optimizer such as new SGD({ lr })');
    this.compiled = { ...options };
  }

  /**
   * One step on a batch: forward, loss, backward, optimizer update. Returns the loss before the update.
   * For `crossEntropy`, `y` holds class ids shaped like the output without its last axis ([T, B] for
   * an LSTM + Dense head); for `mse`, `y` is shaped like the output.
   */
  async trainOnBatch(x: TensorLike, y: TargetLike): Promise<number> {
    const op = 'Sequential.trainOnBatch';
    this.live('trainOnBatch');
    if (!this.compiled) throw new Error(`${op}: call compile({ loss, optimizer }) first`);
    const outShape = this.shapes(op, checkShapeOnly(op, x));
    const units = outShape[outShape.length - 1];
    const rows = outShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const n = rows * units;
    let targets: Float32Array | Int32Array;
    if (this.compiled.loss === 'crossEntropy') {
      targets = classTargets(op, y, outShape.slice(0, -1));
    } else {
      checkTensor(op, 'y', y, outShape, 'the shape of the model output');
      targets = y.data;
    }
    const { ptr: outPtr } = this.forwardPtr(op, x);
    for (const l of this.layers) l.zeroGrad();
    // scratch: [dOutput n floats][loss 1 float][targets]
    const tBytes = targets.length * 4;
    const base = this.scratch.reserve(n * 4 + 16 + tBytes);
    const dPtr = base;
    const lossPtr = base + ((n * 4 + 15) & ~15);
    const tPtr = lossPtr + 16;
    if (targets instanceof Int32Array) this.rt.i32(tPtr, targets.length).set(targets);
    else this.rt.f32(tPtr, targets.length).set(targets);
    if (this.compiled.loss === 'crossEntropy') {
      this.rt.check(this.rt.core.lstmw_softmax_cross_entropy(outPtr, rows, units, tPtr, dPtr, lossPtr));
    } else {
      this.rt.check(this.rt.core.lstmw_mse(outPtr, tPtr, n, dPtr, lossPtr));
    }
    const loss = this.rt.f32(lossPtr, 1)[0];
    let d = dPtr;
    for (let i = this.layers.length - 1; i >= 0; i--) d = this.layers[i].backwardPtr(d);
    this.compiled.optimizer.step(this.rt, this.layers);
    return loss;
  }

  /** Every layer's parameters as `<index>.<name>`. */
  stateDict(): Record<string, Tensor> {
    this.live('stateDict');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.stateDict())) out[`${i}.${k}`] = v;
    });
    return out;
  }

  /** Gradients of the latest `trainOnBatch`, keyed like `stateDict()`. */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((l, i) => {
      const g = (l as unknown as { gradients(): Record<string, Tensor> }).gradients();
      for (const [k, v] of Object.entries(g)) out[`${i}.${k}`] = v;
    });
    return out;
  }

  /** Load `<index>.<name>` keys; validates every layer's part before writing any. */
  loadStateDict(dict: StateDict): void {
    this.live('loadStateDict');
    const parts: StateDict[] = this.layers.map(() => ({}));
    for (const [k, v] of Object.entries(dict)) {
      const m = /^(\d+)\.(.+)$/.exec(k);
      const i = m ? Number(m[1]) : -1;
      if (!m || i >= this.layers.length) throw new ShapeError(`Sequential.loadStateDict: unknown key "${k}" (keys are <layer index>.<name>, ${this.layers.length} layers)`, 'Sequential.loadStateDict', k);
      parts[i][m[2]] = v;
    }
    // Validate all layers by loading into each only after every part passed a dry run on shapes.
    const before = this.layers.map((l) => l.stateDict());
    try {
      this.layers.forEach((l, i) => l.loadStateDict(parts[i]));
    } catch (e) {
      this.layers.forEach((l, i) => l.loadStateDict(before[i]));
      throw e;
    }
  }

  /** Dispose every layer and the model's scratch memory. Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.scratch.free();
    for (const l of this.layers) l.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function checkShapeOnly(op: string, x: TensorLike): number[] {
  return checkTensor(op, 'x', x, x && Array.isArray(x.shape) ? x.shape.map(() => null) : [null]);
}

/** Class targets as Int32Array of the expected shape. */
function classTargets(op: string, y: TargetLike, shape: number[]): Int32Array {
  if (!y || !(y.data instanceof Int32Array || y.data instanceof Float32Array) || !Array.isArray(y.shape)) {
    throw new ShapeError(`${op}: y must be { data: Int32Array | Float32Array, shape } of class ids with shape ${formatShape(shape)}`, op, 'y', shape);
  }
  if (y.shape.length !== shape.length || y.shape.some((d, i) => d !== shape[i]) || y.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new ShapeError(`${op}: y must have shape ${formatShape(shape)} (class ids for every output row), got ${formatShape(y.shape)} with ${y.data.length} values`, op, 'y', shape, y.shape.slice());
  }
  if (y.data instanceof Int32Array) return y.data;
  const out = Int32Array.from(y.data);
  const bad = y.data.findIndex((v, i) => v !== out[i]);
  if (bad >= 0) throw new RangeError(`${op}: y element ${bad} is ${y.data[bad]}, expected an integer class id`);
  return out;
}
