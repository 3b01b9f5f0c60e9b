/**
 * A device's health as the page shows it. A status the device (or the server's liveness
 * check) reported is taken as it is; a device that never reported one ("unknown") is
 * judged by when it was last seen, so one that sends readings but no status reads
 * online, not "UNKNOWN · seen just now". Pure: the caller passes the time.
 */

import type { DeviceState } from "../lib/ws/messages";
import type { DeviceView } from "./farmState";

/** Without the server's `offline_after_s`, data this many intervals old is late. */
export const STALE_INTERVAL_MULTIPLE = 3;
/** Without an offline_after_s or an interval (nothing expected yet), data this old is late. */
export const DEFAULT_STALE_AFTER_MS = 15 * 60_000;

/**
 * The silence after which a device's data is no longer current: the server's
 * `offline_after_s`, else STALE_INTERVAL_MULTIPLE times its interval, else DEFAULT_STALE_AFTER_MS.
 */
export function staleAfterMs(device: Pick<DeviceView, "intervalS" | "offlineAfterS"> | undefined): number {
  if (device?.offlineAfterS != null && device.offlineAfterS > 0) return device.offlineAfterS * 1000;
  if (device?.intervalS != null && device.intervalS > 0) return device.intervalS * STALE_INTERVAL_MULTIPLE * 1000;
  return DEFAULT_STALE_AFTER_MS;
}

export interface Health {
  state: DeviceState;
  /** True when `state` was derived from last-seen, not reported. */
  derived: boolean;
}

export function deviceHealth(
  device: Pick<DeviceView, "state" | "lastSeenMs" | "intervalS" | "offlineAfterS">,
  nowMs: number,
): Health {
  if (device.state !== "unknown") return { state: device.state, derived: false };
  if (device.lastSeenMs === null || device.lastSeenMs <= 0) return { state: "unknown", derived: false };
  const silentMs = nowMs - device.lastSeenMs;
  return { state: silentMs > staleAfterMs(device) ? "offline" : "online", derived: true };
}

export interface HealthCounts {
  online: number;
  offline: number;
  /** Error, maintenance: reported, neither online nor offline. */
  other: number;
  /** Never reported a status and never seen. */
  unknown: number;
}

/** The farm's devices counted by health at `nowMs`. */
export function countHealth(devices: Iterable<DeviceView>, nowMs: number): HealthCounts {
  const counts: HealthCounts = { online: 0, offline: 0, other: 0, unknown: 0 };
  for (const d of devices) {
    const { state } = deviceHealth(d, nowMs);
    if (state === "online" || state === "offline" || state === "unknown") counts[state] += 1;
    else counts.other += 1;
  }
  return counts;
}
