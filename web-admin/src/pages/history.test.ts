import { describe, expect, it } from "vitest";

import { BUCKET_SIZES_S, MAX_CHART_BUCKETS, RANGES, bucketQuery, bucketSizeS, customRange, localInput } from "./history";

const MIN_MS = 60_000;
const HOUR_MS = 60 * MIN_MS;
const DAY_MS = 24 * HOUR_MS;

describe("bucketSizeS", () => {
  it("picks the sizes of the ranges offered", () => {
    expect(RANGES.map((r) => bucketSizeS(r.ms))).toEqual([15, 300, 1_800]);
  });

  it("is a whole multiple of 5 minutes from a day on, and of an hour when an hour or more", () => {
    for (let ms = DAY_MS; ms <= 400 * DAY_MS; ms += 7 * HOUR_MS + 13 * MIN_MS) {
      const s = bucketSizeS(ms);
      expect(s % 300).toBe(0);
      if (s >= 3_600) expect(s % 3_600).toBe(0);
      expect(ms / (s * 1000)).toBeLessThanOrEqual(MAX_CHART_BUCKETS);
    }
  });

  it("stays under MAX_CHART_BUCKETS beyond the largest size, in whole days", () => {
    const years = 10 * 365 * DAY_MS;
    const s = bucketSizeS(years);
    expect(s % 86_400).toBe(0);
    expect(s).toBeGreaterThan(BUCKET_SIZES_S[BUCKET_SIZES_S.length - 1] as number);
    expect(years / (s * 1000)).toBeLessThanOrEqual(MAX_CHART_BUCKETS);
  });
});

describe("bucketQuery", () => {
  const now = Date.UTC(2026, 11, 3, 10, 7, 42, 123);

  it("aligns the start of a window ending now down to the bucket size, and leaves the end open", () => {
    const q = bucketQuery({ label: "7 d", ms: 7 * DAY_MS }, now);
    expect(q).toEqual({ startMs: Date.UTC(2026, 10, 26, 10, 0), endMs: undefined, bucketS: 1_800 });
    const day = bucketQuery({ label: "24 h", ms: DAY_MS }, now);
    expect(day.startMs).toBe(Date.UTC(2026, 11, 2, 10, 5));
    expect(day.startMs % (5 * MIN_MS)).toBe(0);
  });

  it("aligns a custom window's end up, so whole periods come from the rollups", () => {
    const end = Date.UTC(2026, 5, 1, 12, 31);
    const q = bucketQuery({ label: "custom", ms: 30 * DAY_MS, endMs: end }, now);
    expect(q.bucketS).toBe(7_200);
    expect(q.startMs % (q.bucketS * 1000)).toBe(0);
    expect(q.endMs).toBe(Date.UTC(2026, 5, 1, 14, 0));
    expect(q.startMs).toBeLessThanOrEqual(end - 30 * DAY_MS);
  });
});

describe("customRange", () => {
  it("spans from `from` to `to`, ending at `to`", () => {
    const r = customRange("2026-06-01T08:00", "2026-06-03T08:00");
    expect(r?.ms).toBe(2 * DAY_MS);
    expect(r?.endMs).toBe(new Date("2026-06-03T08:00").getTime());
    expect(bucketSizeS(r?.ms ?? 0) % 300).toBe(0);
  });

  it("reads back what localInput writes, to the minute", () => {
    const t = Date.UTC(2026, 5, 1, 8, 30);
    const r = customRange(localInput(t - DAY_MS), localInput(t));
    expect(r).toEqual({ label: "custom", ms: DAY_MS, endMs: t });
  });

  it("is null for a missing or reversed time, or under a minute", () => {
    expect(customRange("", "2026-06-03T08:00")).toBeNull();
    expect(customRange("2026-06-03T08:00", "nonsense")).toBeNull();
    expect(customRange("2026-06-03T08:00", "2026-06-01T08:00")).toBeNull();
    expect(customRange("2026-06-03T08:00", "2026-06-03T08:00")).toBeNull();
  });
});
