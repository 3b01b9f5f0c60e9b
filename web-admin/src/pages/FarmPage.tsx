/**
 * One farm, live: a tile per sensor, a chart of the chosen sensor with history over a
 * chosen range, the devices with their controls, and the event log. Data comes from the
 * stream; REST is used for the first page of events and commands, history, and actions.
 */

import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";

import { AlarmAlertSettings } from "../components/AlarmAlertSettings";
import { AlarmBanner } from "../components/AlarmBanner";
import { AlarmList } from "../components/AlarmList";
import { Chart, type ChartSensor, type HistoryState } from "../components/Chart";
import { CustomRange } from "../components/CustomRange";
import { DevicePanel } from "../components/DevicePanel";
import { EventLog } from "../components/EventLog";
import { FarmUnavailable } from "../components/FarmUnavailable";
import { SensorTile } from "../components/SensorTile";
import { errorText } from "../lib/api";
import { useI18n } from "../i18n";
import { formatClock, formatNumber, useNow } from "../lib/format";
import { isLive } from "../lib/ws/client";
import { useWebSocket } from "../lib/ws/useWebSocket";
import { liveStore, useFarm } from "../store";
import { unavailableReason } from "../store/access";
import { roleOn, useDirectory } from "../store/directory";
import type { SensorView } from "../store/farmState";
import { RANGES, type Range, loadCommandsOnce, loadEventsOnce, loadHistory, rangeKey } from "./history";

function chartSensor(s: SensorView, intervalS: number | null | undefined): ChartSensor {
  return {
    id: s.id,
    label: s.name,
    unit: s.unit,
    intervalMs: intervalS != null && intervalS > 0 ? intervalS * 1000 : null,
  };
}

/** A history range's button label, "1 h" / "1시간", from its length. */
function rangeLabel(ms: number): string {
  const h = ms / 3_600_000;
  return h < 48
    ? formatNumber(h, { style: "unit", unit: "hour", unitDisplay: "narrow" })
    : formatNumber(h / 24, { style: "unit", unit: "day", unitDisplay: "narrow" });
}

