/**
 * Time series for charts and sparklines: a sensor's loaded history plus its live points.
 *
 * Kept outside React state on purpose: at 200 readings/s copying arrays per reading
 * would cost more than drawing them. A series is appended to in place and carries a
 * `version` that moves with every change; charts redraw when it moves.
 */

/** Live points kept per sensor (about 4 h at one reading every 2 s). */
export const MAX_LIVE_POINTS = 7_200;

export interface HistoryBucket {
  start_ms: number;
  count: number;
  min: number;
  avg: number;
  max: number;
}

export class Series {
  /** Live points: device time (epoch ms) and value, in seq order. */
  readonly liveTsMs: number[] = [];
  readonly liveValues: number[] = [];
  private lastSeq = 0;
  /** Loaded history: bucket middles (epoch ms), averages, minimums and maximums, oldest first. */
  historyTsMs: number[] = [];
  historyValues: number[] = [];
  historyMin: number[] = [];
  historyMax: number[] = [];
  historyBucketMs = 0;
  version = 0;

  /** Appends a live point; a seq not above the last one is ignored (a duplicate or late). */
  append(seq: number, tsMs: number, value: number): boolean {
    if (seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    this.liveTsMs.push(tsMs);
    this.liveValues.push(value);
    if (this.liveTsMs.length > MAX_LIVE_POINTS) {
      const extra = this.liveTsMs.length - MAX_LIVE_POINTS;
      this.liveTsMs.splice(0, extra);
      this.liveValues.splice(0, extra);
    }
    this.version += 1;
    return true;
  }

  /** Replaces the history with buckets from the REST API (min, avg and max per bucket). */
  setHistory(buckets: readonly HistoryBucket[], bucketMs: number): void {
    const sorted = [...buckets].sort((a, b) => a.start_ms - b.start_ms);
    this.historyTsMs = sorted.map((b) => b.start_ms + bucketMs / 2);
    this.historyValues = sorted.map((b) => b.avg);
    this.historyMin = sorted.map((b) => b.min);
    this.historyMax = sorted.map((b) => b.max);
    this.historyBucketMs = bucketMs;
    this.version += 1;
  }

  /** The seq of a new epoch starts over: forget the position (points stay, they are still true). */
  resetSeq(): void {
    this.lastSeq = 0;
  }

  /**
   * History then live points from `sinceMs` on, in time order, as uPlot wants them
   * (x in seconds). Live points older than the last history bucket's end are left out.
   */
  points(sinceMs: number): [number[], number[]] {
    const xs: number[] = [];
    const ys: number[] = [];
    let liveFrom = sinceMs;
    for (let i = 0; i < this.historyTsMs.length; i++) {
      const t = this.historyTsMs[i] as number;
      if (t < sinceMs) continue;
      xs.push(t / 1000);
      ys.push(this.historyValues[i] as number);
      liveFrom = Math.max(liveFrom, t + this.historyBucketMs / 2);
    }
    for (let i = 0; i < this.liveTsMs.length; i++) {
      const t = this.liveTsMs[i] as number;
      if (t < liveFrom) continue;
      if (xs.length && t / 1000 < (xs[xs.length - 1] as number)) continue;
      xs.push(t / 1000);
      ys.push(this.liveValues[i] as number);
    }
    return [xs, ys];
  }

  /** The last `n` values (history then live), for a sparkline. */
  tail(n: number): number[] {
    const live = this.liveValues.slice(-n);
    if (live.length >= n) return live;
    return [...this.historyValues.slice(-(n - live.length)), ...live];
  }
}
