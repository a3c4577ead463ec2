// Page side: starts the training worker, draws the loss chart, and tags the typed sentence with
// the latest weights the worker sent, one Sequential.step per new token (the LSTM state after
// every token is kept, so typing one more word costs one step).
import { ready, deserializeModel } from './lib/index.js';
import { describeTag, tagGroup, GROUPS } from './tags.js';

const $ = (id) => document.getElementById(id);
const els = {
  train: $('train'),
  stop: $('stop'),
  sentences: $('cfg-sentences'),
  epochs: $('cfg-epochs'),
  hidden: $('cfg-hidden'),
  status: $('status'),
  epoch: $('stat-epoch'),
  batch: $('stat-batch'),
  loss: $('stat-loss'),
  acc: $('stat-acc'),
  valAcc: $('stat-valacc'),
  rate: $('stat-rate'),
  elapsed: $('stat-elapsed'),
  progress: $('progress-bar'),
  chart: $('chart'),
  input: $('sentence'),
  echo: $('echo'),
  tagged: $('tagged'),
  modelInfo: $('model-info'),
  streamInfo: $('stream-info'),
  legend: $('legend'),
};

/** Observable state (also read by the end-to-end test). */
const demo = {
  state: 'idle', // idle | training | done | stopped | error
  losses: [],
  epochs: [], // per finished epoch: { epoch, loss, accuracy, valLoss, valAccuracy, atBatch }
  totalBatches: 0,
  batchesPerEpoch: 0,
  weightsVersion: 0,
  words: null,
  tags: null,
  index: null,
};
window.demo = demo;

const pageRuntime = ready();
let worker = null;
let model = null;
/** Per token of the current sentence: { id, state, tag, prob } for the current model. */
let cache = [];

// ---------------------------------------------------------------- training

function setState(s) {
  demo.state = s;
  document.body.dataset.state = s;
  const training = s === 'training';
  els.train.disabled = training;
  els.stop.disabled = !training;
  for (const el of [els.sentences, els.epochs, els.hidden]) el.disabled = training;
}

function describeConfig() {
  if (demo.state === 'training') return;
  els.status.textContent = `Embedding(32) → LSTM(${els.hidden.value}) → Dense, Adam (lr 0.01), batches of 32 sentences; ` +
    `${Number(els.sentences.value).toLocaleString()} sentences × ${els.epochs.value} epochs.`;
}

function startTraining() {
  worker?.terminate();
  demo.losses = [];
  demo.epochs = [];
  demo.totalBatches = 0;
  for (const el of [els.epoch, els.batch, els.loss, els.acc, els.valAcc, els.rate, els.elapsed]) el.textContent = '–';
  els.progress.style.width = '0%';
  setState('training');
  els.status.textContent = 'Starting the worker…';
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e) => onWorkerMessage(e.data);
  worker.onerror = (e) => {
    els.status.textContent = 'Worker error: ' + (e.message || 'failed to load');
    setState('error');
  };
  worker.postMessage({
    type: 'train',
    config: {
      sentences: Number(els.sentences.value),
      epochs: Number(els.epochs.value),
      hidden: Number(els.hidden.value),
      embedding: 32,
      batchSize: 32,
      lr: 0.01,
      seed: 1,
    },
  });
}

