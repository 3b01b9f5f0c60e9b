/** The tab's live store and the hooks that read it. */

import { useCallback, useSyncExternalStore } from "react";

import type { FarmState } from "./farmState";
import { type FarmsView, type LatencyStats, LiveStore } from "./liveStore";
import type { Series } from "./series";

export const liveStore = new LiveStore();

/** One farm's state; re-renders only when that farm changed. */
export function useFarm(id: number | null): FarmState | undefined {
  return useSyncExternalStore(
    liveStore.subscribe,
    useCallback(() => (id === null ? undefined : liveStore.getFarm(id)), [id]),
  );
}

/** Every farm's state. */
export function useFarms(): FarmsView {
  return useSyncExternalStore(liveStore.subscribe, liveStore.getFarms);
}

export function useLatency(): LatencyStats {
  return useSyncExternalStore(liveStore.subscribe, liveStore.getLatency);
}

/** A sensor's series and its version (which moves on each new point). */
export function useSeries(sensorId: number): { series: Series; version: number } {
  const series = liveStore.seriesOf(sensorId);
  const version = useSyncExternalStore(
    liveStore.subscribe,
    useCallback(() => series.version, [series]),
  );
  return { series, version };
}
