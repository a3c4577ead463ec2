/**
 * Float32Array views carved out of shared chunks, for results handed out once per streaming tick.
 *
 * A typed array of more than 64 bytes gets its own off-heap backing store, and in V8 allocating one
 * costs about 1 µs: more than a whole batch-1 LSTM tick. A slab allocates a chunk for 16 (or more)
 * results at a time and hands out views (about 40 ns each). A view keeps its whole chunk alive, so a
 * result kept for long pins up to one chunk; `LSTMState.clone()` makes a compact copy.
 * @internal
 */
export class F32Slab {
  private chunk = new Float32Array(0);
  private used = 0;

  /** A fresh region of `n` floats (zeros; never handed out before). */
  take(n: number): Float32Array {
    if (this.used + n > this.chunk.length) {
      this.chunk = new Float32Array(Math.max(16 * n, 16384));
      this.used = 0;
    }
    const v = this.chunk.subarray(this.used, this.used + n);
    this.used += n;
    return v;
  }
}
