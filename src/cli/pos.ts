/**
 * Task `pos`: part-of-speech tagging on `word/tag` text (default: the embedded Brown sample),
 * by default exactly the configuration of the PyTorch reference (scripts/pos_torch.py,
 * bench/pos-torch-reference.json): simplified tags, 80/10/10 split with seed 1, vocabulary of the
 * training words seen twice (lower-cased), Embedding(V, 64) → LSTM(64 → 128) → Dense(128 → K) at
 * every tick, cross-entropy over real tokens, Adam 1e-3, batch 32, 6 epochs; the order of each
 * epoch is a Fisher–Yates shuffle driven by ONE mulberry32(2) generator, as in the reference, and
 * every batch is padded to its own longest sentence (no truncation, as the reference).
 */
import { Adam, Dense, Dropout, Embedding, Sequential } from '../node.js';
import type { ChainLayer, Logs } from '../node.js';
import {
  TagVocab,
  TaggedSentence,
  Vocab,
  argmaxLastAxis,
  buildTagVocab,
  buildVocab,
  countCorrect,
  encodeBatch,
  mulberry32,
  parseTagged,
  shuffleInPlace,
  simplifySentences,
  splitSentences,
  UNK_ID,
} from '../data/pos.js';
import { UsageError } from './args.js';
import { BaseMeta, CliError, DataRef, Interrupted, META_VERSION, dataRef, describeData, describeModel, fmt, loadCliModel, lstmStack, note, out, readText, saveFile, seedStream, numOpt, checkInterrupted } from './common.js';
import { Progress } from './progress.js';

export interface PosMeta extends BaseMeta {
  task: 'pos';
  simplifyTags: boolean;
  split: { validFraction: number; testFraction: number; seed: number };
  vocab: { words: string[]; lowercase: boolean; minCount: number };
  tags: string[];
  model: { embedding: number; hidden: number; layers: number; bidirectional: boolean; dropout: number; seed: number };
  training: { epochs: number; batchSize: number; lr: number; shuffleSeed: number; maxLen: number | null; clip: number | null };
  history: { epoch: number[]; loss: number[]; accuracy: number[]; valAccuracy: number[]; seconds: number[] };
  results?: { testAccuracy: number; testTokens: number; valAccuracy: number };
}

type Values = Record<string, string | number | boolean>;

/** Sentences of the split a model was trained on, rebuilt from its data source. */
async function loadSentences(ref: DataRef, simplify: boolean): Promise<TaggedSentence[]> {
  const text = await readText(ref);
  let sentences: TaggedSentence[];
  try {
    sentences = parseTagged(text);
  } catch (e) {
    throw new CliError(`${describeData(ref)}: ${(e as Error).message.replace(/^parseTagged: /, '')}`);
  }
  if (sentences.length === 0) throw new CliError(`${describeData(ref)}: no sentences (expected word/tag tokens, one sentence per line)`);
  return simplify ? simplifySentences(sentences) : sentences;
}

function vocabFrom(meta: PosMeta): Vocab {
  return { words: meta.vocab.words, index: new Map(meta.vocab.words.map((w, i) => [w, i])), lowercase: meta.vocab.lowercase };
}

/** The model's tag vocabulary, extended with any tag of `sentences` it does not know (ids ≥ K: never predicted, counted wrong). */
function tagVocabFor(tags: string[], sentences: readonly TaggedSentence[]): { tv: TagVocab; unknown: number } {
  const index = new Map(tags.map((t, i) => [t, i]));
  const all = tags.slice();
  let unknown = 0;
  for (const s of sentences) {
    for (const t of s.tags) {
      if (!index.has(t)) {
        index.set(t, all.length);
        all.push(t);
      }
      if (index.get(t)! >= tags.length) unknown++;
    }
  }
  return { tv: { tags: all, index }, unknown };
}

/** Token accuracy of `model` on `sentences`, in batches of similar length (padding excluded). */
export function tokenAccuracyOf(model: Sequential, sentences: readonly TaggedSentence[], vocab: Vocab, tv: TagVocab, numTags: number, batchSize = 64): { correct: number; total: number } {
  const order = sentences.map((_, i) => i).sort((a, b) => sentences[a]!.words.length - sentences[b]!.words.length);
  let correct = 0, total = 0;
  for (let i = 0; i < order.length; i += batchSize) {
    const chunk = order.slice(i, i + batchSize).map((j) => sentences[j]!);
    const enc = encodeBatch(chunk, vocab, tv);
    const logits = model.predict({ data: enc.ids, shape: [chunk.length, enc.T] }, { lengths: enc.lengths });
    const c = countCorrect(argmaxLastAxis(logits.data, numTags), enc.tags);
    correct += c.correct;
    total += c.total;
  }
  return { correct, total };
}

