/**
 * A uPlot time-series chart of one sensor: loaded history plus the live points appended
 * as they arrive (redrawn at most once per animation frame, with the store's flush).
 */

import { useEffect, useRef } from "react";
import uPlot from "uplot";

import { useSeries } from "../store";

interface Props {
  sensorId: number;
  label: string;
  unit: string;
  rangeMs: number;
  stale: boolean;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function Chart({ sensorId, label, unit, rangeMs, stale }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { series, version } = useSeries(sensorId);

  // Make the chart once per sensor, and size it with its box.
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const stroke = cssVar("--accent", "#2f855a");
    const grid = cssVar("--grid", "#e2e8f0");
    const text = cssVar("--muted", "#4a5568");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 260,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      series: [
        {},
        {
          label: unit ? `${label} (${unit})` : label,
          stroke,
          width: 2,
          fill: `${stroke}1a`,
          points: { show: false },
          value: (_u, v: number | null) => (v === null ? "–" : `${v.toFixed(2)} ${unit}`),
        },
      ],
      axes: [axis, { ...axis, size: 60 }],
    };
    const u = new uPlot(opts, [[], []], el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 260 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [sensorId, label, unit]);

  // New points (or a new range): hand uPlot the data; it redraws once.
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const [xs, ys] = series.points(Date.now() - rangeMs);
    u.setData([xs, ys]);
  }, [series, version, rangeMs, sensorId]);

  return <div ref={box} className={`chart${stale ? " stale" : ""}`} data-testid="chart" />;
}
