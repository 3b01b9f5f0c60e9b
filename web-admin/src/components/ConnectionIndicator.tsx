/**
 * The connection, always in view: connected (with the live delivery latency),
 * reconnecting (attempt k, next try in s), offline, or closed; and a banner saying the
 * data on screen is stale whenever the stream is down.
 */

import { t, useI18n } from "../i18n";
import { formatMs, formatSeconds, useNow } from "../lib/format";
import { ConnectionState, type ConnectionStatus, isLive } from "../lib/ws/client";
import { useWebSocket } from "../lib/ws/useWebSocket";
import { useLatency } from "../store";

function countdown(status: ConnectionStatus, now: number): string {
  if (status.nextRetryAtMs === null) return "";
  // `now` may predate the schedule (the display timer starts with it): never show more than the wait.
  const left = Math.min(status.nextRetryAtMs - now, status.retryDelayMs ?? Infinity);
  const s = Math.max(0, left / 1000);
  return t("conn.nextTry", { seconds: s < 10 ? formatSeconds(s, 1) : formatSeconds(Math.round(s)) });
}

function label(status: ConnectionStatus, now: number): string {
  switch (status.state) {
    case ConnectionState.Connected:
      return t("conn.live");
    case ConnectionState.Connecting:
      return t("conn.connecting");
    case ConnectionState.Reconnecting: {
      const parts = [t("conn.attempt", { n: Math.max(1, status.attempt) })];
      const next = countdown(status, now);
      parts.push(next || t("conn.tryingNow"));
      return t("conn.reconnecting", { detail: parts.join(", ") });
    }
    case ConnectionState.Offline: {
      const next = countdown(status, now);
      return next ? t("conn.offlineRetry", { next }) : t("conn.offline");
    }
    case ConnectionState.Closed:
      return t("conn.closed");
    case ConnectionState.Idle:
      return t("conn.idle");
  }
}

export function ConnectionIndicator() {
  useI18n();
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
        <span className="conn-latency" data-testid="latency" title={t("conn.latency.title")}>
          {latency.lastMs === null ? t("conn.latency.none") : formatMs(latency.meanMs)}
        </span>
      )}
      {!live && status.state !== ConnectionState.Connecting && (
        <button type="button" className="btn btn-small" onClick={reconnectNow}>
          {t("conn.retryNow")}
        </button>
      )}
    </div>
  );
}

/** Shown under the top bar while the stream is down: what is on screen is not live. */
export function ConnectionBanner() {
  const { t } = useI18n();
  const { status } = useWebSocket();
  if (status.state === ConnectionState.Connected || status.state === ConnectionState.Idle || status.state === ConnectionState.Connecting) {
    return null;
  }
  const offline = status.state === ConnectionState.Offline;
  let why: string;
  if (offline) {
    why = status.offlineCause === "heartbeat" ? t("conn.why.heartbeat") : t("conn.why.network");
  } else if (status.state === ConnectionState.Closed) {
    why = t("conn.why.closed", { detail: status.detail });
  } else {
    why = t("conn.why.lost");
  }
  return (
    <div
      className={`banner ${offline ? "banner-offline" : "banner-stale"}`}
      data-testid={offline ? "offline-banner" : "stale-banner"}
      role="alert"
    >
      <strong>{offline ? t("conn.banner.offline") : t("conn.banner.paused")}</strong> {why} {t("conn.banner.stale")}
    </div>
  );
}
