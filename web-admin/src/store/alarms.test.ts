import { describe, expect, it } from "vitest";

import type { Alarm, Change, Snapshot } from "../lib/ws/messages";
import {
  alarmCounts,
  alarmView,
  alarmsFromSnapshot,
  bannerAlarms,
  historyRows,
  mergeAlarms,
  newlyRaised,
  openAlarmList,
} from "./alarms";
import { activeAlarms, applyChanges, applySnapshot } from "./farmState";

function alarm(id: number, seq: number, patch: Partial<Alarm> = {}): Alarm {
  return {
    id,
    farm: 1,
    seq,
    rule: 5,
    device: 2,
    sensor: 7,
    kind: "below",
    code: "frost_risk",
    severity: "critical",
    message: "Temperature below 2 °C for 5 min",
    value: 1.4,
    state: "active",
    raised_at: 1_000 + id,
    cleared_at: null,
    ack: null,
    ...patch,
  };
}

const ACK = { by: 4, user: "ann", at: 5_000, comment: "on it" };

function alarmChange(a: Alarm): Change {
  return { kind: "alarm", farm: 1, seq: a.seq, alarm: a };
}

const SNAPSHOT: Snapshot = {
  seq: 100,
  devices: [],
  sensors: [{ id: 7, device: 2, name: "temperature", unit: "°C", min: null, max: null, value: 1.4, ts: 1_000, seq: 99 }],
  alarms: [alarm(1, 90), alarm(2, 95, { severity: "warning", state: "acknowledged", ack: ACK })],
};

const farm = () => applySnapshot(undefined, 1, "ep", SNAPSHOT);

describe("the alarms of a snapshot", () => {
  it("holds every open alarm the snapshot carries, so a page load cannot miss one", () => {
    const state = farm();
    expect(Object.keys(state.alarms).map(Number)).toEqual([1, 2]);
    expect(state.alarms[1]).toMatchObject({ state: "active", severity: "critical", ruleId: 5, raisedAtMs: 1_001 });
    expect(state.alarms[2]?.ack).toEqual({ userId: 4, user: "ann", atMs: 5_000, comment: "on it" });
  });

  it("replaces what was held: an alarm closed meanwhile is gone", () => {
    const before = applyChanges(farm(), [alarmChange(alarm(3, 101))]);
    expect(before.alarms[3]).toBeDefined();
    const again = applySnapshot(before, 1, "ep", { ...SNAPSHOT, seq: 120, alarms: [alarm(1, 90)] });
    expect(Object.keys(again.alarms)).toEqual(["1"]);
  });

  it("keeps a held copy newer than the snapshot (an acknowledgement answered first)", () => {
    const acked = alarmView(alarm(1, 130, { state: "acknowledged", ack: ACK }));
    const held = mergeAlarms({}, [acked]);
    const next = alarmsFromSnapshot(held, [alarm(1, 90)], 120);
    expect(next[1]?.state).toBe("acknowledged");
  });

  it("ignores a closed alarm in the snapshot and an old v1 snapshot without the key", () => {
    expect(alarmsFromSnapshot({}, [alarm(1, 90, { state: "closed" })], 100)).toEqual({});
    const v1: Snapshot = { seq: SNAPSHOT.seq, devices: SNAPSHOT.devices, sensors: SNAPSHOT.sensors };
    expect(applySnapshot(undefined, 1, "ep", v1).alarms).toEqual({});
  });
});

