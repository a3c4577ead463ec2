// The main job for now: train a 2-layer LSTM + Dense head on an embedded sequence task and print
// the loss falling each epoch. (The training CLI on real data replaces it in the next release.)
//
// Task, "delayed recall": a stream of symbols from a 4-letter alphabet; at every tick the model must
// output the symbol it saw DELAY ticks earlier. Nothing in the current input tells it the answer:
// it has to carry the last DELAY symbols in its cell state. Chance is 25 % accuracy (loss ln 4 = 1.386).
import { ready, LSTM, Dense, Sequential, SGD, Tensor } from 'lstm-wasm';

const SYMBOLS = 4, DELAY = 2, T = 24, BATCH = 32, BATCHES = 16, EPOCHS = Number(process.env.EPOCHS ?? 25);

// Deterministic data: the same stream on every machine (xorshift32).
let s = 2463534242;
const rand = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) / 2 ** 32);
function makeBatch() {
  const x = new Float32Array(T * BATCH * SYMBOLS);
  const y = new Int32Array(T * BATCH);
  const seq = Array.from({ length: BATCH }, () => Array.from({ length: T }, () => Math.floor(rand() * SYMBOLS)));
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < BATCH; b++) {
      x[(t * BATCH + b) * SYMBOLS + seq[b][t]] = 1;
      y[t * BATCH + b] = t >= DELAY ? seq[b][t - DELAY] : -1; // -1: no answer yet, not counted
    }
  }
  return { x: new Tensor(x, [T, BATCH, SYMBOLS]), y: { data: y, shape: [T, BATCH] } };
}
const train = Array.from({ length: BATCHES }, makeBatch);
const held = makeBatch();

function accuracy(model, { x, y }) {
  const logits = model.predict(x).data;
  let right = 0, counted = 0;
  for (let r = 0; r < y.data.length; r++) {
    if (y.data[r] < 0) continue;
    let best = 0;
    for (let k = 1; k < SYMBOLS; k++) if (logits[r * SYMBOLS + k] > logits[r * SYMBOLS + best]) best = k;
    right += best === y.data[r] ? 1 : 0;
    counted++;
  }
  return right / counted;
}

const rt = await ready();
const model = new Sequential([
  new LSTM({ inputSize: SYMBOLS, hiddenSize: 32, numLayers: 2, seed: 1 }),
  new Dense({ inputSize: 32, units: SYMBOLS, seed: 2 }),
]);
model.compile({ loss: 'crossEntropy', optimizer: new SGD({ lr: 1.0 }) });
console.log(`lstm-wasm ${rt.simd ? 'SIMD128' : 'scalar'} build: delayed recall (delay ${DELAY}), 2-layer LSTM(32) + Dense, SGD lr 1.0`);
const t0 = performance.now();
let first, last;
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  let sum = 0;
  for (const { x, y } of train) sum += await model.trainOnBatch(x, y);
  last = sum / train.length;
  first ??= last;
  console.log(`epoch ${String(epoch).padStart(2)}  loss ${last.toFixed(4)}  held-out accuracy ${(100 * accuracy(model, held)).toFixed(1)} %`);
}
const secs = (performance.now() - t0) / 1000;
console.log(`${EPOCHS} epochs, ${EPOCHS * BATCHES * BATCH} sequences in ${secs.toFixed(1)} s; loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
model.dispose();
if (!(last < first * 0.5)) {
  console.error('training did not halve the loss: something is wrong');
  process.exit(1);
}