function onWorkerMessage(m) {
  switch (m.type) {
    case 'status':
      els.status.textContent = m.text;
      break;
    case 'setup':
      demo.words = m.words;
      demo.tags = m.tags;
      demo.index = new Map(m.words.map((w, i) => [w, i]));
      demo.batchesPerEpoch = m.batches;
      // A new vocabulary: the previous run's model reads different ids.
      model?.dispose();
      model = null;
      demo.totalBatches = m.batches * m.epochs;
      els.status.textContent = `Training on ${m.train.toLocaleString()} sentences (${m.tokens.toLocaleString()} tokens), ` +
        `validating on ${m.valid}; vocabulary ${m.words.length.toLocaleString()} words, ${m.tags.length} tags; ` +
        `${m.simd ? 'SIMD' : 'scalar'} wasm build.`;
      resetTagger();
      break;
    case 'batch': {
      demo.losses.push(m.loss);
      const done = m.epoch * demo.batchesPerEpoch + m.batch + 1;
      els.epoch.textContent = `${m.epoch + 1} / ${Number(els.epochs.value)}`;
      els.batch.textContent = `${m.batch + 1} / ${m.batches}`;
      els.loss.textContent = m.loss.toFixed(3);
      els.rate.textContent = Math.round(m.rate).toLocaleString();
      els.elapsed.textContent = m.elapsed.toFixed(1) + ' s';
      els.progress.style.width = ((100 * done) / demo.totalBatches).toFixed(1) + '%';
      scheduleChart();
      break;
    }
    case 'epoch':
      demo.epochs.push({ ...m, atBatch: demo.losses.length });
      els.acc.textContent = pct(m.accuracy);
      els.valAcc.textContent = pct(m.valAccuracy);
      scheduleChart();
      break;
    case 'weights':
      // deserializeModel needs this page's runtime; .then keeps the snapshots in order.
      pageRuntime.then(() => loadWeights(m));
      break;
    case 'done':
      setState(m.aborted ? 'stopped' : 'done');
      els.status.textContent = `${m.aborted ? 'Stopped' : 'Finished'} after ${m.elapsed.toFixed(1)} s` +
        (demo.epochs.length ? `; validation accuracy ${pct(demo.epochs.at(-1).valAccuracy)}.` : '.');
      worker.terminate();
      worker = null;
      break;
    case 'error':
      els.status.textContent = 'Training failed: ' + m.message;
      setState('error');
      break;
  }
}

function pct(v) {
  return v === undefined ? '–' : (100 * v).toFixed(1) + ' %';
}

// ---------------------------------------------------------------- chart

let chartPending = false;
function scheduleChart() {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    drawChart();
  });
}

