// The POS data pipeline (src/data/pos.ts): parsing, tag simplification, the seeded split,
// vocabularies, padded batches, accuracy; and the embedded Brown sample, whose split and
// vocabularies must hash exactly like the PyTorch reference's (scripts/pos_torch.py).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  argmaxLastAxis, buildTagVocab, buildVocab, countCorrect, encodeBatch, IGNORE_TAG, mulberry32, PAD_ID,
  parseTagged, shuffleInPlace, simplifySentences, simplifyTag, splitSentences, tokenAccuracy, UNK_ID,
  type TaggedSentence,
} from '../src/data/pos.js';

const sent = (pairs: string): TaggedSentence => parseTagged(pairs)[0]!;

describe('parseTagged', () => {
  test('Brown lines: leading TAB, one sentence per non-empty line, last slash splits', () => {
    const text = [
      '',
      '',
      "\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ./.",
      'Merger/nn-hl proposed/vbn-hl ',
      '',
      '\tHe/pps ate/vbd 1/2/cd of/in it/ppo ./.\r',
      "\tI/ppss didn't/dod* see/vb A/B/np ./.",
    ].join('\n');
    expect(parseTagged(text)).toEqual([
      { words: ['The', 'Fulton', 'County', 'said', '``', 'no', 'evidence', "''", '.'],
        tags: ['at', 'np-tl', 'nn-tl', 'vbd', '``', 'at', 'nn', "''", '.'] },
      { words: ['Merger', 'proposed'], tags: ['nn-hl', 'vbn-hl'] },
      { words: ['He', 'ate', '1/2', 'of', 'it', '.'], tags: ['pps', 'vbd', 'cd', 'in', 'ppo', '.'] },
      { words: ['I', "didn't", 'see', 'A/B', '.'], tags: ['ppss', 'dod*', 'vb', 'np', '.'] },
    ]);
  });

  test('CRLF and blank-only input', () => {
    expect(parseTagged('a/at b/nn\r\nc/vb\r\n')).toEqual([
      { words: ['a', 'b'], tags: ['at', 'nn'] },
      { words: ['c'], tags: ['vb'] },
    ]);
    expect(parseTagged('')).toEqual([]);
    expect(parseTagged('\n \t\n\n')).toEqual([]);
  });

  test('a token that is not word/tag throws, naming the line', () => {
    expect(() => parseTagged('a/at\nb/nn oops c/vb')).toThrow(/line 2: token "oops"/);
    expect(() => parseTagged('/nn')).toThrow(SyntaxError);
    expect(() => parseTagged('word/')).toThrow(SyntaxError);
  });
});

describe('simplifyTag', () => {
  test.each([
    ['nn', 'nn'], ['NN', 'nn'], ['np-tl', 'np'], ['nn-hl', 'nn'], ['nn-nc', 'nn'],
    ['nn-tl-hl', 'nn'], ['nns-hl-tl', 'nns'], ['NP-TL', 'np'], ['np$-tl', 'np$'],
    ['fw-nn', 'nn'], ['fw-in-tl', 'in'], ['fw-*-tl', '*'], ['fw-in+at', 'in+at'],
    ['*', '*'], ['dod*', 'dod*'], ['md*-hl', 'md*'], ['ppss+bez*', 'ppss+bez*'],
    ['ppss+md', 'ppss+md'], ['pps+bez-hl', 'pps+bez'], ['--', '--'], [',-hl', ','], ["''", "''"],
    ['in+at-t', 'in+at-t'], ['-tl', '-tl'],
  ])('%s → %s', (raw, simple) => {
    expect(simplifyTag(raw)).toBe(simple);
  });

  test('simplifySentences maps tags only', () => {
    const s = sent('The/at-tl Jury/nn-tl said/vbd');
    expect(simplifySentences([s])).toEqual([{ words: ['The', 'Jury', 'said'], tags: ['at', 'nn', 'vbd'] }]);
    expect(s.tags).toEqual(['at-tl', 'nn-tl', 'vbd']);
  });
});

