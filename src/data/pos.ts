/**
 * Data pipeline for part-of-speech tagging on `word/tag` text (the Brown corpus format, see
 * `data/brown/`): parsing, tag simplification, a seeded split, vocabularies, padded batches and
 * token accuracy.
 *
 * Pure TypeScript with no runtime dependencies: no wasm, no `node:` imports, so it runs unchanged
 * in Node, browsers and workers. `scripts/pos_torch.py` mirrors every step exactly (same PRNG,
 * same shuffle, same vocabulary order), so a split or a vocabulary built here is identical to the
 * PyTorch reference's.
 *
 * ```ts
 * const sentences = simplifySentences(parseTagged(text));
 * const { train, valid, test } = splitSentences(sentences, { validFraction: 0.1, testFraction: 0.1, seed: 1 });
 * const vocab = buildVocab(train, { minCount: 2, lowercase: true });
 * const tagVocab = buildTagVocab(sentences);
 * const { ids, tags, lengths, T } = encodeBatch(train.slice(0, 32), vocab, tagVocab);
 * ```
 * @module
 */

/** One tagged sentence: `words[i]` carries `tags[i]`; both arrays have the same length. */
export interface TaggedSentence {
  words: string[];
  tags: string[];
}

/**
 * Parses `word/tag` text into sentences.
 *
 * Every non-empty line is one sentence (leading TABs and other blanks are ignored; the Brown
 * files mark paragraph starts with a TAB). Tokens are separated by whitespace and each is split
 * on its LAST `/`, so words that contain slashes survive (`1/2/cd` → word `1/2`, tag `cd`).
 * Blank lines are skipped. Tags are returned as written (see {@link simplifyTag}).
 *
 * @throws {SyntaxError} for a token without `/` or with an empty word or tag, naming the line.
 */
export function parseTagged(text: string): TaggedSentence[] {
  const sentences: TaggedSentence[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let li = 0; li < lines.length; li++) {
    const tokens = lines[li]!.split(/\s+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    const words: string[] = [];
    const tags: string[] = [];
    for (const token of tokens) {
      const slash = token.lastIndexOf('/');
      if (slash <= 0 || slash === token.length - 1) {
        throw new SyntaxError(`parseTagged: line ${li + 1}: token ${JSON.stringify(token)} is not word/tag`);
      }
      words.push(token.slice(0, slash));
      tags.push(token.slice(slash + 1));
    }
    sentences.push({ words, tags });
  }
  return sentences;
}

const STRIPPED_SUFFIXES = ['-tl', '-hl', '-nc'] as const;

/**
 * Maps a fine-grained Brown tag to the common simplified tag set (on the whole corpus: 472
 * distinct raw tags → 190; in `data/brown/sample.txt`: 123):
 *
 * 1. lower-case;
 * 2. drop a leading `fw-` (foreign word: `fw-nn` → `nn`);
 * 3. strip the suffixes `-tl` (title), `-hl` (headline) and `-nc` (citation), repeatedly and in
 *    any order (`nn-tl-hl` → `nn`, `md*-hl` → `md*`).
 *
 * Kept as they are: compound tags of contractions (`ppss+md` for "I'll", `pps+bez` for "it's"),
 * possessive `$` (`np$`), and the negation marker `*` (`*` is "not"; `dod*` is "didn't",
 * `md*` is "can't"). Decision: `*` is kept because, like `+`, it marks a contracted morpheme of the
 * same token; stripping it would tag "didn't" like "did" while "not" keeps its own tag `*`.
 * Punctuation tags (`.`, `,`, `--`, `(`, `''`) are unaffected, and so are the corpus's few
 * malformed tags (`in+at-t`, `ppss+ber-n`).
 */
export function simplifyTag(tag: string): string {
  let t = tag.toLowerCase();
  if (t.startsWith('fw-')) t = t.slice(3);
  for (let changed = true; changed; ) {
    changed = false;
    for (const suffix of STRIPPED_SUFFIXES) {
      if (t.length > suffix.length && t.endsWith(suffix)) {
        t = t.slice(0, -suffix.length);
        changed = true;
      }
    }
  }
  return t;
}

/** Returns new sentences whose tags went through {@link simplifyTag}; words are shared. */
export function simplifySentences(sentences: readonly TaggedSentence[]): TaggedSentence[] {
  return sentences.map((s) => ({ words: s.words, tags: s.tags.map(simplifyTag) }));
}

/**
 * A small seeded PRNG (mulberry32): returns a function giving floats in [0, 1), each a multiple
 * of 2⁻³² (exact in a double). `seed` is taken modulo 2³². Deterministic across platforms;
 * `scripts/pos_torch.py` carries a bit-exact port.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1) >>> 0;
    t = ((t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t) >>> 0;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fisher–Yates shuffle in place, driven by `rng` (e.g. {@link mulberry32}): for i from n−1 down
 * to 1, swap item i with item ⌊rng()·(i+1)⌋. Returns the same array.
 */
export function shuffleInPlace<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}

