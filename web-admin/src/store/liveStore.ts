/**
 * The one store of live farm state: fed by the stream client, read by React.
 *
 * Messages are queued as they arrive and applied together once per animation frame
 * (or every HIDDEN_FLUSH_INTERVAL_MS while the tab is hidden, where frames stop), so
 * 200 readings/s cost a handful of renders per second, not 200.
 */

import type { FarmMessage } from "../lib/ws/client";
import {
  type CommandView,
  type EventView,
  type FarmState,
  applyChanges,
  applySnapshot,
  emptyFarm,
  mergeCommands,
  mergeEventHistory,
} from "./farmState";
import { type AlarmView, mergeAlarms } from "./alarms";
import { Series } from "./series";

/** While the tab is hidden animation frames stop; queued messages are applied this often. */
export const HIDDEN_FLUSH_INTERVAL_MS = 500;
/** Latency samples kept for the average. */
export const LATENCY_WINDOW_SAMPLES = 200;

/** Schedules a flush; returns nothing. The browser's is requestAnimationFrame. */
export type FlushScheduler = (flush: () => void) => void;

export function browserScheduler(): FlushScheduler {
  return (flush) => {
    if (typeof document !== "undefined" && document.visibilityState === "hidden") {
      window.setTimeout(flush, HIDDEN_FLUSH_INTERVAL_MS);
    } else {
      window.requestAnimationFrame(() => flush());
    }
  };
}

export interface LatencyStats {
  /** now - stored of the newest reading, in ms. */
  lastMs: number | null;
  /** The mean over the last LATENCY_WINDOW_SAMPLES readings. */
  meanMs: number | null;
  maxMs: number | null;
  samples: number;
}

export type FarmsView = Readonly<Record<number, FarmState>>;

export class LiveStore {
  private farms: FarmsView = {};
  private readonly series = new Map<number, Series>();
  private queue: FarmMessage[] = [];
  private scheduled = false;
  private readonly listeners = new Set<() => void>();
  private readonly latencyWindow: number[] = [];
  private latency: LatencyStats = { lastMs: null, meanMs: null, maxMs: null, samples: 0 };
  /** The last seq of a resume's replay, per farm: replayed changes are old, not slow. */
  private readonly replayUntil = new Map<number, number>();
  /** When data last reached the store, per farm (epoch ms of receipt). */
  private readonly lastReceiptMs = new Map<number, number>();
  /** Flushes so far, for diagnostics and tests. */
  flushes = 0;

  constructor(private readonly schedule: FlushScheduler = browserScheduler()) {}

  // ---- reading -----------------------------------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getFarms = (): FarmsView => this.farms;

  getFarm(id: number): FarmState | undefined {
    return this.farms[id];
  }

  getLatency = (): LatencyStats => this.latency;

  lastReceipt(farm: number): number | null {
    return this.lastReceiptMs.get(farm) ?? null;
  }

  /** The series of a sensor, made on first use. */
  seriesOf(sensorId: number): Series {
    let s = this.series.get(sensorId);
    if (!s) {
      s = new Series();
      this.series.set(sensorId, s);
    }
    return s;
  }

  // ---- writing -----------------------------------------------------------------------

  /** Queues a message from the stream client; applied at the next flush. */
  handle = (message: FarmMessage): void => {
    this.queue.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  };

  /** Applies everything queued, then tells the listeners once. */
  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    if (!queue.length) return;
    this.queue = [];
    const changed: { farms: Record<number, FarmState> | null } = { farms: null };
    const get = (id: number): FarmState | undefined => (changed.farms ?? this.farms)[id];
    const put = (state: FarmState): void => {
      if (get(state.id) === state) return;
      changed.farms ??= { ...this.farms };
      changed.farms[state.id] = state;
    };
    for (const msg of queue) {
      switch (msg.type) {
        case "snapshot": {
          const prev = get(msg.farm);
          if (prev && prev.epoch !== msg.epoch) {
            for (const id of Object.keys(prev.sensors)) this.seriesOf(Number(id)).resetSeq();
          }
          put(applySnapshot(prev, msg.farm, msg.epoch, msg.snapshot));
          this.lastReceiptMs.set(msg.farm, msg.receivedAtMs);
          break;
        }
        case "changes": {
          const prev = get(msg.farm);
          if (!prev) break;
          const next = applyChanges(prev, msg.changes);
          if (next !== prev) {
            for (const change of msg.changes) {
              if (change.kind !== "reading" || change.seq <= prev.seq) continue;
              this.seriesOf(change.sensorId).append(change.seq, change.tsMs, change.value);
              if (change.seq > (this.replayUntil.get(msg.farm) ?? 0)) {
                this.recordLatency(msg.receivedAtMs - change.storedMs);
              }
            }
            put(next);
          }
          this.lastReceiptMs.set(msg.farm, msg.receivedAtMs);
          break;
        }
        case "resumed":
          this.replayUntil.set(msg.farm, msg.to);
          break;
        case "resync":
          break;
        case "ended": {
          // Kept on the farm (made if need be) so its page can say why instead of waiting.
          const prev = get(msg.farm) ?? emptyFarm(msg.farm);
          put({ ...prev, hasSnapshot: false, endedReason: msg.reason });
          break;
        }
      }
    }
    this.flushes += 1;
    if (changed.farms) this.farms = changed.farms;
    this.notify();
  }

  /** Events loaded over REST (the log's first page). */
  addEventHistory(farmId: number, events: readonly EventView[]): void {
    const prev = this.farms[farmId] ?? emptyFarm(farmId);
    this.setFarm(mergeEventHistory(prev, events));
  }

  /** Commands loaded over REST, or one just sent. */
  addCommands(farmId: number, commands: readonly CommandView[]): void {
    const prev = this.farms[farmId] ?? emptyFarm(farmId);
    this.setFarm(mergeCommands(prev, commands));
  }

  /** Alarms from REST (an acknowledgement's answer); a newer copy held already wins. */
  addAlarms(farmId: number, alarms: readonly AlarmView[]): void {
    const prev = this.farms[farmId];
    if (!prev) return;
    const next = mergeAlarms(prev.alarms, alarms);
    if (next !== prev.alarms) this.setFarm({ ...prev, alarms: next });
  }

  /** Forgets everything (on log out). */
  clear(): void {
    this.farms = {};
    this.series.clear();
    this.queue = [];
    this.lastReceiptMs.clear();
    this.replayUntil.clear();
    this.notify();
  }

  private setFarm(state: FarmState): void {
    if (this.farms[state.id] === state) return;
    this.farms = { ...this.farms, [state.id]: state };
    this.notify();
  }

  private recordLatency(ms: number): void {
    const sample = Math.max(0, ms);
    this.latencyWindow.push(sample);
    if (this.latencyWindow.length > LATENCY_WINDOW_SAMPLES) this.latencyWindow.shift();
    let sum = 0;
    let max = 0;
    for (const v of this.latencyWindow) {
      sum += v;
      if (v > max) max = v;
    }
    this.latency = {
      lastMs: sample,
      meanMs: sum / this.latencyWindow.length,
      maxMs: max,
      samples: this.latency.samples + 1,
    };
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
