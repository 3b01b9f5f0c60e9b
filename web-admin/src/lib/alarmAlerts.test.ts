import { describe, expect, it } from "vitest";

import type { Alarm, Change, Snapshot } from "./ws/messages";
import { AlarmAlerts, alertsBetween } from "./alarmAlerts";
import { applyChanges, applySnapshot } from "../store/farmState";

function alarm(id: number, seq: number, patch: Partial<Alarm> = {}): Alarm {
  return {
    id, farm: 1, seq, rule: null, device: 2, sensor: null, kind: "device", code: "frost_risk",
    severity: "critical", message: "cold", value: null, state: "active", raised_at: 1, cleared_at: null, ack: null,
    ...patch,
  };
}

const SNAPSHOT: Snapshot = { seq: 10, devices: [], sensors: [], alarms: [alarm(1, 5)] };
const change = (a: Alarm): Change => ({ kind: "alarm", farm: 1, seq: a.seq, alarm: a });

describe("alertsBetween", () => {
  it("tells nothing of a page load's snapshot: the banner shows those alarms", () => {
    expect(alertsBetween({}, { 1: applySnapshot(undefined, 1, "e", SNAPSHOT) })).toEqual([]);
  });

  it("tells of an alarm raised live once, and not of its acknowledgement", () => {
    const loaded = applySnapshot(undefined, 1, "e", SNAPSHOT);
    const raised = applyChanges(loaded, [change(alarm(2, 11, { severity: "warning" }))]);
    expect(alertsBetween({ 1: loaded }, { 1: raised }).map((a) => a.id)).toEqual([2]);
    const acked = applyChanges(raised, [change(alarm(2, 12, { state: "acknowledged" }))]);
    expect(alertsBetween({ 1: raised }, { 1: acked })).toEqual([]);
  });
});

/** Enough of WebAudio to count the tones started. */
class FakeAudioContext {
  static tones: number[] = [];
  state = "running";
  currentTime = 0;
  destination = {};
  resume(): Promise<void> {
    return Promise.resolve();
  }
  createOscillator() {
    const osc = { type: "", frequency: { value: 0 }, connect: (n: unknown) => n, start: () => FakeAudioContext.tones.push(osc.frequency.value), stop: () => undefined };
    return osc;
  }
  createGain() {
    const node = {
      gain: { setValueAtTime: () => undefined, exponentialRampToValueAtTime: () => undefined },
      connect: (n: unknown) => n,
    };
    return node;
  }
}

describe("AlarmAlerts", () => {
  it("is silent by default, and beeps (twice for critical, once for a warning) once the sound is on", () => {
    Object.assign(globalThis, { AudioContext: FakeAudioContext });
    FakeAudioContext.tones = [];
    const alerts = new AlarmAlerts();
    const critical = applySnapshot(undefined, 1, "e", SNAPSHOT).alarms[1];
    if (!critical) throw new Error("no alarm");
    expect(alerts.getSettings()).toEqual({ sound: false, notify: false });
    alerts.tell([critical], () => "farm");
    expect(FakeAudioContext.tones).toEqual([]);
    alerts.setSound(true);
    alerts.tell([critical], () => "farm");
    expect(FakeAudioContext.tones).toEqual([880, 880]);
    alerts.tell([{ ...critical, severity: "warning" }], () => "farm");
    expect(FakeAudioContext.tones).toEqual([880, 880, 660]);
    expect(alerts.beeps).toBe(2);
    Reflect.deleteProperty(globalThis, "AudioContext");
  });
});
