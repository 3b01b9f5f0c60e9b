/**
 * One farm's live state and its reducers: pure functions ordered by seq.
 *
 * Every change carries the farm's seq. A farm's state keeps the highest seq applied, and
 * each device, sensor and command keeps the seq of its own last change, so a change that
 * comes late or twice (a replay after a reconnect, a REST page loaded after live data)
 * never overwrites a newer one. Reducers return new objects for what changed and keep
 * the rest, so React sees exactly what moved.
 */

import type {
  Actuator,
  AlarmChange,
  Change,
  CommandState,
  DeviceState,
  EventLevel,
  Snapshot,
} from "../lib/ws/messages";
import { withoutDevice } from "./removal";
import { type AlarmView, type OpenAlarms, alarmsFromSnapshot, applyAlarmChanges, openAlarmList } from "./alarms";

/** Events kept per farm for the log; older ones are paged in by REST when asked. */
export const MAX_EVENTS_PER_FARM = 500;
/** A device's "last seen" moves in steps of this much, so readings do not redraw the device list each frame. */
export const LAST_SEEN_RESOLUTION_MS = 1_000;
/** Commands kept per farm for the device panel. */
export const MAX_COMMANDS_PER_FARM = 200;

export interface SensorView {
  id: number;
  deviceId: number;
  name: string;
  unit: string;
  min: number | null;
  max: number | null;
  value: number | null;
  /** The previous value, for the trend arrow. */
  previous: number | null;
  tsMs: number | null;
  /** The seq of the value shown. */
  seq: number;
}

export interface DeviceView {
  id: number;
  name: string;
  kind: string;
  title: string;
  state: DeviceState;
  actuator: Actuator;
  statusTsMs: number;
  lastSeenMs: number | null;
  /** The seq of the status shown (0 when it came from a snapshot). */
  statusSeq: number;
  /** The expected reporting interval in s (set or learned), or null when unknown. */
  intervalS: number | null;
  /** The silence in s after which the server turns the device offline, or null. */
  offlineAfterS: number | null;
  /** Whether a command to it is confirmed first; absent (an older server): it is. */
  confirmCommands?: boolean;
}

export interface EventView {
  seq: number;
  deviceId: number | null;
  level: EventLevel;
  code: string;
  message: string;
  tsMs: number;
}

export interface CommandView {
  id: number;
  deviceId: number;
  action: string;
  params: Record<string, unknown> | null;
  state: CommandState;
  detail: string;
  /** The seq of the state shown. */
  seq: number;
  updatedMs: number;
}

export interface FarmState {
  id: number;
  epoch: string | null;
  /** The highest seq applied; changes at or below it are ignored. */
  seq: number;
  hasSnapshot: boolean;
  sensors: Readonly<Record<number, SensorView>>;
  devices: Readonly<Record<number, DeviceView>>;
  /** Newest first. */
  events: readonly EventView[];
  commands: Readonly<Record<number, CommandView>>;
  /** Warnings and alarms raised and not yet cleared, by `deviceId:code` (from events; the log's view). */
  conditions: Readonly<Record<string, EventView>>;
  /** The farm's open alarms by id (protocol 2: the snapshot, then the `alarms` topic). */
  alarms: OpenAlarms;
  /** The device time of the newest reading. */
  lastReadingMs: number | null;
  /** Why the server ended the subscription (`forbidden`, `not_found`), until the next snapshot. */
  endedReason: string | null;
}

export function emptyFarm(id: number): FarmState {
  return {
    id,
    epoch: null,
    seq: 0,
    hasSnapshot: false,
    sensors: {},
    devices: {},
    events: [],
    commands: {},
    conditions: {},
    alarms: {},
    lastReadingMs: null,
    endedReason: null,
  };
}

const CLEARED_SUFFIX = "_cleared";

function conditionKey(deviceId: number | null, code: string): string {
  return `${deviceId ?? "-"}:${code}`;
}

/** Warnings and alarms still active after `events` (any order), by `deviceId:code`. */
export function activeConditions(events: readonly EventView[]): Record<string, EventView> {
  const active: Record<string, EventView> = {};
  const ascending = [...events].sort((a, b) => a.seq - b.seq);
  for (const ev of ascending) {
    if (ev.code.endsWith(CLEARED_SUFFIX)) {
      Reflect.deleteProperty(active, conditionKey(ev.deviceId, ev.code.slice(0, -CLEARED_SUFFIX.length)));
    } else if (ev.level === "alarm" || ev.level === "warning") {
      active[conditionKey(ev.deviceId, ev.code)] = ev;
    }
  }
  return active;
}

