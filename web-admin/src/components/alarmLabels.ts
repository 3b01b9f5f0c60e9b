/** How an alarm reads on screen: its severity, state and source, in plain English (one place). */

import type { AlarmSeverity, AlarmState } from "../lib/ws/messages";
import type { AlarmView } from "../store/alarms";
import type { DeviceView, SensorView } from "../store/farmState";

export const SEVERITY_LABEL: Readonly<Record<AlarmSeverity, string>> = {
  critical: "Critical",
  warning: "Warning",
};

export const STATE_LABEL: Readonly<Record<AlarmState, string>> = {
  active: "Active",
  acknowledged: "Acknowledged",
  cleared: "Cleared, not acknowledged",
  closed: "Closed",
};

/** "pump-1 · temperature", the device and sensor an alarm is about, or "farm". */
export function alarmSource(
  a: AlarmView,
  devices: Readonly<Record<number, DeviceView>>,
  sensors: Readonly<Record<number, SensorView>>,
): string {
  const sensor = a.sensorId !== null ? sensors[a.sensorId] : undefined;
  const deviceId = a.deviceId ?? sensor?.deviceId ?? null;
  const device = deviceId !== null ? devices[deviceId] : undefined;
  const parts = [device?.name ?? (deviceId !== null ? `device ${deviceId}` : null), sensor?.name ?? null].filter(
    (p): p is string => p !== null,
  );
  return parts.length ? parts.join(" · ") : "farm";
}

/** The alarm's message, or its code when it has none. */
export function alarmTitle(a: AlarmView): string {
  return a.message || a.code;
}
