/**
 * Float32Array views carved out of shared chunks, for results handed out once per streaming tick.
 *
 * A typed array of more than 64 bytes gets its own off-heap backing store, and in V8 allocating one
 * costs about 1 µs: more than a whole batch-1 LSTM tick. A slab allocates a chunk of at least 64 KB
 * (16 results or more) at a time and hands out views of it (about 40 ns each). A view keeps its whole chunk alive, so a
 * result kept for long pins up to one chunk; `LSTMState.clone()` makes a compact copy. Transferring
 * a result's buffer to another thread transfers (detaches) the whole chunk; the slab then starts a
 * new one, and the other results in the old chunk read as empty.
 * @internal
 */
export class F32Slab {
  /** The current chunk: `take` returns offsets into it. */
  chunk = new Float32Array(0);
  private used = 0;

  /** Offset in `chunk` (read it after this call) of a fresh region of `n` floats. */
  take(n: number): number {
    // A chunk whose buffer was transferred away (postMessage with a transfer list) is detached
    // and reads as length 0: start a new one.
    if (this.used + n > this.chunk.length) {
      this.chunk = new Float32Array(Math.max(16 * n, 16384));
      this.used = 0;
    }
    this.used += n;
    return this.used - n;
  }

  /** A fresh region of `n` floats as a view. */
  view(n: number): Float32Array {
    const at = this.take(n);
    return this.chunk.subarray(at, at + n);
  }
}
