/** How an alarm reads on screen: its severity, state and source, in the UI's language (one place). */

import { t } from "../i18n";
import type { AlarmSeverity, AlarmState } from "../lib/ws/messages";
import type { AlarmView } from "../store/alarms";
import type { DeviceView, SensorView } from "../store/farmState";

/** "Critical" / "긴급": an alarm's severity in the UI's language. */
export function severityLabel(severity: AlarmSeverity): string {
  return t(`alarm.severity.${severity}`);
}

/** An alarm's state in the UI's language. */
export function stateLabel(state: AlarmState): string {
  return t(`alarm.state.${state}`);
}

/** "pump-1 · temperature", the device and sensor an alarm is about, or "farm". */
export function alarmSource(
  a: AlarmView,
  devices: Readonly<Record<number, DeviceView>>,
  sensors: Readonly<Record<number, SensorView>>,
): string {
  const sensor = a.sensorId !== null ? sensors[a.sensorId] : undefined;
  const deviceId = a.deviceId ?? sensor?.deviceId ?? null;
  const device = deviceId !== null ? devices[deviceId] : undefined;
  const parts = [device?.name ?? (deviceId !== null ? t("alarm.source.device", { id: deviceId }) : null), sensor?.name ?? null].filter(
    (p): p is string => p !== null,
  );
  return parts.length ? parts.join(" · ") : t("alarm.source.farm");
}

/** The alarm's message, or its code when it has none. */
export function alarmTitle(a: AlarmView): string {
  return a.message || a.code;
}