function buildModel(V: number, K: number, m: PosMeta['model']): Sequential {
  const next = seedStream(m.seed);
  const layers: ChainLayer[] = [new Embedding({ numEmbeddings: V, embeddingDim: m.embedding, seed: next() })];
  if (m.dropout > 0) layers.push(new Dropout({ p: m.dropout, seed: next() }));
  layers.push(...lstmStack({ inputSize: m.embedding, hidden: m.hidden, layers: m.layers, bidirectional: m.bidirectional, dropout: m.dropout, returnSequences: true, nextSeed: next }));
  if (m.dropout > 0) layers.push(new Dropout({ p: m.dropout, seed: next() }));
  layers.push(new Dense({ inputSize: (m.bidirectional ? 2 : 1) * m.hidden, units: K, seed: next() }));
  return new Sequential(layers);
}

export interface TrainCommon {
  out: string;
  checkpoint?: string;
  quiet: boolean;
  /** Fires on SIGINT: training stops before the next batch (see `Interrupted`). */
  signal?: AbortSignal;
}

/** `train --task pos` (fresh, or resumed from a checkpoint's model, optimizer and metadata). */
export async function trainPos(v: Values, common: TrainCommon, resume?: { model: Sequential; meta: PosMeta; epochs?: number }): Promise<void> {
  let meta: PosMeta;
  let model: Sequential;
  const sentencesRef = resume ? resume.meta.data : dataRef(v.data, 'brown');
  const simplify = resume ? resume.meta.simplifyTags : !v['raw-tags'];
  const all = await loadSentences(sentencesRef, simplify);
  const splitCfg = resume?.meta.split ?? { validFraction: 0.1, testFraction: 0.1, seed: numOpt(v, 'split-seed') ?? 1 };
  const { train, valid, test } = splitSentences(all, splitCfg);
  if (train.length === 0) throw new CliError(`${describeData(sentencesRef)}: too few sentences (${all.length}) to split 80/10/10`);
  let vocab: Vocab;
  let tv: TagVocab;
  if (resume) {
    meta = resume.meta;
    model = resume.model;
    vocab = vocabFrom(meta);
    tv = { tags: meta.tags, index: new Map(meta.tags.map((t, i) => [t, i])) };
    if (tagVocabFor(meta.tags, all).unknown > 0) throw new CliError(`--resume: the data ${describeData(sentencesRef)} has tags the checkpoint does not know (was the file changed?)`);
    if (resume.epochs !== undefined) meta.training.epochs = resume.epochs;
  } else {
    const minCount = numOpt(v, 'min-count') ?? 2;
    vocab = buildVocab(train, { minCount, lowercase: !v.cased });
    tv = buildTagVocab(all);
    meta = {
      cli: META_VERSION,
      task: 'pos',
      data: sentencesRef,
      simplifyTags: simplify,
      split: splitCfg,
      vocab: { words: vocab.words, lowercase: vocab.lowercase, minCount },
      tags: tv.tags,
      model: {
        embedding: numOpt(v, 'embedding') ?? 64,
        hidden: numOpt(v, 'hidden') ?? 128,
        layers: numOpt(v, 'layers') ?? 1,
        bidirectional: v.bidirectional === true,
        dropout: numOpt(v, 'dropout') ?? 0,
        seed: numOpt(v, 'seed') ?? 0,
      },
      training: {
        epochs: numOpt(v, 'epochs') ?? 6,
        batchSize: numOpt(v, 'batch-size') ?? 32,
        lr: numOpt(v, 'lr') ?? 1e-3,
        shuffleSeed: numOpt(v, 'shuffle-seed') ?? 2,
        maxLen: numOpt(v, 'max-len') ?? null,
        clip: numOpt(v, 'clip') ?? null,
      },
      history: { epoch: [], loss: [], accuracy: [], valAccuracy: [], seconds: [] },
    };
    model = buildModel(vocab.words.length, tv.tags.length, meta.model);
    model.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr: meta.training.lr }), metrics: ['accuracy'], clipGradNorm: meta.training.clip ?? undefined });
  }
  const K = tv.tags.length;
  const tr = meta.training;
  const startEpoch = meta.checkpoint?.nextEpoch ?? 0;
  delete meta.checkpoint;
  const tokens = (ss: TaggedSentence[]) => ss.reduce((a, s) => a + s.words.length, 0);
  out(`task pos: ${describeData(meta.data)}`);
  out(`  ${all.length} sentences, ${tokens(all)} tokens; split ${train.length} train / ${valid.length} valid / ${test.length} test (seed ${meta.split.seed})`);
  out(`  vocabulary ${vocab.words.length} words (count >= ${meta.vocab.minCount}${vocab.lowercase ? ', lower-cased' : ''}), ${K} tags${meta.simplifyTags ? ' (simplified)' : ''}`);
  out(`model ${describeModel(model)}`);
  out(`training: Adam lr ${tr.lr}, batch ${tr.batchSize}, ${tr.epochs} epochs, shuffle seed ${tr.shuffleSeed}${tr.maxLen ? `, sentences cut to ${tr.maxLen} tokens` : ''}${tr.clip ? `, clip grad norm ${tr.clip}` : ''}${startEpoch ? `; resuming at epoch ${startEpoch + 1}` : ''}`);

  const B = tr.batchSize;
  const batches = Math.ceil(train.length / B);
  const progress = new Progress({
    epochs: tr.epochs,
    batches,
    batchSize: B,
    samples: train.length,
    startEpoch,
    quiet: common.quiet,
    metric: { name: 'acc', format: (x) => x.toFixed(4), from: (l: Logs) => l.accuracy },
  });
  // The reference's data order: one generator for the whole run, one shuffle per epoch.
  const rng = mulberry32(tr.shuffleSeed);
  const indices = () => train.map((_, i) => i);
  for (let e = 0; e < startEpoch; e++) shuffleInPlace(indices(), rng);
  const t0 = performance.now();
  progress.onTrainBegin();
  for (let epoch = startEpoch; epoch < tr.epochs; epoch++) {
    const order = shuffleInPlace(indices(), rng);
    progress.startEpoch(epoch);
    const te = performance.now();
    for (let b = 0; b < batches; b++) {
      if (common.signal?.aborted) {
        progress.clear();
        throw new Interrupted(epoch);
      }
      const chunk = order.slice(b * B, (b + 1) * B).map((j) => train[j]!);
      const enc = encodeBatch(chunk, vocab, tv, { maxLen: tr.maxLen ?? undefined });
      const shape = [chunk.length, enc.T];
      // One fit call per batch: a batch padded to its own longest sentence (fit over the whole
      // split would pad every batch to the longest sentence of the split), and fit reports the
      // batch accuracy that trainOnBatch does not.
      const h = await model.fit({ data: enc.ids, shape }, { data: enc.tags, shape }, { epochs: 1, batchSize: chunk.length, shuffle: false, lengths: enc.lengths });
      let n = 0;
      for (const l of enc.lengths) n += l;
      progress.batch(b, { loss: h.loss[0]!, accuracy: h.accuracy[0] }, chunk.length, n);
    }
    progress.clear();
    const trainSeconds = (performance.now() - te) / 1000;
    const run = progress.running();
    const va = tokenAccuracyOf(model, valid, vocab, tv, K);
    const valAcc = va.total ? va.correct / va.total : NaN;
    const h = meta.history;
    h.epoch.push(epoch + 1);
    h.loss.push(run.loss);
    h.accuracy.push(run.metric ?? NaN);
    h.valAccuracy.push(valAcc);
    h.seconds.push(trainSeconds);
    out(`epoch ${epoch + 1}/${tr.epochs}  loss ${fmt(run.loss)}  train acc ${fmt(run.metric ?? NaN)}  valid acc ${fmt(valAcc)}  (${trainSeconds.toFixed(1)} s, ${(train.length / trainSeconds).toFixed(0)} seq/s)`);
    if (common.checkpoint) {
      await saveFile(model, common.checkpoint, { ...meta, checkpoint: { nextEpoch: epoch + 1 } }, { optimizer: true });
    }
  }
  progress.onTrainEnd();
  const ta = tokenAccuracyOf(model, test, vocab, tv, K);
  const testAcc = ta.total ? ta.correct / ta.total : NaN;
  const secs = (performance.now() - t0) / 1000;
  meta.results = { testAccuracy: testAcc, testTokens: ta.total, valAccuracy: meta.history.valAccuracy.at(-1) ?? NaN };
  out(`test accuracy ${fmt(testAcc)} (${ta.correct}/${ta.total} tokens)`);
  await checkInterrupted(common.signal, tr.epochs - 1); // Ctrl-C during the final scoring: exit without saving
  await saveFile(model, common.out, meta);
  out(`trained in ${secs.toFixed(1)} s; saved ${common.out}`);
  model.dispose();
}

