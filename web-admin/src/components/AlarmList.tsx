/**
 * A farm's alarms with filters: the open ones live from the store, or the history over REST
 * (`GET /farms/{id}/alarms`, newest first, paged by `before_seq`) with live copies laid over.
 */

import { useCallback, useEffect, useMemo, useState } from "react";

import { t as translate, useI18n } from "../i18n";
import { api, errorText } from "../lib/api";
import { formatDateTime } from "../lib/format";
import type { AlarmSeverity } from "../lib/ws/messages";
import { type AlarmListState, type AlarmView, alarmView, byUrgency, historyRows } from "../store/alarms";
import type { FarmState } from "../store/farmState";
import { severityLabel, stateLabel, alarmSource, alarmTitle } from "./alarmLabels";


/** The table's columns, by their catalogue keys (`alarms.column.*`). */
const ALARM_COLUMNS = ["severity", "alarm", "source", "state", "raised", "cleared", "acknowledged"] as const;

/** Alarms per history page. */
export const ALARM_PAGE_SIZE = 50;

export function AlarmList({ farmId, farm }: { farmId: number; farm: FarmState | undefined }) {
  const { t } = useI18n();
  const [state, setState] = useState<AlarmListState>("open");
  const [severity, setSeverity] = useState<AlarmSeverity | "all">("all");
  const [pages, setPages] = useState<AlarmView[]>([]);
  const [more, setMore] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const fetchPage = useCallback(
    (beforeSeq: number | undefined) =>
      api
        .alarms(farmId, { state, severity: severity === "all" ? undefined : severity, beforeSeq, limit: ALARM_PAGE_SIZE })
        .then(({ alarms }) => ({ views: alarms.map(alarmView), more: alarms.length === ALARM_PAGE_SIZE })),
    [farmId, state, severity],
  );
  // The module's `t`, stable across renders, so the effect below need not depend on it.
  const failed = (err: unknown): void => setError(translate("alarms.failed", { error: errorText(err) }));

  // The open alarms are the store's (snapshot plus stream); only history is fetched, and an
  // answer for filters no longer chosen is dropped.
  useEffect(() => {
    if (state === "open") return undefined;
    let current = true;
    fetchPage(undefined)
      .then((page) => {
        if (!current) return;
        setPages(page.views);
        setMore(page.more);
        setLoaded(true);
        setError(null);
      })
      .catch((err: unknown) => {
        if (current) failed(err);
      });
    return () => {
      current = false;
    };
  }, [fetchPage, state]);

  const loadOlder = (beforeSeq: number | undefined): void => {
    setBusy(true);
    fetchPage(beforeSeq)
      .then((page) => {
        setPages((held) => [...held, ...page.views]);
        setMore(page.more);
      })
      .catch(failed)
      .finally(() => setBusy(false));
  };

  const live = useMemo(() => Object.values(farm?.alarms ?? {}), [farm?.alarms]);
  const rows = useMemo(
    () =>
      state === "open"
        ? live.filter((a) => severity === "all" || a.severity === severity).sort(byUrgency)
        : historyRows(pages, live, state, severity),
    [state, severity, live, pages],
  );
  const oldest = pages.length ? Math.min(...pages.map((a) => a.seq)) : undefined;

  return (
    <div className="alarm-list" data-testid="alarm-list">
      <div className="alarm-filters">
        <div className="btn-group" role="group" aria-label={t("alarms.filter.state")}>
          {(["open", "all", "closed"] as const).map((s) => (
            <button
              key={s}
              type="button"
              className={`btn btn-small${s === state ? " btn-active" : ""}`}
              aria-pressed={s === state}
              onClick={() => {
                setPages([]);
                setMore(false);
                setLoaded(false);
                setState(s);
              }}
              data-testid={`alarm-filter-${s}`}
            >
              {t(`alarms.filter.${s}`)}
            </button>
          ))}
        </div>
        <label className="field field-inline">
          <span>{t("alarms.filter.severity")}</span>
          <select
            value={severity}
            onChange={(e) => {
              setPages([]);
              setMore(false);
              setLoaded(false);
              setSeverity(e.target.value as AlarmSeverity | "all");
            }}
            data-testid="alarm-filter-severity"
          >
            <option value="all">{t("alarms.filter.anySeverity")}</option>
            <option value="critical">{severityLabel("critical")}</option>
            <option value="warning">{severityLabel("warning")}</option>
          </select>
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {rows.length === 0 ? (
        <p className="muted">{state !== "open" && !loaded && !error ? t("common.loading") : t("alarms.empty")}</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                {ALARM_COLUMNS.map((c) => (
                  <th key={c}>{t(`alarms.column.${c}`)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id} data-testid={`alarm-row-${a.id}`} data-state={a.state}>
                  <td>
                    <span className={`sev sev-${a.severity}`}>{severityLabel(a.severity)}</span>
                  </td>
                  <td>{alarmTitle(a)}</td>
                  <td>{farm ? alarmSource(a, farm.devices, farm.sensors) : ""}</td>
                  <td>
                    <span className={`alarm-state alarm-state-${a.state}`}>{stateLabel(a.state)}</span>
                  </td>
                  <td>{formatDateTime(a.raisedAtMs)}</td>
                  <td>{formatDateTime(a.clearedAtMs)}</td>
                  <td>
                    {a.ack ? t("alarms.ackBy", { user: a.ack.user, at: formatDateTime(a.ack.atMs) }) : "–"}
                    {a.ack?.comment && <div className="muted">“{a.ack.comment}”</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {state !== "open" && more && (
        <button type="button" className="btn btn-small" disabled={busy} onClick={() => loadOlder(oldest)}>
          {t("alarms.older")}
        </button>
      )}
    </div>
  );
}
