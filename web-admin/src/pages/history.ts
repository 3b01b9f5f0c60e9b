/**
 * Initial loads over REST, each done once per farm or sensor per session: the first page
 * of events and commands, and the history of a sensor over a range. Never repeated on a timer.
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
  /** A custom range's end (epoch ms); none: the window ends now and moves with it. */
  endMs?: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

export const RANGES: readonly Range[] = [
  { label: "1 h", ms: HOUR_MS },
  { label: "24 h", ms: DAY_MS },
  { label: "7 d", ms: 7 * DAY_MS },
];

/** The shortest custom range: one minute. */
export const MIN_CUSTOM_RANGE_MS = MINUTE_MS;

/**
 * A custom range from two `datetime-local` values (local time), or null when either is
 * not a time or `from` is not at least MIN_CUSTOM_RANGE_MS before `to`.
 */
export function customRange(from: string, to: string): Range | null {
  const startMs = new Date(from).getTime();
  const endMs = new Date(to).getTime();
  if (!from || !to || !Number.isFinite(startMs) || !Number.isFinite(endMs)) return null;
  if (endMs - startMs < MIN_CUSTOM_RANGE_MS) return null;
  return { label: "custom", ms: endMs - startMs, endMs };
}

/** A time as a `datetime-local` input shows it (local time, to the minute). */
export function localInput(ms: number): string {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Bucket sizes a chart picks from (s): from 5 min on whole 5 minutes, from 1 h on whole hours. */
export const BUCKET_SIZES_S: readonly number[] = [
  15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400,
];
/** A chart asks for at most about this many buckets (the server answers up to 5,000). */
export const MAX_CHART_BUCKETS = 400;
/** From this range on, buckets are whole 5 minutes at least, so the rollups answer. */
export const ROLLUP_RANGE_MS = DAY_MS;
const ROLLUP_5M_S = 300;

/**
 * The bucket size for a range: the smallest of BUCKET_SIZES_S giving at most
 * MAX_CHART_BUCKETS buckets; for ranges of ROLLUP_RANGE_MS and more at least 5 minutes.
 * Every size of 5 min or more is a whole multiple of 5 min, and of 1 h from 1 h on.
 */
export function bucketSizeS(rangeMs: number): number {
  const floor = rangeMs >= ROLLUP_RANGE_MS ? ROLLUP_5M_S : 0;
  for (const s of BUCKET_SIZES_S) {
    if (s >= floor && rangeMs / (s * 1000) <= MAX_CHART_BUCKETS) return s;
  }
  const day = BUCKET_SIZES_S[BUCKET_SIZES_S.length - 1] as number;
  return Math.ceil(rangeMs / (day * 1000) / MAX_CHART_BUCKETS) * day; // years: whole days
}

export interface BucketQuery {
  startMs: number;
  /** Exclusive; undefined: up to now. */
  endMs: number | undefined;
  bucketS: number;
}

/**
 * The bucket request for a range at `nowMs`: the start aligned down to the bucket size
 * (epoch-aligned, so whole 5 minutes or hours in UTC), a custom end aligned up, so the
 * server answers whole periods from its rollups.
 */
export function bucketQuery(range: Range, nowMs: number): BucketQuery {
  const bucketS = bucketSizeS(range.ms);
  const bucketMs = bucketS * 1000;
  const end = range.endMs ?? nowMs;
  const startMs = Math.floor((end - range.ms) / bucketMs) * bucketMs;
  const endMs = range.endMs === undefined ? undefined : Math.ceil(range.endMs / bucketMs) * bucketMs;
  return { startMs, endMs, bucketS };
}

/** Names a range: two ranges with one key load the same buckets. */
export function rangeKey(range: Range): string {
  return range.endMs === undefined ? `${range.ms}` : `${range.ms}@${range.endMs}`;
}

const historyLoaded = new Map<number, string>(); // sensor -> key of the range loaded last
const historyPending = new Map<number, { key: string; done: Promise<void> }>(); // the latest load

/**
 * Loads a sensor's history for a range, unless that range is loaded or loading already
 * (`once`: unless anything is, for a sensor's sparkline). Of overlapping loads of one
 * sensor only the latest sets the history.
 */
export function loadHistory(sensorId: number, range: Range, once = false): Promise<void> {
  const key = rangeKey(range);
  const pending = historyPending.get(sensorId);
  if (pending && (once || pending.key === key)) return pending.done;
  const loaded = historyLoaded.get(sensorId);
  if (loaded !== undefined && (once || loaded === key)) return Promise.resolve();
  const q = bucketQuery(range, Date.now());
  const done = api.buckets(sensorId, q.startMs, q.endMs, q.bucketS).then(
    (buckets) => {
      if (historyPending.get(sensorId)?.done !== done) return; // a later load replaced this one
      historyPending.delete(sensorId);
      liveStore.seriesOf(sensorId).setHistory(buckets, q.bucketS * 1000);
      historyLoaded.set(sensorId, key);
    },
    (err: unknown) => {
      if (historyPending.get(sensorId)?.done === done) historyPending.delete(sensorId);
      throw err;
    },
  );
  historyPending.set(sensorId, { key, done });
  return done;
}

/** Forgets what was loaded (on log out). */
export function forgetLoads(): void {
  eventsLoaded.clear();
  commandsLoaded.clear();
  historyLoaded.clear();
  historyPending.clear();
}
