/**
 * Task `forecast`: one column of a CSV time series (default: the embedded monthly Mauna Loa CO2
 * record), windows of the past `window` steps → the next value, LSTM (last tick) → Dense(1), mse.
 *
 * With `target: 'delta'` (default) the model reads and predicts the step-to-step changes, and the
 * forecast is the last value plus the predicted change: a trending series (CO2 rises every year)
 * leaves the range of the training values, its changes do not. `'level'` models the values
 * themselves. Inputs and targets are normalised with the mean and standard deviation of the
 * training part (stored in the model file). The last `holdout` of the targets is held out, first
 * half validation, second half test; RMSE is reported in the column's units, next to the naive
 * "next = last" forecast.
 */
import { Adam, Dense, Dropout, Sequential } from '../node.js';
import type { ChainLayer, Logs, TrainingState } from '../node.js';
import { UsageError } from './args.js';
import { BaseMeta, CheckpointWriter, CliError, DataRef, EpochTimer, Interrupted, META_VERSION, dataRef, describeData, describeModel, fmt, lstmStack, note, out, readText, saveFile, seedStream, numOpt, checkInterrupted } from './common.js';
import type { TrainCommon } from './pos.js';
import { Progress } from './progress.js';

export type TargetMode = 'delta' | 'level';

export interface ForecastMeta extends BaseMeta {
  task: 'forecast';
  column: string;
  window: number;
  target: TargetMode;
  holdout: number;
  /** Normalisation of the modelled series (changes or values) over the training part. */
  norm: { mean: number; std: number };
  /** The last window + 1 values of the data, so `predict` works without the data file. */
  tail: number[];
  model: { hidden: number; layers: number; bidirectional: boolean; dropout: number; seed: number };
  training: { epochs: number; batchSize: number; lr: number; shuffleSeed: number; clip: number | null };
  history: { epoch: number[]; loss: number[]; valRmse: number[]; seconds: number[] };
  results?: { testRmse: number; naiveRmse: number; testTargets: number; valRmse: number };
}

type Values = Record<string, string | number | boolean>;

/** Split one CSV line (RFC 4180 quoting: "a, b" and "" inside quotes). */
export function csvFields(line: string): string[] {
  const f: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (q) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') q = false;
      else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') {
      f.push(cur);
      cur = '';
    } else cur += ch;
  }
  f.push(cur);
  return f.map((s) => s.trim());
}

function listColumns(header: string[]): string {
  const shown = header.slice(0, 8).map((h) => (h.length > 24 ? `${h.slice(0, 21)}...` : h));
  return shown.join(', ') + (header.length > 8 ? `, ... (${header.length} in all)` : '');
}

const MISSING = new Set(['', 'na', 'nan', 'null', 'n/a', '-']);

/**
 * The values of `column` (default: the last column whose values are all numbers). Missing values
 * (empty, NA, NaN) are skipped with a note; anything else that is not a number is an error.
 */
export function readColumn(text: string, column: string | undefined, where: string, fromModel = false): { name: string; values: Float64Array; skipped: number } {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new CliError(`${where}: expected a header line and data lines`);
  const header = csvFields(lines[0]!.replace(/^\ufeff/, ''));
  const rows = lines.slice(1).map(csvFields);
  let col: number;
  if (column !== undefined) {
    col = header.indexOf(column);
    if (col < 0) {
      const which = fromModel ? `the model's column ${JSON.stringify(column)}` : `--column ${JSON.stringify(column)}`;
      throw new UsageError(`${which} is not a column of ${where} (columns: ${listColumns(header)})${fromModel ? '; choose one with --column' : ''}`);
    }
  } else {
    col = -1;
    for (let c = header.length - 1; c >= 0 && col < 0; c--) {
      if (rows.every((r) => MISSING.has((r[c] ?? '').toLowerCase()) || Number.isFinite(Number(r[c])))) col = c;
    }
    if (col < 0) throw new CliError(`${where}: no column holds only numbers (columns: ${listColumns(header)}); choose one with --column`);
  }
  const values: number[] = [];
  let skipped = 0;
  rows.forEach((r, i) => {
    const s = r[col] ?? '';
    if (MISSING.has(s.toLowerCase())) {
      skipped++;
      return;
    }
    const x = Number(s);
    if (!Number.isFinite(x)) throw new CliError(`${where}: line ${i + 2}, column ${header[col]}: ${JSON.stringify(s)} is not a number`);
    values.push(x);
  });
  return { name: header[col]!, values: Float64Array.from(values), skipped };
}

