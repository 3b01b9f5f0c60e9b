/**
 * The live stream's wire contract, protocol version 2: a mirror of docs/protocol.md.
 *
 * Types for every client and server message, the error and close codes as enums, and
 * `decodeFrame` / `batchChanges`, which turn a frame into messages and a `batch` into
 * changes with absolute times, sorted by seq. Pure: no I/O, no timers.
 */

/** The version this client speaks, sent in `auth` (v2 adds the `alarms` topic and snapshot key). */
export const PROTOCOL_VERSION = 2;
/** The first version with the `alarms` topic. */
export const ALARMS_PROTOCOL = 2;

export enum Topic {
  Readings = "readings",
  DeviceStatus = "device_status",
  Events = "events",
  Commands = "commands",
  /** Since protocol 2: alarm changes (batch key `a`). */
  Alarms = "alarms",
  /** Since protocol 2; implied by device_status. */
  DeviceRemovals = "device_removals",
}

export const ALL_TOPICS: readonly Topic[] = [
  Topic.Alarms,
  Topic.Commands,
  Topic.DeviceRemovals,
  Topic.DeviceStatus,
  Topic.Events,
  Topic.Readings,
];

export enum Mode {
  /** Every change, in order. */
  All = "all",
  /** The server may collapse queued readings of one sensor to the newest (slow links). */
  Latest = "latest",
}

/** The `code` of an `error` message. */
export enum ErrorCode {
  InvalidJson = "invalid_json",
  InvalidMessage = "invalid_message",
  UnknownType = "unknown_type",
  RateLimited = "rate_limited",
  Unauthenticated = "unauthenticated",
  AuthTimeout = "auth_timeout",
  TokenExpired = "token_expired",
  Forbidden = "forbidden",
  NotFound = "not_found",
  TooManySubscriptions = "too_many_subscriptions",
  TooManyConnections = "too_many_connections",
  Overloaded = "overloaded",
  InternalError = "internal_error",
}

/** WebSocket close codes; 4xxx are this protocol's own. */
export enum CloseCode {
  /** Stop. */
  Normal = 1000,
  /** Clients send it when they leave, or give up on a silent server. */
  GoingAway = 1001,
  /** The browser's own: the connection dropped without a close frame. */
  Abnormal = 1006,
  /** A frame over `max_frame_bytes`: fix the client. */
  MessageTooBig = 1009,
  /** The server is restarting: reconnect at once and resume. */
  ServiceRestart = 1012,
  /** Server at capacity; reason `retry_after_ms=N`. */
  TryAgainLater = 1013,
  /** Not authenticated: log in again. */
  Unauthenticated = 4001,
  /** No `auth` in time: reconnect and authenticate at once. */
  AuthTimeout = 4002,
  /** Token expired: log in again. */
  TokenExpired = 4003,
  /** Too many connections for this user. */
  TooManyConnections = 4008,
  /** Too slow to keep up, again and again: reconnect later, maybe in `latest` mode. */
  SlowConsumer = 4009,
  /** No answer to heartbeats: reconnect with backoff. */
  HeartbeatTimeout = 4010,
  /** Too many invalid or excess messages: fix the client. */
  Abuse = 4029,
}

export enum ResyncReason {
  TooFarBehind = "too_far_behind",
  EpochChanged = "epoch_changed",
  SlowConsumer = "slow_consumer",
}

export enum UnsubscribeReason {
  Requested = "requested",
  Forbidden = "forbidden",
  TokenExpired = "token_expired",
  /** The account was deleted or its tokens revoked; an `unauthenticated` error and 4001 follow. */
  Unauthenticated = "unauthenticated",
  /** The farm was deleted: nothing is left to subscribe to. */
  FarmDeleted = "farm_deleted",
}

export type DeviceState = "online" | "offline" | "error" | "maintenance" | "unknown";
export type EventLevel = "info" | "warning" | "alarm";
export type CommandState =
  | "pending"
  | "sent"
  | "acknowledged"
  | "failed"
  | "timed_out"
  | "cancelled";