/** Options of {@link splitSentences}. */
export interface SplitOptions {
  /** Fraction of sentences for validation, in [0, 1). */
  validFraction: number;
  /** Fraction of sentences for test, in [0, 1); `validFraction + testFraction` must be < 1. */
  testFraction: number;
  /** Seed of the {@link mulberry32} generator that drives the shuffle. */
  seed: number;
}

/** The three parts of a split; together they hold every input item exactly once. */
export interface Split<T> {
  train: T[];
  valid: T[];
  test: T[];
}

/**
 * Deterministic split: copies the items, shuffles the copy with
 * `shuffleInPlace(copy, mulberry32(seed))`, then takes `nValid = ⌊n·validFraction⌋` and
 * `nTest = ⌊n·testFraction⌋`; `train` is the first `n − nValid − nTest` shuffled items, `valid`
 * the next `nValid`, `test` the last `nTest`. The input is not modified.
 *
 * @throws {RangeError} when a fraction is outside [0, 1) or they sum to 1 or more.
 */
export function splitSentences<T>(sentences: readonly T[], options: SplitOptions): Split<T> {
  const { validFraction, testFraction, seed } = options;
  for (const [name, f] of [['validFraction', validFraction], ['testFraction', testFraction]] as const) {
    if (!(f >= 0 && f < 1)) throw new RangeError(`splitSentences: ${name} must be in [0, 1), got ${f}`);
  }
  if (!(validFraction + testFraction < 1)) {
    throw new RangeError(`splitSentences: validFraction + testFraction must be < 1, got ${validFraction + testFraction}`);
  }
  const n = sentences.length;
  const shuffled = shuffleInPlace(sentences.slice(), mulberry32(seed));
  const nValid = Math.floor(n * validFraction);
  const nTest = Math.floor(n * testFraction);
  const nTrain = n - nValid - nTest;
  return {
    train: shuffled.slice(0, nTrain),
    valid: shuffled.slice(nTrain, nTrain + nValid),
    test: shuffled.slice(nTrain + nValid),
  };
}

/** Id of the padding word; padded positions of {@link EncodedBatch.ids} hold it. */
export const PAD_ID = 0;
/** Id of out-of-vocabulary words. */
export const UNK_ID = 1;
/** Target value of padded positions in {@link EncodedBatch.tags} (ignored by the loss). */
export const IGNORE_TAG = -1;

/** A word vocabulary: `words[id]` is the word of `id`, `index.get(word)` its id. */
export interface Vocab {
  /** `words[0] = '<pad>'`, `words[1] = '<unk>'`, then the kept words. */
  words: string[];
  index: Map<string, number>;
  /** Whether words are lower-cased before lookup (set by {@link buildVocab}, used by {@link encodeBatch}). */
  lowercase: boolean;
}

/** Options of {@link buildVocab}. */
export interface VocabOptions {
  /** Keep words seen at least this many times (after lower-casing when `lowercase`). */
  minCount: number;
  /** Lower-case words (when counting and when encoding). */
  lowercase: boolean;
  /** At most this many entries in total, `<pad>` and `<unk>` included (so ≥ 2). Default: no limit. */
  maxSize?: number;
}

