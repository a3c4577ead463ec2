/**
 * The model file format, version 1. One file holds the architecture, the weights and optionally the
 * optimizer state and the training position (a checkpoint):
 *
 *   bytes 0..8    magic "LSTMWASM"
 *   bytes 8..12   u32 LE format version (1)
 *   bytes 12..16  u32 LE byte length H of the JSON header
 *   bytes 16..16+H  UTF-8 JSON header (below)
 *   zero padding to a multiple of 16, then the data: little-endian float32 values
 *
 * Header: { format: "lstm-wasm", version: 1,
 *   layers: [{ type: "LSTM" | "Dense" | "Embedding" | "Dropout", config }],
 *   tensors: [{ name: "<layer>.<param>", shape, offset, length }],   // offset/length in floats of the data
 *   extra?: { "<layer>": u32[] },                                     // dropout generator states
 *   compile?: { loss, clipGradNorm?, clipGradValue?, metrics?, lrSchedule?: { type, options } },
 *   optimizer?: { type, options, steps, state: { offset, length } },
 *   training?: TrainingState (its callbacks' weights as { offset, length }), metadata?: {...} }
 *
 * Loading checks everything against the file before allocating anything large: magic, version, the
 * header's size and JSON, every layer config, that the tensors are exactly the ones the configs
 * need with the right shapes, and that every offset and length lies inside the data.
 */
import { Dense } from './dense.js';
import { Dropout } from './dropout.js';
import { Embedding } from './embedding.js';
import { ChainLayer } from './layer.js';
import { LSTM, lstmParamShapes } from './lstm.js';
import { Optimizer, makeOptimizer } from './optim.js';
import { Runtime } from './runtime.js';
import { checkOptions } from './errors.js';
import { LRSchedule, makeSchedule, scheduleConfig } from './schedule.js';
import { CallbackState, CompileOptions, Sequential, TrainingState } from './sequential.js';

export const FORMAT_VERSION = 1;
const MAGIC = 'LSTMWASM';
const MAX_HEADER = 16 << 20;
const MAX_LAYERS = 256;

export interface SerializeOptions {
  /** Include the optimizer state and compile options (a checkpoint). Default false. */
  optimizer?: boolean;
  /** Include the training position of the running `fit` (implies what resuming needs). Default false. */
  training?: boolean;
  /** Free-form JSON stored in the header (vocabularies, task settings...). */
  metadata?: unknown;
}

/** What `deserializeModel` gives back. */
export interface LoadedModel {
  /** The model, with the stored weights. */
  model: Sequential;
  /** The stored optimizer, bound to `model` and compiled with the stored loss, when present. */
  optimizer?: Optimizer;
  /** The position of the run, when the file is a checkpoint: pass it as `fit({ resume })`. */
  training?: TrainingState;
  /** The `metadata` given when saving. */
  metadata?: unknown;
}

