/**
 * The REST API (docs/api.md), typed, on the bridge that served the page.
 *
 * Called for initial loads, history ranges a user picks and user actions only: nothing
 * here runs on a timer. A 401 ends the session (the app shows the login page).
 */

import { t } from "../i18n";
import { auth } from "./auth";
import type { Actuator, Alarm, AlarmSeverity, AlarmState, CommandState, DeviceState, EventLevel } from "./ws/messages";
import type { CommandView } from "../store/farmState";
import type { HistoryBucket } from "../store/series";

export type Role = "viewer" | "operator" | "admin";
export type DeviceKind = "sensor_node" | "actuator" | "controller";

export interface Me {
  id: number;
  username: string;
  is_admin: boolean;
  created_ms: number;
  /** farm id -> role */
  roles: Record<string, Role>;
}

export interface Farm {
  id: number;
  name: string;
  title: string;
  created_ms: number;
  last_seq: number;
  epoch: string;
}

export interface Device {
  id: number;
  farm_id: number;
  name: string;
  kind: DeviceKind;
  title: string;
  created_ms: number;
  status: { state: DeviceState; actuator: Actuator; ts_ms: number; seq: number };
  last_seen_ms: number | null;
  zone?: string | null;
  /** Whether the dashboard asks before sending a command (docs/api.md, "Device profile"). */
  confirm_commands?: boolean;
}

/** The fields of a device's profile to change (PATCH /devices/{id}); left out: kept. */
export interface DevicePatch {
  name?: string;
  title?: string;
  zone?: string | null;
  confirm_commands?: boolean;
}

/** A sensor's unit and range to change; a bound null is removed, left out kept. */
export interface SensorPatch {
  unit?: string;
  min?: number | null;
  max?: number | null;
}

/** A device heard of but not registered (docs/api.md, "Pending devices"). */
export interface PendingDevice {
  id: number;
  farm_id: number;
  name: string;
  source: string;
  state: "pending" | "rejected";
  first_seen_ms: number;
  last_seen_ms: number;
  messages: number;
  sample: string;
}

export interface Sensor {
  id: number;
  device_id: number;
  farm_id: number;
  name: string;
  unit: string;
  min: number | null;
  max: number | null;
  last_value: number | null;
  last_ts_ms: number | null;
  last_seq: number | null;
}

export interface SensorIn {
  name: string;
  unit?: string;
  min?: number | null;
  max?: number | null;
}

export interface DeviceCreated {
  device: Device;
  sensors: Sensor[];
  key: string;
}

export interface ApiEvent {
  seq: number;
  device_id: number | null;
  level: EventLevel;
  code: string;
  message: string;
  ts_ms: number;
  received_ms: number;
}

export interface Command {
  id: number;
  farm_id: number;
  device_id: number;
  action: string;
  params: Record<string, unknown>;
  state: CommandState;
  created_ms: number;
  updated_ms: number;
  expires_ms: number;
  detail: string;
  seq: number;
}

export interface User {
  id: number;
  username: string;
  is_admin: boolean;
  created_ms: number;
}

export interface Member {
  user_id: number;
  farm_id: number;
  role: Role;
}

export interface LiveConnection {
  id: string;
  user: string | null;
  remote: string;
  farms: number[];
  connected_ms: number;
  messages_in: number;
  messages_out: number;
  bytes_out: number;
  queue_depth: number;
  queue_bytes: number;
  mode: Record<string, string>;
}

/** `state` of the alarm list: `open` is every state but `closed`. */
export type AlarmStateFilter = "open" | AlarmState | "all";

export type AlarmRuleKind = "above" | "below" | "no_data" | "offline" | "command_failed";

/** An alarm rule as written (CONTRACT: the rule body). */
export interface AlarmRuleIn {
  name: string;
  kind: AlarmRuleKind;
  severity: AlarmSeverity;
  sensor_id?: number | null;
  sensor_name?: string | null;
  device_id?: number | null;
  threshold?: number | null;
  clear_threshold?: number | null;
  for_s: number;
  enabled?: boolean;
  message?: string | null;
}

export interface AlarmRule extends AlarmRuleIn {
  id: number;
  code: string;
  enabled: boolean;
  created_at: number;
  updated_at: number;
  /** The user id (or name) of the last change; the contract does not pin it. */
  updated_by: number | string | null;
}

export interface AlarmRuleAuditEntry {
  at: number;
  user: string | number | null;
  action: "created" | "updated" | "deleted";
  rule: number;
  before: Partial<AlarmRule> | null;
  after: Partial<AlarmRule> | null;
}

/** A wall screen's credential (docs/api.md, "Display credentials"); `secret` only when created. */
export interface DisplayCredential {
  id: number;
  farm_id: number;
  name: string;
  created_ms: number;
  created_by: string | number | null;
  expires_ms: number | null;
  secret?: string;
}

export interface TokenOut {
  access_token: string;
  token_type: string;
  expires_at: number;
}

