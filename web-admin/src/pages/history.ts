/**
 * Initial loads over REST, each done once per farm or sensor per session: the first page
 * of events and commands, and an hour of history per sensor. Never repeated on a timer.
 */

import { api, commandView } from "../lib/api";
import { liveStore } from "../store";
import type { EventView } from "../store/farmState";

/** Events loaded for the log and the active alarms. */
export const INITIAL_EVENTS = 200;
export const INITIAL_COMMANDS = 50;

const eventsLoaded = new Set<number>();
const commandsLoaded = new Set<number>();

export function loadEventsOnce(farmId: number): void {
  if (eventsLoaded.has(farmId)) return;
  eventsLoaded.add(farmId);
  api
    .events(farmId, { limit: INITIAL_EVENTS })
    .then((events) => {
      const views: EventView[] = events.map((e) => ({
        seq: e.seq,
        deviceId: e.device_id,
        level: e.level,
        code: e.code,
        message: e.message,
        tsMs: e.ts_ms,
      }));
      liveStore.addEventHistory(farmId, views);
    })
    .catch(() => eventsLoaded.delete(farmId));
}

export function loadCommandsOnce(farmId: number): void {
  if (commandsLoaded.has(farmId)) return;
  commandsLoaded.add(farmId);
  api
    .farmCommands(farmId, INITIAL_COMMANDS)
    .then((cmds) => liveStore.addCommands(farmId, cmds.map(commandView)))
    .catch(() => commandsLoaded.delete(farmId));
}

export interface Range {
  label: string;
  ms: number;
  bucketS: number;
}

export const RANGES: readonly Range[] = [
  { label: "1 h", ms: 3_600_000, bucketS: 15 },
  { label: "24 h", ms: 86_400_000, bucketS: 300 },
  { label: "7 d", ms: 7 * 86_400_000, bucketS: 1_800 },
];

const historyLoaded = new Map<number, number>(); // sensor -> range loaded last (ms)

/**
 * Loads a sensor's history for a range. `initial` loads skip a sensor loaded already
 * (coming back to a page); a range the user picks is always fetched.
 */
export async function loadHistory(sensorId: number, range: Range, initial = false): Promise<void> {
  const had = historyLoaded.get(sensorId);
  if (initial && had !== undefined) return;
  historyLoaded.set(sensorId, range.ms);
  try {
    const buckets = await api.buckets(sensorId, Date.now() - range.ms, undefined, range.bucketS);
    liveStore.seriesOf(sensorId).setHistory(buckets, range.bucketS * 1000);
  } catch (err) {
    if (had === undefined) historyLoaded.delete(sensorId);
    else historyLoaded.set(sensorId, had);
    throw err;
  }
}

/** Forgets what was loaded (on log out). */
export function forgetLoads(): void {
  eventsLoaded.clear();
  commandsLoaded.clear();
  historyLoaded.clear();
}