/** A model file was refused: truncated, corrupt, of another version, or not matching its config. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

function bad(msg: string): never {
  throw new ModelFormatError(`model file: ${msg}`);
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('lstm-wasm: big-endian platforms are not supported');

/** Encode `model` as a version-1 model file. */
export function serializeModel(model: Sequential, options: SerializeOptions = {}): Uint8Array {
  options = checkOptions('serializeModel', options, 'optimizer training metadata');
  const tensors: { name: string; shape: number[]; offset: number; length: number }[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (data: Float32Array) => {
    chunks.push(data);
    const at = offset;
    offset += data.length;
    return at;
  };
  const extra: Record<string, number[]> = {};
  model.layers.forEach((l, i) => {
    for (const [name, t] of Object.entries(l.stateDict())) tensors.push({ name: `${i}.${name}`, shape: t.shape, offset: add(t.data), length: t.data.length });
    if (l.extraState) extra[i] = l.extraState();
  });
  const header: Record<string, unknown> = {
    format: 'lstm-wasm',
    version: FORMAT_VERSION,
    layers: model.layers.map((l) => ({ type: l.kind, config: l.config })),
    tensors,
    extra,
  };
  const c = model.compileOptions;
  if ((options.optimizer || options.training) && c?.optimizer) {
    // A built-in schedule is stored as { type, options }; your own is not (resuming then asks for it).
    const lrSchedule = c.lrSchedule && scheduleConfig(c.lrSchedule);
    header.compile = { loss: c.loss, clipGradNorm: c.clipGradNorm, clipGradValue: c.clipGradValue, metrics: c.metrics, lrSchedule };
    const state = c.optimizer.state();
    header.optimizer = { type: c.optimizer.type, options: c.optimizer.options, steps: c.optimizer.steps, state: { offset: add(state), length: state.length } };
  }
  if (options.training && model.training) {
    // Callback states (EarlyStopping) as of now: their weights go to the data section.
    const callbacks = model.callbackStates().map(({ type, values, weights }) => ({ type, values, ...(weights ? { weights: { offset: add(weights), length: weights.length } } : {}) }));
    header.training = { ...model.training, history: model.training.history, callbacks };
  }
  if (options.metadata !== undefined) header.metadata = options.metadata;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = (16 + json.length + 15) & ~15;
  const out = new Uint8Array(dataStart + offset * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, FORMAT_VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  const data = new Float32Array(out.buffer, dataStart, offset);
  let at = 0;
  for (const ch of chunks) {
    data.set(ch, at);
    at += ch.length;
  }
  return out;
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function posInt(v: unknown, what: string, max = 1 << 26): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) bad(`${what} must be an integer in 1..${max}, got ${JSON.stringify(v)}`);
  return v;
}

/** The parameter names and shapes a layer entry needs, after validating its config. */
function layerSpec(entry: unknown, i: number): { type: string; config: Json; params: [string, number[]][] } {
  if (!isObj(entry) || typeof entry.type !== 'string' || !isObj(entry.config)) bad(`layers[${i}] must be { type, config }`);
  const c = entry.config;
  const boolOpt = (k: string) => {
    if (c[k] !== undefined && typeof c[k] !== 'boolean') bad(`layers[${i}].config.${k} must be a boolean`);
    return c[k] === true;
  };
  switch (entry.type) {
    case 'LSTM': {
      const cfg = {
        inputSize: posInt(c.inputSize, `layers[${i}].config.inputSize`),
        hiddenSize: posInt(c.hiddenSize, `layers[${i}].config.hiddenSize`),
        numLayers: posInt(c.numLayers, `layers[${i}].config.numLayers`, 64),
        bidirectional: boolOpt('bidirectional'),
        batchFirst: boolOpt('batchFirst'),
        returnSequences: c.returnSequences === undefined ? true : boolOpt('returnSequences'),
      };
      return { type: 'LSTM', config: cfg, params: lstmParamShapes(cfg) };
    }
    case 'Dense': {
      const cfg = { inputSize: posInt(c.inputSize, `layers[${i}].config.inputSize`), units: posInt(c.units, `layers[${i}].config.units`) };
      return { type: 'Dense', config: cfg, params: [['weight', [cfg.units, cfg.inputSize]], ['bias', [cfg.units]]] };
    }
    case 'Embedding': {
      const cfg = { numEmbeddings: posInt(c.numEmbeddings, `layers[${i}].config.numEmbeddings`), embeddingDim: posInt(c.embeddingDim, `layers[${i}].config.embeddingDim`) };
      return { type: 'Embedding', config: cfg, params: [['weight', [cfg.numEmbeddings, cfg.embeddingDim]]] };
    }
    case 'Dropout': {
      if (typeof c.p !== 'number' || !(c.p >= 0 && c.p < 1)) bad(`layers[${i}].config.p must be a number in [0, 1)`);
      return { type: 'Dropout', config: { p: c.p }, params: [] };
    }
    default:
      return bad(`layers[${i}].type ${JSON.stringify(entry.type)} is not one of LSTM, Dense, Embedding, Dropout`);
  }
}

function checkRange(what: string, r: unknown, dataFloats: number): { offset: number; length: number } {
  if (!isObj(r) || !Number.isInteger(r.offset) || !Number.isInteger(r.length) || (r.offset as number) < 0 || (r.length as number) < 0) bad(`${what}: offset and length must be non-negative integers`);
  const { offset, length } = r as { offset: number; length: number };
  if (offset + length > dataFloats) bad(`${what}: floats ${offset}..${offset + length} lie past the end of the data (${dataFloats} floats; file truncated?)`);
  return { offset, length };
}

const HISTORY_ARRAYS = ['epochs', 'loss', 'accuracy', 'valLoss', 'valAccuracy', 'lr'] as const;

/**
 * Check a checkpoint's training position (what `fit({ resume })` will trust) and find its callback
 * weights in the data. JSON writes NaN and ±Infinity as null, so null stands for them in the history
 * (NaN) and in the schedule's and callbacks' values (the owner's default).
 */
function checkTraining(t: unknown, dataFloats: number): (CallbackState & { range?: { offset: number; length: number } })[] {
  if (!isObj(t)) bad('training must be an object');
  for (const k of ['epoch', 'batch', 'step', 'seed']) {
    if (!Number.isSafeInteger(t[k]) || ((t[k] as number) < 0 && k !== 'seed')) bad(`training.${k} must be a${k === 'seed' ? 'n' : ' non-negative'} integer, got ${JSON.stringify(t[k])}`);
  }
  const numbers = (v: unknown, what: string, keys: readonly string[] = []): Record<string, number | null> => {
    if (!isObj(v) || Object.values(v).some((x) => x !== null && !Number.isFinite(x)) || keys.some((k) => typeof v[k] !== 'number')) bad(`${what} must be an object of numbers ${keys}`);
    return v as Record<string, number | null>;
  };
  if (t.scheduleType !== undefined && typeof t.scheduleType !== 'string') bad('training.scheduleType must be a string');
  if (t.scheduleBuiltIn !== undefined && typeof t.scheduleBuiltIn !== 'boolean') bad('training.scheduleBuiltIn must be a boolean');
  if (t.scheduleState !== undefined) numbers(t.scheduleState, 'training.scheduleState');
  if (t.partial !== undefined) numbers(t.partial, 'training.partial', ['lossSum', 'correct', 'counted']);
  const h = t.history;
  if (!isObj(h)) bad('training.history must be an object');
  for (const k of HISTORY_ARRAYS) {
    const a = h[k];
    if (!Array.isArray(a) || a.some((x) => x !== null && typeof x !== 'number')) bad(`training.history.${k} must be an array of numbers`);
    if (k === 'epochs' && a.some((x) => !Number.isSafeInteger(x) || x < 0)) bad('training.history.epochs must hold non-negative integers');
  }
  for (const k of ['stopped', 'aborted']) if (typeof h[k] !== 'boolean') bad(`training.history.${k} must be a boolean`);
  if (t.callbacks === undefined) return [];
  if (!Array.isArray(t.callbacks) || t.callbacks.length > 1024) bad('training.callbacks must be an array (of at most 1024 states)');
  return t.callbacks.map((c, i) => {
    if (!isObj(c) || typeof c.type !== 'string') bad(`training.callbacks[${i}] must be { type, values, weights? }`);
    const values = Object.fromEntries(Object.entries(numbers(c.values, `training.callbacks[${i}].values`)).filter(([, v]) => v !== null)) as Record<string, number>;
    return { type: c.type, values, range: c.weights === undefined ? undefined : checkRange(`training.callbacks[${i}].weights`, c.weights, dataFloats) };
  });
}

/** Decode a model file, validating it completely first. Throws `ModelFormatError` naming the problem. */
export function deserializeModel(bytes: Uint8Array | ArrayBuffer, options: { runtime?: Runtime } = {}): LoadedModel {
  options = checkOptions('deserializeModel', options, 'runtime');
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 16) bad(`${u8.length} bytes is too short for a header (truncated?)`);
  if (new TextDecoder().decode(u8.subarray(0, 8)) !== MAGIC) bad('wrong magic: not an lstm-wasm model (expected "LSTMWASM")');
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== FORMAT_VERSION) bad(`format version ${version} is not supported; this build reads version ${FORMAT_VERSION}`);
  const hlen = dv.getUint32(12, true);
  if (hlen > MAX_HEADER || 16 + hlen > u8.length) bad(`header of ${hlen} bytes does not fit in the ${u8.length}-byte file (truncated or corrupt)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(u8.subarray(16, 16 + hlen)));
  } catch (e) {
    bad(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObj(header) || header.format !== 'lstm-wasm' || header.version !== FORMAT_VERSION) bad('header is not an lstm-wasm version-1 header');
  const dataStart = (16 + hlen + 15) & ~15;
  if (dataStart > u8.length || (u8.length - dataStart) % 4 !== 0) bad(`data section of ${u8.length - dataStart} bytes is not whole float32 values (truncated?)`);
  const dataFloats = (u8.length - dataStart) / 4;
  if (!Array.isArray(header.layers) || header.layers.length < 1 || header.layers.length > MAX_LAYERS) bad(`layers must be an array of 1..${MAX_LAYERS} entries`);
  const specs = header.layers.map(layerSpec);
  // The tensors must be exactly those the layers need.
  if (!Array.isArray(header.tensors)) bad('tensors must be an array');
  const table = new Map<string, { shape: number[]; offset: number; length: number }>();
  for (const [k, t] of header.tensors.entries()) {
    if (!isObj(t) || typeof t.name !== 'string' || !Array.isArray(t.shape)) bad(`tensors[${k}] must be { name, shape, offset, length }`);
    if (table.has(t.name)) bad(`tensor "${t.name}" appears twice`);
    if (!t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) bad(`tensor "${t.name}" shape must hold non-negative integers, got ${JSON.stringify(t.shape)}`);
    const r = checkRange(`tensor "${t.name}"`, t, dataFloats);
    table.set(t.name, { shape: t.shape as number[], ...r });
  }
  const expected = new Set<string>();
  specs.forEach((s, i) => {
    for (const [name, shape] of s.params) {
      const key = `${i}.${name}`;
      expected.add(key);
      const t = table.get(key);
      if (!t) bad(`tensor "${key}" is missing (layer ${i} is ${s.type})`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j]) || t.length !== n) {
        bad(`tensor "${key}" has shape [${t.shape}] and ${t.length} values; the layer config needs [${shape}] (${n} values)`);
      }
    }
  });
  for (const name of table.keys()) if (!expected.has(name)) bad(`tensor "${name}" does not belong to any layer`);
  // Optimizer and training state: checked before anything is built.
  let opt: { type: string; options: Json; steps: number; range: { offset: number; length: number } } | undefined;
  if (header.optimizer !== undefined) {
    const o = header.optimizer;
    if (!isObj(o) || typeof o.type !== 'string' || !isObj(o.options) || !Number.isInteger(o.steps) || (o.steps as number) < 0) bad('optimizer must be { type, options, steps, state }');
    opt = { type: o.type as string, options: o.options as Json, steps: o.steps as number, range: checkRange('optimizer state', o.state, dataFloats) };
  }
  const compile = header.compile;
  if (compile !== undefined && (!isObj(compile) || (compile.loss !== 'crossEntropy' && compile.loss !== 'mse'))) bad("compile.loss must be 'crossEntropy' or 'mse'");
  let lrSchedule: LRSchedule | undefined;
  if (isObj(compile) && compile.lrSchedule !== undefined) {
    const s = compile.lrSchedule;
    if (!isObj(s) || typeof s.type !== 'string' || !isObj(s.options)) bad('compile.lrSchedule must be { type, options }');
    try {
      lrSchedule = makeSchedule(s.type as string, s.options);
    } catch (e) {
      bad(`compile.lrSchedule: ${(e as Error).message}`);
    }
  }
  const callbackStates = header.training === undefined ? [] : checkTraining(header.training, dataFloats);
  const extra = header.extra ?? {};
  if (!isObj(extra)) bad('extra must be an object');
  for (const k of Object.keys(extra)) if (specs[Number(k)]?.type !== 'Dropout' || String(Number(k)) !== k) bad(`extra["${k}"] belongs to no Dropout layer`);

  // Everything is consistent: build.
  // A copy (aligned, and independent of a Node Buffer's shared pool, whose .slice is a view).
  const dataBytes = new Uint8Array(u8.length - dataStart);
  dataBytes.set(u8.subarray(dataStart));
  const data = new Float32Array(dataBytes.buffer);
  const rt = options.runtime;
  const layers: ChainLayer[] = [];
  let doing = '';
  try {
    specs.forEach((s, i) => {
      doing = `layer ${i} (${s.type})`;
      const common = { seed: 0, runtime: rt };
      const l: ChainLayer =
        s.type === 'LSTM' ? new LSTM({ ...(s.config as unknown as ConstructorParameters<typeof LSTM>[0]), ...common })
        : s.type === 'Dense' ? new Dense({ ...(s.config as unknown as ConstructorParameters<typeof Dense>[0]), ...common })
        : s.type === 'Embedding' ? new Embedding({ ...(s.config as unknown as ConstructorParameters<typeof Embedding>[0]), ...common })
        : new Dropout({ ...(s.config as { p: number }), ...common });
      layers.push(l);
      const dict: Record<string, Float32Array> = {};
      for (const [name] of s.params) {
        const t = table.get(`${i}.${name}`)!;
        dict[name] = data.subarray(t.offset, t.offset + t.length);
      }
      l.loadStateDict(dict);
      const words = (extra as Json)[i];
      if (words !== undefined) {
        doing = `extra state for layer ${i} (${s.type})`;
        if (!l.setExtraState || !Array.isArray(words)) bad(`${doing} is invalid`);
        l.setExtraState(words as number[]);
      }
    });
  } catch (e) {
    for (const l of layers) l.dispose();
    if (e instanceof ModelFormatError) throw e;
    // Name tensors with their layer index, as the file does ("1.weight").
    const msg = (e as Error).message.replace(/"([^"]+)"/, `"${layers.length - 1}.$1"`);
    bad(`${doing}: ${msg}`);
  }
  const model = new Sequential(layers, { runtime: rt });
  const result: LoadedModel = { model, metadata: header.metadata };
  try {
    if (opt) {
      const optimizer = makeOptimizer(opt.type, opt.options);
      const c = (compile ?? { loss: 'crossEntropy' }) as Json;
      try {
        model.compile({ ...(c as unknown as CompileOptions), optimizer, lrSchedule });
      } catch (e) {
        optimizer.dispose();
        bad(`compile: ${(e as Error).message}`);
      }
      optimizer.setState(data.subarray(opt.range.offset, opt.range.offset + opt.range.length), opt.steps);
      result.optimizer = optimizer;
    }
  } catch (e) {
    model.dispose();
    if (e instanceof ModelFormatError) throw e;
    bad(`optimizer state does not fit this model: ${(e as Error).message}`);
  }
  if (header.training !== undefined) {
    const t = header.training as Json;
    const history = Object.fromEntries(Object.entries(t.history as Json).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => x ?? NaN) : v]));
    const callbacks = callbackStates.map(({ type, values, range }) => ({ type, values, ...(range ? { weights: data.slice(range.offset, range.offset + range.length) } : {}) }));
    result.training = { ...t, history, callbacks } as unknown as TrainingState;
  }
  return result;
}
