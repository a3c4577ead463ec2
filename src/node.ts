/**
 * The Node entry: the same API, with `ready()` reading the .wasm next to this file from disk
 * (Node 20's fetch cannot read `file:` URLs), and files: atomic saving, loading, checkpoints.
 * Node gets this entry from `import 'lstm-wasm'` too (the `node` export condition).
 * @module lstm-wasm/node
 */
import { deserializeModel, LoadedModel, SerializeOptions } from './io.js';
import { ready as coreReady, resolveSimd, wasmUrl } from './runtime.js';
import type { ReadyOptions, Runtime } from './runtime.js';
import type { Sequential } from './sequential.js';
import { ModelCheckpoint } from './callbacks.js';

export * from './index.js';

/** As `ready()` in the browser build; without `wasm`, reads the SIMD or scalar build from disk. */
export async function ready(options: ReadyOptions = {}): Promise<Runtime> {
  if (options.wasm === undefined) {
    const { readFile } = await import('node:fs/promises');
    const url = wasmUrl(resolveSimd(options.simd));
    options = { ...options, wasm: await readFile(url) };
  }
  return coreReady(options);
}

/** Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const fs = await import('node:fs/promises');
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Save `model` (and with `optimizer`/`training`, a checkpoint) to `path`, atomically. */
export async function saveModel(model: Sequential, path: string, options: SerializeOptions = {}): Promise<void> {
  await writeFileAtomic(path, model.toBytes(options));
}

/** Load a model file written by `saveModel` / `toBytes`; validates it fully before allocating. */
export async function loadModel(path: string, options: { runtime?: Runtime } = {}): Promise<LoadedModel> {
  const { readFile } = await import('node:fs/promises');
  return deserializeModel(await readFile(path), options);
}

/**
 * A `ModelCheckpoint` that writes each checkpoint to `path` atomically: at every epoch end, and
 * every `options.everyBatches` optimizer steps when given. `options.metadata` is stored in each one.
 */
export function checkpointToFile(path: string, options: { everyBatches?: number; metadata?: unknown } = {}): ModelCheckpoint {
  return new ModelCheckpoint({ ...options, save: (bytes) => writeFileAtomic(path, bytes) });
}
