/** The connected bridge instance's live figures: connections, delivery latency, reconnects. */

import { memo } from "react";

import { useI18n } from "../i18n";
import { formatClock, formatMs, formatNumber } from "../lib/format";
import { type LiveStatsState, latencySeries, liveSummary } from "../store/liveStats";

const CHART_W = 360;
const CHART_H = 90;

/** A gap-aware line: each run of non-null values is its own polyline. */
function runs(values: readonly (number | null)[], x: (i: number) => number, y: (v: number) => number): string[] {
  const out: string[] = [];
  let run: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) out.push(run.join(" "));
      run = [];
    } else {
      run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    }
  });
  if (run.length) out.push(run.join(" "));
  return out;
}

const LatencyChart = memo(function LatencyChart({ state }: { state: LiveStatsState }) {
  const { t } = useI18n();
  const series = latencySeries(state);
  const n = series.t.length;
  const top = Math.max(1, ...series.p99.map((v) => v ?? 0));
  const x = (i: number): number => (n > 1 ? (i / (n - 1)) * CHART_W : CHART_W / 2);
  const y = (v: number): number => CHART_H - 2 - (v / top) * (CHART_H - 4);
  // A lone point draws as a dot: a polyline of one point shows nothing.
  const line = (values: (number | null)[], cls: string) =>
    runs(values, x, y).map((pts, k) =>
      pts.includes(" ") ? (
        <polyline key={k} className={cls} points={pts} fill="none" strokeWidth="1.5" />
      ) : (
        <circle key={k} className={cls} cx={pts.split(",")[0]} cy={pts.split(",")[1]} r="2" />
      ),
    );
  return (
    <figure className="live-chart" data-testid="live-chart" data-points={n}>
      <svg viewBox={`0 0 ${CHART_W} ${CHART_H}`} preserveAspectRatio="none" role="img" aria-label={t("admin.live.chartLabel")}>
        <line className="live-grid" x1="0" x2={CHART_W} y1={CHART_H - 1} y2={CHART_H - 1} />
        {line(series.p99, "live-p99")}
        {line(series.p50, "live-p50")}
      </svg>
      <figcaption className="muted">
        <span className="legend legend-p50">{t("admin.live.p50")}</span>
        <span className="legend legend-p99">{t("admin.live.p99")}</span>
        <span>{t("admin.live.top", { value: formatMs(top) })}</span>
        {n > 0 && <span>{t("admin.live.since", { time: formatClock(series.t[0]) })}</span>}
      </figcaption>
    </figure>
  );
});

export function LiveFigures({ state }: { state: LiveStatsState }) {
  const { t } = useI18n();
  if (state.refused) {
    return <p className="muted">{t("admin.live.refused")}</p>;
  }
  const s = liveSummary(state);
  const perMin = (v: number | null): string => (v === null ? "–" : formatNumber(v, { maximumFractionDigits: 1 }));
  const figures: [string, string, string][] = [
    ["live-connections", t("admin.live.connections"), s.connections === null ? "–" : formatNumber(s.connections)],
    ["live-p50", t("admin.live.p50"), formatMs(s.p50Ms)],
    ["live-p99", t("admin.live.p99"), formatMs(s.p99Ms)],
    ["live-reconnects", t("admin.live.reconnectsPerMin"), perMin(s.reconnectsPerMin)],
    ["live-connects", t("admin.live.connectsPerMin"), perMin(s.connectsPerMin)],
    ["live-slow", t("admin.live.slow"), formatNumber(s.slow)],
  ];
  return (
    <div className="panel live-figures" data-testid="live-figures" data-slots={state.slots.length}>
      <div className="live-head">
        <h2>{t("admin.live.title")}</h2>
        <span className="muted">
          {state.instance ? t("admin.live.instance", { instance: state.instance, slot: formatNumber(state.slotS) }) : t("admin.live.waiting")}
        </span>
      </div>
      <dl className="live-tiles">
        {figures.map(([id, label, value]) => (
          <div key={id} className="live-tile">
            <dt>{label}</dt>
            <dd data-testid={id}>{value}</dd>
          </div>
        ))}
      </dl>
      <LatencyChart state={state} />
    </div>
  );
}
