// Short descriptions of the (simplified) Brown corpus tags and a coarse group for colouring.

const DESCRIPTIONS = {
  abn: 'pre-quantifier (all, half)',
  abx: 'pre-quantifier (both)',
  ap: 'post-determiner (many, other, next)',
  at: 'article (the, a, no)',
  be: 'be',
  bed: 'were',
  bedz: 'was',
  beg: 'being',
  bem: 'am',
  ben: 'been',
  ber: 'are',
  bez: 'is',
  cc: 'coordinating conjunction (and, or)',
  cd: 'cardinal number',
  cs: 'subordinating conjunction (that, if, as)',
  do: 'do',
  dod: 'did',
  doz: 'does',
  dt: 'singular determiner (this, that)',
  dti: 'determiner (some, any)',
  dts: 'plural determiner (these, those)',
  dtx: 'determiner/double conjunction (either)',
  ex: 'existential there',
  hv: 'have',
  hvd: 'had',
  hvg: 'having',
  hvn: 'had (past participle)',
  hvz: 'has',
  in: 'preposition',
  jj: 'adjective',
  jjr: 'comparative adjective',
  jjs: 'superlative adjective',
  jjt: 'superlative adjective',
  md: 'modal auxiliary (can, will, should)',
  nn: 'singular noun',
  'nn$': 'possessive singular noun',
  nns: 'plural noun',
  'nns$': 'possessive plural noun',
  np: 'proper noun',
  'np$': 'possessive proper noun',
  nps: 'plural proper noun',
  nr: 'adverbial noun (home, today, west)',
  od: 'ordinal number',
  pn: 'nominal pronoun (everybody, nothing)',
  'pp$': 'possessive determiner (my, his, their)',
  'pp$$': 'possessive pronoun (mine, his, theirs)',
  ppl: 'reflexive pronoun (himself)',
  ppls: 'plural reflexive pronoun (themselves)',
  ppo: 'objective pronoun (me, him, them)',
  pps: '3rd singular nominative pronoun (he, she, it)',
  ppss: 'other nominative pronoun (I, we, they, you)',
  ql: 'qualifier (very, too)',
  qlp: 'post-qualifier (enough)',
  rb: 'adverb',
  rbr: 'comparative adverb',
  rbt: 'superlative adverb',
  rp: 'particle (up, out)',
  to: 'infinitive marker to',
  uh: 'interjection',
  vb: 'verb, base form',
  vbd: 'verb, past tense',
  vbg: 'verb, present participle / gerund',
  vbn: 'verb, past participle',
  vbz: 'verb, 3rd singular present',
  wdt: 'wh- determiner (what, which)',
  'wp$': 'possessive wh- pronoun (whose)',
  wpo: 'objective wh- pronoun (whom)',
  wps: 'nominative wh- pronoun (who)',
  wql: 'wh- qualifier (how)',
  wrb: 'wh- adverb (how, where, when)',
  '*': 'not, n\'t',
  '.': 'sentence end',
  ',': 'comma',
  ':': 'colon',
  '--': 'dash',
  '``': 'opening quote',
  "''": 'closing quote',
  '(': 'opening parenthesis',
  ')': 'closing parenthesis',
};

export function describeTag(tag) {
  if (DESCRIPTIONS[tag]) return DESCRIPTIONS[tag];
  if (tag.includes('+')) return 'contraction: ' + tag.split('+').map((t) => DESCRIPTIONS[t] ?? t).join(' + ');
  if (tag.endsWith('*') && DESCRIPTIONS[tag.slice(0, -1)]) return DESCRIPTIONS[tag.slice(0, -1)] + ' + not';
  return 'Brown tag ' + tag;
}

/** noun, verb, adj, adv, func, punct or other. */
export function tagGroup(tag) {
  const t = tag.split('+')[0];
  if (/^(nn|np|nr|pn)/.test(t)) return 'noun';
  if (/^(vb|be|hv|do|md)/.test(t)) return 'verb';
  if (/^(jj|od|cd)/.test(t)) return 'adj';
  if (/^(rb|ql|wrb|wql|rp|ex)/.test(t)) return 'adv';
  if (/^[a-z]/.test(t) || t === '*') return 'func';
  return 'punct';
}

export const GROUPS = [
  ['noun', 'nouns'],
  ['verb', 'verbs'],
  ['adj', 'adjectives, numbers'],
  ['adv', 'adverbs'],
  ['func', 'function words'],
  ['punct', 'punctuation'],
];
