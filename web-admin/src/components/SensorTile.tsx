/**
 * One sensor: its live value, unit, trend and sparkline. Greyed out and marked stale on
 * its own when its device is offline or its value is older than expected, with the
 * value's age; and with every tile while the connection is lost.
 */

import { memo } from "react";

import { formatAgo, formatValue } from "../lib/format";
import { useSeries } from "../store";
import type { DeviceView, SensorView } from "../store/farmState";
import { type StaleReason, sensorFreshness } from "../store/freshness";
import { staleAfterMs } from "../store/health";
import { SPARKLINE_POINTS, Sparkline } from "./Sparkline";

interface Props {
  sensor: SensorView;
  deviceName: string;
  /** The sensor's device, for its health and expected interval. */
  device: DeviceView | undefined;
  /** Page-wide: the connection is lost, so nothing shown is current. */
  stale: boolean;
  selected: boolean;
  now: number;
  onSelect: (id: number) => void;
}

/** The tile's words, in one place. */
const TEXT = {
  stale: "stale",
  deviceOffline: "device offline",
  whyConnection: "The connection is lost: nothing shown is current.",
  whyOffline: "Its device is offline: this is its last value.",
  whyLate: (expectedMs: number) => `No new value for longer than expected (${Math.round(expectedMs / 1000)} s).`,
};

function staleTitle(pageStale: boolean, reason: StaleReason | null, device: DeviceView | undefined): string {
  if (pageStale) return TEXT.whyConnection;
  if (reason === "device_offline") return TEXT.whyOffline;
  if (reason === "late") return TEXT.whyLate(staleAfterMs(device));
  return "";
}

function trend(sensor: SensorView): { arrow: string; label: string } {
  if (sensor.value === null || sensor.previous === null) return { arrow: "", label: "" };
  const span = sensor.max !== null && sensor.min !== null ? sensor.max - sensor.min : Math.abs(sensor.value) || 1;
  const diff = sensor.value - sensor.previous;
  if (Math.abs(diff) < span * 0.0005) return { arrow: "→", label: "steady" };
  return diff > 0 ? { arrow: "↑", label: "rising" } : { arrow: "↓", label: "falling" };
}

export const SensorTile = memo(function SensorTile({ sensor, deviceName, device, stale, selected, now, onSelect }: Props) {
  const { series } = useSeries(sensor.id);
  const t = trend(sensor);
  const fresh = sensorFreshness(sensor, device, now);
  const marked = stale || fresh.stale;
  return (
    <button
      type="button"
      className={`tile${marked ? " stale" : ""}${selected ? " selected" : ""}`}
      data-testid={`sensor-${sensor.id}`}
      data-sensor-name={sensor.name}
      data-stale={marked}
      data-stale-reason={stale ? "connection" : (fresh.reason ?? "")}
      onClick={() => onSelect(sensor.id)}
      aria-pressed={selected}
    >
      <span className="tile-head">
        <span className="tile-name">{sensor.name.replace(/_/g, " ")}</span>
        <span className="tile-device">{deviceName}</span>
      </span>
      <span className="tile-value">
        <span className="value" data-testid={`value-${sensor.id}`} data-seq={sensor.seq} data-value={sensor.value ?? ""}>
          {formatValue(sensor.value)}
        </span>
        <span className="unit">{sensor.unit}</span>
        {t.arrow && (
          <span className={`trend trend-${t.label}`} title={t.label} aria-label={t.label}>
            {t.arrow}
          </span>
        )}
      </span>
      <Sparkline values={series.tail(SPARKLINE_POINTS)} />
      <span className="tile-foot">
        {marked ? (
          <span className="stale-tag" title={staleTitle(stale, fresh.reason, device)} data-testid={`stale-${sensor.id}`}>
            {TEXT.stale}
            {fresh.reason === "device_offline" ? ` · ${TEXT.deviceOffline}` : ""}
          </span>
        ) : null}{" "}
        <span data-testid={`age-${sensor.id}`}>{formatAgo(sensor.tsMs, now)}</span>
      </span>
    </button>
  );
});