/** Sorts by count descending, then by string ascending (code-unit order; the Brown text is ASCII). */
function byCountThenName(counts: Map<string, number>): string[] {
  return [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Builds the word vocabulary from (normally the training) sentences: id 0 = `<pad>`, id 1 =
 * `<unk>`, then every word with count ≥ `minCount`, most frequent first, ties in ascending string
 * order; truncated to `maxSize` entries in total when given.
 *
 * @throws {RangeError} when `minCount < 1` or `maxSize < 2`.
 */
export function buildVocab(sentences: readonly TaggedSentence[], options: VocabOptions): Vocab {
  const { minCount, lowercase, maxSize } = options;
  if (!(minCount >= 1)) throw new RangeError(`buildVocab: minCount must be >= 1, got ${minCount}`);
  if (maxSize !== undefined && !(maxSize >= 2)) throw new RangeError(`buildVocab: maxSize must be >= 2, got ${maxSize}`);
  const counts = new Map<string, number>();
  for (const s of sentences) {
    for (const w of s.words) {
      const key = lowercase ? w.toLowerCase() : w;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  let kept = byCountThenName(counts).filter((w) => counts.get(w)! >= minCount && w !== '<pad>' && w !== '<unk>');
  if (maxSize !== undefined) kept = kept.slice(0, maxSize - 2);
  const words = ['<pad>', '<unk>', ...kept];
  return { words, index: new Map(words.map((w, i) => [w, i])), lowercase };
}

/** The tag vocabulary: ids 0 … K−1, no padding entry (padding targets are {@link IGNORE_TAG}). */
export interface TagVocab {
  tags: string[];
  index: Map<string, number>;
}

/**
 * Builds the tag vocabulary, most frequent tag first, ties in ascending string order. Pass every
 * sentence that will be encoded (all splits) so that no target is missing: a tag seen only in the
 * test split still gets an id (and is simply never predicted well).
 */
export function buildTagVocab(sentences: readonly TaggedSentence[]): TagVocab {
  const counts = new Map<string, number>();
  for (const s of sentences) for (const t of s.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  const tags = byCountThenName(counts);
  return { tags, index: new Map(tags.map((t, i) => [t, i])) };
}

/** Options of {@link encodeBatch}. */
export interface EncodeOptions {
  /** Truncate sentences to at most this many tokens (≥ 1). Default: no truncation. */
  maxLen?: number;
}

/** A padded, batch-first batch. */
export interface EncodedBatch {
  /** Word ids `[B, T]`, row-major, batch-first; {@link PAD_ID} after each sentence's end. */
  ids: Int32Array;
  /** Tag ids `[B, T]`; {@link IGNORE_TAG} (−1) on padding. */
  tags: Int32Array;
  /** Tokens per sentence `[B]` (after truncation). */
  lengths: Int32Array;
  /** Padded length: the longest (truncated) sentence of the batch; 0 for an empty batch. */
  T: number;
}

/**
 * Encodes sentences as a padded batch-first batch: `ids[b·T + t]` is the id of word t of sentence
 * b (lower-cased first when `vocab.lowercase`; {@link UNK_ID} when not in the vocabulary),
 * `tags[b·T + t]` its tag id. Positions t ≥ `lengths[b]` hold {@link PAD_ID} and {@link IGNORE_TAG}.
 *
 * @throws {RangeError} for a tag missing from `tagVocab`, or `maxLen < 1`.
 */
export function encodeBatch(
  sentences: readonly TaggedSentence[],
  vocab: Vocab,
  tagVocab: TagVocab,
  options: EncodeOptions = {},
): EncodedBatch {
  const { maxLen } = options;
  if (maxLen !== undefined && !(maxLen >= 1)) throw new RangeError(`encodeBatch: maxLen must be >= 1, got ${maxLen}`);
  const B = sentences.length;
  const lengths = new Int32Array(B);
  let T = 0;
  for (let b = 0; b < B; b++) {
    const n = maxLen === undefined ? sentences[b]!.words.length : Math.min(sentences[b]!.words.length, maxLen);
    lengths[b] = n;
    if (n > T) T = n;
  }
  const ids = new Int32Array(B * T).fill(PAD_ID);
  const tags = new Int32Array(B * T).fill(IGNORE_TAG);
  for (let b = 0; b < B; b++) {
    const s = sentences[b]!;
    for (let t = 0; t < lengths[b]!; t++) {
      const w = vocab.lowercase ? s.words[t]!.toLowerCase() : s.words[t]!;
      ids[b * T + t] = vocab.index.get(w) ?? UNK_ID;
      const tagId = tagVocab.index.get(s.tags[t]!);
      if (tagId === undefined) {
        throw new RangeError(`encodeBatch: sentence ${b}, token ${t}: tag ${JSON.stringify(s.tags[t])} is not in the tag vocabulary`);
      }
      tags[b * T + t] = tagId;
    }
  }
  return { ids, tags, lengths, T };
}

/**
 * Arg-max over the last axis: `logits` holds `n · numClasses` scores (e.g. `[B, T, K]`), the
 * result holds the index of the largest score of each row (the first one on ties).
 *
 * @throws {RangeError} when `logits.length` is not a multiple of `numClasses`.
 */
export function argmaxLastAxis(logits: Float32Array, numClasses: number): Int32Array {
  if (!(numClasses >= 1) || logits.length % numClasses !== 0) {
    throw new RangeError(`argmaxLastAxis: length ${logits.length} is not a multiple of numClasses ${numClasses}`);
  }
  const n = logits.length / numClasses;
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const base = r * numClasses;
    let best = 0;
    let bestValue = logits[base]!;
    for (let k = 1; k < numClasses; k++) {
      if (logits[base + k]! > bestValue) {
        bestValue = logits[base + k]!;
        best = k;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Counts of {@link countCorrect}. */
export interface AccuracyCounts {
  /** Positions with `tags[i] ≠ −1` and `predicted[i] = tags[i]`. */
  correct: number;
  /** Positions with `tags[i] ≠ −1`. */
  total: number;
}

/**
 * Counts correct predictions over the positions whose target is not {@link IGNORE_TAG} (sum the
 * counts over batches for a corpus-level accuracy).
 *
 * @throws {RangeError} when the arrays differ in length.
 */
export function countCorrect(predictedTagIds: Int32Array, tags: Int32Array): AccuracyCounts {
  if (predictedTagIds.length !== tags.length) {
    throw new RangeError(`countCorrect: predicted has ${predictedTagIds.length} entries, tags has ${tags.length}`);
  }
  let correct = 0;
  let total = 0;
  for (let i = 0; i < tags.length; i++) {
    if (tags[i] === IGNORE_TAG) continue;
    total++;
    if (predictedTagIds[i] === tags[i]) correct++;
  }
  return { correct, total };
}

/**
 * Token accuracy: `correct / total` of {@link countCorrect}, ignoring positions whose target is
 * −1 (padding). `NaN` when no position counts.
 *
 * @throws {RangeError} when the arrays differ in length.
 */
export function tokenAccuracy(predictedTagIds: Int32Array, tags: Int32Array): number {
  const { correct, total } = countCorrect(predictedTagIds, tags);
  return total === 0 ? NaN : correct / total;
}
