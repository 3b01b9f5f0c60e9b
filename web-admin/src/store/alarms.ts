/**
 * A farm's open alarms and their pure reducers (CONTRACT: the alarm shape, protocol 2).
 *
 * The snapshot carries every open alarm (every state but `closed`); each batch's `a` key
 * carries whole alarms as they are now, and a client replaces the one of that id. Each
 * alarm keeps the seq of its latest change, so a late copy (a REST answer after the live
 * change, a replay) never overwrites a newer one. A `closed` alarm leaves the open set.
 */

import type { Alarm, AlarmChange, AlarmKind, AlarmSeverity, AlarmState } from "../lib/ws/messages";

export interface AlarmAckView {
  userId: number;
  user: string;
  atMs: number;
  comment: string | null;
}

export interface AlarmView {
  id: number;
  farm: number;
  /** The seq of the alarm's latest change. */
  seq: number;
  ruleId: number | null;
  deviceId: number | null;
  sensorId: number | null;
  kind: AlarmKind;
  code: string;
  severity: AlarmSeverity;
  message: string;
  value: number | null;
  state: AlarmState;
  raisedAtMs: number;
  clearedAtMs: number | null;
  ack: AlarmAckView | null;
}

/** Open alarms by id. */
export type OpenAlarms = Readonly<Record<number, AlarmView>>;

const SEVERITY_RANK: Readonly<Record<AlarmSeverity, number>> = { critical: 0, warning: 1 };

/** The wire alarm in the store's shape. */
export function alarmView(a: Alarm): AlarmView {
  return {
    id: a.id,
    farm: a.farm,
    seq: a.seq,
    ruleId: a.rule,
    deviceId: a.device,
    sensorId: a.sensor,
    kind: a.kind,
    code: a.code,
    severity: a.severity,
    message: a.message,
    value: a.value,
    state: a.state,
    raisedAtMs: a.raised_at,
    clearedAtMs: a.cleared_at,
    ack: a.ack ? { userId: a.ack.by, user: a.ack.user, atMs: a.ack.at, comment: a.ack.comment } : null,
  };
}

/** Every state but `closed`. */
export function isOpen(a: Pick<AlarmView, "state">): boolean {
  return a.state !== "closed";
}

/** Open and nobody acknowledged it yet: `active` or `cleared`. It stays in the banner. */
export function needsAck(a: Pick<AlarmView, "state">): boolean {
  return a.state === "active" || a.state === "cleared";
}

/**
 * The open alarms as of a snapshot at `snapshotSeq`: the snapshot's, plus any held copy
 * newer than the snapshot (an acknowledgement's REST answer that arrived first).
 */
export function alarmsFromSnapshot(held: OpenAlarms, alarms: readonly Alarm[], snapshotSeq: number): OpenAlarms {
  const next: Record<number, AlarmView> = {};
  for (const a of alarms) if (isOpen(a)) next[a.id] = alarmView(a);
  for (const a of Object.values(held)) {
    if (a.seq <= snapshotSeq) continue;
    const fromSnapshot = next[a.id];
    if (!fromSnapshot || fromSnapshot.seq < a.seq) next[a.id] = a;
  }
  return next;
}

/** Replaces each alarm by id with a newer copy; a closed one leaves. Same object when nothing moved. */
export function mergeAlarms(held: OpenAlarms, incoming: readonly AlarmView[]): OpenAlarms {
  let next: Record<number, AlarmView> | null = null;
  for (const a of [...incoming].sort((x, y) => x.seq - y.seq)) {
    const current = (next ?? held)[a.id];
    if (current && current.seq >= a.seq) continue;
    if (!current && !isOpen(a)) continue;
    next ??= { ...held };
    if (isOpen(a)) next[a.id] = a;
    else Reflect.deleteProperty(next, a.id);
  }
  return next ?? held;
}

/** The alarm changes of a batch applied. */
export function applyAlarmChanges(held: OpenAlarms, changes: readonly AlarmChange[]): OpenAlarms {
  return mergeAlarms(
    held,
    changes.map((c) => alarmView({ ...c.alarm, seq: c.seq })),
  );
}

/** Critical first, then the newest raised first (then by id, so the order is stable). */
export function byUrgency(a: AlarmView, b: AlarmView): number {
  return SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.raisedAtMs - a.raisedAtMs || b.id - a.id;
}

/** Every open alarm, most urgent first. */
export function openAlarmList(held: OpenAlarms): AlarmView[] {
  return Object.values(held).sort(byUrgency);
}

/** The alarms for the banner: open and not acknowledged, most urgent first. */
export function bannerAlarms(held: OpenAlarms): AlarmView[] {
  return Object.values(held).filter(needsAck).sort(byUrgency);
}

export interface AlarmCounts {
  /** Open and unacknowledged. */
  unacknowledged: number;
  /** Of those, critical. */
  critical: number;
  /** Every open alarm, acknowledged or not. */
  open: number;
}

export function alarmCounts(held: OpenAlarms): AlarmCounts {
  let unacknowledged = 0;
  let critical = 0;
  let open = 0;
  for (const a of Object.values(held)) {
    open += 1;
    if (!needsAck(a)) continue;
    unacknowledged += 1;
    if (a.severity === "critical") critical += 1;
  }
  return { unacknowledged, critical, open };
}

/**
 * The alarms of `next` that are new since `prev` and unacknowledged (for the sound and the
 * browser notification): raised, not seen before by id.
 */
export function newlyRaised(prev: OpenAlarms, next: OpenAlarms): AlarmView[] {
  if (prev === next) return [];
  return Object.values(next).filter((a) => a.state === "active" && !prev[a.id]);
}

/** The alarm list's state filter. */
export type AlarmListState = "open" | "all" | "closed";

/**
 * The history list's rows: REST pages and the live open alarms, one per id (the newer
 * copy), newest change first. `closed` adds no live alarm: an open one is not closed.
 */
export function historyRows(
  pages: readonly AlarmView[],
  live: readonly AlarmView[],
  state: AlarmListState,
  severity: AlarmSeverity | "all",
): AlarmView[] {
  const byId = new Map<number, AlarmView>();
  for (const a of pages) byId.set(a.id, a);
  for (const a of live) {
    const held = byId.get(a.id);
    if (state === "closed" && !held) continue;
    if (!held || held.seq < a.seq) byId.set(a.id, a);
  }
  return [...byId.values()]
    .filter((a) => (severity === "all" || a.severity === severity) && (state !== "closed" || a.state === "closed"))
    .sort((a, b) => b.seq - a.seq);
}
