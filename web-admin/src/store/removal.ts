/**
 * A device deleted on the server (batch key `x`): it and its sensors leave the farm's
 * live state at once, without a reload. Pure.
 */

import type { DeviceView, SensorView } from "./farmState";

export interface DevicesAndSensors {
  sensors: Record<number, SensorView>;
  devices: Record<number, DeviceView>;
}

/**
 * The sensors and devices without `deviceId` and its sensors (new objects), or null when
 * the farm holds neither (a removal seen twice, or of a device never shown), so nothing
 * re-renders for it.
 */
export function withoutDevice(
  sensors: Readonly<Record<number, SensorView>>,
  devices: Readonly<Record<number, DeviceView>>,
  deviceId: number,
): DevicesAndSensors | null {
  const gone = Object.values(sensors).filter((s) => s.deviceId === deviceId);
  if (!(deviceId in devices) && gone.length === 0) return null;
  const nextDevices = { ...devices };
  Reflect.deleteProperty(nextDevices, deviceId);
  const nextSensors = { ...sensors };
  for (const s of gone) Reflect.deleteProperty(nextSensors, s.id);
  return { sensors: nextSensors, devices: nextDevices };
}