describe('PRNG and split', () => {
  test('mulberry32 is the reference generator (values shared with scripts/pos_torch.py)', () => {
    const r = mulberry32(7);
    expect([r(), r(), r()]).toEqual([0.011704753153026104, 0.06195825757458806, 0.97690763277933]);
    const s = mulberry32(2 ** 32 + 7);                // seed taken modulo 2^32
    expect(s()).toBe(0.011704753153026104);
    const u = mulberry32(123);
    for (let i = 0; i < 10_000; i++) {
      const x = u();
      expect(x >= 0 && x < 1 && Number.isInteger(x * 2 ** 32)).toBe(true);
    }
  });

  test('shuffleInPlace is a deterministic permutation', () => {
    const a = shuffleInPlace(Array.from({ length: 2977 }, (_, i) => i), mulberry32(2));
    expect(a.slice(0, 5)).toEqual([1490, 349, 1495, 1057, 949]);   // same in pos_torch.py
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 2977 }, (_, i) => i));
  });

  const items = Array.from({ length: 103 }, (_, i) => `s${i}`);

  test('sizes are floor(n·fraction), the parts partition the input, the input is untouched', () => {
    const copy = items.slice();
    const { train, valid, test: tst } = splitSentences(items, { validFraction: 0.1, testFraction: 0.15, seed: 5 });
    expect([train.length, valid.length, tst.length]).toEqual([103 - 10 - 15, 10, 15]);
    expect([...train, ...valid, ...tst].sort()).toEqual([...items].sort());
    expect(items).toEqual(copy);
    // train | valid | test are consecutive slices of the seeded shuffle
    expect([...train, ...valid, ...tst]).toEqual(shuffleInPlace(items.slice(), mulberry32(5)));
  });

  test('same seed → same split; another seed → another split', () => {
    const opts = { validFraction: 0.1, testFraction: 0.1, seed: 1 };
    expect(splitSentences(items, opts)).toEqual(splitSentences(items, opts));
    expect(splitSentences(items, { ...opts, seed: 2 }).test).not.toEqual(splitSentences(items, opts).test);
    expect(splitSentences(items, { validFraction: 0, testFraction: 0, seed: 1 }).train).toHaveLength(103);
  });

  test('bad fractions throw', () => {
    expect(() => splitSentences(items, { validFraction: -0.1, testFraction: 0.1, seed: 1 })).toThrow(RangeError);
    expect(() => splitSentences(items, { validFraction: 0.5, testFraction: 0.5, seed: 1 })).toThrow(/must be < 1/);
    expect(() => splitSentences(items, { validFraction: NaN, testFraction: 0.1, seed: 1 })).toThrow(RangeError);
  });
});

describe('vocabularies', () => {
  const corpus = parseTagged([
    'The/at cat/nn sat/vbd ./.',
    'the/at Dog/nn sat/vbd ./.',
    'A/at dog/nn ran/vbd !/.',
  ].join('\n'));

  test('word ids: <pad>=0, <unk>=1, count desc then string asc, minCount, lowercase', () => {
    const v = buildVocab(corpus, { minCount: 2, lowercase: true });
    // counts: . 2, dog 2, sat 2, the 2; a 1, cat 1, ran 1, ! 1
    expect(v.words).toEqual(['<pad>', '<unk>', '.', 'dog', 'sat', 'the']);
    expect(v.index.get('<pad>')).toBe(PAD_ID);
    expect(v.index.get('<unk>')).toBe(UNK_ID);
    expect(v.index.get('dog')).toBe(3);
    expect(v.lowercase).toBe(true);

    const cased = buildVocab(corpus, { minCount: 1, lowercase: false });
    expect(cased.words).toEqual(['<pad>', '<unk>', '.', 'sat', '!', 'A', 'Dog', 'The', 'cat', 'dog', 'ran', 'the']);
    expect(buildVocab(corpus, { minCount: 1, lowercase: true, maxSize: 4 }).words).toEqual(['<pad>', '<unk>', '.', 'dog']);
    expect(() => buildVocab(corpus, { minCount: 0, lowercase: true })).toThrow(RangeError);
    expect(() => buildVocab(corpus, { minCount: 1, lowercase: true, maxSize: 1 })).toThrow(RangeError);
  });

  test('tag ids: no padding entry, count desc then string asc', () => {
    const tv = buildTagVocab(corpus);
    expect(tv.tags).toEqual(['.', 'at', 'nn', 'vbd']);
    expect(tv.index.get('nn')).toBe(2);
  });
});

