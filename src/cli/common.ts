/**
 * What the CLI's tasks share: the embedded data files, reading inputs, building LSTM stacks,
 * model files with the task's metadata, checkpoints, and output.
 */
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Callback, ChainLayer, Dropout, LSTM, Logs, Sequential, deserializeModel, writeFileAtomic } from '../node.js';
import type { LoadedModel } from '../node.js';
import { UsageError } from './args.js';
import { mulberry32 } from '../data/pos.js';

export type TaskName = 'pos' | 'char' | 'forecast';
export const TASKS: readonly TaskName[] = ['pos', 'char', 'forecast'];

/** Format version of the CLI's metadata inside model files. */
export const META_VERSION = 1;

/** The embedded samples, relative to the package root (shipped in `data/`). */
export const BUILTIN = {
  brown: { path: 'data/brown/sample.txt', what: 'embedded Brown corpus sample' },
  moby: { path: 'data/moby-dick/sample.txt', what: 'embedded Moby Dick sample, chapters 1-20' },
  co2: { path: 'data/co2/co2-concentration.csv', what: 'embedded Mauna Loa monthly CO2 series' },
} as const;
export type BuiltinName = keyof typeof BUILTIN;

/** Where a task's data came from, as stored in the metadata. */
export type DataRef = { builtin: BuiltinName } | { file: string };

/** Absolute path of a data reference (embedded samples live in the package's data/ folder). */
export function dataPath(ref: DataRef): string {
  if ('builtin' in ref) return fileURLToPath(new URL(`../${BUILTIN[ref.builtin].path}`, import.meta.url));
  return ref.file;
}

export function describeData(ref: DataRef): string {
  return 'builtin' in ref ? `${BUILTIN[ref.builtin].path} (${BUILTIN[ref.builtin].what})` : ref.file;
}

/** A `--data` value, or the task's embedded sample. */
export function dataRef(option: unknown, builtin: BuiltinName): DataRef {
  return typeof option === 'string' ? { file: resolve(option) } : { builtin };
}

/** A runtime error (exit code 1) with a message meant for the user, no stack. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Training stopped by SIGINT (Ctrl-C) during `epoch` (0-based), or after the last epoch; exit code 130. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly epoch: number, after = false) {
    super(after ? 'interrupted after the last epoch, before the model was saved' : `interrupted during epoch ${epoch + 1}`);
  }
}

/**
 * Stop before saving when Ctrl-C came after training (during the final scoring, which does not
 * yield): one turn of the event loop first, so that a signal that arrived meanwhile is handled.
 */
export async function checkInterrupted(signal: AbortSignal | undefined, lastEpoch: number): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw new Interrupted(lastEpoch, true);
}

/**
 * Refuse, before any work, a path that cannot be written: a directory, or one whose folder does
 * not exist or does not let us create files (found by creating and removing a probe file there).
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  const dir = dirname(resolve(path));
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw new CliError(`cannot write ${option} ${path}: it is a directory`);
  try {
    await ensureDir(path); // as saveFile will
    const probe = join(dir, `.lstm-wasm-probe-${process.pid}`);
    await writeFile(probe, '');
    await unlink(probe);
  } catch (e) {
    throw new CliError(`cannot write ${option} ${path}: files cannot be created in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function readText(ref: DataRef, option = '--data'): Promise<string> {
  const path = dataPath(ref);
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${'builtin' in ref ? 'the embedded sample' : `${option} file`} ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Deterministic per-layer seeds derived from the user's --seed. */
export function seedStream(seed: number): () => number {
  const rnd = mulberry32(seed ^ 0x5eed);
  return () => Math.floor(rnd() * 2 ** 32);
}

export interface StackOptions {
  inputSize: number;
  hidden: number;
  layers: number;
  bidirectional: boolean;
  dropout: number;
  returnSequences: boolean;
  nextSeed: () => number;
}

/**
 * The recurrent part: one LSTM with `numLayers` (as nn.LSTM), or, with dropout and several layers,
 * one LSTM per layer with Dropout between them (nn.LSTM's `dropout` argument). Output width D·H.
 */
export function lstmStack(o: StackOptions): ChainLayer[] {
  const dirs = o.bidirectional ? 2 : 1;
  if (o.dropout === 0 || o.layers === 1) {
    return [new LSTM({ inputSize: o.inputSize, hiddenSize: o.hidden, numLayers: o.layers, bidirectional: o.bidirectional, batchFirst: true, returnSequences: o.returnSequences, seed: o.nextSeed() })];
  }
  const out: ChainLayer[] = [];
  for (let l = 0; l < o.layers; l++) {
    if (l > 0) out.push(new Dropout({ p: o.dropout, seed: o.nextSeed() }));
    const last = l === o.layers - 1;
    out.push(new LSTM({ inputSize: l === 0 ? o.inputSize : dirs * o.hidden, hiddenSize: o.hidden, bidirectional: o.bidirectional, batchFirst: true, returnSequences: last ? o.returnSequences : true, seed: o.nextSeed() }));
  }
  return out;
}

