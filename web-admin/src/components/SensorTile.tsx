/** One sensor: its live value, unit, trend and sparkline; greyed out when stale. */

import { memo } from "react";

import { formatAgo, formatValue } from "../lib/format";
import { useSeries } from "../store";
import type { SensorView } from "../store/farmState";
import { SPARKLINE_POINTS, Sparkline } from "./Sparkline";

interface Props {
  sensor: SensorView;
  deviceName: string;
  stale: boolean;
  selected: boolean;
  now: number;
  onSelect: (id: number) => void;
}

function trend(sensor: SensorView): { arrow: string; label: string } {
  if (sensor.value === null || sensor.previous === null) return { arrow: "", label: "" };
  const span = sensor.max !== null && sensor.min !== null ? sensor.max - sensor.min : Math.abs(sensor.value) || 1;
  const diff = sensor.value - sensor.previous;
  if (Math.abs(diff) < span * 0.0005) return { arrow: "→", label: "steady" };
  return diff > 0 ? { arrow: "↑", label: "rising" } : { arrow: "↓", label: "falling" };
}

export const SensorTile = memo(function SensorTile({ sensor, deviceName, stale, selected, now, onSelect }: Props) {
  const { series } = useSeries(sensor.id);
  const t = trend(sensor);
  return (
    <button
      type="button"
      className={`tile${stale ? " stale" : ""}${selected ? " selected" : ""}`}
      data-testid={`sensor-${sensor.id}`}
      data-sensor-name={sensor.name}
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
        {stale ? <span className="stale-tag">stale</span> : null} {formatAgo(sensor.tsMs, now)}
      </span>
    </button>
  );
});
