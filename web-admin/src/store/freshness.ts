/**
 * Whether a sensor's value is still current. Pure:
 * the caller passes the time (the page's one `useNow`), so no tile runs a timer.
 */

import type { DeviceView, SensorView } from "./farmState";
import { deviceHealth, staleAfterMs } from "./health";

/** Why a value is stale: its device is offline, or the value is older than expected. */
export type StaleReason = "device_offline" | "late";

export interface Freshness {
  stale: boolean;
  reason: StaleReason | null;
  /** now - the value's timestamp, never negative; null without a value. */
  ageMs: number | null;
}

/** Whether a sensor's value is current at `nowMs`, given its device (undefined when unknown). */
export function sensorFreshness(sensor: SensorView, device: DeviceView | undefined, nowMs: number): Freshness {
  const ageMs = sensor.tsMs === null ? null : Math.max(0, nowMs - sensor.tsMs);
  if (device && deviceHealth(device, nowMs).state === "offline") {
    return { stale: true, reason: "device_offline", ageMs };
  }
  if (ageMs !== null && ageMs > staleAfterMs(device)) return { stale: true, reason: "late", ageMs };
  return { stale: false, reason: null, ageMs };
}
