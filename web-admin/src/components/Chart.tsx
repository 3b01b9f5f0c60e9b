/**
 * A uPlot time-series chart of one sensor over a chosen window: loaded history (average
 * with a min/max band) plus the live points appended as they arrive (redrawn at most once
 * per animation frame, with the store's flush). Missing data is drawn as a gap, and the
 * x-axis is the whole window however much of it has data.
 *
 * For tests the drawn state is on the element: data-state, data-x-min and data-x-max (the
 * x scale, s), data-gaps (the x of each null point, s) and data-band (points with a band).
 */

import { useEffect, useMemo, useRef } from "react";
import uPlot from "uplot";

import { useNow } from "../lib/format";
import { useSeries } from "../store";
import { chartPoints, withGaps } from "./chartData";

/** How often a window ending now moves on without new data. */
export const WINDOW_TICK_MS = 1_000;
const HEIGHT_PX = 260;

export type HistoryState = "loading" | "ready" | "error";

interface Props {
  sensorId: number;
  label: string;
  unit: string;
  rangeMs: number;
  /** A custom window's end (epoch ms); none: the window ends now. */
  endMs?: number;
  /** The device's expected reporting interval (ms), or null when unknown. */
  intervalMs: number | null;
  history: HistoryState;
  stale: boolean;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Writes what uPlot drew onto its element, for tests and tools. */
function publish(u: uPlot): void {
  const el = u.root.parentElement;
  if (!el) return;
  const [xs, avg, min, max] = u.data as unknown as [number[], (number | null)[], (number | null)[], (number | null)[]];
  const gaps: number[] = [];
  let band = 0;
  for (let i = 0; i < xs.length; i++) {
    if (avg[i] === null) gaps.push(xs[i] as number);
    if (min[i] != null && max[i] != null) band += 1;
  }
  el.dataset.xMin = String(u.scales.x?.min ?? "");
  el.dataset.xMax = String(u.scales.x?.max ?? "");
  el.dataset.gaps = JSON.stringify(gaps);
  const bands = (u as unknown as { bands?: readonly unknown[] }).bands ?? [];
  el.dataset.band = String(bands.length ? band : 0);
}

export function Chart({ sensorId, label, unit, rangeMs, endMs, intervalMs, history, stale }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const view = useRef<[number, number]>([0, 1]); // the window, s
  const zoomed = useRef(false);
  const { series, version } = useSeries(sensorId);
  const now = useNow(WINDOW_TICK_MS, endMs === undefined);

  // Make the chart once per sensor, and size it with its box.
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const stroke = cssVar("--accent", "#2f855a");
    const grid = cssVar("--grid", "#e2e8f0");
    const text = cssVar("--muted", "#4a5568");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const fmt = (_u: uPlot, v: number | null): string => (v === null ? "–" : `${v.toFixed(2)} ${unit}`);
    const bound = (name: string): uPlot.Series => ({ label: name, stroke: `${stroke}66`, width: 0, points: { show: false }, value: fmt });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT_PX,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        // The window, not the data's extent; a drag zooms in until a double click.
        x: { time: true, range: (_u, min, max) => (zoomed.current ? [min, max] : view.current) },
      },
      series: [
        {},
        {
          label: unit ? `${label} (${unit})` : label,
          stroke,
          width: 2,
          spanGaps: false,
          points: { show: false },
          value: fmt,
        },
        bound("min"),
        bound("max"),
      ],
      bands: [{ series: [3, 2], fill: `${stroke}33` }],
      axes: [axis, { ...axis, size: 60 }],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 0) zoomed.current = true;
          },
        ],
        draw: [publish],
      },
    };
    const u = new uPlot(opts, [[], [], [], []], el);
    plot.current = u;
    const unzoom = (): void => {
      zoomed.current = false;
    };
    el.addEventListener("dblclick", unzoom, true); // before uPlot's own, which rescales x
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT_PX }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      el.removeEventListener("dblclick", unzoom, true);
      u.destroy();
      plot.current = null;
    };
  }, [sensorId, label, unit]);

  useEffect(() => {
    zoomed.current = false; // a new window shows whole
  }, [rangeMs, endMs, sensorId]);

  // New points, a new window or time moving on: hand uPlot the data; it redraws once.
  const end = endMs ?? now;
  const data = useMemo(
    () => withGaps(chartPoints(series, end - rangeMs, end, intervalMs)),
    // `version` moves when the series (changed in place) does.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [series, version, rangeMs, end, intervalMs],
  );
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    view.current = [(end - rangeMs) / 1000, end / 1000];
    if (zoomed.current) {
      u.setData(data, false);
      u.setScale("x", { min: u.scales.x?.min ?? view.current[0], max: u.scales.x?.max ?? view.current[1] });
    } else {
      u.setData(data);
    }
  }, [data, end, rangeMs, sensorId]);

  const state = history === "ready" && data[0].length === 0 ? "empty" : history;
  return (
    <div className="chart-wrap">
      <div ref={box} className={`chart${stale ? " stale" : ""}`} data-testid="chart" data-state={state} />
      {state === "loading" && <p className="chart-note muted">Loading…</p>}
      {state === "empty" && <p className="chart-note muted">No data in this range</p>}
    </div>
  );
}
