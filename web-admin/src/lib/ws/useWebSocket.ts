/**
 * The React side of the stream: one FarmStreamClient per tab, and thin hooks over it.
 *
 * However many components call these hooks, there is one socket; a farm watched by two
 * components is one server subscription (the client counts watchers).
 */

import { useCallback, useEffect, useReducer, useSyncExternalStore } from "react";

import { EMPTY_LIVE_STATS, type LiveStatsState, reduceLiveStats } from "../../store/liveStats";

import { type ConnectionStatus, FarmStreamClient, defaultStreamUrl } from "./client";
import { ALL_TOPICS } from "./messages";

let shared: FarmStreamClient | null = null;

/** The tab's client, made on first use. */
export function getStreamClient(): FarmStreamClient {
  // The topics are named so the subscription asks for `alarms` (protocol 2) explicitly.
  shared ??= new FarmStreamClient({ url: defaultStreamUrl(), topics: [...ALL_TOPICS] });
  return shared;
}

/** Replaces the tab's client (tests, or a page that wants another URL). */
export function setStreamClient(client: FarmStreamClient): void {
  shared = client;
}

export interface UseWebSocketResult {
  status: ConnectionStatus;
  /** Tries now, whatever the backoff says. */
  reconnectNow: () => void;
  client: FarmStreamClient;
}

/** The connection's status, live; optionally watches `farms` while mounted. */
export function useWebSocket(farms: readonly number[] = []): UseWebSocketResult {
  const client = getStreamClient();
  const status = useSyncExternalStore(
    useCallback((notify: () => void) => client.onStatus(notify), [client]),
    () => client.getStatus(),
  );
  const key = farms.join(",");
  useEffect(() => {
    if (!key) return undefined;
    const releases = key.split(",").map((f) => client.subscribe(Number(f)));
    return () => releases.forEach((release) => release());
  }, [client, key]);
  const reconnectNow = useCallback(() => client.reconnectNow(), [client]);
  return { status, reconnectNow, client };
}

/** The connected instance's live figures (global admins), from the stream while mounted. */
export function useLiveStats(): LiveStatsState {
  const client = getStreamClient();
  const [state, dispatch] = useReducer(reduceLiveStats, EMPTY_LIVE_STATS);
  useEffect(() => client.watchStats(dispatch), [client]);
  return state;
}
