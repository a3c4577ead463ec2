/**
 * Training progress on stderr: a redrawn bar when stderr is a TTY, plain lines otherwise (at every
 * 10 % of an epoch, and at least every 5 s). Shows epoch, batch/batches, the running loss and
 * metric of the epoch, sequences per second and the ETA of the whole run.
 *
 * It is a `Callback` of `Sequential.fit` (onTrainBegin/onBatchEnd/onEpochEnd), and the POS task's
 * own loop calls the same methods.
 */
import type { Callback, Logs } from '../node.js';

export interface ProgressOptions {
  epochs: number;
  /** Batches per epoch. */
  batches: number;
  /** Sequences per full batch (the last may be short: pass `samples` to `batch()` for it). */
  batchSize: number;
  /** Total training sequences per epoch (for the sequences/s figure of a short last batch). */
  samples: number;
  /** Name and formatter of the running metric shown next to the loss, e.g. accuracy. */
  metric?: { name: string; format: (v: number) => string; from: (logs: Logs) => number | undefined };
  /** Epoch the run starts at (resumed runs), 0-based. */
  startEpoch?: number;
  stream?: NodeJS.WriteStream;
  /** No output at all. */
  quiet?: boolean;
  /** Force the plain (non-TTY) mode. */
  plain?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class Progress implements Callback {
  private readonly o: ProgressOptions;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private epoch = 0;
  private runStart = 0;
  private epochStart = 0;
  /** Batches done in this run (resumed runs count from their start). */
  private doneBatches = 0;
  private epochSamples = 0;
  private lossSum = 0;
  private lossWeight = 0;
  private metricSum = 0;
  private metricWeight = 0;
  private lastDraw = 0;
  private lastLine = 0;
  private lastDecile = 0;
  private drawn = false;

  constructor(options: ProgressOptions) {
    this.o = options;
    this.stream = options.stream ?? process.stderr;
    this.tty = !options.plain && this.stream.isTTY === true;
    this.epoch = options.startEpoch ?? 0;
  }

  onTrainBegin(): void {
    this.runStart = performance.now();
    this.startEpoch(this.epoch);
  }

  /** Begin epoch `epoch` (0-based). Called by onTrainBegin / onEpochEnd. */
  startEpoch(epoch: number, firstBatch = 0): void {
    this.epoch = epoch;
    this.epochStart = performance.now();
    this.epochSamples = 0;
    this.lossSum = this.lossWeight = this.metricSum = this.metricWeight = 0;
    this.lastDecile = Math.floor((10 * firstBatch) / this.o.batches);
    this.lastLine = this.epochStart;
  }

  /** fit's per-batch hook: `batch` is 0-based within the epoch. */
  onBatchEnd(batch: number, logs: Logs): void {
    this.batch(batch, logs);
  }

  /** Record batch `batch` (0-based) with its loss/metric, weighted by `weight` (e.g. tokens). */
  batch(batch: number, logs: Logs, samples?: number, weight = 1): void {
    const n = samples ?? (batch === this.o.batches - 1 ? this.o.samples - batch * this.o.batchSize : this.o.batchSize);
    this.epochSamples += n;
    this.doneBatches++;
    if (Number.isFinite(logs.loss)) {
      this.lossSum += logs.loss * weight;
      this.lossWeight += weight;
    }
    const m = this.o.metric?.from(logs);
    if (m !== undefined && Number.isFinite(m)) {
      this.metricSum += m * weight;
      this.metricWeight += weight;
    }
    if (this.o.quiet) return;
    const now = performance.now();
    const done = batch + 1;
    if (this.tty) {
      if (now - this.lastDraw < 100 && done < this.o.batches) return;
      this.lastDraw = now;
      this.draw(done, now, true);
    } else {
      const decile = Math.floor((10 * done) / this.o.batches);
      if (decile > this.lastDecile || now - this.lastLine >= 5000) {
        this.lastDecile = decile;
        this.lastLine = now;
        this.draw(done, now, false);
      }
    }
  }

  private draw(done: number, now: number, bar: boolean): void {
    const { epochs, batches } = this.o;
    const secs = (now - this.epochStart) / 1000;
    const rate = secs > 0 ? this.epochSamples / secs : 0;
    const elapsedRun = (now - this.runStart) / 1000;
    const remainingBatches = (epochs - this.epoch) * batches - done;
    const eta = this.doneBatches > 0 ? (elapsedRun / this.doneBatches) * remainingBatches : NaN;
    const loss = this.lossWeight ? (this.lossSum / this.lossWeight).toFixed(4) : '-';
    const metric = this.o.metric && this.metricWeight ? `  ${this.o.metric.name} ${this.o.metric.format(this.metricSum / this.metricWeight)}` : '';
    const w = String(batches).length;
    const head = `epoch ${this.epoch + 1}/${epochs}`;
    const parts = [`${String(done).padStart(w)}/${batches}`, `loss ${loss}${metric}`, `${rate.toFixed(0)} seq/s`, `ETA ${formatDuration(eta)}`];
    if (bar) {
      const cols = this.stream.columns || 100;
      // Narrow terminals: drop the rate, then the metric, then the bar itself.
      let tail = parts.join('  ');
      if (head.length + tail.length + 14 > cols) tail = [parts[0], `loss ${loss}${metric}`, parts[3]].join('  ');
      if (head.length + tail.length + 14 > cols) tail = [parts[0], `loss ${loss}`, parts[3]].join('  ');
      const width = Math.min(30, cols - 1 - head.length - tail.length - 4);
      let line: string;
      if (width >= 8) {
        const filled = Math.round((width * done) / batches);
        const barText = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (done === batches ? '=' : '>') : ''}${' '.repeat(width - filled)}]`;
        line = `${head} ${barText} ${tail}`;
      } else line = `${head}  ${tail}`;
      if (line.length > cols - 1) line = line.slice(0, Math.max(0, cols - 1));
      this.stream.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`${head}  ${parts.join('  ')}\n`);
    }
  }

  /** Clear the bar (before other output is printed). */
  clear(): void {
    if (this.tty && this.drawn && !this.o.quiet) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  /** fit's per-epoch hook: clears the bar and starts the next epoch's counters. */
  onEpochEnd(epoch: number): void {
    this.clear();
    this.startEpoch(epoch + 1);
  }

  onTrainEnd(): void {
    this.clear();
  }

  /** Seconds since the current epoch began. */
  epochSeconds(): number {
    return (performance.now() - this.epochStart) / 1000;
  }

  /** Sequences per second over the current epoch so far. */
  epochRate(): number {
    const s = this.epochSeconds();
    return s > 0 ? this.epochSamples / s : 0;
  }

  /** The running mean loss and metric of the current epoch. */
  running(): { loss: number; metric: number | undefined } {
    return { loss: this.lossWeight ? this.lossSum / this.lossWeight : NaN, metric: this.metricWeight ? this.metricSum / this.metricWeight : undefined };
  }
}
