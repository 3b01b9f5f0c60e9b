import { describe, expect, it } from "vitest";

import { Backoff, RECONNECT_MAX_DELAY_MS, RESTART_JITTER_MAX_MS, fullJitterDelayMs } from "./backoff";

describe("fullJitterDelayMs", () => {
  it("draws over [0, base * 2^attempt) below the cap", () => {
    expect(fullJitterDelayMs(0, 500, 30_000, () => 0.999)).toBeCloseTo(499.5);
    expect(fullJitterDelayMs(3, 500, 30_000, () => 0.5)).toBe(2_000);
    expect(fullJitterDelayMs(3, 500, 30_000, () => 0)).toBe(0);
  });

  it("never goes past the cap, however many attempts", () => {
    expect(fullJitterDelayMs(10, 500, 30_000, () => 0.999)).toBeLessThan(30_000);
    expect(fullJitterDelayMs(10_000, 500, 30_000, () => 0.999)).toBeLessThan(30_000);
    expect(Number.isFinite(fullJitterDelayMs(10_000, 500, 30_000, () => 1))).toBe(true);
  });
});

describe("Backoff", () => {
  it("doubles the ceiling with each failed attempt, then resets", () => {
    const backoff = new Backoff({ baseDelayMs: 100, maxDelayMs: 1_000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map(() => backoff.nextDelayMs())).toEqual([100, 200, 400, 800, 1_000]);
    expect(backoff.attempt).toBe(5);
    backoff.reset();
    expect(backoff.nextDelayMs()).toBe(100);
  });

  it("spreads delays over the whole window (full jitter)", () => {
    let i = 0;
    const draws = [0, 0.25, 0.5, 0.75];
    const delays = draws.map(() => new Backoff({ baseDelayMs: 1_000, random: () => draws[i++]! }).nextDelayMs());
    expect(delays).toEqual([0, 250, 500, 750]);
  });

  it("puts a server's retry-after under the jitter", () => {
    const backoff = new Backoff({ baseDelayMs: 100, random: () => 0.5 });
    expect(backoff.nextDelayMs(2_000)).toBe(2_050);
  });

  it("comes back at once after a restart, within the small jitter, and resets", () => {
    const backoff = new Backoff({ random: () => 0.999 });
    backoff.nextDelayMs();
    backoff.nextDelayMs();
    expect(backoff.restartDelayMs()).toBeLessThan(RESTART_JITTER_MAX_MS);
    expect(backoff.attempt).toBe(0);
  });

  it("uses the documented cap by default", () => {
    const backoff = new Backoff({ random: () => 0.999999 });
    for (let k = 0; k < 40; k++) expect(backoff.nextDelayMs()).toBeLessThan(RECONNECT_MAX_DELAY_MS);
  });

  it("refuses negative delays", () => {
    expect(() => new Backoff({ baseDelayMs: -1 })).toThrow(RangeError);
  });
});
