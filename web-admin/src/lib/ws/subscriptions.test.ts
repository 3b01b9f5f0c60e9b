import { describe, expect, it } from "vitest";

import type { Change } from "./messages";
import { Subscriptions } from "./subscriptions";

function reading(seq: number, farm = 1): Change {
  return { kind: "reading", farm, seq, sensorId: 7, value: seq, tsMs: seq, storedMs: seq };
}

describe("Subscriptions", () => {
  it("asks for a snapshot first, then resumes from the last seq with the epoch", () => {
    const subs = new Subscriptions();
    subs.add(1);
    expect(subs.request(1, 1)).toEqual({ type: "subscribe", id: 1, farm: 1, mode: "all" });
    subs.subscribed(1, "ep", 100);
    subs.consume(1, [reading(101), reading(102)]);
    expect(subs.request(1, 2)).toMatchObject({ since: 102, epoch: "ep" });
  });

  it("hands on each seq once, however often it comes", () => {
    const subs = new Subscriptions();
    subs.add(1);
    subs.subscribed(1, "ep", 100);
    expect(subs.consume(1, [reading(99), reading(100), reading(101)]).map((c) => c.seq)).toEqual([101]);
    expect(subs.consume(1, [reading(101), reading(102)]).map((c) => c.seq)).toEqual([102]);
    expect(subs.duplicatesDropped).toBe(3);
  });

  it("drops changes of a farm still waiting for its snapshot", () => {
    const subs = new Subscriptions();
    subs.add(1);
    expect(subs.consume(1, [reading(5)])).toEqual([]);
    expect(subs.consume(2, [reading(5, 2)])).toEqual([]);
  });

  it("asks for a fresh snapshot after resync_required", () => {
    const subs = new Subscriptions();
    subs.add(1);
    subs.subscribed(1, "ep", 100);
    subs.resync(1);
    expect(subs.request(1, 3).since).toBeUndefined();
    expect(subs.consume(1, [reading(200)])).toEqual([]);
    subs.subscribed(1, "ep2", 5);
    expect(subs.consume(1, [reading(6)]).map((c) => c.seq)).toEqual([6]);
  });

  it("counts watchers: one subscribe for many, one unsubscribe for the last", () => {
    const subs = new Subscriptions();
    expect(subs.add(1)).toBe(true);
    expect(subs.add(1)).toBe(false);
    expect(subs.release(1)).toBe(false);
    expect(subs.release(1)).toBe(true);
    expect(subs.has(1)).toBe(false);
  });

  it("knows a reply to an older subscribe for stale", () => {
    const subs = new Subscriptions();
    subs.add(1);
    subs.request(1, 4);
    subs.request(1, 9);
    expect(subs.isCurrent(1, 4)).toBe(false);
    expect(subs.isCurrent(1, 9)).toBe(true);
  });
});
