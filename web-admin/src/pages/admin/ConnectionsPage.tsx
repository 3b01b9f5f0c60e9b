/**
 * The bridge's live WebSocket connections (global admins): the instance's live figures from
 * the stream (pushed, never polled), and the table of connections, refreshed when asked.
 */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type LiveConnection, api, errorText } from "../../lib/api";
import { formatAgo, formatClock, formatNumber, useNow } from "../../lib/format";
import { LiveFigures } from "../../components/LiveFigures";
import { useLiveStats, useWebSocket } from "../../lib/ws/useWebSocket";
import { useDirectory } from "../../store/directory";

function bytes(n: number): string {
  const one = { minimumFractionDigits: 1, maximumFractionDigits: 1 };
  if (n < 1024) return `${formatNumber(n)} B`;
  if (n < 1024 * 1024) return `${formatNumber(n / 1024, one)} KiB`;
  return `${formatNumber(n / 1024 / 1024, one)} MiB`;
}

export function ConnectionsPage() {
  const { t } = useI18n();
  const [rows, setRows] = useState<LiveConnection[]>([]);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { status } = useWebSocket();
  const live = useLiveStats();
  const { farms } = useDirectory();
  const now = useNow(1000);
  const farmName = (id: number): string => farms.find((f) => f.id === id)?.name ?? t("admin.connections.farmId", { id });

  const load = useCallback(() => {
    api
      .connections()
      .then((r) => {
        setError(null);
        setRows(r);
        setLoadedAt(Date.now());
      })
      .catch((err: unknown) => setError(errorText(err)));
  }, []);
  useEffect(load, [load]);

  return (
    <section>
      <div className="page-head">
        <h1 className="page-title">{t("admin.connections.title")}</h1>
        <div className="row">
          <span className="muted">{t("admin.connections.asOf", { time: formatClock(loadedAt) })}</span>
          <button type="button" className="btn" onClick={load}>
            {t("admin.connections.refresh")}
          </button>
        </div>
      </div>
      <LiveFigures state={live} />
      {error && <p className="error">{error}</p>}
      <div className="panel scroll-x">
        <table className="table" data-testid="connections-table">
          <thead>
            <tr>
              <th>{t("admin.connections.col.id")}</th>
              <th>{t("admin.connections.col.user")}</th>
              <th>{t("admin.connections.col.remote")}</th>
              <th>{t("admin.connections.col.farms")}</th>
              <th>{t("admin.connections.col.connected")}</th>
              <th className="num">{t("admin.connections.col.in")}</th>
              <th className="num">{t("admin.connections.col.out")}</th>
              <th className="num">{t("admin.connections.col.sent")}</th>
              <th className="num">{t("admin.connections.col.queue")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} className={c.id === status.connectionId ? "this-tab" : ""}>
                <td>
                  {c.id}
                  {c.id === status.connectionId && <span className="chip chip-accent">{t("admin.connections.thisTab")}</span>}
                </td>
                <td>{c.user ?? "–"}</td>
                <td>{c.remote}</td>
                <td>
                  {c.farms.map((f) => (
                    <span key={f} className="chip" title={t("admin.connections.farmId", { id: f })}>
                      {farmName(f)}
                      {c.mode[String(f)] === "latest" ? ` (${t("admin.connections.latest")})` : ""}
                    </span>
                  ))}
                </td>
                <td>{formatAgo(c.connected_ms, now)}</td>
                <td className="num">{formatNumber(c.messages_in)}</td>
                <td className="num">{formatNumber(c.messages_out)}</td>
                <td className="num">{bytes(c.bytes_out)}</td>
                <td className="num">
                  {c.queue_depth} / {bytes(c.queue_bytes)}
                </td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={9} className="muted">
                  {t("admin.connections.none")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
