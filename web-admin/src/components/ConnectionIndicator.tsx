/**
 * The connection, always in view: connected (with the live delivery latency),
 * reconnecting (attempt k, next try in s), offline, or closed; and a banner saying the
 * data on screen is stale whenever the stream is down.
 */

import { formatMs, useNow } from "../lib/format";
import { ConnectionState, type ConnectionStatus, isLive } from "../lib/ws/client";
import { useWebSocket } from "../lib/ws/useWebSocket";
import { useLatency } from "../store";

function countdown(status: ConnectionStatus, now: number): string {
  if (status.nextRetryAtMs === null) return "";
  // `now` may predate the schedule (the display timer starts with it): never show more than the wait.
  const left = Math.min(status.nextRetryAtMs - now, status.retryDelayMs ?? Infinity);
  const s = Math.max(0, left / 1000);
  return `next try in ${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
}

function label(status: ConnectionStatus, now: number): string {
  switch (status.state) {
    case ConnectionState.Connected:
      return "Live";
    case ConnectionState.Connecting:
      return "Connecting…";
    case ConnectionState.Reconnecting: {
      const parts = [`attempt ${Math.max(1, status.attempt)}`];
      const next = countdown(status, now);
      parts.push(next || "trying now");
      return `Reconnecting (${parts.join(", ")})`;
    }
    case ConnectionState.Offline: {
      const next = countdown(status, now);
      return next ? `Offline (${next})` : "Offline";
    }
    case ConnectionState.Closed:
      return "Disconnected";
    case ConnectionState.Idle:
      return "Not connected";
  }
}

export function ConnectionIndicator() {
  const { status, reconnectNow } = useWebSocket();
  const waiting = status.nextRetryAtMs !== null;
  const now = useNow(200, waiting);
  const latency = useLatency();
  const live = isLive(status);
  return (
    <div
      className={`conn conn-${status.state}`}
      data-testid="connection-indicator"
      data-state={status.state}
      data-attempt={status.attempt}
      title={status.detail}
      role="status"
      aria-live="polite"
    >
      <span className="conn-dot" aria-hidden />
      <span className="conn-label">{label(status, now)}</span>
      {live && (
        <span className="conn-latency" data-testid="latency" title="Delivery latency: now − stored, mean of the last 200 readings">
          {latency.lastMs === null ? "latency –" : formatMs(latency.meanMs)}
        </span>
      )}
      {!live && status.state !== ConnectionState.Connecting && (
        <button type="button" className="btn btn-small" onClick={reconnectNow}>
          Retry now
        </button>
      )}
    </div>
  );
}

/** Shown under the top bar while the stream is down: what is on screen is not live. */
export function ConnectionBanner() {
  const { status } = useWebSocket();
  if (status.state === ConnectionState.Connected || status.state === ConnectionState.Idle || status.state === ConnectionState.Connecting) {
    return null;
  }
  const offline = status.state === ConnectionState.Offline;
  let why: string;
  if (offline) {
    why = status.offlineCause === "heartbeat" ? "The bridge stopped answering." : "The browser has no network.";
  } else if (status.state === ConnectionState.Closed) {
    why = `The connection was closed: ${status.detail}.`;
  } else {
    why = "The connection to the bridge was lost.";
  }
  return (
    <div
      className={`banner ${offline ? "banner-offline" : "banner-stale"}`}
      data-testid={offline ? "offline-banner" : "stale-banner"}
      role="alert"
    >
      <strong>{offline ? "Offline." : "Live updates paused."}</strong> {why} Values on screen are stale
      {" "}and catch up by themselves when the
      connection is back.
    </div>
  );
}
