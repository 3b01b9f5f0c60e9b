import { describe, expect, it } from "vitest";

import type { Change, Snapshot } from "../lib/ws/messages";
import {
  type EventView,
  activeAlarms,
  applyChanges,
  applySnapshot,
  emptyFarm,
  mergeCommands,
  mergeEventHistory,
} from "./farmState";

const SNAPSHOT: Snapshot = {
  seq: 100,
  devices: [{ id: 3, name: "pump-1", kind: "actuator", title: "Pump", state: "online", actuator: { power: "off" }, status_ts: 1, last_seen: 2, interval_s: 60, offline_after_s: 180 }],
  sensors: [{ id: 7, device: 2, name: "temperature", unit: "°C", min: -20, max: 60, value: 21.4, ts: 1_000, seq: 99 }],
};

function reading(seq: number, value: number, sensorId = 7): Change {
  return { kind: "reading", farm: 1, seq, sensorId, value, tsMs: 1_000 + seq, storedMs: 1_000 + seq };
}

function event(seq: number, code: string, level: EventView["level"] = "alarm"): Change {
  return { kind: "event", farm: 1, seq, deviceId: 2, level, code, message: code, tsMs: seq, storedMs: seq };
}

function command(seq: number, id: number, state: "pending" | "sent" | "acknowledged"): Change {
  return { kind: "command", farm: 1, seq, commandId: id, deviceId: 3, state, action: "on", detail: "", atMs: seq };
}

const base = () => applySnapshot(undefined, 1, "ep", SNAPSHOT);

describe("applySnapshot", () => {
  it("starts the farm at the snapshot's seq with its devices and sensors", () => {
    const farm = base();
    expect(farm).toMatchObject({ id: 1, epoch: "ep", seq: 100, hasSnapshot: true, lastReadingMs: 1_000 });
    expect(farm.sensors[7]).toMatchObject({ value: 21.4, unit: "°C", seq: 99 });
    expect(farm.devices[3]).toMatchObject({ state: "online", actuator: { power: "off" } });
  });

  it("keeps the event log within an epoch and drops it when the epoch changes", () => {
    const farm = applyChanges(base(), [event(101, "temp_high")]);
    expect(applySnapshot(farm, 1, "ep", { ...SNAPSHOT, seq: 200 }).events).toHaveLength(1);
    const reset = applySnapshot(farm, 1, "ep2", { ...SNAPSHOT, seq: 3 });
    expect(reset.events).toHaveLength(0);
    expect(reset.seq).toBe(3);
  });
});

describe("applyChanges", () => {
  it("applies readings in seq order, keeping the previous value for the trend", () => {
    const farm = applyChanges(base(), [reading(102, 23), reading(101, 22)]);
    expect(farm.seq).toBe(102);
    expect(farm.sensors[7]).toMatchObject({ value: 23, previous: 22, seq: 102 });
  });

  it("ignores a duplicate or late change: the state is the same however often it comes", () => {
    const once = applyChanges(base(), [reading(101, 22), reading(102, 23)]);
    const again = applyChanges(once, [reading(101, 22), reading(102, 23)]);
    expect(again).toBe(once);
    const late = applyChanges(once, [reading(100, -5), reading(50, -9)]);
    expect(late).toBe(once);
    expect(late.sensors[7]?.value).toBe(23);
  });

  it("ignores changes before a snapshot", () => {
    const farm = emptyFarm(1);
    expect(applyChanges(farm, [reading(5, 1)])).toBe(farm);
  });

  it("changes only what moved, so React re-renders only that", () => {
    const before = base();
    const after = applyChanges(before, [reading(101, 22)]);
    expect(after.devices).toBe(before.devices);
    expect(after.events).toBe(before.events);
    expect(after.sensors).not.toBe(before.sensors);
  });

  it("updates a device's status and actuator", () => {
    const farm = applyChanges(base(), [
      { kind: "status", farm: 1, seq: 101, deviceId: 3, state: "online", actuator: { power: "on" }, tsMs: 5, storedMs: 6 },
    ]);
    expect(farm.devices[3]).toMatchObject({ actuator: { power: "on" }, statusSeq: 101 });
  });

  it("follows a command through its states, never back", () => {
    let farm = applyChanges(base(), [command(101, 41, "pending"), command(102, 41, "sent")]);
    expect(farm.commands[41]?.state).toBe("sent");
    farm = applyChanges(farm, [command(103, 41, "acknowledged")]);
    // The POST's answer (pending, seq 101) comes back after the live updates.
    farm = mergeCommands(farm, [
      { id: 41, deviceId: 3, action: "on", params: {}, state: "pending", detail: "", seq: 101, updatedMs: 0 },
    ]);
    expect(farm.commands[41]).toMatchObject({ state: "acknowledged", params: {} });
  });

  it("tracks the log's conditions from events (raised, then cleared); alarms come only from the alarms topic", () => {
    let farm = applyChanges(base(), [event(101, "temp_high"), event(102, "soil_dry", "warning")]);
    expect(activeAlarms(farm)).toEqual([]);
    expect(Object.keys(farm.conditions)).toHaveLength(2);
    farm = applyChanges(farm, [event(103, "temp_high_cleared", "info")]);
    expect(Object.keys(farm.conditions)).toHaveLength(1);
    expect(farm.events.map((e) => e.seq)).toEqual([103, 102, 101]);
  });
});