export function FarmPage() {
  const { t } = useI18n();
  const farmId = Number(useParams().farmId);
  const { farms, me } = useDirectory();
  const info = farms.find((f) => f.id === farmId);
  const { status } = useWebSocket(Number.isFinite(farmId) ? [farmId] : []);
  const farm = useFarm(Number.isFinite(farmId) ? farmId : null);
  const now = useNow(1000);
  const [selected, setSelected] = useState<number | null>(null);
  const [compareId, setCompareId] = useState<number | null>(null);
  const [range, setRange] = useState<Range>(RANGES[0] as Range);
  // How the chart's loads went, by sensor and range; none yet: loading.
  const [loads, setLoads] = useState<Record<string, { state: HistoryState; error?: string }>>({});

  const stale = !isLive(status) || !farm?.hasSnapshot;
  const sensors = useMemo(() => Object.values(farm?.sensors ?? {}).sort((a, b) => a.id - b.id), [farm?.sensors]);
  const devices = useMemo(() => Object.values(farm?.devices ?? {}).sort((a, b) => a.id - b.id), [farm?.devices]);
  const commands = useMemo(() => Object.values(farm?.commands ?? {}), [farm?.commands]);
  const sensorIds = sensors.map((s) => s.id).join(",");
  const chosen = sensors.find((s) => s.id === selected) ?? sensors[0];
  const compared = sensors.find((s) => s.id === compareId && s.id !== chosen?.id);

  useEffect(() => {
    if (!Number.isFinite(farmId)) return;
    loadEventsOnce(farmId);
    loadCommandsOnce(farmId);
  }, [farmId]);

  // An hour of history per sensor once, for the sparklines.
  useEffect(() => {
    if (!sensorIds) return;
    for (const id of sensorIds.split(",")) {
      loadHistory(Number(id), RANGES[0] as Range, true).catch(() => undefined); // the chart's load says why
    }
  }, [sensorIds]);

  // The chosen sensors' history over the chosen range (a range loaded already is not fetched again).
  const chosenId = chosen?.id;
  const comparedId = compared?.id;
  const keyOf = (id: number | undefined, r: Range): string => (id === undefined ? "" : `${id}/${rangeKey(r)}`);
  useEffect(() => {
    for (const id of [chosenId, comparedId]) {
      if (id === undefined) continue;
      const key = `${id}/${rangeKey(range)}`;
      loadHistory(id, range).then(
        () => setLoads((prev) => ({ ...prev, [key]: { state: "ready" } })),
        (err: unknown) => setLoads((prev) => ({ ...prev, [key]: { state: "error", error: errorText(err) } })),
      );
    }
  }, [chosenId, comparedId, range]);
  const ids = comparedId === undefined ? [chosenId] : [chosenId, comparedId];
  const states = ids.map((id) => loads[keyOf(id, range)] ?? { state: "loading" as const });
  const load = states.find((l) => l.state === "error") ?? states.find((l) => l.state === "loading") ?? { state: "ready" as const };

  const pickRange = (r: Range): void => {
    if (rangeKey(r) === rangeKey(range)) return;
    setLoads((prev) => {
      const next = { ...prev }; // a failed load is tried again
      for (const id of [chosenId, comparedId]) if (id !== undefined) next[`${id}/${rangeKey(r)}`] = { state: "loading" };
      return next;
    });
    setRange(r);
  };

  const pickSensor = useCallback((id: number) => {
    setSelected(id);
    setRange(RANGES[0] as Range);
  }, []);

  if (!Number.isFinite(farmId)) return <p className="error">{t("farm.notFound")}</p>;
  const unavailable = unavailableReason(farm);
  if (unavailable) return <FarmUnavailable farmId={farmId} reason={unavailable} />;
  const lastUpdate = liveStore.lastReceipt(farmId);
  const role = roleOn(me, farmId);
  const canOperate = role === "operator" || role === "admin";
  return (
    <section className="farm" data-testid="farm-page" data-stale={stale}>
      <div className="page-head">
        <div>
          <Link to="/" className="crumb">
            {t("farm.back")}
          </Link>
          <h1 className="page-title">{info?.title || info?.name || t("farm.fallbackTitle", { id: farmId })}</h1>
        </div>
        <Link to={`/export?farm=${farmId}`} className="btn btn-small" data-testid="export-link">
          {t("farm.exportCsv")}
        </Link>
        <div className="page-meta">
          {stale ? (
            <span className="stale-note" data-testid="stale-note">
              {t("farm.staleNote", { time: formatClock(lastUpdate) })}
            </span>
          ) : (
            <span className="live-note">{t("farm.liveNote", { seq: farm.seq })}</span>
          )}
        </div>
      </div>

      <AlarmBanner farmId={farmId} farm={farm} canAcknowledge={canOperate} />

      {!farm?.hasSnapshot && <p className="muted">{t("farm.waiting")}</p>}

      <div className="tiles" data-testid="tiles">
        {sensors.map((s) => (
          <SensorTile
            key={s.id}
            sensor={s}
            deviceName={farm?.devices[s.deviceId]?.name ?? ""}
            device={farm?.devices[s.deviceId]}
            stale={stale}
            selected={chosen?.id === s.id}
            now={now}
            onSelect={pickSensor}
          />
        ))}
      </div>

      {chosen && (
        <div className="panel">
          <div className="panel-head">
            <h2>
              {chosen.name.replace(/_/g, " ")} <span className="muted">{chosen.unit}</span>
            </h2>
            <div className="btn-group" role="group" aria-label={t("farm.historyRange")}>
              {RANGES.map((r) => (
                <button
                  key={r.label}
                  type="button"
                  className={`btn btn-small${r.label === range.label ? " btn-active" : ""}`}
                  onClick={() => pickRange(r)}
                  data-testid={`range-${r.label.replace(" ", "")}`}
                >
                  {rangeLabel(r.ms)}
                </button>
              ))}
            </div>
            <CustomRange key={chosen.id} range={range} onPick={pickRange} />
            {sensors.length > 1 && (
              <select
                aria-label={t("chart.compare")}
                value={compared?.id ?? ""}
                onChange={(e) => setCompareId(e.target.value ? Number(e.target.value) : null)}
                data-testid="compare"
              >
                <option value="">{t("chart.compareWith")}</option>
                {sensors
                  .filter((s) => s.id !== chosen.id)
                  .map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name.replace(/_/g, " ")}
                    </option>
                  ))}
              </select>
            )}
          </div>
          {load.state === "error" && <p className="error">{t("farm.historyFailed", { error: load.error })}</p>}
          <Chart
            sensor={chartSensor(chosen, farm?.devices[chosen.deviceId]?.intervalS)}
            other={compared ? chartSensor(compared, farm?.devices[compared.deviceId]?.intervalS) : null}
            rangeMs={range.ms}
            endMs={range.endMs}
            history={load.state}
            stale={stale}
          />
        </div>
      )}

      <div className="panel" data-testid="alarms-panel">
        <div className="panel-head">
          <h2>{t("farm.section.alarms")}</h2>
          <AlarmAlertSettings />
        </div>
        <AlarmList farmId={farmId} farm={farm} />
      </div>

      <div className="columns">
        <div className="panel">
          <div className="panel-head">
            <h2>{t("farm.section.devices")}</h2>
          </div>
          <DevicePanel farmId={farmId} devices={devices} commands={commands} canOperate={canOperate} stale={stale} now={now} />
        </div>
        <div className="panel">
          <div className="panel-head">
            <h2>{t("farm.section.events")}</h2>
          </div>
          <EventLog events={farm?.events ?? []} devices={farm?.devices ?? {}} />
        </div>
      </div>
    </section>
  );
}
