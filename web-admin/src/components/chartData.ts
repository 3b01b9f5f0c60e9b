/**
 * What a chart draws, as pure data: the points of a sensor's series inside the chosen
 * window, with a null wherever data is missing (so the line breaks instead of bridging
 * the gap) and the min/max of each history bucket for the band around the average.
 */

import type { Series } from "../store/series";

/** A step longer than this many expected reporting intervals is a gap. */
export const GAP_INTERVALS = 3;
/** Raw points closer than this are never a gap (a burst of readings has steps near 0 ms). */
export const MIN_RAW_GAP_MS = 10_000;

/** One point before gaps are found: `stepMs` is the longest step to a neighbour that is no gap. */
export interface ChartPoint {
  tMs: number;
  avg: number;
  /** The bucket's minimum and maximum; null for a raw (live) point, which has no band. */
  min: number | null;
  max: number | null;
  stepMs: number;
}

/** uPlot's columns: x in seconds, then the average, the minimum and the maximum. */
export type ChartColumns = [number[], (number | null)[], (number | null)[], (number | null)[]];

/**
 * The longest step between raw points that is no gap: GAP_INTERVALS expected intervals,
 * at least MIN_RAW_GAP_MS. Without a known interval it is estimated as the median step.
 */
export function rawGapMs(intervalMs: number | null, tsMs: readonly number[]): number {
  let interval = intervalMs ?? 0;
  if (intervalMs === null && tsMs.length > 1) {
    const steps: number[] = [];
    for (let i = 1; i < tsMs.length; i++) steps.push((tsMs[i] as number) - (tsMs[i - 1] as number));
    steps.sort((a, b) => a - b);
    interval = steps[Math.floor(steps.length / 2)] as number;
  }
  return Math.max(GAP_INTERVALS * interval, MIN_RAW_GAP_MS);
}

/**
 * The columns uPlot draws: a null row is put in the middle of every step longer than the
 * larger `stepMs` of its two ends, so uPlot (spanGaps false) breaks the line and the band
 * there. Points must be in time order.
 */
export function withGaps(points: readonly ChartPoint[]): ChartColumns {
  const cols: ChartColumns = [[], [], [], []];
  let prev: ChartPoint | undefined;
  for (const p of points) {
    if (prev && p.tMs - prev.tMs > Math.max(prev.stepMs, p.stepMs)) {
      cols[0].push((prev.tMs + p.tMs) / 2 / 1000);
      cols[1].push(null);
      cols[2].push(null);
      cols[3].push(null);
    }
    cols[0].push(p.tMs / 1000);
    cols[1].push(p.avg);
    cols[2].push(p.min);
    cols[3].push(p.max);
    prev = p;
  }
  return cols;
}

/**
 * The points of `series` in [startMs, endMs]: its history buckets (each may step one
 * bucket, or GAP_INTERVALS expected intervals when the device reports less often than
 * that), then the live points after the last bucket.
 */
export function chartPoints(series: Series, startMs: number, endMs: number, intervalMs: number | null): ChartPoint[] {
  const points: ChartPoint[] = [];
  const rawStep = rawGapMs(intervalMs, series.liveTsMs.length > 1 ? series.liveTsMs : series.historyTsMs);
  const bucketStep = Math.max(series.historyBucketMs, intervalMs === null ? rawStep : GAP_INTERVALS * intervalMs);
  let liveFrom = startMs;
  for (let i = 0; i < series.historyTsMs.length; i++) {
    const t = series.historyTsMs[i] as number;
    if (t < startMs || t > endMs) continue;
    points.push({
      tMs: t,
      avg: series.historyValues[i] as number,
      min: series.historyMin[i] ?? null,
      max: series.historyMax[i] ?? null,
      stepMs: bucketStep,
    });
    liveFrom = Math.max(liveFrom, t + series.historyBucketMs / 2);
  }
  for (let i = 0; i < series.liveTsMs.length; i++) {
    const t = series.liveTsMs[i] as number;
    if (t < liveFrom || t > endMs) continue;
    const prev = points[points.length - 1];
    if (prev && t < prev.tMs) continue; // out of time order (a late reading): left to the next load
    points.push({ tMs: t, avg: series.liveValues[i] as number, min: null, max: null, stepMs: rawStep });
  }
  return points;
}

/**
 * The indices of points with no drawn neighbour (a lone reading between gaps, or at an
 * end), which a line cannot show: they are drawn as dots. An undefined value (another
 * sensor's x in a joined chart) is skipped over; a null is a gap.
 */
export function lonelyPoints(ys: readonly (number | null | undefined)[]): number[] {
  const out: number[] = [];
  let prev: number | null | undefined = undefined; // the last defined value before i
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === undefined) continue;
    if (y !== null) {
      let next: number | null | undefined = undefined;
      for (let k = i + 1; k < ys.length && next === undefined; k++) next = ys[k];
      if ((prev === undefined || prev === null) && (next === undefined || next === null)) out.push(i);
    }
    prev = y;
  }
  return out;
}