describe("alarm changes", () => {
  it("replace the alarm of that id, and a closed one leaves the open set", () => {
    let state = farm();
    state = applyChanges(state, [alarmChange(alarm(1, 101, { state: "acknowledged", ack: ACK }))]);
    expect(state.alarms[1]?.state).toBe("acknowledged");
    expect(state.seq).toBe(101);
    state = applyChanges(state, [alarmChange(alarm(1, 102, { state: "closed", ack: ACK, cleared_at: 9 }))]);
    expect(state.alarms[1]).toBeUndefined();
    expect(state.alarms[2]).toBeDefined();
  });

  it("apply when they share the seq of the reading that raised them", () => {
    const raising: Change[] = [
      { kind: "reading", farm: 1, seq: 101, sensorId: 7, value: 0.5, tsMs: 2_000, storedMs: 2_000 },
      alarmChange(alarm(9, 101)),
    ];
    const state = applyChanges(farm(), raising);
    expect(state.sensors[7]?.value).toBe(0.5);
    expect(state.alarms[9]?.state).toBe("active");
    expect(state.seq).toBe(101);
  });

  it("at or below the farm's seq (a replay) change nothing", () => {
    const state = farm();
    expect(applyChanges(state, [alarmChange(alarm(7, 100))])).toBe(state);
    expect(applyChanges(state, [alarmChange(alarm(1, 50, { state: "closed" }))])).toBe(state);
  });

  it("older than the alarm held are ignored, whatever order they come in", () => {
    const newer = alarmView(alarm(1, 110, { state: "cleared", cleared_at: 3 }));
    const older = alarmView(alarm(1, 105, { state: "active" }));
    expect(mergeAlarms({}, [newer, older])[1]?.state).toBe("cleared");
    const held = mergeAlarms({}, [newer]);
    expect(mergeAlarms(held, [older])).toBe(held);
  });

  it("of an alarm not held, already closed, add nothing", () => {
    expect(mergeAlarms({}, [alarmView(alarm(1, 5, { state: "closed" }))])).toEqual({});
  });
});

describe("what the screens read", () => {
  const held = mergeAlarms({}, [
    alarmView(alarm(1, 1, { severity: "warning", raised_at: 50 })),
    alarmView(alarm(2, 2, { severity: "critical", raised_at: 10 })),
    alarmView(alarm(3, 3, { severity: "critical", raised_at: 40, state: "cleared" })),
    alarmView(alarm(4, 4, { severity: "critical", raised_at: 60, state: "acknowledged", ack: ACK })),
  ]);

  it("the banner holds the unacknowledged ones (active and cleared), critical first, newest first", () => {
    expect(bannerAlarms(held).map((a) => a.id)).toEqual([3, 2, 1]);
  });

  it("the list holds every open alarm, acknowledged too", () => {
    expect(openAlarmList(held).map((a) => a.id)).toEqual([4, 3, 2, 1]);
  });

  it("the overview counts open and unacknowledged, and the critical among them", () => {
    expect(alarmCounts(held)).toEqual({ unacknowledged: 3, critical: 2, open: 4 });
    expect(alarmCounts({})).toEqual({ unacknowledged: 0, critical: 0, open: 0 });
  });

  it("activeAlarms of a farm comes from the real alarms, not from events", () => {
    const state = applyChanges(farm(), [
      { kind: "event", farm: 1, seq: 101, deviceId: 2, level: "alarm", code: "x", message: "x", tsMs: 1, storedMs: 1 },
    ]);
    expect(activeAlarms(state).map((a) => a.id)).toEqual([1, 2]);
  });

  it("a newly raised alarm is told once: not again when it is acknowledged, nor for one held before", () => {
    const raised = mergeAlarms(held, [alarmView(alarm(5, 9))]);
    expect(newlyRaised(held, raised).map((a) => a.id)).toEqual([5]);
    const acked = mergeAlarms(raised, [alarmView(alarm(5, 10, { state: "acknowledged", ack: ACK }))]);
    expect(newlyRaised(raised, acked)).toEqual([]);
    expect(newlyRaised(raised, raised)).toEqual([]);
  });
});

describe("the alarm history list", () => {
  const closed = alarmView(alarm(1, 10, { state: "closed", ack: ACK, cleared_at: 9 }));
  const olderCopy = alarmView(alarm(2, 20, { state: "active" }));
  const warning = alarmView(alarm(3, 15, { state: "closed", severity: "warning" }));

  it("lays the live copy over the loaded one and adds live open alarms, newest change first", () => {
    const liveAck = alarmView(alarm(2, 30, { state: "acknowledged", ack: ACK }));
    const liveNew = alarmView(alarm(4, 40));
    const rows = historyRows([olderCopy, warning, closed], [liveAck, liveNew], "all", "all");
    expect(rows.map((a) => [a.id, a.state])).toEqual([
      [4, "active"],
      [2, "acknowledged"],
      [3, "closed"],
      [1, "closed"],
    ]);
  });

  it("shows only closed alarms under closed, and filters by severity", () => {
    expect(historyRows([closed, warning], [alarmView(alarm(4, 40))], "closed", "all").map((a) => a.id)).toEqual([3, 1]);
    expect(historyRows([closed, warning], [], "all", "warning").map((a) => a.id)).toEqual([3]);
  });
});
