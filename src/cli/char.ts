/**
 * Task `char`: a character-level language model on any text (default: the embedded Moby Dick
 * sample). Embedding → LSTM → Dense over the character vocabulary at every tick, trained with
 * `fit` on non-overlapping windows of `seqLen` characters (targets: the next character). The last
 * `holdout` fraction of the text is held out (first half validation, second half test) and scored
 * in bits per character. `generate` samples from a saved model one character at a time, carrying
 * each LSTM's h and c between steps.
 */
import { Adam, Dense, Dropout, Embedding, LSTM, SGD, Sequential, Tensor } from '../node.js';
import type { ChainLayer, Logs, TrainingState } from '../node.js';
import { mulberry32 } from '../data/pos.js';
import { UsageError } from './args.js';
import { BaseMeta, CheckpointWriter, CliError, EpochTimer, Interrupted, META_VERSION, dataRef, describeData, describeModel, fmt, lstmStack, out, readText, saveFile, seedStream, numOpt, checkInterrupted } from './common.js';
import type { TrainCommon } from './pos.js';
import { Progress } from './progress.js';

export interface CharMeta extends BaseMeta {
  task: 'char';
  /** Characters of ids 1..V-1 (id 0: a character not seen in training). */
  chars: string[];
  holdout: number;
  model: { embedding: number; hidden: number; layers: number; dropout: number; seed: number };
  training: { epochs: number; batchSize: number; lr: number; seqLen: number; shuffleSeed: number; clip: number | null };
  history: { epoch: number[]; loss: number[]; valBpc: number[]; seconds: number[] };
  results?: { testBpc: number; testChars: number; valBpc: number };
}

type Values = Record<string, string | number | boolean>;
const LN2 = Math.LN2;

/** Text split into train | valid | test by position (the held-out part is the tail). */
export function splitText(chars: string[], holdout: number): { train: string[]; valid: string[]; test: string[] } {
  const n = chars.length;
  const nHeld = Math.floor(n * holdout);
  const nValid = Math.floor(nHeld / 2);
  const nTrain = n - nHeld;
  return { train: chars.slice(0, nTrain), valid: chars.slice(nTrain, nTrain + nValid), test: chars.slice(nTrain + nValid) };
}

function encode(chars: readonly string[], index: Map<string, number>): Int32Array {
  return Int32Array.from(chars, (c) => index.get(c) ?? 0);
}

/**
 * Non-overlapping windows: x = ids[i·T .. i·T+T), y = ids[i·T+1 .. i·T+T+1). A part shorter than
 * T+1 gives one shorter window; an empty one gives none.
 */
export function windows(ids: Int32Array, seqLen: number): { x: { data: Int32Array; shape: number[] }; y: { data: Int32Array; shape: number[] }; count: number } | undefined {
  const T = Math.min(seqLen, ids.length - 1);
  if (T < 1) return undefined;
  const n = Math.floor((ids.length - 1) / T);
  const x = new Int32Array(n * T);
  const y = new Int32Array(n * T);
  for (let i = 0; i < n; i++) {
    x.set(ids.subarray(i * T, i * T + T), i * T);
    y.set(ids.subarray(i * T + 1, i * T + T + 1), i * T);
  }
  return { x: { data: x, shape: [n, T] }, y: { data: y, shape: [n, T] }, count: n * T };
}

function bpc(model: Sequential, w: ReturnType<typeof windows>): number {
  if (!w) return NaN;
  // evaluate() needs a compiled model, i.e. an optimizer, even though it never steps: a loaded
  // model gets a stateless SGD only for that.
  if (!model.compileOptions) model.compile({ loss: 'crossEntropy', optimizer: new SGD() });
  return model.evaluate(w.x, w.y, { batchSize: 64 }).loss / LN2;
}

function buildModel(V: number, m: CharMeta['model']): Sequential {
  const next = seedStream(m.seed);
  const layers: ChainLayer[] = [new Embedding({ numEmbeddings: V, embeddingDim: m.embedding, seed: next() })];
  if (m.dropout > 0) layers.push(new Dropout({ p: m.dropout, seed: next() }));
  layers.push(...lstmStack({ inputSize: m.embedding, hidden: m.hidden, layers: m.layers, bidirectional: false, dropout: m.dropout, returnSequences: true, nextSeed: next }));
  if (m.dropout > 0) layers.push(new Dropout({ p: m.dropout, seed: next() }));
  layers.push(new Dense({ inputSize: m.hidden, units: V, seed: next() }));
  return new Sequential(layers);
}

