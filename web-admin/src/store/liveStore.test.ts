import { describe, expect, it } from "vitest";

import type { FarmMessage } from "../lib/ws/client";
import type { Alarm, Change } from "../lib/ws/messages";
import { alarmView } from "./alarms";
import { LiveStore } from "./liveStore";

const SNAPSHOT = {
  seq: 10,
  devices: [],
  sensors: [{ id: 7, device: 2, name: "t", unit: "", min: null, max: null, value: 1, ts: 1, seq: 9 }],
};

function readings(from: number, to: number, receivedAtMs = 5_000): FarmMessage {
  const changes: Change[] = [];
  for (let seq = from; seq <= to; seq++) {
    changes.push({ kind: "reading", farm: 1, seq, sensorId: 7, value: seq, tsMs: seq * 1000, storedMs: receivedAtMs - 20 });
  }
  return { type: "changes", farm: 1, changes, sentMs: null, receivedAtMs };
}

function manualStore(): { store: LiveStore; frames: Array<() => void> } {
  const frames: Array<() => void> = [];
  return { store: new LiveStore((flush) => frames.push(flush)), frames };
}

describe("LiveStore", () => {
  it("applies what arrives within a frame in one flush and tells listeners once", () => {
    const { store, frames } = manualStore();
    let notified = 0;
    store.subscribe(() => notified++);
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    for (let seq = 11; seq <= 210; seq++) store.handle(readings(seq, seq));
    expect(frames).toHaveLength(1); // 201 messages, one frame scheduled
    expect(store.getFarm(1)).toBeUndefined();
    frames.shift()!();
    expect(notified).toBe(1);
    expect(store.getFarm(1)?.seq).toBe(210);
    expect(store.seriesOf(7).liveValues).toHaveLength(200);
  });

  it("appends each reading to the series once, whatever comes twice", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    store.handle(readings(11, 13));
    store.handle(readings(12, 14));
    frames.shift()!();
    store.handle(readings(13, 15));
    frames.shift()!();
    expect(store.seriesOf(7).liveValues).toEqual([11, 12, 13, 14, 15]);
  });

  it("measures delivery latency as receipt minus stored", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    store.handle(readings(11, 12));
    frames.shift()!();
    expect(store.getLatency()).toMatchObject({ lastMs: 20, meanMs: 20, samples: 2 });
  });

  it("leaves a resume's replay out of the latency: those changes are old, not slow", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    store.handle({ type: "resumed", farm: 1, epoch: "ep", from: 11, to: 12 });
    store.handle(readings(11, 12, 90_000));
    store.handle(readings(13, 13, 5_000));
    frames.shift()!();
    expect(store.getLatency()).toMatchObject({ lastMs: 20, samples: 1 });
    expect(store.seriesOf(7).liveValues).toEqual([11, 12, 13]);
  });

  it("takes a fresh snapshot of a new epoch and follows the new seqs", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    store.handle(readings(11, 20));
    store.handle({ type: "snapshot", farm: 1, epoch: "ep2", snapshot: { ...SNAPSHOT, seq: 2 }, receivedAtMs: 0 });
    store.handle(readings(3, 4));
    frames.shift()!();
    expect(store.getFarm(1)).toMatchObject({ epoch: "ep2", seq: 4 });
    expect(store.seriesOf(7).liveValues.slice(-2)).toEqual([3, 4]);
  });

  it("keeps the REST page of events whether it lands before or after the snapshot", () => {
    const alarm = { seq: 5, deviceId: 2, level: "alarm" as const, code: "frost_risk", message: "cold", tsMs: 0 };
    for (const restFirst of [true, false]) {
      const { store, frames } = manualStore();
      if (restFirst) store.addEventHistory(1, [alarm]);
      store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
      frames.shift()!();
      if (!restFirst) store.addEventHistory(1, [alarm]);
      expect(store.getFarm(1)?.events.map((e) => e.seq)).toEqual([5]);
      expect(store.getFarm(1)?.hasSnapshot).toBe(true);
    }
  });

  it("keeps REST events that land while the snapshot waits for its frame", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    store.addEventHistory(1, [{ seq: 5, deviceId: 2, level: "alarm", code: "frost_risk", message: "cold", tsMs: 0 }]);
    frames.shift()!();
    expect(store.getFarm(1)?.events.map((e) => e.code)).toEqual(["frost_risk"]);
  });

  it("tells the page why a subscription ended, until a snapshot comes", () => {
    const { store, frames } = manualStore();
    store.handle({ type: "ended", farm: 2, reason: "forbidden" });
    frames.shift()!();
    expect(store.getFarm(2)).toMatchObject({ hasSnapshot: false, endedReason: "forbidden" });
    store.handle({ type: "snapshot", farm: 2, epoch: "ep", snapshot: SNAPSHOT, receivedAtMs: 0 });
    frames.shift()!();
    expect(store.getFarm(2)).toMatchObject({ hasSnapshot: true, endedReason: null });
  });

  it("takes an acknowledgement's REST answer at once; the same change from the stream, or an older snapshot, keeps it", () => {
    const { store, frames } = manualStore();
    const raised: Alarm = { id: 5, farm: 1, seq: 8, rule: null, device: 2, sensor: null, kind: "device", code: "frost", severity: "critical", message: "cold", value: null, state: "active", raised_at: 1, cleared_at: null, ack: null };
    const acked: Alarm = { ...raised, seq: 11, state: "acknowledged", ack: { by: 4, user: "ann", at: 2, comment: "on it" } };
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: { ...SNAPSHOT, alarms: [raised] }, receivedAtMs: 0 });
    frames.shift()!();
    store.addAlarms(1, [alarmView(acked)]);
    expect(store.getFarm(1)?.alarms[5]?.state).toBe("acknowledged");
    const before = store.getFarm(1);
    store.handle({ type: "changes", farm: 1, changes: [{ kind: "alarm", farm: 1, seq: 11, alarm: acked }], sentMs: null, receivedAtMs: 1 });
    frames.shift()!();
    expect(store.getFarm(1)?.alarms).toBe(before?.alarms);
    store.handle({ type: "snapshot", farm: 1, epoch: "ep", snapshot: { ...SNAPSHOT, alarms: [raised] }, receivedAtMs: 2 });
    frames.shift()!();
    expect(store.getFarm(1)?.alarms[5]?.state).toBe("acknowledged");
  });
});
