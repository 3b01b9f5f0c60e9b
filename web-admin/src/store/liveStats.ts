/**
 * The live figures of the bridge instance this tab is connected to, as the stream tells them
 * (docs/protocol.md, "Live figures"): a pure reducer over `stats` messages, and what the
 * Connections page reads off it.
 */

import type { StatsEvent } from "../lib/ws/client";
import type { StatsMessage, StatsSlot } from "../lib/ws/messages";

export interface LiveStatsState {
  instance: string | null;
  slotS: number;
  windowS: number;
  /** Open connections now; null until the first message. */
  connections: number | null;
  /** Subscribers per farm id, now. */
  farms: Record<string, number>;
  /** Closed slots, oldest first, no older than the window. */
  slots: StatsSlot[];
  /** The server's error code when it refused the figures (not a global admin). */
  refused: string | null;
}

export const EMPTY_LIVE_STATS: LiveStatsState = {
  instance: null,
  slotS: 10,
  windowS: 300,
  connections: null,
  farms: {},
  slots: [],
  refused: null,
};

/** A minute, over which reconnects and connects are counted. */
export const RATE_WINDOW_MS = 60_000;

/** The state after one event: a window (the answer to subscribing) replaces what was known;
 * a pushed slot is appended, and slots older than the window fall off. */
export function reduceLiveStats(state: LiveStatsState, event: StatsEvent): LiveStatsState {
  if (event.type === "refused") return { ...EMPTY_LIVE_STATS, refused: event.code };
  const msg: StatsMessage = event.message;
  const isWindow = msg.id !== null && msg.id !== undefined;
  const known = isWindow || msg.instance !== state.instance ? [] : state.slots;
  const lastT = known.at(-1)?.t ?? -Infinity;
  const merged = [...known, ...msg.slots.filter((s) => s.t > lastT)];
  const newest = merged.at(-1)?.t ?? 0;
  const floor = newest - msg.window_s * 1000;
  return {
    instance: msg.instance,
    slotS: msg.slot_s,
    windowS: msg.window_s,
    connections: msg.connections,
    farms: msg.farms,
    slots: merged.filter((s) => s.t > floor),
    refused: null,
  };
}

export interface LiveSummary {
  connections: number | null;
  /** The newest slot's latency quantiles with a frame in it, in ms. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Resumes (clients back after a drop) per minute, over the last minute of slots. */
  reconnectsPerMin: number | null;
  connectsPerMin: number | null;
  /** Slow consumers over the whole window. */
  slow: number;
}

/** The headline figures, read off the newest slots. */
export function liveSummary(state: LiveStatsState): LiveSummary {
  const { slots } = state;
  const latest = [...slots].reverse().find((s) => s.frames > 0) ?? null;
  let reconnectsPerMin: number | null = null;
  let connectsPerMin: number | null = null;
  const newest = slots.at(-1);
  if (newest) {
    const since = newest.t - RATE_WINDOW_MS;
    const recent = slots.filter((s) => s.t > since);
    const minutes = recent.reduce((sum, s) => sum + s.s, 0) / 60;
    if (minutes > 0) {
      reconnectsPerMin = recent.reduce((sum, s) => sum + s.resumes, 0) / minutes;
      connectsPerMin = recent.reduce((sum, s) => sum + s.connects, 0) / minutes;
    }
  }
  return {
    connections: state.connections,
    p50Ms: latest?.p50 ?? null,
    p99Ms: latest?.p99 ?? null,
    reconnectsPerMin,
    connectsPerMin,
    slow: slots.reduce((sum, s) => sum + s.slow, 0),
  };
}

export interface LatencySeries {
  /** Each slot's start, epoch ms. */
  t: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}

/** The p50 and p99 of each slot, for the chart; a slot without frames is a gap. */
export function latencySeries(state: LiveStatsState): LatencySeries {
  return {
    t: state.slots.map((s) => s.t),
    p50: state.slots.map((s) => s.p50),
    p99: state.slots.map((s) => s.p99),
  };
}
