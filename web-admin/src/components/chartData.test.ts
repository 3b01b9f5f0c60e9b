import { describe, expect, it } from "vitest";

import { Series } from "../store/series";
import { GAP_INTERVALS, MIN_RAW_GAP_MS, chartPoints, lonelyPoints, rawGapMs, withGaps } from "./chartData";

const MIN_MS = 60_000;

function bucket(startMs: number, avg: number) {
  return { start_ms: startMs, count: 3, min: avg - 1, avg, max: avg + 1 };
}

describe("withGaps", () => {
  it("puts a null in the middle of a missing bucket and leaves steps of one bucket alone", () => {
    const s = new Series();
    s.setHistory([bucket(0, 1), bucket(5 * MIN_MS, 2), bucket(15 * MIN_MS, 3)], 5 * MIN_MS);
    const [xs, avg, min, max] = withGaps(chartPoints(s, 0, 20 * MIN_MS, 2_000));
    expect(xs).toEqual([150, 450, 750, 1_050]);
    expect(avg).toEqual([1, 2, null, 3]);
    expect(min).toEqual([0, 1, null, 2]);
    expect(max).toEqual([2, 3, null, 4]);
  });

  it("does not break buckets that are sparse because the device reports less often", () => {
    const s = new Series();
    // 15 s buckets, a reading a minute: every fourth bucket has data.
    s.setHistory([bucket(0, 1), bucket(MIN_MS, 2), bucket(2 * MIN_MS, 3)], 15_000);
    const [, avg] = withGaps(chartPoints(s, 0, 3 * MIN_MS, MIN_MS));
    expect(avg).toEqual([1, 2, 3]);
  });

  it("breaks raw points further apart than a few expected intervals", () => {
    const s = new Series();
    const interval = 5_000;
    const ts = [0, 5_000, 10_000, 10_000 + GAP_INTERVALS * interval + 1, 10_000 + GAP_INTERVALS * interval + 5_001];
    ts.forEach((t, i) => s.append(i + 1, t, i));
    const [xs, avg, min, max] = withGaps(chartPoints(s, 0, 60_000, interval));
    expect(avg).toEqual([0, 1, 2, null, 3, 4]);
    expect(xs[3]).toBeCloseTo((10_000 + 25_001) / 2 / 1000);
    expect(min.every((v) => v === null) && max.every((v) => v === null)).toBe(true); // no band for raw points
  });

  it("joins history and live points, with a gap between them when the device was silent", () => {
    const s = new Series();
    s.setHistory([bucket(0, 1)], MIN_MS);
    s.append(1, 40_000, 9); // inside the bucket: already counted in it
    s.append(2, 70_000, 2);
    s.append(3, 10 * MIN_MS, 3);
    const [xs, avg] = withGaps(chartPoints(s, 0, 11 * MIN_MS, 10_000));
    expect(avg).toEqual([1, 2, null, 3]);
    expect(xs[0]).toBe(30);
    expect(xs[1]).toBe(70);
  });

  it("keeps only the points inside the window", () => {
    const s = new Series();
    s.setHistory([bucket(0, 1), bucket(MIN_MS, 2), bucket(2 * MIN_MS, 3)], MIN_MS);
    const [xs] = withGaps(chartPoints(s, MIN_MS, 2 * MIN_MS, 1_000));
    expect(xs).toEqual([90]);
  });
});

describe("rawGapMs", () => {
  it("is a few expected intervals, estimated as the median step when unknown", () => {
    expect(rawGapMs(20_000, [])).toBe(GAP_INTERVALS * 20_000);
    expect(rawGapMs(null, [0, 30_000, 60_000, 90_000, 3_600_000])).toBe(GAP_INTERVALS * 30_000);
  });

  it("is never below MIN_RAW_GAP_MS, so a burst of readings is one line", () => {
    expect(rawGapMs(null, [0, 0, 1, 1, 2])).toBe(MIN_RAW_GAP_MS);
    expect(rawGapMs(100, [])).toBe(MIN_RAW_GAP_MS);
  });
});

describe("lonelyPoints", () => {
  it("finds the points with no drawn neighbour, skipping undefined", () => {
    expect(lonelyPoints([1, null, 2, null, 3, 4])).toEqual([0, 2]);
    expect(lonelyPoints([undefined, 5, undefined, undefined])).toEqual([1]);
    expect(lonelyPoints([1, undefined, 2])).toEqual([]);
    expect(lonelyPoints([null, 1, undefined, null])).toEqual([1]);
  });
});
