import { describe, expect, it } from "vitest";

import { MAX_LIVE_POINTS, Series } from "./series";

describe("Series", () => {
  it("joins history buckets and the live points after them, in seconds", () => {
    const s = new Series();
    s.setHistory([{ start_ms: 0, count: 1, min: 1, avg: 1, max: 1 }, { start_ms: 60_000, count: 1, min: 2, avg: 2, max: 2 }], 60_000);
    s.append(1, 80_000, 9); // inside the last bucket: already counted in it
    s.append(2, 130_000, 3);
    expect(s.points(0)).toEqual([
      [30, 90, 130],
      [1, 2, 3],
    ]);
  });

  it("ignores a point whose seq is not new", () => {
    const s = new Series();
    expect(s.append(5, 1, 1)).toBe(true);
    expect(s.append(5, 1, 1)).toBe(false);
    expect(s.append(4, 1, 1)).toBe(false);
    expect(s.liveValues).toEqual([1]);
  });

  it("keeps at most MAX_LIVE_POINTS live points", () => {
    const s = new Series();
    for (let i = 1; i <= MAX_LIVE_POINTS + 10; i++) s.append(i, i, i);
    expect(s.liveValues).toHaveLength(MAX_LIVE_POINTS);
    expect(s.liveValues[0]).toBe(11);
  });
});
