import { describe, expect, it } from "vitest";

import type { Snapshot } from "../lib/ws/messages";
import { type DeviceView, applyChanges, applySnapshot } from "./farmState";
import { DEFAULT_STALE_AFTER_MS, STALE_INTERVAL_MULTIPLE, countHealth, deviceHealth, staleAfterMs } from "./health";

const NOW = 1_000_000_000;

function device(over: Partial<DeviceView> = {}): DeviceView {
  return {
    id: 1,
    name: "probe",
    kind: "sensor",
    title: "",
    state: "unknown",
    actuator: {},
    statusTsMs: 0,
    lastSeenMs: null,
    statusSeq: 0,
    intervalS: null,
    offlineAfterS: null,
    ...over,
  };
}

describe("staleAfterMs", () => {
  it("takes the server's offline_after_s first, then a multiple of the interval, then the default", () => {
    expect(staleAfterMs(device({ offlineAfterS: 90, intervalS: 10 }))).toBe(90_000);
    expect(staleAfterMs(device({ intervalS: 10 }))).toBe(10_000 * STALE_INTERVAL_MULTIPLE);
    expect(staleAfterMs(device())).toBe(DEFAULT_STALE_AFTER_MS);
    expect(staleAfterMs(undefined)).toBe(DEFAULT_STALE_AFTER_MS);
    expect(staleAfterMs(device({ offlineAfterS: 0, intervalS: 0 }))).toBe(DEFAULT_STALE_AFTER_MS);
  });
});

describe("deviceHealth", () => {
  it("reads a device that sends readings but never a status as online while it is seen", () => {
    expect(deviceHealth(device({ lastSeenMs: NOW - 1_000, intervalS: 5 }), NOW)).toEqual({ state: "online", derived: true });
  });

  it("reads it as offline once its silence passes what is expected", () => {
    const d = device({ lastSeenMs: NOW - 16_000, intervalS: 5 });
    expect(deviceHealth(d, NOW)).toEqual({ state: "offline", derived: true });
    expect(deviceHealth({ ...d, offlineAfterS: 20 }, NOW).state).toBe("online");
  });

  it("keeps unknown for a device never seen", () => {
    expect(deviceHealth(device(), NOW)).toEqual({ state: "unknown", derived: false });
  });

  it("takes a reported status as it is", () => {
    expect(deviceHealth(device({ state: "offline", lastSeenMs: NOW }), NOW)).toEqual({ state: "offline", derived: false });
    expect(deviceHealth(device({ state: "maintenance", lastSeenMs: null }), NOW).state).toBe("maintenance");
  });
});

describe("countHealth", () => {
  it("counts online, offline, unknown and the rest apart, derived health included", () => {
    const counts = countHealth(
      [
        device({ state: "online" }),
        device({ lastSeenMs: NOW - 1_000 }), // readings only: online
        device({ state: "offline" }),
        device({ lastSeenMs: NOW - DEFAULT_STALE_AFTER_MS - 1 }), // readings only, long silent
        device(), // never seen
        device({ state: "error" }),
      ],
      NOW,
    );
    expect(counts).toEqual({ online: 2, offline: 2, unknown: 1, other: 1 });
  });
});

describe("last seen, as status changes move it", () => {
  const snapshot: Snapshot = {
    seq: 10,
    devices: [{ id: 1, name: "probe", kind: "sensor", title: "", state: "online", actuator: {}, status_ts: 1, last_seen: 5_000, interval_s: 1, offline_after_s: 3 }],
    sensors: [],
  };

  it("is not moved by an offline status: the server saying a device went silent is no sign of life", () => {
    const farm = applyChanges(applySnapshot(undefined, 1, "ep", snapshot), [
      { kind: "status", farm: 1, seq: 11, deviceId: 1, state: "offline", actuator: {}, tsMs: 9_000, storedMs: 9_000 },
    ]);
    expect(farm.devices[1]).toMatchObject({ state: "offline", lastSeenMs: 5_000 });
  });

  it("is moved by any other status", () => {
    const farm = applyChanges(applySnapshot(undefined, 1, "ep", snapshot), [
      { kind: "status", farm: 1, seq: 11, deviceId: 1, state: "online", actuator: {}, tsMs: 9_000, storedMs: 9_000 },
    ]);
    expect(farm.devices[1]?.lastSeenMs).toBe(9_000);
  });
});