export type AlarmKind = "above" | "below" | "no_data" | "offline" | "command_failed" | "device";
export type AlarmSeverity = "warning" | "critical";
/** `active`: holds, unacknowledged; `acknowledged`: holds; `cleared`: gone, unacknowledged; `closed`: history. */
export type AlarmState = "active" | "acknowledged" | "cleared" | "closed";
export type ActuatorValue = string | number | boolean | null;
export type Actuator = Record<string, ActuatorValue>;

// ---- client to server --------------------------------------------------------------

export interface AuthMessage {
  type: "auth";
  token: string;
  id?: number;
  /** The protocol version the client speaks; the server's newest when absent. */
  protocol?: number;
}

export interface SubscribeMessage {
  type: "subscribe";
  id?: number;
  farm: number;
  topics?: Topic[];
  mode?: Mode;
  since?: number;
  epoch?: string;
}

export interface UnsubscribeMessage {
  type: "unsubscribe";
  id?: number;
  farm: number;
}

export interface ClientPingMessage {
  type: "ping";
  id?: number;
}

export interface ClientPongMessage {
  type: "pong";
  id?: number;
}

/** Watch the instance's live figures (global admins only; others get `forbidden`). */
export interface SubscribeStatsMessage {
  type: "subscribe_stats";
  id?: number;
}

export interface UnsubscribeStatsMessage {
  type: "unsubscribe_stats";
  id?: number;
}

export type ClientMessage =
  | AuthMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | SubscribeStatsMessage
  | UnsubscribeStatsMessage
  | ClientPingMessage
  | ClientPongMessage;

// ---- server to client --------------------------------------------------------------

export interface WelcomeMessage {
  type: "welcome";
  protocol: number;
  server_time: number;
  heartbeat_s: number;
  max_frame_bytes: number;
  connection: string;
}

export interface AuthenticatedMessage {
  type: "authenticated";
  id?: number | null;
  user: string;
  /** Epoch seconds. */
  expires_at: number;
}

export interface SnapshotDevice {
  id: number;
  name: string;
  kind: string;
  title: string;
  state: DeviceState;
  actuator: Actuator;
  status_ts: number;
  last_seen: number | null;
  /** Expected reporting interval in seconds: set by an admin, else learned; null: unknown. */
  interval_s: number | null;
  /** Seconds of silence after which the bridge marks the device offline; null: never. */
  offline_after_s: number | null;
  /** Where the device stands, set by an admin; null: no zone. Absent from older servers. */
  zone?: string | null;
  /** Whether the dashboard asks before sending it a command. Absent from older servers. */
  confirm_commands?: boolean;
}

export interface SnapshotSensor {
  id: number;
  device: number;
  name: string;
  unit: string;
  min: number | null;
  max: number | null;
  value: number | null;
  ts: number | null;
  seq: number | null;
}

/** Who acknowledged an alarm, when, and why. */
export interface AlarmAck {
  by: number;
  user: string;
  at: number;
  comment: string | null;
}

/** One alarm: the same shape in REST answers, the snapshot and the `a` batch key. */
export interface Alarm {
  id: number;
  farm: number;
  /** The farm seq of the alarm's latest change. */
  seq: number;
  rule: number | null;
  device: number | null;
  sensor: number | null;
  kind: AlarmKind;
  code: string;
  severity: AlarmSeverity;
  message: string;
  value: number | null;
  state: AlarmState;
  raised_at: number;
  cleared_at: number | null;
  ack: AlarmAck | null;
}

export interface Snapshot {
  seq: number;
  devices: SnapshotDevice[];
  sensors: SnapshotSensor[];
  /** Protocol 2: the farm's open alarms (every state but `closed`). */
  alarms?: Alarm[];
}