describe("mergeEventHistory", () => {
  it("merges a REST page with live events by seq, once each, newest first", () => {
    const live = applyChanges(base(), [event(101, "temp_high")]);
    const history: EventView[] = [
      { seq: 101, deviceId: 2, level: "alarm", code: "temp_high", message: "dup", tsMs: 0 },
      { seq: 40, deviceId: 2, level: "warning", code: "soil_dry", message: "", tsMs: 0 },
      { seq: 42, deviceId: 2, level: "info", code: "soil_dry_cleared", message: "", tsMs: 0 },
    ];
    const farm = mergeEventHistory(live, history);
    expect(farm.events.map((e) => e.seq)).toEqual([101, 42, 40]);
    expect(farm.events[0]?.message).toBe("temp_high");
    expect(Object.keys(farm.conditions)).toEqual(["2:temp_high"]);
  });
});

describe("events from REST and from the stream, in either order", () => {
  const alarm: EventView = { seq: 90, deviceId: 2, level: "alarm", code: "frost_risk", message: "cold", tsMs: 0 };

  it("keeps REST events loaded before the first snapshot", () => {
    const restFirst = mergeEventHistory(emptyFarm(1), [alarm]);
    const farm = applySnapshot(restFirst, 1, "ep", SNAPSHOT);
    expect(farm.events.map((e) => e.seq)).toEqual([90]);
    expect(Object.values(farm.conditions).filter((c) => c.level === "alarm").map((c) => c.code)).toEqual(["frost_risk"]);
  });

  it("keeps REST events loaded after the snapshot and live events", () => {
    const live = applyChanges(base(), [event(101, "temp_high", "warning")]);
    const farm = mergeEventHistory(live, [alarm]);
    expect(farm.events.map((e) => e.seq)).toEqual([101, 90]);
    expect(Object.values(farm.conditions).filter((c) => c.level === "alarm").map((c) => c.code)).toEqual(["frost_risk"]);
  });

  it("ends with the same log whichever comes first", () => {
    const live = [event(101, "temp_high")];
    const a = applyChanges(applySnapshot(mergeEventHistory(emptyFarm(1), [alarm]), 1, "ep", SNAPSHOT), live);
    const b = mergeEventHistory(applyChanges(applySnapshot(undefined, 1, "ep", SNAPSHOT), live), [alarm]);
    expect(a.events).toEqual(b.events);
    expect(a.conditions).toEqual(b.conditions);
  });

  it("still drops what an older epoch held when the epoch changes", () => {
    const old = mergeEventHistory(applySnapshot(undefined, 1, "ep", SNAPSHOT), [alarm]);
    expect(applySnapshot(old, 1, "ep2", SNAPSHOT).events).toEqual([]);
  });
});
