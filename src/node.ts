/**
 * The Node entry: the same API, with `ready()` reading the .wasm next to this file from disk
 * (Node 20's fetch cannot read `file:` URLs), and files: atomic saving, loading, checkpoints.
 * Node gets this entry from `import 'lstm-wasm'` too (the `node` export condition).
 * @module lstm-wasm/node
 */
import { deserializeModel, LoadedModel, SerializeOptions } from './io.js';
import { createRuntime as coreCreateRuntime, readyWith, wasmUrl } from './runtime.js';
import type { ReadyOptions, Runtime, WasmSource } from './runtime.js';
import type { Sequential } from './sequential.js';
import { ModelCheckpoint } from './callbacks.js';

export * from './index.js';

/**
 * Node's fetch cannot read `file:` URLs: a `file:` URL, or a string that is not an `http(s):` or
 * `data:` URL (a path, relative to the working directory), is read from disk; anything else is
 * instantiated as in the browser build.
 */
async function fromDisk(wasm: WasmSource): Promise<WasmSource> {
  if (typeof wasm !== 'string' && !(wasm instanceof URL)) return wasm;
  const { pathToFileURL } = await import('node:url');
  const url = typeof wasm === 'string' ? new URL(wasm, pathToFileURL(`${process.cwd()}/`)) : wasm;
  if (url.protocol !== 'file:') return wasm;
  const { readFile } = await import('node:fs/promises');
  return readFile(url);
}

/** As `ready()` in the browser build; the SIMD or scalar build (or a `wasm` path or `file:` URL) is read from disk. */
export function ready(options: ReadyOptions = {}): Promise<Runtime> {
  return readyWith(options, wasmUrl, fromDisk);
}

/** As `createRuntime()` in the browser build; a path or `file:` URL is read from disk. */
export async function createRuntime(wasm: WasmSource): Promise<Runtime> {
  return coreCreateRuntime(await fromDisk(wasm));
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
