// A module Web Worker: no import maps in workers, so the browser entry by path (what a bundler
// resolving the `worker` condition gives: dist/index.js).
import * as L from '/dist/index.js';
import { runIn } from './load.js';

runIn(L).then(
  (result) => postMessage({ ok: true, result }),
  (e) => postMessage({ ok: false, error: String(e && e.stack ? e.stack : e) }),
);
