// Training worker: builds the POS data from the Brown sample, trains Embedding → LSTM → Dense
// with Sequential.fit and reports every batch to the page. The page stops it with {type:'stop'},
// which aborts the fit through an AbortSignal (fit yields to the event loop between batches, so
// the message is seen before the next batch).
import { ready, Embedding, LSTM, Dense, Sequential, Adam } from './lib/index.js';
import { parseTagged, simplifySentences, splitSentences, buildVocab, buildTagVocab, encodeBatch } from './lib/pos.js';

/** Interval between weight snapshots sent to the page during training (ms). */
const WEIGHTS_EVERY_MS = 600;
const MAX_LEN = 40;
const VALID_SENTENCES = 300;

let controller = null;

const post = (msg, transfer) => self.postMessage(msg, transfer ?? []);

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'train') {
    train(msg.config).catch((err) => post({ type: 'error', message: err && err.stack ? String(err.stack) : String(err) }));
  } else if (msg.type === 'stop') {
    controller?.abort();
  }
};

function postWeights(model, epoch, batch, final = false) {
  const bytes = model.toBytes();
  post({ type: 'weights', bytes, epoch, batch, final }, [bytes.buffer]);
}

async function train(config) {
  const { sentences: nSentences, epochs, hidden, embedding, batchSize, lr, seed } = config;
  controller = new AbortController();
  const t0 = performance.now();
  post({ type: 'status', text: 'Loading the wasm core…' });
  const rt = await ready();

  post({ type: 'status', text: 'Loading the Brown corpus sample…' });
  const res = await fetch(new URL('./data/brown.txt', import.meta.url));
  if (!res.ok) throw new Error(`fetching data/brown.txt failed: HTTP ${res.status}`);
  const all = simplifySentences(parseTagged(await res.text()));
  const { train: trainAll, valid: validAll } = splitSentences(all, { validFraction: 0.1, testFraction: 0, seed: 1 });
  const trainSet = trainAll.slice(0, nSentences);
  const validSet = validAll.slice(0, VALID_SENTENCES);
  // Words seen once map to <unk>, so <unk> itself gets trained (typed words are often unseen).
  const vocab = buildVocab(trainSet, { minCount: 2, lowercase: true });
  const tagVocab = buildTagVocab(all);
  const tr = encodeBatch(trainSet, vocab, tagVocab, { maxLen: MAX_LEN });
  const va = encodeBatch(validSet, vocab, tagVocab, { maxLen: MAX_LEN });
  const n = trainSet.length;
  const batches = Math.ceil(n / batchSize);
  post({
    type: 'setup',
    words: vocab.words,
    tags: tagVocab.tags,
    simd: rt.simd,
    train: n,
    valid: validSet.length,
    tokens: tr.lengths.reduce((a, v) => a + v, 0),
    batches,
    epochs,
  });

  const model = new Sequential([
    new Embedding({ numEmbeddings: vocab.words.length, embeddingDim: embedding, seed }),
    new LSTM({ inputSize: embedding, hiddenSize: hidden, batchFirst: true, seed: seed + 1 }),
    new Dense({ inputSize: hidden, units: tagVocab.tags.length, seed: seed + 2 }),
  ]);
  model.compile({ loss: 'crossEntropy', optimizer: new Adam({ lr }), clipGradNorm: 5, metrics: ['accuracy'] });

  let lastWeights = 0;
  let lastBatchAt = performance.now();
  let rate = 0; // sequences per second, smoothed
  let epochNow = 0;
  let last = { epoch: 0, batch: 0 }; // the latest finished batch
  const callbacks = {
    onBatchEnd(batch, logs, m) {
      const now = performance.now();
      const size = Math.min(batchSize, n - batch * batchSize);
      const inst = (size * 1000) / Math.max(now - lastBatchAt, 1e-3);
      rate = rate === 0 ? inst : 0.8 * rate + 0.2 * inst;
      lastBatchAt = now;
      last = { epoch: epochNow, batch };
      post({ type: 'batch', epoch: epochNow, batch, batches, loss: logs.loss, accuracy: logs.accuracy, rate, elapsed: (now - t0) / 1000 });
      if (now - lastWeights >= WEIGHTS_EVERY_MS) {
        lastWeights = now;
        postWeights(m, epochNow, batch);
      }
    },
    onEpochEnd(epoch, logs, m) {
      post({ type: 'epoch', epoch, loss: logs.loss, accuracy: logs.accuracy, valLoss: logs.valLoss, valAccuracy: logs.valAccuracy, elapsed: (performance.now() - t0) / 1000 });
      postWeights(m, epoch, batches - 1);
      lastWeights = performance.now();
      epochNow = epoch + 1;
      lastBatchAt = performance.now(); // the validation pass is not training time
    },
  };

  post({ type: 'status', text: 'Training…' });
  lastBatchAt = performance.now();
  const history = await model.fit(
    { data: tr.ids, shape: [n, tr.T] },
    { data: tr.tags, shape: [n, tr.T] },
    {
      epochs,
      batchSize,
      lengths: tr.lengths,
      seed,
      validationData: { x: { data: va.ids, shape: [validSet.length, va.T] }, y: { data: va.tags, shape: [validSet.length, va.T] }, lengths: va.lengths },
      callbacks,
      signal: controller.signal,
    },
  );
  postWeights(model, last.epoch, last.batch, true);
  model.dispose();
  post({ type: 'done', aborted: history.aborted, elapsed: (performance.now() - t0) / 1000 });
  controller = null;
}