/** The farm's open alarms, most urgent first (the real alarms, no longer derived from events). */
export function activeAlarms(farm: FarmState): AlarmView[] {
  return openAlarmList(farm.alarms);
}

/**
 * The farm as of a snapshot. The same epoch keeps the event log and the commands (their
 * seqs stay valid); a new epoch means the history was reset, so they go too. A farm that
 * never had a snapshot (epoch null) holds only what REST loaded from the server's current
 * history, so that is kept too: the first snapshot must not wipe events (an alarm) that
 * the REST answer happened to deliver before it.
 */
export function applySnapshot(prev: FarmState | undefined, farmId: number, epoch: string, snapshot: Snapshot): FarmState {
  const base = prev && (prev.epoch === epoch || prev.epoch === null) ? prev : emptyFarm(farmId);
  const sensors: Record<number, SensorView> = {};
  let lastReadingMs: number | null = null;
  for (const s of snapshot.sensors) {
    const old = base.sensors[s.id];
    sensors[s.id] = {
      id: s.id,
      deviceId: s.device,
      name: s.name,
      unit: s.unit,
      min: s.min,
      max: s.max,
      value: s.value,
      previous: old && old.value !== s.value ? old.value : (old?.previous ?? null),
      tsMs: s.ts,
      seq: s.seq ?? 0,
    };
    if (s.ts !== null && (lastReadingMs === null || s.ts > lastReadingMs)) lastReadingMs = s.ts;
  }
  const devices: Record<number, DeviceView> = {};
  for (const d of snapshot.devices) {
    devices[d.id] = {
      id: d.id,
      name: d.name,
      kind: d.kind,
      title: d.title,
      state: d.state,
      actuator: d.actuator,
      statusTsMs: d.status_ts,
      lastSeenMs: d.last_seen,
      statusSeq: 0,
      intervalS: d.interval_s,
      offlineAfterS: d.offline_after_s,
      confirmCommands: d.confirm_commands ?? true,
    };
  }
  return {
    ...base,
    id: farmId,
    epoch,
    seq: snapshot.seq,
    hasSnapshot: true,
    sensors,
    devices,
    alarms: alarmsFromSnapshot(base.alarms, snapshot.alarms ?? [], snapshot.seq),
    lastReadingMs,
    endedReason: null,
  };
}

/**
 * Applies live changes in seq order. Changes at or below the farm's seq, or of a farm
 * without a snapshot yet, are ignored; so the state is the same however often or late a
 * change arrives.
 */
export function applyChanges(state: FarmState, changes: readonly Change[]): FarmState {
  if (!state.hasSnapshot) return state;
  const ordered = isSorted(changes) ? changes : [...changes].sort((a, b) => a.seq - b.seq);
  let seq = state.seq;
  let sensors: Record<number, SensorView> | null = null;
  let devices: Record<number, DeviceView> | null = null;
  let commands: Record<number, CommandView> | null = null;
  const newEvents: EventView[] = [];
  const alarmChanges: AlarmChange[] = [];
  let alarmSeq = 0;
  let lastReadingMs = state.lastReadingMs;
  for (const change of ordered) {
    if (change.kind === "alarm") {
      // An alarm change may share its cause's seq (one transaction); its own seq orders it.
      if (change.seq > state.seq) {
        alarmChanges.push(change);
        alarmSeq = Math.max(alarmSeq, change.seq);
      }
      continue;
    }
    if (change.seq <= seq) continue;
    seq = change.seq;
    switch (change.kind) {
      case "reading": {
        const current = (sensors ?? state.sensors)[change.sensorId];
        if (!current || change.seq <= current.seq) break;
        sensors ??= { ...state.sensors };
        sensors[change.sensorId] = {
          ...current,
          previous: current.value,
          value: change.value,
          tsMs: change.tsMs,
          seq: change.seq,
        };
        if (lastReadingMs === null || change.tsMs > lastReadingMs) lastReadingMs = change.tsMs;
        // A reading is a sign of life of its device too (seconds are enough for "seen 5 s ago").
        const device = (devices ?? state.devices)[current.deviceId];
        if (device && (device.lastSeenMs ?? 0) < change.storedMs - LAST_SEEN_RESOLUTION_MS) {
          devices ??= { ...state.devices };
          devices[device.id] = { ...device, lastSeenMs: change.storedMs };
        }
        break;
      }
      case "status": {
        const current = (devices ?? state.devices)[change.deviceId];
        if (!current || change.seq <= current.statusSeq) break;
        devices ??= { ...state.devices };
        devices[change.deviceId] = {
          ...current,
          state: change.state,
          actuator: change.actuator,
          statusTsMs: change.tsMs,
          // An offline status (the server's liveness sweep, a broker's last will) is no sign of life.
          lastSeenMs: change.state === "offline" ? current.lastSeenMs : Math.max(current.lastSeenMs ?? 0, change.storedMs),
          statusSeq: change.seq,
        };
        break;
      }
      case "event":
        newEvents.push({
          seq: change.seq,
          deviceId: change.deviceId,
          level: change.level,
          code: change.code,
          message: change.message,
          tsMs: change.tsMs,
        });
        break;
      case "removal": {
        const left = withoutDevice(sensors ?? state.sensors, devices ?? state.devices, change.deviceId);
        if (left) {
          sensors = left.sensors;
          devices = left.devices;
        }
        break;
      }
      case "command": {
        const current = (commands ?? state.commands)[change.commandId];
        if (current && change.seq <= current.seq) break;
        commands ??= { ...state.commands };
        commands[change.commandId] = {
          id: change.commandId,
          deviceId: change.deviceId,
          action: change.action,
          params: current?.params ?? null,
          state: change.state,
          detail: change.detail,
          seq: change.seq,
          updatedMs: change.atMs,
        };
        break;
      }
    }
  }
  seq = Math.max(seq, alarmSeq);
  if (seq === state.seq) return state;
  const next: FarmState = { ...state, seq, lastReadingMs };
  if (alarmChanges.length) next.alarms = applyAlarmChanges(state.alarms, alarmChanges);
  if (sensors) next.sensors = sensors;
  if (devices) next.devices = devices;
  if (commands) next.commands = trimCommands(commands);
  if (newEvents.length) {
    next.events = mergeEvents(state.events, newEvents);
    next.conditions = conditionsAfter(state.conditions, newEvents);
  }
  return next;
}

