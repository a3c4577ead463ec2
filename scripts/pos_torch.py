#!/usr/bin/python3
"""PyTorch reference POS tagger on the embedded Brown sample (data/brown/sample.txt).

Run with Debian's Python and torch (1.13):

    /usr/bin/python3 scripts/pos_torch.py            # trains, writes bench/pos-torch-reference.json
    /usr/bin/python3 scripts/pos_torch.py --check    # only prints the data pipeline's hashes

The data pipeline is a line-by-line port of src/data/pos.ts with the same semantics: parsing
(every non-empty line a sentence, split each token on its last '/'), simplifyTag, the mulberry32
PRNG and Fisher-Yates shuffle, the split (floor of n * fraction; train | valid | test), the word
vocabulary (<pad>=0, <unk>=1, count >= minCount, by count desc then string asc, lower-cased) and
the tag vocabulary (all sentences, by count desc then string asc), and batch-first padded batches
(pad id 0, pad target -1). The JSON output carries SHA-256 hashes of the split and the
vocabularies; test/pos-data.test.ts recomputes them from pos.ts and asserts they are equal.

Model: Embedding(V, 64) -> LSTM(64 -> 128, 1 layer, batch_first, packed by length)
-> Linear(128 -> numTags) at every tick; CrossEntropyLoss(ignore_index=-1), mean over the real
tokens of a batch; Adam(lr=1e-3); batch 32; 6 epochs. The training order of each epoch is
shuffle_in_place(list(range(nTrain)), rng) with ONE rng = mulberry32(shuffleSeed) created before
the first epoch; batches are consecutive slices of 32 of that order (the last one may be short).
Accuracy = correct / counted tokens over the whole split (argmax of the logits).
"""
import hashlib
import json
import math
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, 'data', 'brown', 'sample.txt')
OUT = os.path.join(ROOT, 'bench', 'pos-torch-reference.json')

CONFIG = {
    'data': 'data/brown/sample.txt',
    'simplifyTags': True,
    'split': {'validFraction': 0.1, 'testFraction': 0.1, 'seed': 1},
    'vocab': {'minCount': 2, 'lowercase': True, 'maxSize': None, 'builtFrom': 'train'},
    'tagVocab': {'builtFrom': 'all sentences (train + valid + test)'},
    'model': {'embeddingDim': 64, 'hiddenSize': 128, 'numLayers': 1, 'bidirectional': False,
              'head': 'Linear(128, numTags) at every tick',
              'init': 'PyTorch defaults after torch.manual_seed(torchSeed)'},
    'loss': 'CrossEntropyLoss(ignore_index=-1), mean over real tokens of the batch',
    'optimizer': {'name': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999], 'eps': 1e-8, 'weightDecay': 0},
    'batchSize': 32,
    'epochs': 6,
    'shuffleSeed': 2,
    'torchSeed': 0,
    'threads': 2,
    'maxLen': None,
}

# ---------------------------------------------------------------- data pipeline (= pos.ts)

M32 = 0xFFFFFFFF


def parse_tagged(text):
    sentences = []
    for li, line in enumerate(re.split(r'\r\n|\r|\n', text)):
        tokens = line.split()
        if not tokens:
            continue
        words, tags = [], []
        for token in tokens:
            slash = token.rfind('/')
            if slash <= 0 or slash == len(token) - 1:
                raise SyntaxError('line %d: token %r is not word/tag' % (li + 1, token))
            words.append(token[:slash])
            tags.append(token[slash + 1:])
        sentences.append({'words': words, 'tags': tags})
    return sentences


def simplify_tag(tag):
    t = tag.lower()
    if t.startswith('fw-'):
        t = t[3:]
    changed = True
    while changed:
        changed = False
        for suffix in ('-tl', '-hl', '-nc'):
            if len(t) > len(suffix) and t.endswith(suffix):
                t = t[:-len(suffix)]
                changed = True
    return t


def simplify_sentences(sentences):
    return [{'words': s['words'], 'tags': [simplify_tag(t) for t in s['tags']]} for s in sentences]


def imul(a, b):
    return (a * b) & M32