/** `eval` of a pos model: token accuracy on a split of its data (or of --data). */
export async function evalPos(model: Sequential, meta: PosMeta, v: Values): Promise<void> {
  const ref = typeof v.data === 'string' ? dataRef(v.data, 'brown') : meta.data;
  const all = await loadSentences(ref, meta.simplifyTags);
  const which = (v.split as string | undefined) ?? 'test';
  const parts = splitSentences(all, meta.split);
  const sentences = which === 'all' ? all : parts[which as 'train' | 'valid' | 'test'];
  const { tv, unknown } = tagVocabFor(meta.tags, sentences);
  if (unknown > 0) note(`note: ${unknown} tokens carry tags the model does not know (counted as errors)`);
  const r = tokenAccuracyOf(model, sentences, vocabFrom(meta), tv, meta.tags.length);
  out(`${describeData(ref)}: ${which} split, ${sentences.length} sentences`);
  out(`${which} accuracy ${fmt(r.total ? r.correct / r.total : NaN)} (${r.correct}/${r.total} tokens)`);
}

/** Brown-style tokens of a plain sentence: whitespace, plus , ; : ! ? ( ) " split off, and a final period. */
export function tokenize(line: string): string[] {
  const toks: string[] = [];
  for (const raw of line.split(/\s+/).filter(Boolean)) {
    let w = raw;
    const pre: string[] = [];
    const post: string[] = [];
    while (w.length > 1 && /^[("]/.test(w)) {
      pre.push(w[0] === '"' ? '``' : w[0]!);
      w = w.slice(1);
    }
    while (w.length > 1 && /[,;:!?)"]$/.test(w)) {
      post.unshift(w.endsWith('"') ? "''" : w.at(-1)!);
      w = w.slice(0, -1);
    }
    toks.push(...pre, w, ...post);
  }
  // A sentence-final period is its own token ("mat." → "mat", "."), abbreviations inside are kept.
  const last = toks.length - 1;
  if (last >= 0 && toks[last]!.length > 1 && toks[last]!.endsWith('.') && !/\.\w+\.$/.test(toks[last]!)) {
    toks.splice(last, 1, toks[last]!.slice(0, -1), '.');
  }
  return toks;
}

/** `tag` / `predict` with a pos model: one line of word/tag pairs per sentence. */
export async function tagPos(model: Sequential, meta: PosMeta, sentences: string[], v: Values): Promise<void> {
  const vocab = vocabFrom(meta);
  const K = meta.tags.length;
  const raw = v.tokenized === true;
  for (const s of sentences) {
    const words = raw ? s.split(/\s+/).filter(Boolean) : tokenize(s);
    if (words.length === 0) {
      out('');
      continue;
    }
    const ids = Int32Array.from(words, (w) => vocab.index.get(vocab.lowercase ? w.toLowerCase() : w) ?? UNK_ID);
    const logits = model.predict({ data: ids, shape: [1, words.length] });
    const pred = argmaxLastAxis(logits.data, K);
    out(words.map((w, i) => `${w}/${meta.tags[pred[i]!]}`).join(' '));
  }
}

export async function loadPosModel(path: string) {
  return loadCliModel(path, '--model', ['pos']) as Promise<Awaited<ReturnType<typeof loadCliModel>> & { meta: PosMeta }>;
}

export function checkPosOptions(given: readonly string[]): void {
  const foreign = given.find((g) => ['seq-len', 'holdout', 'column', 'window', 'target'].includes(g));
  if (foreign) throw new UsageError(`--${foreign} does not apply to --task pos`);
}