/** The modelled series: changes (index t holds v[t] - v[t-1], t ≥ 1) or the values. */
function modelled(values: Float64Array, mode: TargetMode): Float64Array {
  if (mode === 'level') return values;
  const d = new Float64Array(values.length);
  for (let t = 1; t < values.length; t++) d[t] = values[t]! - values[t - 1]!;
  return d;
}

/** First target index with a full window: window values (changes need one more). */
function firstTarget(window: number, mode: TargetMode): number {
  return mode === 'delta' ? window + 1 : window;
}

interface Parts {
  train: [number, number];
  valid: [number, number];
  test: [number, number];
}

/** Target index ranges [start, end): the tail `holdout` of the targets, split valid | test. */
function splitTargets(n: number, window: number, mode: TargetMode, holdout: number): Parts {
  const first = firstTarget(window, mode);
  const targets = n - first;
  const held = Math.floor(targets * holdout);
  const nValid = Math.floor(held / 2);
  const trainEnd = n - held;
  return { train: [first, trainEnd], valid: [trainEnd, trainEnd + nValid], test: [trainEnd + nValid, n] };
}

/** Windows of the normalised series for targets in [start, end): x [N, W, 1], y [N, 1]. */
function windowsOf(s: Float64Array, [start, end]: [number, number], window: number, norm: ForecastMeta['norm']) {
  const n = Math.max(0, end - start);
  const x = new Float32Array(n * window);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = start + i;
    for (let k = 0; k < window; k++) x[i * window + k] = (s[t - window + k]! - norm.mean) / norm.std;
    y[i] = (s[t]! - norm.mean) / norm.std;
  }
  return { x: { data: x, shape: [n, window, 1] }, y: { data: y, shape: [n, 1] }, n };
}

/** Forecasts (original units) for targets in [start, end), and the RMSE against the truth and of the naive forecast. */
function score(model: Sequential, values: Float64Array, meta: ForecastMeta, range: [number, number]): { rmse: number; naive: number; n: number } {
  const s = modelled(values, meta.target);
  const w = windowsOf(s, range, meta.window, meta.norm);
  if (w.n === 0) return { rmse: NaN, naive: NaN, n: 0 };
  const pred = model.predict(w.x, { batchSize: 256 }).data;
  let se = 0, seNaive = 0;
  for (let i = 0; i < w.n; i++) {
    const t = range[0] + i;
    const p = pred[i]! * meta.norm.std + meta.norm.mean;
    const forecast = meta.target === 'delta' ? values[t - 1]! + p : p;
    se += (forecast - values[t]!) ** 2;
    seNaive += (values[t - 1]! - values[t]!) ** 2;
  }
  return { rmse: Math.sqrt(se / w.n), naive: Math.sqrt(seNaive / w.n), n: w.n };
}

function buildModel(m: ForecastMeta['model']): Sequential {
  const next = seedStream(m.seed);
  const layers: ChainLayer[] = lstmStack({ inputSize: 1, hidden: m.hidden, layers: m.layers, bidirectional: m.bidirectional, dropout: m.dropout, returnSequences: false, nextSeed: next });
  if (m.dropout > 0) layers.push(new Dropout({ p: m.dropout, seed: next() }));
  layers.push(new Dense({ inputSize: (m.bidirectional ? 2 : 1) * m.hidden, units: 1, seed: next() }));
  return new Sequential(layers);
}

async function loadSeries(ref: DataRef, column: string | undefined, fromModel = false) {
  const where = describeData(ref);
  const r = readColumn(await readText(ref), column, where, fromModel);
  if (r.skipped > 0) note(`note: ${where}: ${r.skipped} rows without a value in column ${r.name} skipped`);
  return r;
}

