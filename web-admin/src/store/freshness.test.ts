import { describe, expect, it } from "vitest";

import type { DeviceView, SensorView } from "./farmState";
import { sensorFreshness } from "./freshness";

const NOW = 1_000_000_000;

const DEVICE: DeviceView = {
  id: 2,
  name: "probe",
  kind: "sensor",
  title: "",
  state: "online",
  actuator: {},
  statusTsMs: NOW - 5_000,
  lastSeenMs: NOW - 1_000,
  statusSeq: 0,
  intervalS: 10,
  offlineAfterS: 30,
};

function sensor(tsMs: number | null): SensorView {
  return { id: 7, deviceId: 2, name: "soil", unit: "%", min: 0, max: 100, value: tsMs === null ? null : 40, previous: null, tsMs, seq: 1 };
}

describe("sensorFreshness", () => {
  it("is current while the value is younger than the device's offline_after_s", () => {
    expect(sensorFreshness(sensor(NOW - 29_000), DEVICE, NOW)).toEqual({ stale: false, reason: null, ageMs: 29_000 });
  });

  it("is stale when the value is older than expected, even on an online device", () => {
    expect(sensorFreshness(sensor(NOW - 31_000), DEVICE, NOW)).toEqual({ stale: true, reason: "late", ageMs: 31_000 });
  });

  it("falls back to a multiple of the interval when offline_after_s is null", () => {
    const device = { ...DEVICE, offlineAfterS: null };
    expect(sensorFreshness(sensor(NOW - 29_000), device, NOW).stale).toBe(false);
    expect(sensorFreshness(sensor(NOW - 31_000), device, NOW).reason).toBe("late");
  });

  it("is stale whatever its age when its device is offline", () => {
    const offline = { ...DEVICE, state: "offline" as const };
    expect(sensorFreshness(sensor(NOW - 1_000), offline, NOW)).toEqual({ stale: true, reason: "device_offline", ageMs: 1_000 });
  });

  it("is stale when a device that never reported a status has gone silent", () => {
    const silent = { ...DEVICE, state: "unknown" as const, lastSeenMs: NOW - 60_000 };
    expect(sensorFreshness(sensor(NOW - 1_000), silent, NOW).reason).toBe("device_offline");
  });

  it("marks nothing without a value, and never shows a negative age (a device clock ahead)", () => {
    expect(sensorFreshness(sensor(null), DEVICE, NOW)).toEqual({ stale: false, reason: null, ageMs: null });
    expect(sensorFreshness(sensor(NOW + 5_000), DEVICE, NOW).ageMs).toBe(0);
  });
});