export async function trainChar(v: Values, common: TrainCommon, resume?: { model: Sequential; meta: CharMeta; training?: TrainingState; epochs?: number }): Promise<void> {
  if (v.bidirectional) throw new UsageError('--bidirectional does not apply to --task char (a language model cannot look ahead)');
  let meta: CharMeta;
  let model: Sequential;
  const ref = resume ? resume.meta.data : dataRef(v.data, 'moby');
  const text = await readText(ref);
  const chars = Array.from(text);
  const holdout = resume?.meta.holdout ?? numOpt(v, 'holdout') ?? 0.1;
  const parts = splitText(chars, holdout);
  if (parts.train.length < 2) throw new CliError(`${describeData(ref)}: text too short (${chars.length} characters)`);
  if (resume) {
    meta = resume.meta;
    model = resume.model;
    if (resume.epochs !== undefined) meta.training.epochs = resume.epochs;
  } else {
    const vocab = [...new Set(parts.train)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    meta = {
      cli: META_VERSION,
      task: 'char',
      data: ref,
      chars: vocab,
      holdout,
      model: {
        embedding: numOpt(v, 'embedding') ?? 32,
        hidden: numOpt(v, 'hidden') ?? 128,
        layers: numOpt(v, 'layers') ?? 1,
        dropout: numOpt(v, 'dropout') ?? 0,
        seed: numOpt(v, 'seed') ?? 0,
      },
      training: {
        epochs: numOpt(v, 'epochs') ?? 10,
        batchSize: numOpt(v, 'batch-size') ?? 16,
        lr: numOpt(v, 'lr') ?? 5e-3,
        seqLen: numOpt(v, 'seq-len') ?? 64,
        shuffleSeed: numOpt(v, 'shuffle-seed') ?? 0,
        clip: numOpt(v, 'clip') ?? 5,
      },
      history: { epoch: [], loss: [], valBpc: [], seconds: [] },
    };
    model = buildModel(vocab.length + 1, meta.model);
    model.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: meta.training.lr }), metrics: ['accuracy'], clipGradNorm: meta.training.clip ?? undefined });
  }
  const index = new Map(meta.chars.map((c, i) => [c, i + 1]));
  const tr = meta.training;
  const trainW = windows(encode(parts.train, index), tr.seqLen)!;
  const validW = windows(encode(parts.valid, index), tr.seqLen);
  const testW = windows(encode(parts.test, index), tr.seqLen);
  const n = trainW.x.shape[0]!;
  out(`task char: ${describeData(ref)}`);
  out(`  ${chars.length} characters, ${meta.chars.length} distinct in training; split ${parts.train.length} train / ${parts.valid.length} valid / ${parts.test.length} test (tail ${holdout})`);
  out(`model ${describeModel(model)}`);
  out(`training: Adam lr ${tr.lr}, batch ${tr.batchSize}, ${n} windows of ${trainW.x.shape[1]} characters, ${tr.epochs} epochs${tr.clip ? `, clip grad norm ${tr.clip}` : ''}${resume?.training ? `; resuming at epoch ${resume.training.epoch + 1}` : ''}`);
  const batches = Math.ceil(n / tr.batchSize);
  const progress = new Progress({
    epochs: tr.epochs,
    batches,
    batchSize: tr.batchSize,
    samples: n,
    startEpoch: resume?.training?.epoch ?? 0,
    quiet: common.quiet,
    metric: { name: 'bpc', format: (x) => x.toFixed(3), from: (l: Logs) => l.loss / LN2 },
  });
  const timer = new EpochTimer((epoch, logs, s) => {
    const vb = logs.valLoss !== undefined ? logs.valLoss / LN2 : NaN;
    const h = meta.history;
    h.epoch.push(epoch + 1);
    h.loss.push(logs.loss);
    h.valBpc.push(vb);
    h.seconds.push(s);
    out(`epoch ${epoch + 1}/${tr.epochs}  loss ${fmt(logs.loss)}  train bpc ${fmt(logs.loss / LN2, 3)}  acc ${fmt(logs.accuracy ?? NaN)}  valid bpc ${fmt(vb, 3)}  (${s.toFixed(1)} s, ${(n / s).toFixed(0)} seq/s)`);
  });
  const callbacks = [progress, timer];
  if (common.checkpoint) callbacks.push(new CheckpointWriter(common.checkpoint, () => meta) as never);
  const t0 = performance.now();
  const fitted = await model.fit(trainW.x, trainW.y, {
    epochs: tr.epochs,
    batchSize: tr.batchSize,
    seed: tr.shuffleSeed,
    validationData: validW ? { x: validW.x, y: validW.y } : undefined,
    callbacks,
    resume: resume?.training,
    signal: common.signal,
  });
  if (fitted.aborted) throw new Interrupted(model.training?.epoch ?? 0);
  const testBpc = bpc(model, testW);
  meta.results = { testBpc, testChars: testW?.count ?? 0, valBpc: meta.history.valBpc.at(-1) ?? NaN };
  out(`test bits per character ${fmt(testBpc, 4)} (${testW?.count ?? 0} characters)`);
  await checkInterrupted(common.signal, tr.epochs - 1); // Ctrl-C during the final scoring: exit without saving
  await saveFile(model, common.out, meta);
  out(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s; saved ${common.out}`);
  model.dispose();
}

export async function evalChar(model: Sequential, meta: CharMeta, v: Values): Promise<void> {
  const ref = typeof v.data === 'string' ? dataRef(v.data, 'moby') : meta.data;
  const chars = Array.from(await readText(ref));
  const which = (v.split as string | undefined) ?? 'test';
  const parts = splitText(chars, meta.holdout);
  const part = which === 'all' ? chars : parts[which as 'train' | 'valid' | 'test'];
  const index = new Map(meta.chars.map((c, i) => [c, i + 1]));
  const w = windows(encode(part, index), meta.training.seqLen);
  out(`${describeData(ref)}: ${which} part, ${part.length} characters`);
  out(`${which} bits per character ${fmt(bpc(model, w), 4)} (${w?.count ?? 0} characters)`);
}

/** Sample `length` characters after `prime`, carrying each LSTM's state; returns the new text. */
export function sample(model: Sequential, meta: CharMeta, prime: string, length: number, temperature: number, seed: number): string {
  const index = new Map(meta.chars.map((c, i) => [c, i + 1]));
  const V = meta.chars.length + 1;
  const states = new Map<ChainLayer, { h0: Tensor; c0: Tensor }>();
  /** Run ids [1, T] through the layers (dropout off), keeping LSTM states; logits of the last tick. */
  const step = (ids: Int32Array): Float32Array => {
    let x: Tensor | undefined;
    for (const l of model.layers) {
      if (l instanceof Embedding) x = l.forward({ data: ids, shape: [1, ids.length] });
      else if (l instanceof LSTM) {
        const r = l.forward(x!, { ...states.get(l), grad: false });
        states.set(l, { h0: r.hN, c0: r.cN });
        x = r.output;
      } else if (l instanceof Dense) x = l.forward(x!);
      else if (!(l instanceof Dropout)) throw new CliError(`generate: unexpected layer ${l.kind} in a char model`);
    }
    return x!.data.subarray(x!.data.length - V);
  };
  const rnd = mulberry32(seed);
  const primeIds = encode(Array.from(prime.length ? prime : '\n'), index);
  let logits = step(primeIds);
  let text = '';
  const p = new Float64Array(V);
  for (let i = 0; i < length; i++) {
    let next = 1;
    if (temperature === 0) {
      for (let k = 2; k < V; k++) if (logits[k]! > logits[next]!) next = k;
    } else {
      let max = -Infinity;
      for (let k = 1; k < V; k++) max = Math.max(max, logits[k]!);
      let sum = 0;
      p[0] = 0; // never sample "unknown character"
      for (let k = 1; k < V; k++) sum += p[k] = Math.exp((logits[k]! - max) / temperature);
      let r = rnd() * sum;
      for (next = 1; next < V - 1; next++) if ((r -= p[next]!) < 0) break;
    }
    text += meta.chars[next - 1]!;
    logits = step(Int32Array.of(next));
  }
  return text;
}

export function checkCharOptions(given: readonly string[]): void {
  const foreign = given.find((g) => ['split-seed', 'min-count', 'raw-tags', 'cased', 'max-len', 'column', 'window', 'target'].includes(g));
  if (foreign) throw new UsageError(`--${foreign} does not apply to --task char`);
}