export async function trainForecast(v: Values, common: TrainCommon, resume?: { model: Sequential; meta: ForecastMeta; training?: TrainingState; epochs?: number }): Promise<void> {
  let meta: ForecastMeta;
  let model: Sequential;
  const ref = resume ? resume.meta.data : dataRef(v.data, 'co2');
  const column = resume ? resume.meta.column : (v.column as string | undefined) ?? (typeof v.data === 'string' ? undefined : 'CO2');
  const { name, values } = await loadSeries(ref, column);
  const window = resume?.meta.window ?? numOpt(v, 'window') ?? 24;
  const mode = resume?.meta.target ?? ((v.target as TargetMode | undefined) ?? 'delta');
  const holdout = resume?.meta.holdout ?? numOpt(v, 'holdout') ?? 0.2;
  const parts = splitTargets(values.length, window, mode, holdout);
  const nTrain = parts.train[1] - parts.train[0];
  if (nTrain < 2) throw new CliError(`${describeData(ref)}: ${values.length} values are too few for windows of ${window} with a held-out tail of ${holdout} (need more than ${firstTarget(window, mode) + 2})`);
  const s = modelled(values, mode);
  if (resume) {
    meta = resume.meta;
    model = resume.model;
    if (resume.epochs !== undefined) meta.training.epochs = resume.epochs;
  } else {
    // Normalisation over every value the training windows and targets touch.
    let sum = 0, sq = 0, cnt = 0;
    for (let t = firstTarget(window, mode) - window; t < parts.train[1]; t++) {
      sum += s[t]!;
      cnt++;
    }
    const mean = sum / cnt;
    for (let t = firstTarget(window, mode) - window; t < parts.train[1]; t++) sq += (s[t]! - mean) ** 2;
    const std = Math.sqrt(sq / cnt) || 1;
    meta = {
      cli: META_VERSION,
      task: 'forecast',
      data: ref,
      column: name,
      window,
      target: mode,
      holdout,
      norm: { mean, std },
      tail: Array.from(values.subarray(Math.max(0, values.length - window - 1))),
      model: {
        hidden: numOpt(v, 'hidden') ?? 32,
        layers: numOpt(v, 'layers') ?? 1,
        bidirectional: v.bidirectional === true,
        dropout: numOpt(v, 'dropout') ?? 0,
        seed: numOpt(v, 'seed') ?? 0,
      },
      training: {
        epochs: numOpt(v, 'epochs') ?? 100,
        batchSize: numOpt(v, 'batch-size') ?? 32,
        lr: numOpt(v, 'lr') ?? 3e-3,
        shuffleSeed: numOpt(v, 'shuffle-seed') ?? 0,
        clip: numOpt(v, 'clip') ?? 1,
      },
      history: { epoch: [], loss: [], valRmse: [], seconds: [] },
    };
    model = buildModel(meta.model);
    model.compile({ loss: 'mse', optimizer: new Adam({ lr: meta.training.lr }), clipGradNorm: meta.training.clip ?? undefined });
  }
  const tr = meta.training;
  const trainW = windowsOf(s, parts.train, window, meta.norm);
  const validW = windowsOf(s, parts.valid, window, meta.norm);
  out(`task forecast: ${describeData(ref)}, column ${name}`);
  out(`  ${values.length} values; ${mode === 'delta' ? 'changes' : 'values'} normalised by mean ${meta.norm.mean.toPrecision(4)}, std ${meta.norm.std.toPrecision(4)}; targets ${nTrain} train / ${parts.valid[1] - parts.valid[0]} valid / ${parts.test[1] - parts.test[0]} test (tail ${holdout})`);
  out(`model ${describeModel(model)}, windows of ${window} ${mode === 'delta' ? 'changes → next change' : 'values → next value'}`);
  out(`training: Adam lr ${tr.lr}, batch ${tr.batchSize}, ${tr.epochs} epochs, mse${tr.clip ? `, clip grad norm ${tr.clip}` : ''}${resume?.training ? `; resuming at epoch ${resume.training.epoch + 1}` : ''}`);
  const batches = Math.ceil(trainW.n / tr.batchSize);
  const progress = new Progress({
    epochs: tr.epochs,
    batches,
    batchSize: tr.batchSize,
    samples: trainW.n,
    startEpoch: resume?.training?.epoch ?? 0,
    quiet: common.quiet,
    metric: { name: 'rmse', format: (x) => x.toPrecision(4), from: (l: Logs) => Math.sqrt(l.loss) * meta.norm.std },
  });
  const timer = new EpochTimer((epoch, logs, sec) => {
    const vr = logs.valLoss !== undefined ? Math.sqrt(logs.valLoss) * meta.norm.std : NaN;
    const h = meta.history;
    h.epoch.push(epoch + 1);
    h.loss.push(logs.loss);
    h.valRmse.push(vr);
    h.seconds.push(sec);
    // Up to ~20 epoch lines (every epoch of a short run), always the last.
    if (epoch === tr.epochs - 1 || (epoch + 1) % Math.ceil(tr.epochs / 20) === 0) {
      out(`epoch ${epoch + 1}/${tr.epochs}  loss ${fmt(logs.loss)}  train rmse ${(Math.sqrt(logs.loss) * meta.norm.std).toPrecision(4)}  valid rmse ${vr.toPrecision(4)}  (${sec.toFixed(2)} s)`);
    }
  });
  const callbacks = [progress, timer];
  if (common.checkpoint) callbacks.push(new CheckpointWriter(common.checkpoint, () => meta) as never);
  const t0 = performance.now();
  const fitted = await model.fit(trainW.x, trainW.y, {
    epochs: tr.epochs,
    batchSize: tr.batchSize,
    seed: tr.shuffleSeed,
    validationData: validW.n ? { x: validW.x, y: validW.y } : undefined,
    callbacks,
    resume: resume?.training,
    signal: common.signal,
  });
  if (fitted.aborted) throw new Interrupted(model.training?.epoch ?? 0);
  const r = score(model, values, meta, parts.test);
  meta.results = { testRmse: r.rmse, naiveRmse: r.naive, testTargets: r.n, valRmse: meta.history.valRmse.at(-1) ?? NaN };
  out(`test rmse ${r.rmse.toPrecision(5)} (naive last-value baseline ${r.naive.toPrecision(5)}; ${r.n} targets, ${name} units)`);
  await checkInterrupted(common.signal, tr.epochs - 1); // Ctrl-C during the final scoring: exit without saving
  await saveFile(model, common.out, meta);
  out(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s; saved ${common.out}`);
  model.dispose();
}

export async function evalForecast(model: Sequential, meta: ForecastMeta, v: Values): Promise<void> {
  const ref = typeof v.data === 'string' ? dataRef(v.data, 'co2') : meta.data;
  const { name, values } = await loadSeries(ref, (v.column as string | undefined) ?? meta.column, v.column === undefined);
  const which = (v.split as string | undefined) ?? 'test';
  const parts = splitTargets(values.length, meta.window, meta.target, meta.holdout);
  const range: [number, number] = which === 'all' ? [firstTarget(meta.window, meta.target), values.length] : parts[which as 'train' | 'valid' | 'test'];
  const r = score(model, values, meta, range);
  out(`${describeData(ref)}, column ${name}: ${which} part, ${r.n} targets`);
  out(`${which} rmse ${r.rmse.toPrecision(5)} (naive last-value baseline ${r.naive.toPrecision(5)})`);
}

/** `predict` with a forecast model: the next `steps` values after the end of the series, each fed back. */
export async function predictForecast(model: Sequential, meta: ForecastMeta, v: Values): Promise<void> {
  const steps = numOpt(v, 'steps') ?? 12;
  let values: number[];
  if (typeof v.data === 'string') values = Array.from((await loadSeries(dataRef(v.data, 'co2'), (v.column as string | undefined) ?? meta.column, v.column === undefined)).values);
  else values = meta.tail.slice();
  const need = firstTarget(meta.window, meta.target);
  if (values.length < need) throw new CliError(`predict: the series has ${values.length} values; the model needs the last ${need}`);
  const digits = Math.max(...values.slice(-need).map((x) => (String(x).split('.')[1] ?? '').length), 2);
  for (let i = 0; i < steps; i++) {
    const hist = Float64Array.from(values.slice(-need));
    const s = modelled(hist, meta.target);
    const x = new Float32Array(meta.window);
    for (let k = 0; k < meta.window; k++) x[k] = (s[need - meta.window + k]! - meta.norm.mean) / meta.norm.std;
    const p = model.predict({ data: x, shape: [1, meta.window, 1] }).data[0]! * meta.norm.std + meta.norm.mean;
    const next = meta.target === 'delta' ? values[values.length - 1]! + p : p;
    values.push(next);
    out(next.toFixed(Math.min(digits + 1, 8)));
  }
}

export function checkForecastOptions(given: readonly string[]): void {
  const foreign = given.find((g) => ['split-seed', 'min-count', 'raw-tags', 'cased', 'max-len', 'seq-len', 'embedding'].includes(g));
  if (foreign) throw new UsageError(`--${foreign} does not apply to --task forecast`);
}