describe('encodeBatch', () => {
  const corpus = parseTagged(['The/at cat/nn sat/vbd ./.', 'A/at Dog/nn !/.', 'Sat/vbd'].join('\n'));
  const vocab = buildVocab(corpus, { minCount: 1, lowercase: true });
  const tagVocab = buildTagVocab(corpus);
  const id = (w: string) => vocab.index.get(w)!;
  const tg = (t: string) => tagVocab.index.get(t)!;

  test('batch-first [B, T], pad id 0, pad target -1, lengths', () => {
    const b = encodeBatch(corpus, vocab, tagVocab);
    expect(b.T).toBe(4);
    expect(Array.from(b.lengths)).toEqual([4, 3, 1]);
    expect(Array.from(b.ids)).toEqual([
      id('the'), id('cat'), id('sat'), id('.'),
      id('a'), id('dog'), id('!'), PAD_ID,
      id('sat'), PAD_ID, PAD_ID, PAD_ID,
    ]);
    expect(Array.from(b.tags)).toEqual([
      tg('at'), tg('nn'), tg('vbd'), tg('.'),
      tg('at'), tg('nn'), tg('.'), IGNORE_TAG,
      tg('vbd'), IGNORE_TAG, IGNORE_TAG, IGNORE_TAG,
    ]);
    expect(b.ids).toBeInstanceOf(Int32Array);
    expect(b.tags).toBeInstanceOf(Int32Array);
    expect(b.lengths).toBeInstanceOf(Int32Array);
  });

  test('unknown words → <unk>; case follows the vocabulary; maxLen truncates', () => {
    const small = buildVocab(corpus, { minCount: 2, lowercase: true });   // only 'sat'
    const b = encodeBatch([sent('SAT/vbd cat/nn')], small, tagVocab);
    expect(Array.from(b.ids)).toEqual([small.index.get('sat'), UNK_ID]);
    const cased = buildVocab(corpus, { minCount: 1, lowercase: false });
    expect(encodeBatch([sent('Sat/vbd SAT/vbd')], cased, tagVocab).ids[1]).toBe(UNK_ID);

    const t = encodeBatch(corpus, vocab, tagVocab, { maxLen: 2 });
    expect(t.T).toBe(2);
    expect(Array.from(t.lengths)).toEqual([2, 2, 1]);
    expect(Array.from(t.tags)).toEqual([tg('at'), tg('nn'), tg('at'), tg('nn'), tg('vbd'), IGNORE_TAG]);
  });

  test('empty batch, unknown tag, bad maxLen', () => {
    const e = encodeBatch([], vocab, tagVocab);
    expect([e.T, e.ids.length, e.tags.length, e.lengths.length]).toEqual([0, 0, 0, 0]);
    expect(() => encodeBatch([sent('cat/zz')], vocab, tagVocab)).toThrow(/tag "zz" is not in the tag vocabulary/);
    expect(() => encodeBatch(corpus, vocab, tagVocab, { maxLen: 0 })).toThrow(RangeError);
  });
});

describe('accuracy', () => {
  test('tokenAccuracy and countCorrect ignore -1 targets', () => {
    const tags = Int32Array.from([0, 2, -1, 1, -1]);
    const pred = Int32Array.from([0, 1, 5, 1, 7]);
    expect(countCorrect(pred, tags)).toEqual({ correct: 2, total: 3 });
    expect(tokenAccuracy(pred, tags)).toBeCloseTo(2 / 3, 12);
    expect(tokenAccuracy(Int32Array.from([3]), Int32Array.from([-1]))).toBeNaN();
    expect(() => tokenAccuracy(pred, tags.subarray(1))).toThrow(RangeError);
  });

  test('argmaxLastAxis', () => {
    const logits = Float32Array.from([0, 2, 1, /**/ -1, -3, -2, /**/ 5, 5, 0]);
    expect(Array.from(argmaxLastAxis(logits, 3))).toEqual([1, 0, 0]);
    expect(() => argmaxLastAxis(logits, 4)).toThrow(RangeError);
  });
});