function niceStep(range, target) {
  const raw = range / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

function drawChart() {
  const canvas = els.chart;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 44, r: 48, t: 12, b: 28 };
  const pw = w - pad.l - pad.r;
  const ph = h - pad.t - pad.b;
  const losses = demo.losses;
  const nx = Math.max(demo.totalBatches, losses.length, 1);
  const maxLoss = Math.max(1, ...losses.filter(Number.isFinite));
  const yStep = niceStep(maxLoss, 4);
  const yMax = Math.ceil(maxLoss / yStep) * yStep;
  const X = (i) => pad.l + (pw * i) / nx;
  const Y = (v) => pad.t + ph * (1 - v / yMax);
  const YA = (a) => pad.t + ph * (1 - a);

  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  // Grid and left axis (loss).
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    ctx.strokeStyle = v === 0 ? '#c9ced6' : '#eceef2';
    ctx.beginPath();
    ctx.moveTo(pad.l, Math.round(Y(v)) + 0.5);
    ctx.lineTo(pad.l + pw, Math.round(Y(v)) + 0.5);
    ctx.stroke();
    ctx.fillStyle = '#6b7280';
    ctx.fillText(v.toFixed(yStep < 1 ? 1 : 0), pad.l - 6, Y(v));
  }
  // Right axis (accuracy).
  ctx.textAlign = 'left';
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.fillStyle = '#15803d';
    ctx.fillText(`${a * 100}%`, pad.l + pw + 6, YA(a));
  }
  // Epoch boundaries.
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  if (demo.batchesPerEpoch) {
    const nEpochs = Math.round(nx / demo.batchesPerEpoch);
    const every = Math.max(1, Math.ceil(nEpochs / 12));
    for (let e = 1; e <= nEpochs; e++) {
      const x = Math.round(X(e * demo.batchesPerEpoch)) + 0.5;
      if (e < nEpochs) {
        ctx.strokeStyle = '#eceef2';
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.moveTo(x, pad.t);
        ctx.lineTo(x, pad.t + ph);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      if (e % every === 0 || e === 1) {
        ctx.fillStyle = '#6b7280';
        ctx.fillText(`${e}`, X((e - 0.5) * demo.batchesPerEpoch), pad.t + ph + 8);
      }
    }
  }
  ctx.textAlign = 'left';
  ctx.fillStyle = '#9ca3af';
  ctx.fillText('epoch', 4, pad.t + ph + 8);

  if (losses.length > 0) {
    // Raw per-batch loss.
    ctx.strokeStyle = 'rgba(37, 99, 235, 0.28)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    losses.forEach((v, i) => (i ? ctx.lineTo(X(i + 0.5), Y(v)) : ctx.moveTo(X(i + 0.5), Y(v))));
    ctx.stroke();
    // Smoothed.
    ctx.strokeStyle = '#1d4ed8';
    ctx.lineWidth = 2;
    ctx.beginPath();
    let s = losses[0];
    losses.forEach((v, i) => {
      s = i === 0 ? v : 0.9 * s + 0.1 * v;
      i ? ctx.lineTo(X(i + 0.5), Y(s)) : ctx.moveTo(X(i + 0.5), Y(s));
    });
    ctx.stroke();
  }
  // Validation accuracy per epoch.
  const pts = demo.epochs.filter((e) => e.valAccuracy !== undefined);
  if (pts.length) {
    ctx.strokeStyle = '#16a34a';
    ctx.fillStyle = '#16a34a';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    pts.forEach((e, i) => (i ? ctx.lineTo(X(e.atBatch), YA(e.valAccuracy)) : ctx.moveTo(X(e.atBatch), YA(e.valAccuracy))));
    ctx.stroke();
    for (const e of pts) {
      ctx.beginPath();
      ctx.arc(X(e.atBatch), YA(e.valAccuracy), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (losses.length === 0) {
    ctx.fillStyle = '#9ca3af';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText('Press Train to start; the loss of every batch appears here.', pad.l + pw / 2, pad.t + ph / 2);
  }
}

// ---------------------------------------------------------------- streaming tagger

/** Brown-style tokens: words keep inner hyphens, apostrophes and periods; punctuation splits off. */
function tokenize(text) {
  const raw = text.replace(/[\u2018\u2019]/g, "'").match(/[A-Za-z0-9]+(?:[-'.][A-Za-z0-9]+)*|``|''|--|\S/g) ?? [];
  const out = [];
  let openQuote = true;
  for (let i = 0; i < raw.length; i++) {
    let t = raw[i];
    if (t === '"' || t === '\u201c' || t === '\u201d') {
      t = openQuote ? '``' : "''";
      openQuote = !openQuote;
    }
    // Abbreviations the corpus writes with their period (Mr., Jr., St.) when the vocabulary has them.
    if (raw[i + 1] === '.' && i + 2 < raw.length && demo.index?.has((t + '.').toLowerCase())) {
      t += '.';
      i++;
    }
    out.push(t);
  }
  return out;
}

function lookup(token) {
  const id = demo.index?.get(token.toLowerCase());
  return id === undefined ? 1 : id; // 1 = <unk>
}

function resetTagger() {
  cache = [];
  retag();
}

function loadWeights(m) {
  const t0 = performance.now();
  const loaded = deserializeModel(m.bytes).model;
  model?.dispose();
  model = loaded;
  demo.weightsVersion++;
  const where = `epoch ${m.epoch + 1}, batch ${m.batch + 1}`;
  els.modelInfo.textContent = `Tagging with the ${m.final ? 'final weights' : 'latest weights'} (${where}; loaded in ${(performance.now() - t0).toFixed(1)} ms).`;
  cache = [];
  retag();
}

function softmaxArgmax(logits) {
  let best = 0;
  for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
  let z = 0;
  for (let k = 0; k < logits.length; k++) z += Math.exp(logits[k] - logits[best]);
  return { best, prob: 1 / z };
}

function retag() {
  const text = els.input.value;
  const tokens = tokenize(text);
  const ids = tokens.map(lookup);
  const unknown = demo.index ? ids.filter((id) => id === 1).length : 0;
  els.echo.textContent = `${text.length} character${text.length === 1 ? '' : 's'} · ${tokens.length} token${tokens.length === 1 ? '' : 's'}` +
    (demo.index ? ` · ${unknown} unknown` : '');

  let stepped = 0;
  let reused = 0;
  let ms = 0;
  if (model) {
    // Reuse the state of the unchanged prefix, step the rest.
    let i = 0;
    while (i < cache.length && i < ids.length && cache[i].id === ids[i]) i++;
    cache.length = i;
    reused = i;
    const t0 = performance.now();
    let state = i > 0 ? cache[i - 1].state : undefined;
    for (; i < ids.length; i++) {
      const r = model.step({ data: Int32Array.of(ids[i]), shape: [1] }, state);
      const { best, prob } = softmaxArgmax(r.output.data);
      cache.push({ id: ids[i], state: r.state, tag: demo.tags[best], prob });
      state = r.state;
      stepped++;
    }
    ms = performance.now() - t0;
  }

  const frag = document.createDocumentFragment();
  tokens.forEach((tok, i) => {
    const c = model ? cache[i] : undefined;
    const el = document.createElement('span');
    el.className = 'tok';
    const w = document.createElement('span');
    w.className = 'w';
    w.textContent = tok;
    const t = document.createElement('span');
    t.className = 't';
    if (c) {
      el.classList.add('g-' + tagGroup(c.tag));
      t.textContent = c.tag;
      el.title = `${c.tag}: ${describeTag(c.tag)} (p = ${c.prob.toFixed(2)})` + (ids[i] === 1 ? '\nnot in the vocabulary: read as <unk>' : '');
      t.style.opacity = String(0.45 + 0.55 * c.prob);
    } else {
      el.classList.add('pending');
      t.textContent = '·';
    }
    el.append(w, t);
    if (demo.index && ids[i] === 1) {
      el.classList.add('unk');
      const u = document.createElement('span');
      u.className = 'u';
      u.textContent = '<unk>';
      el.append(u);
    }
    frag.append(el);
  });
  els.tagged.replaceChildren(frag);
  if (!model) {
    els.streamInfo.textContent = 'Tags appear as soon as the worker sends its first weights.';
  } else if (tokens.length) {
    els.streamInfo.textContent = `Streaming: ${stepped} token${stepped === 1 ? '' : 's'} stepped, state of ${reused} reused (${ms.toFixed(2)} ms).`;
  } else {
    els.streamInfo.textContent = '';
  }
}

// ---------------------------------------------------------------- wiring

els.legend.replaceChildren(...GROUPS.map(([g, label]) => {
  const s = document.createElement('span');
  s.className = 'chip g-' + g;
  s.textContent = label;
  return s;
}));
els.train.addEventListener('click', startTraining);
els.stop.addEventListener('click', () => {
  els.status.textContent = 'Stopping…';
  worker?.postMessage({ type: 'stop' });
});
els.input.addEventListener('input', retag);
for (const el of [els.sentences, els.epochs, els.hidden]) el.addEventListener('change', describeConfig);
new ResizeObserver(() => drawChart()).observe(els.chart);
setState('idle');
describeConfig();
retag();
drawChart();
pageRuntime.then(
  (rt) => (els.modelInfo.textContent = `wasm core ready on this page (${rt.simd ? 'SIMD' : 'scalar'} build); no model yet.`),
  (err) => (els.modelInfo.textContent = 'Could not load the wasm core: ' + err),
);
