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

import { useI18n } from "../i18n";
import { useNow } from "../lib/format";
import { useSeries } from "../store";
import { chartPoints, lonelyPoints, withGaps } from "./chartData";

/** How often a window ending now moves on without new data. */
export const WINDOW_TICK_MS = 1_000;
const HEIGHT_PX = 260;
/** uPlot.join's null mode per column (x, avg, min, max): 2, NULL_EXPAND. */
const EXPAND_GAPS: uPlot.JoinNullMode[] = [0, 2, 2, 2];

export type HistoryState = "loading" | "ready" | "error";

/** A sensor a chart draws. */
export interface ChartSensor {
  id: number;
  label: string;
  unit: string;
  /** The device's expected reporting interval (ms), or null when unknown. */
  intervalMs: number | null;
}

interface Props {
  sensor: ChartSensor;
  /** A second sensor on the same chart: on a second y axis (right) when its unit differs. */
  other?: ChartSensor | null;
  rangeMs: number;
  /** A custom window's end (epoch ms); none: the window ends now. */
  endMs?: number;
  history: HistoryState;
  stale: boolean;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Writes what uPlot drew (of the first sensor) onto its element, for tests and tools. */
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
  el.dataset.yAxes = String(u.axes.length - 1);
}

/** A sensor's three series (average, min, max) and its band, on y scale `scale`. */
function sensorSeries(s: ChartSensor, scale: string, stroke: string, first: number): [uPlot.Series[], uPlot.Band] {
  const fmt = (_u: uPlot, v: number | null): string => (v == null ? "–" : `${v.toFixed(2)} ${s.unit}`);
  const bound = (name: string): uPlot.Series => ({ label: name, scale, stroke: `${stroke}66`, width: 0, points: { show: false }, value: fmt });
  return [
    [
      {
        label: s.unit ? `${s.label} (${s.unit})` : s.label,
        scale,
        stroke,
        width: 2,
        spanGaps: false,
        // A lone reading between gaps has no line: a dot shows it.
        points: { show: true, size: 6, fill: stroke, filter: (u, si) => lonelyPoints((u.data[si] ?? []) as (number | null | undefined)[]) },
        value: fmt,
      },
      bound("min"),
      bound("max"),
    ],
    { series: [first + 2, first + 1], fill: `${stroke}33` },
  ];
}

export function Chart({ sensor, other, rangeMs, endMs, history, stale }: Props) {
  const { t } = useI18n();
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const view = useRef<[number, number]>([0, 1]); // the window, s
  const zoomed = useRef(false);
  const drawn = useRef<uPlot.AlignedData>([[]]); // the data last handed to uPlot
  const { series, version } = useSeries(sensor.id);
  const second = useSeries(other?.id ?? sensor.id);
  const now = useNow(WINDOW_TICK_MS, endMs === undefined);
  const { id, label, unit } = sensor;
  const otherId = other?.id;
  const otherLabel = other?.label ?? "";
  const otherUnit = other?.unit ?? "";

  // Make the chart once per sensor (or pair), and size it with its box.
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const stroke = cssVar("--accent", "#2f855a");
    const stroke2 = cssVar("--accent-2", "#b7791f");
    const grid = cssVar("--grid", "#e2e8f0");
    const text = cssVar("--muted", "#4a5568");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const [mine, band] = sensorSeries({ id, label, unit, intervalMs: null }, "y", stroke, 1);
    const series: uPlot.Series[] = [{}, ...mine];
    const bands: uPlot.Band[] = [band];
    const axes: uPlot.Axis[] = [axis, { ...axis, scale: "y", size: 60 }];
    if (otherId !== undefined) {
      const scale = otherUnit === unit ? "y" : "y2";
      const [theirs, band2] = sensorSeries({ id: otherId, label: otherLabel, unit: otherUnit, intervalMs: null }, scale, stroke2, 4);
      series.push(...theirs);
      bands.push(band2);
      if (scale === "y2") axes.push({ ...axis, scale, side: 1, size: 60, grid: { show: false } });
    }
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT_PX,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        // The window, not the data's extent; a drag zooms in until a double click.
        x: { time: true, range: (_u, min, max) => (zoomed.current ? [min, max] : view.current) },
      },
      series,
      bands,
      axes,
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 0) zoomed.current = true;
          },
        ],
        draw: [publish],
      },
    };
    const start = drawn.current.length === series.length ? drawn.current : (series.map(() => []) as unknown as uPlot.AlignedData);
    const u = new uPlot(opts, start, el);
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
  }, [id, label, unit, otherId, otherLabel, otherUnit]);

  useEffect(() => {
    zoomed.current = false; // a new window shows whole
  }, [rangeMs, endMs, id, otherId]);

  // New points, a new window or time moving on: hand uPlot the data; it redraws once.
  const end = endMs ?? now;
  const otherInterval = other?.intervalMs ?? null;
  const mineData = useMemo(
    () => withGaps(chartPoints(series, end - rangeMs, end, sensor.intervalMs)),
    // `version` moves when the series (changed in place) does.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [series, version, rangeMs, end, sensor.intervalMs],
  );
  const data = useMemo(() => {
    if (otherId === undefined) return mineData;
    const theirs = withGaps(chartPoints(second.series, end - rangeMs, end, otherInterval));
    // Joined on the union of both x's: a missing x is undefined (skipped); a gap's null
    // spreads over the undefined next to it, or the line would run into the gap from there.
    return uPlot.join([mineData, theirs], [EXPAND_GAPS, EXPAND_GAPS]);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mineData, otherId, second.series, second.version, rangeMs, end, otherInterval]);
  useEffect(() => {
    const u = plot.current;
    drawn.current = data;
    if (!u || u.series.length !== data.length) return;
    view.current = [(end - rangeMs) / 1000, end / 1000];
    if (zoomed.current) {
      u.setData(data, false);
      u.setScale("x", { min: u.scales.x?.min ?? view.current[0], max: u.scales.x?.max ?? view.current[1] });
    } else {
      u.setData(data);
    }
  }, [data, end, rangeMs]);

  const state = history === "ready" && data[0].length === 0 ? "empty" : history;
  return (
    <div className="chart-wrap">
      <div ref={box} className={`chart${stale ? " stale" : ""}`} data-testid="chart" data-state={state} />
      {state === "loading" && <p className="chart-note muted">{t("chart.loading")}</p>}
      {state === "empty" && <p className="chart-note muted">{t("chart.empty")}</p>}
    </div>
  );
}
