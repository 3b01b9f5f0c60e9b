/** The bridge's live WebSocket connections (global admins); refreshed when asked, not on a timer. */

import { useCallback, useEffect, useState } from "react";

import { ApiError, type LiveConnection, api } from "../../lib/api";
import { formatAgo, formatClock, useNow } from "../../lib/format";
import { useWebSocket } from "../../lib/ws/useWebSocket";
import { useDirectory } from "../../store/directory";

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function ConnectionsPage() {
  const [rows, setRows] = useState<LiveConnection[]>([]);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { status } = useWebSocket();
  const { farms } = useDirectory();
  const now = useNow(1000);
  const farmName = (id: number): string => farms.find((f) => f.id === id)?.name ?? `farm ${id}`;

  const load = useCallback(() => {
    api
      .connections()
      .then((r) => {
        setError(null);
        setRows(r);
        setLoadedAt(Date.now());
      })
      .catch((err: unknown) => setError(err instanceof ApiError ? err.message : String(err)));
  }, []);
  useEffect(load, [load]);

  return (
    <section>
      <div className="page-head">
        <h1 className="page-title">Live connections</h1>
        <div className="row">
          <span className="muted">as of {formatClock(loadedAt)}</span>
          <button type="button" className="btn" onClick={load}>
            Refresh
          </button>
        </div>
      </div>
      {error && <p className="error">{error}</p>}
      <div className="panel scroll-x">
        <table className="table" data-testid="connections-table">
          <thead>
            <tr>
              <th>Id</th>
              <th>User</th>
              <th>Remote</th>
              <th>Farms</th>
              <th>Connected</th>
              <th className="num">In</th>
              <th className="num">Out</th>
              <th className="num">Sent</th>
              <th className="num">Queue</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} className={c.id === status.connectionId ? "this-tab" : ""}>
                <td>
                  {c.id}
                  {c.id === status.connectionId && <span className="chip chip-accent">this tab</span>}
                </td>
                <td>{c.user ?? "–"}</td>
                <td>{c.remote}</td>
                <td>
                  {c.farms.map((f) => (
                    <span key={f} className="chip" title={`farm ${f}`}>
                      {farmName(f)}
                      {c.mode[String(f)] === "latest" ? " (latest)" : ""}
                    </span>
                  ))}
                </td>
                <td>{formatAgo(c.connected_ms, now)}</td>
                <td className="num">{c.messages_in}</td>
                <td className="num">{c.messages_out}</td>
                <td className="num">{bytes(c.bytes_out)}</td>
                <td className="num">
                  {c.queue_depth} / {bytes(c.queue_bytes)}
                </td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={9} className="muted">
                  No connections.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