/** "Embedding(4026, 64) → LSTM(64 → 128) → Dense(128 → 123)" and the parameter count. */
export function describeModel(model: Sequential): string {
  const parts = model.layers.map((l) => {
    const c = l.config as Record<string, unknown>;
    switch (l.kind) {
      case 'Embedding':
        return `Embedding(${c.numEmbeddings}, ${c.embeddingDim})`;
      case 'LSTM':
        return `LSTM(${c.inputSize} → ${c.hiddenSize}${(c.numLayers as number) > 1 ? `, ${c.numLayers} layers` : ''}${c.bidirectional ? ', bidirectional' : ''}${c.returnSequences ? '' : ', last tick'})`;
      case 'Dense':
        return `Dense(${c.inputSize} → ${c.units})`;
      case 'Dropout':
        return `Dropout(${c.p})`;
      default:
        return l.kind;
    }
  });
  const params = model.layers.reduce((a, l) => a + l.paramCount, 0);
  return `${parts.join(' → ')}; ${params.toLocaleString('en-US')} parameters`;
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
}

/** Save a model (optionally with optimizer state / fit position) and the task metadata, atomically. */
export async function saveFile(model: Sequential, path: string, metadata: unknown, opts: { optimizer?: boolean; training?: boolean } = {}): Promise<void> {
  await ensureDir(path);
  await writeFileAtomic(path, model.toBytes({ ...opts, metadata }));
}

/** The metadata every CLI model file carries (task-specific fields are added by the task). */
export interface BaseMeta {
  cli: number;
  task: TaskName;
  data: DataRef;
  /** Present in checkpoints: the epoch to run next (0-based). */
  checkpoint?: { nextEpoch: number };
}

/** Load a model file written by the CLI; checks it is one and, if given, of the expected task. */
export async function loadCliModel(path: string, option = '--model', tasks?: readonly TaskName[]): Promise<LoadedModel & { meta: BaseMeta }> {
  let loaded: LoadedModel;
  try {
    // A plain Uint8Array copy rather than loadModel(path): before 4fc42e3, deserializeModel read
    // a Node Buffer's data section through Buffer#slice (a view), shifting every weight.
    loaded = deserializeModel(new Uint8Array(await readFile(path)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`${option} ${path}: no such file`);
    throw new CliError(`${option} ${path}: ${(e as Error).message}`);
  }
  const meta = loaded.metadata as BaseMeta | undefined;
  if (!meta || typeof meta !== 'object' || !TASKS.includes(meta.task) || typeof meta.cli !== 'number') {
    loaded.model.dispose();
    throw new UsageError(`${option} ${path} was not written by the lstm-wasm CLI (no task metadata)`);
  }
  if (meta.cli > META_VERSION) {
    loaded.model.dispose();
    throw new CliError(`${option} ${path} has CLI metadata version ${meta.cli}; this CLI reads version ${META_VERSION}`);
  }
  if (tasks && !tasks.includes(meta.task)) {
    loaded.model.dispose();
    throw new UsageError(`${option} ${path} is a ${meta.task} model; this command needs a ${tasks.join(' or ')} model`);
  }
  return { ...loaded, meta };
}

/** Plain output on stdout (results); progress goes to stderr. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Notes on stderr (warnings, where a file went). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

/**
 * Writes a checkpoint (model + optimizer state + fit position + metadata) at the end of every
 * epoch of `fit`. (The library's ModelCheckpoint cannot add metadata, which the CLI needs to
 * resume: vocabularies, normalisation, task settings.)
 */
export class CheckpointWriter implements Callback {
  constructor(
    private readonly path: string,
    private readonly metadata: () => unknown,
  ) {}
  async onEpochEnd(_epoch: number, _logs: Logs, model: Sequential): Promise<void> {
    await saveFile(model, this.path, this.metadata(), { optimizer: true, training: true });
  }
}

/** Epoch timings for the per-epoch report of fit-based tasks. */
export class EpochTimer implements Callback {
  private t0 = performance.now();
  constructor(private readonly report: (epoch: number, logs: Logs, seconds: number) => void | Promise<void>) {}
  onTrainBegin(): void {
    this.t0 = performance.now();
  }
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const s = (performance.now() - this.t0) / 1000;
    await this.report(epoch, logs, s);
    this.t0 = performance.now();
  }
}

/** Options that a resumed run takes from its checkpoint; giving them again is a usage error. */
export const FIXED_BY_CHECKPOINT = ['task', 'data', 'hidden', 'embedding', 'layers', 'bidirectional', 'dropout', 'seed', 'lr', 'batch-size', 'split-seed', 'shuffle-seed', 'min-count', 'raw-tags', 'max-len', 'seq-len', 'holdout', 'column', 'window', 'target', 'clip', 'cased'];

/** The `--resume` checkpoint: refuses options that would contradict it. */
export function checkResumeOptions(given: readonly string[]): void {
  const bad = given.find((g) => FIXED_BY_CHECKPOINT.includes(g));
  if (bad) throw new UsageError(`--${bad} cannot be combined with --resume (the checkpoint fixes it)`);
}

/** A numeric option as parsed by `parseArgs` (undefined when not given), for `?? default`. */
export function numOpt(v: Readonly<Record<string, unknown>>, key: string): number | undefined {
  return v[key] as number | undefined;
}