def mulberry32(seed):
    state = [seed & M32]

    def rng():
        a = (state[0] + 0x6D2B79F5) & M32
        state[0] = a
        t = imul(a ^ (a >> 15), a | 1)
        t = ((t + imul(t ^ (t >> 7), t | 61)) & M32) ^ t
        return ((t ^ (t >> 14)) & M32) / 4294967296.0
    return rng


def shuffle_in_place(items, rng):
    for i in range(len(items) - 1, 0, -1):
        j = int(math.floor(rng() * (i + 1)))
        items[i], items[j] = items[j], items[i]
    return items


def split_sentences(sentences, valid_fraction, test_fraction, seed):
    n = len(sentences)
    shuffled = shuffle_in_place(list(sentences), mulberry32(seed))
    n_valid = int(math.floor(n * valid_fraction))
    n_test = int(math.floor(n * test_fraction))
    n_train = n - n_valid - n_test
    return shuffled[:n_train], shuffled[n_train:n_train + n_valid], shuffled[n_train + n_valid:]


def by_count_then_name(counts):
    return sorted(counts, key=lambda w: (-counts[w], w))


def build_vocab(sentences, min_count, lowercase, max_size=None):
    counts = {}
    for s in sentences:
        for w in s['words']:
            key = w.lower() if lowercase else w
            counts[key] = counts.get(key, 0) + 1
    kept = [w for w in by_count_then_name(counts) if counts[w] >= min_count and w not in ('<pad>', '<unk>')]
    if max_size is not None:
        kept = kept[:max_size - 2]
    words = ['<pad>', '<unk>'] + kept
    return {'words': words, 'index': {w: i for i, w in enumerate(words)}, 'lowercase': lowercase}


def build_tag_vocab(sentences):
    counts = {}
    for s in sentences:
        for t in s['tags']:
            counts[t] = counts.get(t, 0) + 1
    tags = by_count_then_name(counts)
    return {'tags': tags, 'index': {t: i for i, t in enumerate(tags)}}


def encode_batch(sentences, vocab, tag_vocab, max_len=None):
    lengths = [len(s['words']) if max_len is None else min(len(s['words']), max_len) for s in sentences]
    T = max(lengths) if lengths else 0
    ids = [[0] * T for _ in sentences]
    tags = [[-1] * T for _ in sentences]
    for b, s in enumerate(sentences):
        for t in range(lengths[b]):
            w = s['words'][t].lower() if vocab['lowercase'] else s['words'][t]
            ids[b][t] = vocab['index'].get(w, 1)
            tags[b][t] = tag_vocab['index'][s['tags'][t]]
    return ids, tags, lengths, T


def js_hash(value):
    """SHA-256 (first 16 hex digits) of JSON.stringify(value) (ASCII data, no spaces)."""
    return hashlib.sha256(json.dumps(value, separators=(',', ':')).encode('ascii')).hexdigest()[:16]


def pipeline():
    with open(SAMPLE, encoding='utf-8') as f:
        text = f.read()
    sentences = simplify_sentences(parse_tagged(text))
    sp = CONFIG['split']
    train, valid, test = split_sentences(sentences, sp['validFraction'], sp['testFraction'], sp['seed'])
    vc = CONFIG['vocab']
    vocab = build_vocab(train, vc['minCount'], vc['lowercase'], vc['maxSize'])
    tag_vocab = build_tag_vocab(sentences)
    n_tok = lambda ss: sum(len(s['words']) for s in ss)
    pairs = lambda ss: [[s['words'], s['tags']] for s in ss]
    info = {
        'sentences': len(sentences), 'tokens': n_tok(sentences), 'bytes': len(text.encode('utf-8')),
        'train': {'sentences': len(train), 'tokens': n_tok(train)},
        'valid': {'sentences': len(valid), 'tokens': n_tok(valid)},
        'test': {'sentences': len(test), 'tokens': n_tok(test)},
        'vocabSize': len(vocab['words']), 'numTags': len(tag_vocab['tags']),
        'testOovTokens': sum(1 for s in test for w in s['words']
                             if (w.lower() if vc['lowercase'] else w) not in vocab['index']),
        'hashes': {
            'note': 'first 16 hex digits of sha256(JSON.stringify(x)); train/valid/test: [[words, tags], ...] '
                    'in split order; vocab: vocab.words; tags: tagVocab.tags',
            'train': js_hash(pairs(train)), 'valid': js_hash(pairs(valid)), 'test': js_hash(pairs(test)),
            'vocab': js_hash(vocab['words']), 'tags': js_hash(tag_vocab['tags']),
        },
        'firstValidWords': [' '.join(s['words'][:5]) for s in valid[:3]],
        'tagList': tag_vocab['tags'],
    }
    return train, valid, test, vocab, tag_vocab, info