describe('data/brown/sample.txt', () => {
  const text = readFileSync(new URL('../data/brown/sample.txt', import.meta.url), 'utf8');
  const raw = parseTagged(text);
  const sentences = simplifySentences(raw);
  const tokens = (ss: TaggedSentence[]) => ss.reduce((n, s) => n + s.words.length, 0);
  const { train, valid, test: tst } = splitSentences(sentences, { validFraction: 0.1, testFraction: 0.1, seed: 1 });
  const vocab = buildVocab(train, { minCount: 2, lowercase: true });
  const tagVocab = buildTagVocab(sentences);
  const hash = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);
  const pairs = (ss: TaggedSentence[]) => ss.map((s) => [s.words, s.tags]);
  const hashes = {
    train: hash(pairs(train)), valid: hash(pairs(valid)), test: hash(pairs(tst)),
    vocab: hash(vocab.words), tags: hash(tagVocab.tags),
  };

  test('size: 3719 sentences, 74561 tokens, 631046 bytes, 225 raw → 123 simplified tags', () => {
    expect(text.length).toBe(631_046);                 // ASCII: bytes = characters
    expect(raw).toHaveLength(3_719);
    expect(tokens(raw)).toBe(74_561);
    expect(buildTagVocab(raw).tags).toHaveLength(225);
    expect(tagVocab.tags).toHaveLength(123);
    expect(tagVocab.tags.slice(0, 6)).toEqual(['nn', 'in', 'at', 'jj', '.', ',']);
    expect(Math.max(...raw.map((s) => s.words.length))).toBe(180);
  });

  test('80/10/10 split with seed 1 and the vocabulary (minCount 2, lower-cased)', () => {
    expect([train.length, valid.length, tst.length]).toEqual([2_977, 371, 371]);
    expect([tokens(train), tokens(valid), tokens(tst)]).toEqual([59_489, 7_508, 7_564]);
    expect(valid.slice(0, 3).map((s) => s.words.slice(0, 5).join(' '))).toEqual([
      'Multiplication , subtraction , and', '`` Surprised , baby ?', 'Suddenly the Spanish became an',
    ]);
    expect(vocab.words).toHaveLength(4_026);
    expect(vocab.words.slice(0, 6)).toEqual(['<pad>', '<unk>', 'the', ',', '.', 'of']);
  });

  test('split and vocabularies hash exactly like the PyTorch reference (bench/pos-torch-reference.json)', () => {
    const expected = { train: 'c77cc77a0c161220', valid: 'aef2bf8ae9777fa0', test: '0f38bf319f8644cf',
      vocab: 'da4da9ee03a07514', tags: '352590e4d0cf5a69' };
    expect(hashes).toEqual(expected);
    const ref = JSON.parse(readFileSync(new URL('../bench/pos-torch-reference.json', import.meta.url), 'utf8')) as {
      data: { hashes: Record<string, string>; vocabSize: number; numTags: number; tagList: string[] };
    };
    const { note: _note, ...refHashes } = ref.data.hashes;
    expect(refHashes).toEqual(expected);
    expect(ref.data.vocabSize).toBe(vocab.words.length);
    expect(ref.data.tagList).toEqual(tagVocab.tags);
  });

  test('every sentence encodes; no tag is missing from the tag vocabulary', () => {
    const b = encodeBatch(sentences, vocab, tagVocab);
    expect(b.T).toBe(180);
    expect(countCorrect(b.tags, b.tags)).toEqual({ correct: 74_561, total: 74_561 });
  });
});
