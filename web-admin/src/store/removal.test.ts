import { describe, expect, it } from "vitest";

import type { Change, Snapshot } from "../lib/ws/messages";
import { applyChanges, applySnapshot } from "./farmState";

const SNAPSHOT: Snapshot = {
  seq: 100,
  devices: [
    { id: 2, name: "probe", kind: "sensor", title: "", state: "online", actuator: {}, status_ts: 1, last_seen: 2, interval_s: null, offline_after_s: null },
    { id: 3, name: "pump-1", kind: "actuator", title: "", state: "online", actuator: { power: "off" }, status_ts: 1, last_seen: 2, interval_s: null, offline_after_s: null },
  ],
  sensors: [
    { id: 7, device: 2, name: "soil", unit: "%", min: 0, max: 100, value: 40, ts: 1_000, seq: 99 },
    { id: 8, device: 2, name: "temperature", unit: "°C", min: null, max: null, value: 20, ts: 1_000, seq: 98 },
    { id: 9, device: 3, name: "flow", unit: "l/min", min: null, max: null, value: 3, ts: 1_000, seq: 97 },
  ],
};

const removal = (seq: number, deviceId: number): Change => ({ kind: "removal", farm: 1, seq, deviceId, storedMs: seq });

describe("a device removal (batch key x)", () => {
  it("drops the device and its sensors, and nothing else", () => {
    const farm = applyChanges(applySnapshot(undefined, 1, "ep", SNAPSHOT), [removal(101, 2)]);
    expect(Object.keys(farm.devices)).toEqual(["3"]);
    expect(Object.keys(farm.sensors)).toEqual(["9"]);
    expect(farm.seq).toBe(101);
  });

  it("ignores later readings and statuses of the removed device", () => {
    const farm = applyChanges(applySnapshot(undefined, 1, "ep", SNAPSHOT), [
      removal(101, 2),
      { kind: "reading", farm: 1, seq: 102, sensorId: 7, value: 41, tsMs: 5, storedMs: 5 },
      { kind: "status", farm: 1, seq: 103, deviceId: 2, state: "online", actuator: {}, tsMs: 5, storedMs: 5 },
    ]);
    expect(farm.devices[2]).toBeUndefined();
    expect(farm.sensors[7]).toBeUndefined();
  });

  it("keeps the same objects for a removal of a device the farm does not hold", () => {
    const before = applySnapshot(undefined, 1, "ep", SNAPSHOT);
    const after = applyChanges(before, [removal(101, 42)]);
    expect(after.devices).toBe(before.devices);
    expect(after.sensors).toBe(before.sensors);
  });
});