# ---------------------------------------------------------------- model

def main():
    train, valid, test, vocab, tag_vocab, info = pipeline()
    if '--check' in sys.argv:
        print(json.dumps({k: v for k, v in info.items() if k != 'tagList'}, indent=1))
        return

    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.set_num_threads(CONFIG['threads'])
    torch.manual_seed(CONFIG['torchSeed'])
    V, K = len(vocab['words']), len(tag_vocab['tags'])
    mc = CONFIG['model']

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, mc['embeddingDim'])
            self.lstm = nn.LSTM(mc['embeddingDim'], mc['hiddenSize'], num_layers=mc['numLayers'], batch_first=True)
            self.out = nn.Linear(mc['hiddenSize'], K)

        def forward(self, ids, lengths):
            x = self.emb(ids)
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])
            return self.out(h)                     # [B, T, K]

    model = Tagger()
    oc = CONFIG['optimizer']
    opt = torch.optim.Adam(model.parameters(), lr=oc['lr'], betas=tuple(oc['betas']), eps=oc['eps'])
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1)
    B = CONFIG['batchSize']

    def tensors(batch):
        ids, tags, lengths, _ = encode_batch(batch, vocab, tag_vocab, CONFIG['maxLen'])
        return torch.tensor(ids, dtype=torch.long), torch.tensor(tags, dtype=torch.long), torch.tensor(lengths)

    def evaluate(sents):
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for i in range(0, len(sents), B):
                ids, tags, lengths = tensors(sents[i:i + B])
                pred = model(ids, lengths).argmax(-1)
                mask = tags != -1
                correct += int((pred[mask] == tags[mask]).sum())
                total += int(mask.sum())
        model.train()
        return correct / total

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    rng = mulberry32(CONFIG['shuffleSeed'])
    epochs = []
    train_seconds = 0.0
    print('train %d sentences / %d tokens, vocab %d, tags %d' % (
        info['train']['sentences'], info['train']['tokens'], V, K), flush=True)
    for epoch in range(CONFIG['epochs']):
        order = shuffle_in_place(list(range(len(train))), rng)
        t0 = time.perf_counter()
        loss_sum = 0.0
        tok_sum = 0
        for i in range(0, len(order), B):
            ids, tags, lengths = tensors([train[j] for j in order[i:i + B]])
            logits = model(ids, lengths)
            loss = loss_fn(logits.reshape(-1, K), tags.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = int((tags != -1).sum())
            loss_sum += float(loss) * n
            tok_sum += n
        dt = time.perf_counter() - t0
        train_seconds += dt
        test_acc = evaluate(test)
        valid_acc = evaluate(valid)
        row = {'epoch': epoch + 1, 'trainLoss': round(loss_sum / tok_sum, 5), 'validAccuracy': round(valid_acc, 5),
               'testAccuracy': round(test_acc, 5), 'trainSeconds': round(dt, 3)}
        epochs.append(row)
        print(json.dumps(row), flush=True)

    result = {
        'what': 'PyTorch reference POS tagger on data/brown/sample.txt (scripts/pos_torch.py)',
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'machine': {'cpus': os.cpu_count(), 'loadAverageAtStart': load_at_start,
                    'loadAverageAtEnd': [round(x, 2) for x in os.getloadavg()]},
        'config': CONFIG,
        'data': info,
        'epochs': epochs,
        'trainSecondsTotal': round(train_seconds, 3),
        'finalTestAccuracy': epochs[-1]['testAccuracy'],
        'notes': 'trainSeconds: forward + backward + Adam over the training split for one epoch, batch '
                 'building included, evaluation excluded; wall clock on a shared machine (see the load '
                 'averages). Accuracy: token accuracy over the whole split, padding excluded.',
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(result, f, indent=1)
        f.write('\n')
    print('wrote', OUT)


if __name__ == '__main__':
    main()
