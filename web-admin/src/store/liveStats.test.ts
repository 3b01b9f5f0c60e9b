import { describe, expect, it } from "vitest";

import type { StatsEvent } from "../lib/ws/client";
import type { StatsMessage, StatsSlot } from "../lib/ws/messages";
import { EMPTY_LIVE_STATS, latencySeries, liveSummary, reduceLiveStats } from "./liveStats";

const T0 = 1_767_225_600_000;

function slot(i: number, patch: Partial<StatsSlot> = {}): StatsSlot {
  return {
    t: T0 + i * 10_000,
    s: 10,
    connections: 5,
    connects: 0,
    disconnects: 0,
    resumes: 0,
    slow: 0,
    frames: 10,
    p50: 3,
    p99: 12,
    ...patch,
  };
}

function stats(slots: StatsSlot[], patch: Partial<StatsMessage> = {}): StatsEvent {
  return {
    type: "stats",
    message: {
      type: "stats",
      id: null,
      instance: "host:1",
      slot_s: 10,
      window_s: 60,
      connections: 5,
      farms: { "1": 4 },
      slots,
      ...patch,
    },
  };
}

describe("reduceLiveStats", () => {
  it("takes the window, then appends each pushed slot", () => {
    let state = reduceLiveStats(EMPTY_LIVE_STATS, stats([slot(0), slot(1)], { id: 3 }));
    state = reduceLiveStats(state, stats([slot(2)], { connections: 7 }));
    expect(state.slots.map((s) => s.t)).toEqual([T0, T0 + 10_000, T0 + 20_000]);
    expect(state.connections).toBe(7);
    expect(state.farms).toEqual({ "1": 4 });
    expect(state.instance).toBe("host:1");
  });

  it("forgets slots older than the window", () => {
    let state = reduceLiveStats(EMPTY_LIVE_STATS, stats([slot(0)], { id: 1 }));
    for (let i = 1; i <= 8; i += 1) state = reduceLiveStats(state, stats([slot(i)]));
    // a 60 s window of 10 s slots: the newest six
    expect(state.slots.map((s) => (s.t - T0) / 10_000)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it("replaces what it knew with a new window after a reconnect, and ignores a slot twice", () => {
    let state = reduceLiveStats(EMPTY_LIVE_STATS, stats([slot(0), slot(1)], { id: 1 }));
    state = reduceLiveStats(state, stats([slot(1)]));
    expect(state.slots).toHaveLength(2);
    state = reduceLiveStats(state, stats([slot(5)], { id: 9, instance: "other:2" }));
    expect(state.slots.map((s) => s.t)).toEqual([T0 + 50_000]);
    expect(state.instance).toBe("other:2");
  });

  it("says when the server refused the figures", () => {
    const state = reduceLiveStats(EMPTY_LIVE_STATS, { type: "refused", code: "forbidden" });
    expect(state.refused).toBe("forbidden");
    expect(state.slots).toEqual([]);
  });
});

describe("liveSummary", () => {
  it("reads latency off the newest slot with frames and rates off the last minute", () => {
    const slots = [
      slot(0, { resumes: 60, connects: 60 }), // more than a minute before the newest: not counted
      ...[1, 2, 3, 4, 5].map((i) => slot(i, { resumes: 1, connects: 2 })),
      slot(6, { resumes: 1, connects: 2, frames: 8, p50: 4, p99: 44, slow: 2 }),
      slot(7, { frames: 0, p50: null, p99: null }),
    ];
    const summary = liveSummary(reduceLiveStats(EMPTY_LIVE_STATS, stats(slots, { id: 1, window_s: 300 })));
    expect(summary.p50Ms).toBe(4);
    expect(summary.p99Ms).toBe(44);
    expect(summary.reconnectsPerMin).toBeCloseTo(5);
    expect(summary.connectsPerMin).toBeCloseTo(10);
    expect(summary.slow).toBe(2);
    expect(summary.connections).toBe(5);
  });

  it("has no figures before the first slot", () => {
    const summary = liveSummary(EMPTY_LIVE_STATS);
    expect([summary.connections, summary.p50Ms, summary.reconnectsPerMin]).toEqual([null, null, null]);
  });

  it("gives the chart a gap for a slot without frames", () => {
    const state = reduceLiveStats(EMPTY_LIVE_STATS, stats([slot(0), slot(1, { frames: 0, p50: null, p99: null })], { id: 1 }));
    expect(latencySeries(state)).toEqual({ t: [T0, T0 + 10_000], p50: [3, null], p99: [12, null] });
  });
});