export interface SubscribedMessage {
  type: "subscribed";
  id?: number | null;
  farm: number;
  epoch: string;
  seq: number;
  topics: Topic[];
  mode: Mode;
  snapshot?: Snapshot;
  resume?: { from: number; to: number };
}

/** `[seq, sensor_id, value, ts - t0, stored - t0]` */
export type ReadingRow = [number, number, number, number, number, ...unknown[]];
/** `[seq, device_id, state, actuator, ts - t0, stored - t0]` */
export type StatusRow = [number, number, DeviceState, Actuator | null, number, number, ...unknown[]];
/** `[seq, device_id, level, code, message, ts - t0, stored - t0]` */
export type EventRow = [number, number | null, EventLevel, string, string, number, number, ...unknown[]];
/** `[seq, command_id, device_id, state, action, detail, at - t0]` */
export type CommandRow = [number, number, number, CommandState, string, string, number, ...unknown[]];
/** `[seq, device_id, stored - t0]`: the device (and its sensors) was deleted. */
export type RemovalRow = [number, number, number, ...unknown[]];

export interface BatchMessage {
  type: "batch";
  farm: number;
  t0: number;
  r?: ReadingRow[];
  s?: StatusRow[];
  e?: EventRow[];
  c?: CommandRow[];
  x?: RemovalRow[];
  /** Protocol 2: alarm changes, each the whole alarm as it is now. */
  a?: Alarm[];
  sent?: number;
}

export interface ResyncRequiredMessage {
  type: "resync_required";
  farm: number;
  reason: ResyncReason;
  seq: number;
  epoch: string;
}

export interface UnsubscribedMessage {
  type: "unsubscribed";
  id?: number | null;
  farm: number;
  reason: UnsubscribeReason;
}

export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  id?: number | null;
  retry_after_ms?: number;
}

export interface ServerPongMessage {
  type: "pong";
  id?: number | null;
  t: number;
}

export interface ServerPingMessage {
  type: "ping";
  t: number;
}

/** One closed slot of the live figures (docs/protocol.md, Live figures). */
export interface StatsSlot {
  /** When the slot started (epoch ms). */
  t: number;
  /** How long it lasted, in seconds. */
  s: number;
  /** Open connections when it closed. */
  connections: number;
  connects: number;
  disconnects: number;
  /** Subscriptions resumed with `since`: clients back after a drop. */
  resumes: number;
  /** Slow consumers: queue overflows and stalled sockets. */
  slow: number;
  /** Frames with data written, each timed. */
  frames: number;
  /** Delivery latency quantiles in ms (stored to written); null with no frame. */
  p50: number | null;
  p99: number | null;
}

export interface StatsMessage {
  type: "stats";
  /** The `subscribe_stats` answered (its whole window), or null for a pushed slot. */
  id?: number | null;
  instance: string;
  slot_s: number;
  window_s: number;
  connections: number;
  /** Subscribers per farm id, now. */
  farms: Record<string, number>;
  slots: StatsSlot[];
}

export interface StatsUnsubscribedMessage {
  type: "stats_unsubscribed";
  id?: number | null;
  reason: UnsubscribeReason;
}

export type ServerMessage =
  | WelcomeMessage
  | AuthenticatedMessage
  | SubscribedMessage
  | BatchMessage
  | ResyncRequiredMessage
  | UnsubscribedMessage
  | ErrorMessage
  | StatsMessage
  | StatsUnsubscribedMessage
  | ServerPongMessage
  | ServerPingMessage;

// ---- changes: a batch's rows with absolute times -----------------------------------

interface ChangeBase {
  farm: number;
  seq: number;
}

export interface ReadingChange extends ChangeBase {
  kind: "reading";
  sensorId: number;
  value: number;
  tsMs: number;
  storedMs: number;
}

export interface StatusChange extends ChangeBase {
  kind: "status";
  deviceId: number;
  state: DeviceState;
  actuator: Actuator;
  tsMs: number;
  storedMs: number;
}

