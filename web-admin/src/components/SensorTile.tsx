/**
 * One sensor: its live value, unit, trend and sparkline. Greyed out and marked stale on
 * its own when its device is offline or its value is older than expected, with the
 * value's age; and with every tile while the connection is lost.
 */

import { memo } from "react";

import { t, useI18n } from "../i18n";
import { formatAgo, formatSeconds, formatValue } from "../lib/format";
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


function staleTitle(pageStale: boolean, reason: StaleReason | null, device: DeviceView | undefined): string {
  if (pageStale) return t("sensor.why.connection");
  if (reason === "device_offline") return t("sensor.why.offline");
  if (reason === "late") return t("sensor.why.late", { expected: formatSeconds(Math.round(staleAfterMs(device) / 1000)) });
  return "";
}

type Trend = "steady" | "rising" | "falling";

function trend(sensor: SensorView): { arrow: string; label: Trend | "" } {
  if (sensor.value === null || sensor.previous === null) return { arrow: "", label: "" };
  const span = sensor.max !== null && sensor.min !== null ? sensor.max - sensor.min : Math.abs(sensor.value) || 1;
  const diff = sensor.value - sensor.previous;
  if (Math.abs(diff) < span * 0.0005) return { arrow: "→", label: "steady" };
  return diff > 0 ? { arrow: "↑", label: "rising" } : { arrow: "↓", label: "falling" };
}

export const SensorTile = memo(function SensorTile({ sensor, deviceName, device, stale, selected, now, onSelect }: Props) {
  useI18n();
  const { series } = useSeries(sensor.id);
  const tr = trend(sensor);
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
        {tr.arrow && (
          <span className={`trend trend-${tr.label}`} title={t(`sensor.trend.${tr.label}`)} aria-label={t(`sensor.trend.${tr.label}`)}>
            {tr.arrow}
          </span>
        )}
      </span>
      <Sparkline values={series.tail(SPARKLINE_POINTS)} />
      <span className="tile-foot">
        {marked ? (
          <span className="stale-tag" title={staleTitle(stale, fresh.reason, device)} data-testid={`stale-${sensor.id}`}>
            {t("common.stale")}
            {fresh.reason === "device_offline" ? ` · ${t("sensor.deviceOffline")}` : ""}
          </span>
        ) : null}{" "}
        <span data-testid={`age-${sensor.id}`}>{formatAgo(sensor.tsMs, now)}</span>
      </span>
    </button>
  );
});