/** Adds events loaded over REST (any order); ones already held are kept once. */
export function mergeEventHistory(state: FarmState, events: readonly EventView[]): FarmState {
  if (!events.length) return state;
  const merged = mergeEvents(state.events, events);
  return { ...state, events: merged, conditions: activeConditions(merged) };
}

/** Adds or updates commands from REST (a list, or one just created); a newer state wins. */
export function mergeCommands(state: FarmState, incoming: readonly CommandView[]): FarmState {
  let commands: Record<number, CommandView> | null = null;
  for (const cmd of incoming) {
    const current = (commands ?? state.commands)[cmd.id];
    if (current && cmd.seq <= current.seq) {
      if (current.params === null && cmd.params !== null) {
        commands ??= { ...state.commands };
        commands[cmd.id] = { ...current, params: cmd.params };
      }
      continue;
    }
    commands ??= { ...state.commands };
    commands[cmd.id] = cmd;
  }
  return commands ? { ...state, commands: trimCommands(commands) } : state;
}

function mergeEvents(held: readonly EventView[], incoming: readonly EventView[]): EventView[] {
  const bySeq = new Map<number, EventView>();
  for (const ev of held) bySeq.set(ev.seq, ev);
  for (const ev of incoming) if (!bySeq.has(ev.seq)) bySeq.set(ev.seq, ev);
  return [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, MAX_EVENTS_PER_FARM);
}

function conditionsAfter(held: Readonly<Record<string, EventView>>, events: readonly EventView[]): Record<string, EventView> {
  const next = { ...held };
  for (const ev of [...events].sort((a, b) => a.seq - b.seq)) {
    if (ev.code.endsWith(CLEARED_SUFFIX)) {
      const key = conditionKey(ev.deviceId, ev.code.slice(0, -CLEARED_SUFFIX.length));
      if (next[key] && next[key].seq < ev.seq) Reflect.deleteProperty(next, key);
    } else if (ev.level === "alarm" || ev.level === "warning") {
      const key = conditionKey(ev.deviceId, ev.code);
      if (!next[key] || next[key].seq < ev.seq) next[key] = ev;
    }
  }
  return next;
}

function trimCommands(commands: Record<number, CommandView>): Record<number, CommandView> {
  const ids = Object.keys(commands).map(Number);
  if (ids.length <= MAX_COMMANDS_PER_FARM) return commands;
  ids.sort((a, b) => b - a);
  const kept: Record<number, CommandView> = {};
  for (const id of ids.slice(0, MAX_COMMANDS_PER_FARM)) kept[id] = commands[id] as CommandView;
  return kept;
}

function isSorted(changes: readonly Change[]): boolean {
  for (let i = 1; i < changes.length; i++) {
    if ((changes[i] as Change).seq < (changes[i - 1] as Change).seq) return false;
  }
  return true;
}
