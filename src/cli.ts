/**
 * The `lstm-wasm` command: train, evaluate and use LSTM models from the shell (Node only).
 *
 *   lstm-wasm train [--task pos|char|forecast] [options]
 *   lstm-wasm eval --model <file> [--data <file>]
 *   lstm-wasm tag --model <file> "The cat sat on the mat ."      (alias: predict)
 *   lstm-wasm generate --model <file> --length 300 --temperature 0.8 --prime "Call me"
 *
 * Exit codes: 0 ok, 2 usage error (one line naming the option), 1 runtime error, 130 training
 * interrupted by Ctrl-C (SIGINT).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { ready } from './node.js';
import type { Sequential } from './node.js';
import { OptionSpecs, Parsed, UsageError, formatOptions, parseArgs } from './cli/args.js';
import { CliError, Interrupted, TaskName, checkResumeOptions, checkWritable, loadCliModel, note, out } from './cli/common.js';
import { CharMeta, checkCharOptions, evalChar, sample, trainChar } from './cli/char.js';
import { ForecastMeta, checkForecastOptions, evalForecast, predictForecast, trainForecast } from './cli/forecast.js';
import { PosMeta, checkPosOptions, evalPos, tagPos, trainPos } from './cli/pos.js';

const COMMON: OptionSpecs = {
  scalar: { type: 'flag', help: 'use the scalar WebAssembly build instead of SIMD128' },
};

const TRAIN: OptionSpecs = {
  task: { type: 'string', arg: 'name', help: 'pos (tagger), char (character language model) or forecast (time series)', default: 'pos', choices: ['pos', 'char', 'forecast'] },
  data: { type: 'string', arg: 'file', help: 'training data: word/tag text (pos), any text (char), a CSV file (forecast)', default: 'the embedded sample of the task' },
  out: { type: 'string', arg: 'file', short: 'o', help: 'where to save the model', default: 'runs/<task>.lstmw' },
  epochs: { type: 'int', min: 1, help: 'training epochs (pos 6, char 10, forecast 100)' },
  'batch-size': { type: 'int', min: 1, help: 'sequences per batch (pos 32, char 16, forecast 32)' },
  lr: { type: 'number', min: 0, exclusiveMin: true, help: 'Adam learning rate (pos 1e-3, char 5e-3, forecast 3e-3)' },
  hidden: { type: 'int', min: 1, help: 'LSTM hidden units (pos 128, char 128, forecast 32)' },
  embedding: { type: 'int', min: 1, help: 'embedding size (pos 64, char 32)' },
  layers: { type: 'int', min: 1, max: 64, help: 'stacked LSTM layers', default: '1' },
  bidirectional: { type: 'flag', help: 'bidirectional LSTM (pos, forecast)' },
  dropout: { type: 'number', min: 0, max: 0.95, help: 'dropout after the embedding, between LSTM layers and before the head', default: '0' },
  seed: { type: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of the initial weights and dropout', default: '0' },
  'shuffle-seed': { type: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of the training order (pos 2, as the reference; others 0)' },
  clip: { type: 'number', min: 0, exclusiveMin: true, help: 'clip the gradient norm (pos none, char 5, forecast 1)' },
  checkpoint: { type: 'string', arg: 'file', help: 'write a checkpoint (model + optimizer + position) after every epoch; after Ctrl-C, --resume it' },
  resume: { type: 'string', arg: 'file', help: 'continue the run of a checkpoint (up to --epochs)' },
  quiet: { type: 'flag', short: 'q', help: 'no progress on stderr' },
  // pos
  'split-seed': { type: 'int', min: 0, max: 2 ** 32 - 1, help: 'pos: seed of the 80/10/10 split', default: '1' },
  'min-count': { type: 'int', min: 1, help: 'pos: keep words seen at least this often in training', default: '2' },
  cased: { type: 'flag', help: 'pos: keep case (default: lower-case words)' },
  'raw-tags': { type: 'flag', help: 'pos: keep the full Brown tags (default: simplified)' },
  'max-len': { type: 'int', min: 1, help: 'pos: cut training sentences to this many tokens (default: no cut, as the reference)' },
  // char
  'seq-len': { type: 'int', min: 1, help: 'char: characters per training window', default: '64' },
  holdout: { type: 'number', min: 0, exclusiveMin: true, max: 0.9, help: 'char, forecast: held-out tail (half validation, half test) (char 0.1, forecast 0.2)' },
  // forecast
  column: { type: 'string', arg: 'name', help: 'forecast: CSV column (default: CO2 for the embedded data, else the last numeric column)' },
  window: { type: 'int', min: 1, help: 'forecast: past steps per input window', default: '24' },
  target: { type: 'string', arg: 'mode', help: 'forecast: model the changes (delta) or the values (level)', default: 'delta', choices: ['delta', 'level'] },
  ...COMMON,
};

const EVAL: OptionSpecs = {
  model: { type: 'string', arg: 'file', short: 'm', help: 'model file written by train (required)' },
  data: { type: 'string', arg: 'file', help: 'evaluate on this file instead of the data the model was trained on' },
  split: { type: 'string', arg: 'part', help: 'part of the data to score', default: 'test', choices: ['train', 'valid', 'test', 'all'] },
  column: { type: 'string', arg: 'name', help: 'forecast: CSV column (default: the one trained on)' },
  ...COMMON,
};

const TAG: OptionSpecs = {
  model: { type: 'string', arg: 'file', short: 'm', help: 'model file written by train (required)' },
  tokenized: { type: 'flag', help: 'pos: sentences are already tokenized (split on blanks only)' },
  steps: { type: 'int', min: 1, help: 'forecast: how many next values', default: '12' },
  data: { type: 'string', arg: 'file', help: 'forecast: continue this CSV series (default: the end of the training data)' },
  column: { type: 'string', arg: 'name', help: 'forecast: CSV column (default: the one trained on)' },
  ...COMMON,
};

const GENERATE: OptionSpecs = {
  model: { type: 'string', arg: 'file', short: 'm', help: 'char model file written by train (required)' },
  length: { type: 'int', min: 0, help: 'characters to generate', default: '300' },
  temperature: { type: 'number', min: 0, help: 'sampling temperature (0: always the likeliest)', default: '0.8' },
  prime: { type: 'string', arg: 'text', help: 'text to start from (printed first)', default: 'a newline, not printed' },
  seed: { type: 'int', min: 0, max: 2 ** 32 - 1, help: 'seed of the sampler', default: 'random' },
  ...COMMON,
};

const COMMANDS: Record<string, { specs: OptionSpecs; usage: string; about: string }> = {
  train: {
    specs: TRAIN,
    usage: 'lstm-wasm train [--task pos|char|forecast] [options]',
    about: `Train a model and save it with everything needed to use it (vocabularies, tags, normalisation).
  pos       part-of-speech tagger on word/tag text; default: the embedded Brown sample with the
            configuration of the PyTorch reference (bench/pos-torch-reference.json).
  char      character-level language model; default: the embedded Moby Dick sample.
  forecast  next value of a CSV time series column; default: monthly Mauna Loa CO2.
Progress goes to stderr, results to stdout.`,
  },
  eval: { specs: EVAL, usage: 'lstm-wasm eval --model <file> [--data <file>] [--split test]', about: 'Reload a saved model and print its held-out metric (token accuracy, bits per character, RMSE).' },
  tag: {
    specs: TAG,
    usage: 'lstm-wasm tag --model <file> "The cat sat on the mat ." ...   (alias: predict)',
    about: `pos models: print word/tag pairs, one line per sentence (arguments, or lines of stdin).
forecast models: print the next --steps values, one per line. char models: see generate.`,
  },
  generate: { specs: GENERATE, usage: 'lstm-wasm generate --model <file> [--length 300] [--temperature 0.8] [--prime "Call me"]', about: 'Sample text from a char model: prints the prime, then --length new characters.' },
};

function generalHelp(): string {
  return `lstm-wasm: LSTM networks in WebAssembly, from the command line

Usage:
  lstm-wasm train [--task pos|char|forecast] [options]   train and save a model
  lstm-wasm eval --model <file>                          held-out metric of a saved model
  lstm-wasm tag --model <file> "sentence ..."            POS tags (alias: predict; forecasts too)
  lstm-wasm generate --model <file> [--prime text]       sample text from a char model

  lstm-wasm <command> --help    options of a command
  lstm-wasm --version

Exit codes: 0 ok, 2 usage error, 1 runtime error.`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return `Usage: ${c.usage}\n\n${c.about}\n\nOptions:\n${formatOptions({ ...c.specs, help: { type: 'flag', short: 'h', help: 'this help' } })}`;
}

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

async function readStdinLines(): Promise<string[]> {
  if (process.stdin.isTTY) return [];
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
}

function requireModel(v: Record<string, unknown>, command: string): string {
  if (typeof v.model !== 'string') throw new UsageError(`${command} needs --model <file>`);
  return v.model;
}

async function train(argv: string[]): Promise<void> {
  const p = parseArgs(argv, TRAIN, 'train');
  if (p.help) return out(commandHelp('train'));
  if (p.positionals.length) throw new UsageError(`train takes no arguments, got ${JSON.stringify(p.positionals[0])} (options start with --)`);
  const v = p.values;
  await ready({ simd: v.scalar ? false : undefined });
  // Ctrl-C stops training before the next batch, then the run ends with exit code 130 (a second
  // Ctrl-C quits at once). The model is not saved; --checkpoint's file, written at every epoch
  // end, resumes the run.
  const stop = new AbortController();
  // A --checkpoint file resumes this run only if this run wrote it (or it is the --resume file).
  const mtime = (f: string) => {
    try {
      return statSync(f).mtimeMs;
    } catch {
      return undefined;
    }
  };
  const ckBefore = typeof v.checkpoint === 'string' ? mtime(v.checkpoint) : undefined;
  const onInterrupt = () => {
    note('\nlstm-wasm: stopping after this batch (Ctrl-C again to quit now)');
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  try {
    await trainTask(p, v, stop.signal);
  } catch (e) {
    const ck = v.checkpoint;
    const resumable = typeof ck === 'string' && mtime(ck) !== undefined && (mtime(ck) !== ckBefore || (typeof v.resume === 'string' && resolve(v.resume) === resolve(ck)));
    if (e instanceof Interrupted && resumable) {
      e.message += `; the last epoch-end checkpoint resumes the run: lstm-wasm train --resume ${ck}`;
    } else if (e instanceof Interrupted) {
      e.message += '; nothing was saved (--checkpoint <file> writes a resumable checkpoint after every epoch)';
    }
    throw e;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

async function trainTask(p: Parsed, v: Parsed['values'], signal: AbortSignal): Promise<void> {
  const quiet = v.quiet === true;
  // Paths that cannot be written are refused now, not after the training they would hold.
  if (typeof v.out === 'string') await checkWritable(v.out, '--out');
  if (typeof v.checkpoint === 'string') await checkWritable(v.checkpoint, '--checkpoint');
  if (typeof v.resume === 'string') {
    checkResumeOptions(p.given);
    const loaded = await loadCliModel(v.resume, '--resume');
    if (!loaded.optimizer) {
      loaded.model.dispose();
      throw new UsageError(`--resume ${v.resume} is a model without optimizer state, not a checkpoint (write one with --checkpoint)`);
    }
    const task = loaded.meta.task;
    const common = { out: (v.out as string | undefined) ?? `runs/${task}.lstmw`, checkpoint: v.checkpoint as string | undefined, quiet, signal };
    const epochs = v.epochs as number | undefined;
    const model = loaded.model as Sequential;
    if (task === 'pos') return trainPos(v, common, { model, meta: loaded.meta as PosMeta, epochs });
    if (task === 'char') return trainChar(v, common, { model, meta: loaded.meta as CharMeta, training: loaded.training, epochs });
    return trainForecast(v, common, { model, meta: loaded.meta as ForecastMeta, training: loaded.training, epochs });
  }
  const task = ((v.task as string | undefined) ?? 'pos') as TaskName;
  if (task === 'pos') checkPosOptions(p.given);
  else if (task === 'char') checkCharOptions(p.given);
  else checkForecastOptions(p.given);
  const common = { out: (v.out as string | undefined) ?? `runs/${task}.lstmw`, checkpoint: v.checkpoint as string | undefined, quiet, signal };
  if (task === 'pos') return trainPos(v, common);
  if (task === 'char') return trainChar(v, common);
  return trainForecast(v, common);
}

async function evaluate(argv: string[]): Promise<void> {
  const p = parseArgs(argv, EVAL, 'eval');
  if (p.help) return out(commandHelp('eval'));
  if (p.positionals.length) throw new UsageError(`eval takes no arguments, got ${JSON.stringify(p.positionals[0])}`);
  const v = p.values;
  const path = requireModel(v, 'eval');
  await ready({ simd: v.scalar ? false : undefined });
  const { model, meta } = await loadCliModel(path);
  try {
    if (v.column !== undefined && meta.task !== 'forecast') throw new UsageError(`--column applies to forecast models; ${path} is a ${meta.task} model`);
    if (meta.task === 'pos') await evalPos(model, meta as PosMeta, v);
    else if (meta.task === 'char') await evalChar(model, meta as CharMeta, v);
    else await evalForecast(model, meta as ForecastMeta, v);
  } finally {
    model.dispose();
  }
}

async function tag(argv: string[], command: string): Promise<void> {
  const p = parseArgs(argv, TAG, command);
  if (p.help) return out(commandHelp('tag'));
  const v = p.values;
  const path = requireModel(v, command);
  await ready({ simd: v.scalar ? false : undefined });
  const { model, meta } = await loadCliModel(path, '--model');
  try {
    if (meta.task === 'pos') {
      const bad = p.given.find((g) => ['steps', 'data', 'column'].includes(g));
      if (bad) throw new UsageError(`--${bad} applies to forecast models; ${path} is a pos model`);
      const sentences = p.positionals.length ? p.positionals : await readStdinLines();
      if (sentences.length === 0) throw new UsageError(`${command} needs sentences: as arguments ("The cat sat on the mat .") or lines on stdin`);
      await tagPos(model, meta as PosMeta, sentences, v);
    } else if (meta.task === 'forecast') {
      if (p.positionals.length) throw new UsageError(`${command} with a forecast model takes no arguments (use --steps, --data)`);
      if (v.tokenized) throw new UsageError(`--tokenized applies to pos models; ${path} is a forecast model`);
      await predictForecast(model, meta as ForecastMeta, v);
    } else {
      throw new UsageError(`--model ${path} is a char model: use lstm-wasm generate --model ${path}`);
    }
  } finally {
    model.dispose();
  }
}

async function generate(argv: string[]): Promise<void> {
  const p = parseArgs(argv, GENERATE, 'generate');
  if (p.help) return out(commandHelp('generate'));
  if (p.positionals.length) throw new UsageError(`generate takes no arguments, got ${JSON.stringify(p.positionals[0])} (use --prime "text")`);
  const v = p.values;
  const path = requireModel(v, 'generate');
  await ready({ simd: v.scalar ? false : undefined });
  const { model, meta } = await loadCliModel(path, '--model', ['char']);
  try {
    const prime = (v.prime as string | undefined) ?? '';
    const seed = (v.seed as number | undefined) ?? Math.floor(Math.random() * 2 ** 32);
    const text = sample(model, meta as CharMeta, prime, (v.length as number | undefined) ?? 300, (v.temperature as number | undefined) ?? 0.8, seed);
    process.stdout.write(`${prime}${text}\n`);
  } finally {
    model.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
        out(generalHelp());
        return 0;
      case 'help':
        if (rest[0] && COMMANDS[rest[0] === 'predict' ? 'tag' : rest[0]]) out(commandHelp(rest[0] === 'predict' ? 'tag' : rest[0]));
        else if (rest[0]) throw new UsageError(`unknown command ${JSON.stringify(rest[0])} (commands: train, eval, tag, predict, generate)`);
        else out(generalHelp());
        return 0;
      case '-V':
      case '--version':
        out(await version());
        return 0;
      case 'train':
        await train(rest);
        return 0;
      case 'eval':
      case 'evaluate':
        await evaluate(rest);
        return 0;
      case 'tag':
      case 'predict':
        await tag(rest, cmd);
        return 0;
      case 'generate':
        await generate(rest);
        return 0;
      default:
        throw new UsageError(cmd.startsWith('-') ? `unknown option ${cmd}: a command comes first (train, eval, tag, predict, generate)` : `unknown command ${JSON.stringify(cmd)} (commands: train, eval, tag, predict, generate)`);
    }
  } catch (e) {
    process.stderr.write('\r\x1b[K'.repeat(process.stderr.isTTY ? 1 : 0));
    if (e instanceof UsageError) {
      note(`lstm-wasm: ${e.message}`);
      return 2;
    }
    if (e instanceof CliError) {
      note(`lstm-wasm: error: ${e.message}`);
      return 1;
    }
    if (e instanceof Interrupted) {
      note(`lstm-wasm: ${e.message}`);
      return 130;
    }
    const err = e as Error;
    note(`lstm-wasm: error: ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`);
    if (process.env.LSTMW_DEBUG) note(String(err?.stack));
    return 1;
  }
}

// Run when executed (dist/cli.js via the bin entry or `node dist/cli.js`).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0); // `lstm-wasm generate ... | head`
});
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
