/** The alarm rule form's fields and their translation to the API's rule body (tested apart from React). */

import { type AlarmRule, type AlarmRuleIn, type AlarmRuleKind, ApiError } from "../../lib/api";
import type { AlarmSeverity } from "../../lib/ws/messages";

/** What the form holds: text as typed, turned into the body on submit. */
export interface RuleForm {
  name: string;
  kind: AlarmRuleKind;
  severity: AlarmSeverity;
  /** "id:7" for one sensor, "name:temperature" for every sensor of that name, "" for none. */
  sensor: string;
  /** A device id, or "" for every device (no_data, offline, command_failed). */
  deviceId: string;
  threshold: string;
  clearThreshold: string;
  forS: string;
  message: string;
  enabled: boolean;
}

export type RuleField = keyof RuleForm;

export const EMPTY_RULE_FORM: RuleForm = {
  name: "",
  kind: "above",
  severity: "warning",
  sensor: "",
  deviceId: "",
  threshold: "",
  clearThreshold: "",
  forS: "0",
  message: "",
  enabled: true,
};

/** Kinds about a sensor's value; the others are about a device (or every device). */
export function isThresholdKind(kind: AlarmRuleKind): boolean {
  return kind === "above" || kind === "below";
}

/** A typed number, or null when blank (the inputs are `type=number`, so nothing else arrives). */
function numberOrNull(text: string): number | null {
  const t = text.trim();
  if (t === "") return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** The rule body of the form: only the fields its kind uses (the API refuses unknown ones). */
export function ruleBody(form: RuleForm): AlarmRuleIn {
  const body: AlarmRuleIn = {
    name: form.name.trim(),
    kind: form.kind,
    severity: form.severity,
    for_s: numberOrNull(form.forS) ?? 0,
    enabled: form.enabled,
  };
  if (form.message.trim()) body.message = form.message.trim();
  if (isThresholdKind(form.kind)) {
    if (form.sensor.startsWith("id:")) body.sensor_id = Number(form.sensor.slice(3));
    else if (form.sensor.startsWith("name:")) body.sensor_name = form.sensor.slice(5);
    const threshold = numberOrNull(form.threshold);
    if (threshold !== null) body.threshold = threshold;
    const clear = numberOrNull(form.clearThreshold);
    if (clear !== null) body.clear_threshold = clear;
  } else {
    body.device_id = form.deviceId === "" ? null : Number(form.deviceId);
  }
  return body;
}

/** A stored rule's body, for a PUT that changes one field (enabled). */
export function ruleBodyOf(rule: AlarmRule, patch: Partial<AlarmRuleIn> = {}): AlarmRuleIn {
  const body: AlarmRuleIn = {
    name: rule.name,
    kind: rule.kind,
    severity: rule.severity,
    for_s: rule.for_s,
    enabled: rule.enabled,
  };
  const optional = ["sensor_id", "sensor_name", "device_id", "threshold", "clear_threshold", "message"] as const;
  for (const key of optional) {
    const value = rule[key];
    if (value !== undefined && value !== null) (body as unknown as Record<string, unknown>)[key] = value;
  }
  return { ...body, ...patch };
}

const API_FIELD_TO_FORM: Readonly<Record<string, RuleField>> = {
  name: "name",
  kind: "kind",
  severity: "severity",
  sensor_id: "sensor",
  sensor_name: "sensor",
  device_id: "deviceId",
  threshold: "threshold",
  clear_threshold: "clearThreshold",
  for_s: "forS",
  message: "message",
  enabled: "enabled",
};

/** The form field an API error names (a 422's `field`), or null when it names none of them. */
export function formFieldOf(err: unknown): RuleField | null {
  if (!(err instanceof ApiError) || err.field === null) return null;
  const head = err.field.split(/[.[]/)[0] ?? "";
  return API_FIELD_TO_FORM[head] ?? null;
}

/** The message to show beside the field: the API's, without the field name it starts with. */
export function fieldMessage(err: ApiError): string {
  const prefix = `${err.field ?? ""}: `;
  return err.field && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/** The rules of a GET answer, whether a bare list or `{"rules": [...]}`. */
export function rulesOf(answer: { rules: AlarmRule[] } | AlarmRule[]): AlarmRule[] {
  return Array.isArray(answer) ? answer : answer.rules;
}

/** "threshold 30 → 35, enabled true → false": what an audit entry changed. */
export function auditChanges(before: Record<string, unknown> | null, after: Record<string, unknown> | null): string {
  if (!before || !after) return "";
  const skip = new Set(["updated_at", "updated_by", "created_at"]);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !skip.has(k)).sort();
  return keys
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => `${k} ${JSON.stringify(before[k] ?? null)} → ${JSON.stringify(after[k] ?? null)}`)
    .join(", ");
}