export interface EventChange extends ChangeBase {
  kind: "event";
  deviceId: number | null;
  level: EventLevel;
  code: string;
  message: string;
  tsMs: number;
  storedMs: number;
}

export interface CommandChange extends ChangeBase {
  kind: "command";
  commandId: number;
  deviceId: number;
  state: CommandState;
  action: string;
  detail: string;
  atMs: number;
}

export interface RemovalChange extends ChangeBase {
  kind: "removal";
  deviceId: number;
  storedMs: number;
}

export interface AlarmChange extends ChangeBase {
  kind: "alarm";
  alarm: Alarm;
}

export type Change =
  | ReadingChange
  | StatusChange
  | EventChange
  | CommandChange
  | RemovalChange
  | AlarmChange;

/** A frame or message the client cannot read. */
export class MalformedMessageError extends Error {
  override name = "MalformedMessageError";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The messages of one frame: a JSON object, or a JSON array of them. */
export function decodeFrame(data: string): ServerMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (err) {
    throw new MalformedMessageError(`frame is not JSON: ${String(err)}`);
  }
  const items: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  for (const item of items) {
    if (!isObject(item) || typeof item.type !== "string") {
      throw new MalformedMessageError("a frame holds objects with a type");
    }
  }
  return items as ServerMessage[];
}

/** Every change of a `batch`, with absolute times, sorted by seq. Extra trailing row items are ignored. */
export function batchChanges(msg: BatchMessage): Change[] {
  const { farm, t0 } = msg;
  if (typeof farm !== "number" || typeof t0 !== "number") {
    throw new MalformedMessageError("batch without farm or t0");
  }
  const changes: Change[] = [];
  for (const [seq, sensorId, value, dts, dstored] of msg.r ?? []) {
    changes.push({ kind: "reading", farm, seq, sensorId, value, tsMs: t0 + dts, storedMs: t0 + dstored });
  }
  for (const [seq, deviceId, state, actuator, dts, dstored] of msg.s ?? []) {
    changes.push({
      kind: "status",
      farm,
      seq,
      deviceId,
      state,
      actuator: actuator ?? {},
      tsMs: t0 + dts,
      storedMs: t0 + dstored,
    });
  }
  for (const [seq, deviceId, level, code, message, dts, dstored] of msg.e ?? []) {
    changes.push({
      kind: "event",
      farm,
      seq,
      deviceId,
      level,
      code,
      message,
      tsMs: t0 + dts,
      storedMs: t0 + dstored,
    });
  }
  for (const [seq, commandId, deviceId, state, action, detail, dat] of msg.c ?? []) {
    changes.push({ kind: "command", farm, seq, commandId, deviceId, state, action, detail, atMs: t0 + dat });
  }
  for (const [seq, deviceId, dstored] of msg.x ?? []) {
    changes.push({ kind: "removal", farm, seq, deviceId, storedMs: t0 + dstored });
  }
  for (const alarm of (msg.a ?? []) as unknown[]) {
    if (!isObject(alarm) || typeof alarm.id !== "number" || typeof alarm.seq !== "number") {
      throw new MalformedMessageError("alarm change without id");
    }
    changes.push({ kind: "alarm", farm, seq: alarm.seq, alarm: alarm as unknown as Alarm });
  }
  for (const change of changes) {
    if (typeof change.seq !== "number") throw new MalformedMessageError("change without seq");
  }
  changes.sort((a, b) => a.seq - b.seq);
  return changes;
}

/** The `retry_after_ms=N` of a 1013 close reason, or null. */
export function retryAfterMsFromReason(reason: string): number | null {
  const match = /retry_after_ms=(\d+)/.exec(reason);
  return match ? Number(match[1]) : null;
}

// ---- limits (docs/protocol.md, Limits) ---------------------------------------------

/** A connection may watch this many farms at most. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 32;
/** Client messages per second before `rate_limited` (bursts of 40). */
export const MAX_CLIENT_MESSAGES_PER_S = 20;
/** A client frame may not be larger. */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;