/** An error answer: its status, the stable code, and the field at fault if any. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

/** The API's stable error codes (docs/api.md), plus `network` for a bridge out of reach. */
export const API_ERROR_CODES = [
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "payload_too_large",
  "invalid",
  "rate_limited",
  "store_unavailable",
  "internal_error",
  "network",
] as const;

/**
 * An error as the user reads it, in the UI's language: a known API code by its catalogue
 * entry (with the field it names, for `invalid`), an unknown one by the server's English
 * message, anything else by its own message.
 */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (!(API_ERROR_CODES as readonly string[]).includes(err.code)) return err.message;
    const text = t(`error.${err.code}`);
    return err.field ? t("error.withField", { text, field: err.field }) : text;
  }
  return err instanceof Error ? err.message : String(err);
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; field?: string } };
    const err = body.error ?? {};
    return new ApiError(res.status, err.code ?? "error", err.message ?? res.statusText, err.field ?? null);
  } catch {
    return new ApiError(res.status, "error", res.statusText || `HTTP ${res.status}`);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = auth.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the bridge: ${String(err)}`);
  }
  if (res.status === 401) {
    const err = await errorOf(res);
    auth.signOut(errorText(err));
    throw err;
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  /** OAuth2 password form; does not touch the session. */
  async login(username: string, password: string): Promise<TokenOut> {
    const res = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({ username, password }).toString(),
    });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as TokenOut;
  },
  me: () => request<Me>("GET", "/api/v1/me"),
  farms: () => request<Farm[]>("GET", "/api/v1/farms"),
  createFarm: (name: string, title: string) => request<Farm>("POST", "/api/v1/farms", { name, title }),
  patchFarm: (farmId: number, body: { name?: string; title?: string }) =>
    request<Farm>("PATCH", `/api/v1/farms/${farmId}`, body),
  deleteFarm: (farmId: number) => request<undefined>("DELETE", `/api/v1/farms/${farmId}`),
  pendingDevices: (farmId: number) => request<PendingDevice[]>("GET", `/api/v1/farms/${farmId}/pending-devices`),
  approvePending: (pendingId: number, kind: DeviceKind, title: string) =>
    request<DeviceCreated>("POST", `/api/v1/pending-devices/${pendingId}/approve`, { kind, title }),
  rejectPending: (pendingId: number) => request<PendingDevice>("POST", `/api/v1/pending-devices/${pendingId}/reject`),
  forgetPending: (pendingId: number) => request<undefined>("DELETE", `/api/v1/pending-devices/${pendingId}`),
  patchDevice: (deviceId: number, body: DevicePatch) => request<Device>("PATCH", `/api/v1/devices/${deviceId}`, body),
  addSensor: (deviceId: number, body: SensorIn) => request<Sensor>("POST", `/api/v1/devices/${deviceId}/sensors`, body),
  patchSensor: (sensorId: number, body: SensorPatch) => request<Sensor>("PATCH", `/api/v1/sensors/${sensorId}`, body),
  /** The CSV of the chosen sensors' readings in [startMs, endMs), fetched with the token. */
  async exportCsv(farmId: number, sensorIds: readonly number[], startMs: number, endMs: number): Promise<Blob> {
    const q = new URLSearchParams({ start: String(startMs), end: String(endMs) });
    for (const id of sensorIds) q.append("sensor", String(id));
    const headers: Record<string, string> = { Accept: "text/csv" };
    const token = auth.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(`/api/v1/farms/${farmId}/readings.csv?${q.toString()}`, { headers });
    } catch (err) {
      throw new ApiError(0, "network", `cannot reach the bridge: ${String(err)}`);
    }
    if (res.status === 401) {
      const err = await errorOf(res);
      auth.signOut(errorText(err));
      throw err;
    }
    if (!res.ok) throw await errorOf(res);
    return await res.blob();
  },
  displays: (farmId: number) => request<DisplayCredential[]>("GET", `/api/v1/farms/${farmId}/displays`),
  createDisplay: (farmId: number, name: string) =>
    request<DisplayCredential & { secret: string }>("POST", `/api/v1/farms/${farmId}/displays`, { name }),
  revokeDisplay: (farmId: number, displayId: number) =>
    request<undefined>("DELETE", `/api/v1/farms/${farmId}/displays/${displayId}`),
  devices: (farmId: number) => request<Device[]>("GET", `/api/v1/farms/${farmId}/devices`),
  createDevice: (farmId: number, body: { name: string; kind: DeviceKind; title?: string; sensors?: SensorIn[] }) =>
    request<DeviceCreated>("POST", `/api/v1/farms/${farmId}/devices`, body),
  deleteDevice: (deviceId: number) => request<undefined>("DELETE", `/api/v1/devices/${deviceId}`),
  rotateKey: (deviceId: number) => request<{ key: string }>("POST", `/api/v1/devices/${deviceId}/rotate-key`),
  sensors: (farmId: number) => request<Sensor[]>("GET", `/api/v1/farms/${farmId}/sensors`),
  buckets: (sensorId: number, startMs: number, endMs: number | undefined, bucketS: number) =>
    request<HistoryBucket[]>(
      "GET",
      `/api/v1/sensors/${sensorId}/buckets${query({ start: startMs, end: endMs, bucket_s: bucketS })}`,
    ),
  events: (farmId: number, opts: { level?: EventLevel; deviceId?: number; beforeSeq?: number; limit?: number } = {}) =>
    request<ApiEvent[]>(
      "GET",
      `/api/v1/farms/${farmId}/events${query({
        level: opts.level,
        device_id: opts.deviceId,
        before_seq: opts.beforeSeq,
        limit: opts.limit,
      })}`,
    ),
  farmCommands: (farmId: number, limit = 50) => request<Command[]>("GET", `/api/v1/farms/${farmId}/commands${query({ limit })}`),
  sendCommand: (deviceId: number, action: string, params?: Record<string, unknown>) =>
    request<Command>("POST", `/api/v1/devices/${deviceId}/commands`, params ? { action, params } : { action }),
  cancelCommand: (commandId: number) => request<Command>("POST", `/api/v1/commands/${commandId}/cancel`),
  users: () => request<User[]>("GET", "/api/v1/users"),
  createUser: (body: { username: string; password: string; is_admin: boolean }) => request<User>("POST", "/api/v1/users", body),
  deleteUser: (userId: number) => request<undefined>("DELETE", `/api/v1/users/${userId}`),
  revokeTokens: (userId: number) => request<undefined>("POST", `/api/v1/users/${userId}/revoke-tokens`),
  members: (farmId: number) => request<Member[]>("GET", `/api/v1/farms/${farmId}/members`),
  setRole: (farmId: number, userId: number, role: Role) =>
    request<undefined>("PUT", `/api/v1/farms/${farmId}/members/${userId}`, { role }),
  removeRole: (farmId: number, userId: number) => request<undefined>("DELETE", `/api/v1/farms/${farmId}/members/${userId}`),
  connections: () => request<LiveConnection[]>("GET", "/api/v1/connections"),
  alarms: (
    farmId: number,
    opts: { state?: AlarmStateFilter; severity?: AlarmSeverity; deviceId?: number; beforeSeq?: number; limit?: number } = {},
  ) =>
    request<{ alarms: Alarm[] }>(
      "GET",
      `/api/v1/farms/${farmId}/alarms${query({
        state: opts.state,
        severity: opts.severity,
        device_id: opts.deviceId,
        before_seq: opts.beforeSeq,
        limit: opts.limit,
      })}`,
    ),
  /** 409 when the alarm is closed already. */
  ackAlarm: (farmId: number, alarmId: number, comment: string) =>
    request<Alarm>("POST", `/api/v1/farms/${farmId}/alarms/${alarmId}/ack`, comment ? { comment } : {}),
  alarmRules: (farmId: number) => request<{ rules: AlarmRule[] } | AlarmRule[]>("GET", `/api/v1/farms/${farmId}/alarm-rules`),
  createAlarmRule: (farmId: number, body: AlarmRuleIn) => request<AlarmRule>("POST", `/api/v1/farms/${farmId}/alarm-rules`, body),
  updateAlarmRule: (farmId: number, ruleId: number, body: AlarmRuleIn) =>
    request<AlarmRule>("PUT", `/api/v1/farms/${farmId}/alarm-rules/${ruleId}`, body),
  deleteAlarmRule: (farmId: number, ruleId: number) => request<undefined>("DELETE", `/api/v1/farms/${farmId}/alarm-rules/${ruleId}`),
  alarmRuleAudit: (farmId: number) =>
    request<{ entries: AlarmRuleAuditEntry[] }>("GET", `/api/v1/farms/${farmId}/alarm-rules/audit`),
  logoutEverywhere: () => request<undefined>("POST", "/api/v1/auth/revoke"),
  /** Ends every token and socket of the caller; answers the one fresh token. */
  changePassword: (currentPassword: string, newPassword: string) =>
    request<TokenOut>("POST", "/api/v1/me/password", { current_password: currentPassword, new_password: newPassword }),
};

/** Sensors typed as `name:unit:min:max`, one per line (or comma), unit and limits optional. */
export function parseSensorSpecs(text: string): SensorIn[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [name = "", unit = "", min = "", max = ""] = line.split(":").map((p) => p.trim());
      return { name, unit, min: min === "" ? null : Number(min), max: max === "" ? null : Number(max) };
    });
}

/** A command as the REST API returns it, in the store's shape. */
export function commandView(c: Command): CommandView {
  return {
    id: c.id,
    deviceId: c.device_id,
    action: c.action,
    params: c.params,
    state: c.state,
    detail: c.detail,
    seq: c.seq,
    updatedMs: c.updated_ms,
  };
}
