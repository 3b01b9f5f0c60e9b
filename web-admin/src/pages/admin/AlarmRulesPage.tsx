/** A farm's alarm rules for its admins: list, create (the API's field errors beside the field), enable, disable, delete; and the audit. */

import { useCallback, useEffect, useId, useMemo, useState } from "react";

import { type AlarmRule, type AlarmRuleAuditEntry, type AlarmRuleKind, ApiError, api } from "../../lib/api";
import { formatDateTime } from "../../lib/format";
import type { AlarmSeverity } from "../../lib/ws/messages";
import { useFarm } from "../../store";
import { roleOn, useDirectory } from "../../store/directory";
import type { FarmState } from "../../store/farmState";
import { severityLabel } from "../../components/alarmLabels";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";
import {
  EMPTY_RULE_FORM,
  type RuleField,
  type RuleForm,
  auditChanges,
  fieldMessage,
  formFieldOf,
  isThresholdKind,
  ruleBody,
  ruleBodyOf,
  rulesOf,
} from "./ruleForm";

const TEXT = {
  title: "Alarm rules",
  notAdmin: "You are not an administrator of any farm.",
  none: "No rules yet.",
  columns: ["Name", "Kind", "Severity", "Watches", "Condition", "Enabled", ""],
  enable: "Enable",
  disable: "Disable",
  remove: "Delete",
  confirmDelete: (name: string) => `Delete the rule ${name}? Its open alarms stay until acknowledged.`,
  create: "Add a rule",
  createButton: "Create rule",
  creating: "Creating…",
  created: (name: string) => `Rule ${name} created.`,
  audit: "Changes to the rules",
  auditNone: "No changes yet.",
  auditColumns: ["When", "Who", "What", "Rule", "Changed"],
  everySensorNamed: (name: string) => `every sensor named ${name}`,
  everyDevice: "every device",
  noSensor: "choose a sensor",
  field: {
    name: "Name",
    kind: "Kind",
    severity: "Severity",
    sensor: "Sensor",
    deviceId: "Device",
    threshold: "Threshold",
    clearThreshold: "Clears at (hysteresis; blank = threshold)",
    forS: "For at least (s)",
    message: "Message (optional)",
    enabled: "Enabled",
  } satisfies Record<RuleField, string>,
  kinds: {
    above: "above a threshold",
    below: "below a threshold",
    no_data: "no data from a device",
    offline: "device offline",
    command_failed: "command failed or timed out",
  } satisfies Record<AlarmRuleKind, string>,
  condition: (r: AlarmRule) =>
    isThresholdKind(r.kind)
      ? `${r.kind} ${String(r.threshold)}${r.clear_threshold !== null && r.clear_threshold !== undefined ? ` (clears at ${String(r.clear_threshold)})` : ""}${r.for_s ? ` for ${String(r.for_s)} s` : ""}`
      : r.for_s
        ? `for ${String(r.for_s)} s`
        : "at once",
} as const;

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

export function AlarmRulesPage() {
  const { me, farms } = useDirectory();
  const adminFarms = farms.filter((f) => roleOn(me, f.id) === "admin");
  const [farmId, setFarmId] = useAdminFarm(adminFarms);
  const live = useFarm(farmId);
  const [rules, setRules] = useState<AlarmRule[]>([]);
  const [audit, setAudit] = useState<AlarmRuleAuditEntry[]>([]);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .alarmRules(farmId)
      .then((answer) => setRules(rulesOf(answer)))
      .catch((err: unknown) => setError(errorText(err)));
    api
      .alarmRuleAudit(farmId)
      .then(({ entries }) => setAudit(entries))
      .catch((err: unknown) => setError(errorText(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const setEnabled = async (rule: AlarmRule, enabled: boolean): Promise<void> => {
    if (farmId === null) return;
    try {
      await api.updateAlarmRule(farmId, rule.id, ruleBodyOf(rule, { enabled }));
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  const remove = async (rule: AlarmRule): Promise<void> => {
    if (farmId === null || !window.confirm(TEXT.confirmDelete(rule.name))) return;
    try {
      await api.deleteAlarmRule(farmId, rule.id);
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  if (adminFarms.length === 0) return <p className="muted">{TEXT.notAdmin}</p>;
  return (
    <section data-testid="alarm-rules-page">
      <div className="page-head">
        <h1 className="page-title">{TEXT.title}</h1>
        <FarmPicker farms={adminFarms} value={farmId} onChange={setFarmId} />
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="panel">
        <div className="table-wrap">
          <table className="table" data-testid="alarm-rules">
            <thead>
              <tr>
                {TEXT.columns.map((c, i) => (
                  <th key={i}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <tr key={r.id} data-testid={`rule-${r.code}`} data-enabled={r.enabled}>
                  <td>
                    <strong>{r.name}</strong>
                    <div className="muted">{r.code}</div>
                  </td>
                  <td>{TEXT.kinds[r.kind]}</td>
                  <td>
                    <span className={`sev sev-${r.severity}`}>{severityLabel(r.severity)}</span>
                  </td>
                  <td>{watches(r, live)}</td>
                  <td>{TEXT.condition(r)}</td>
                  <td>{r.enabled ? "yes" : "no"}</td>
                  <td className="actions">
                    <button type="button" className="btn btn-small" onClick={() => void setEnabled(r, !r.enabled)}>
                      {r.enabled ? TEXT.disable : TEXT.enable}
                    </button>
                    <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(r)}>
                      {TEXT.remove}
                    </button>
                  </td>
                </tr>
              ))}
              {rules.length === 0 && (
                <tr>
                  <td colSpan={TEXT.columns.length} className="muted">
                    {TEXT.none}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </div>
      {farmId !== null && <CreateRule farmId={farmId} farm={live} onCreated={load} />}
      <div className="panel">
        <div className="panel-head">
          <h2>{TEXT.audit}</h2>
        </div>
        <AuditTable entries={audit} />
      </div>
    </section>
  );
}

function watches(r: AlarmRule, farm: FarmState | undefined): string {
  if (isThresholdKind(r.kind)) {
    if (r.sensor_name) return TEXT.everySensorNamed(r.sensor_name);
    const sensor = r.sensor_id !== null && r.sensor_id !== undefined ? farm?.sensors[r.sensor_id] : undefined;
    const device = sensor ? farm?.devices[sensor.deviceId] : undefined;
    return sensor ? `${device?.name ?? ""} · ${sensor.name}` : `sensor ${String(r.sensor_id)}`;
  }
  if (r.device_id === null || r.device_id === undefined) return TEXT.everyDevice;
  return farm?.devices[r.device_id]?.name ?? `device ${r.device_id}`;
}

function CreateRule({ farmId, farm, onCreated }: { farmId: number; farm: FarmState | undefined; onCreated: () => void }) {
  const [form, setForm] = useState<RuleForm>(EMPTY_RULE_FORM);
  const [fieldError, setFieldError] = useState<{ field: RuleField; message: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = useId();

  const sensors = useMemo(() => Object.values(farm?.sensors ?? {}).sort((a, b) => a.id - b.id), [farm?.sensors]);
  const sensorNames = useMemo(() => [...new Set(sensors.map((s) => s.name))].sort(), [sensors]);
  const devices = useMemo(() => Object.values(farm?.devices ?? {}).sort((a, b) => a.id - b.id), [farm?.devices]);
  const threshold = isThresholdKind(form.kind);

  const set = <K extends RuleField>(key: K, value: RuleForm[K]): void => {
    setForm((f) => ({ ...f, [key]: value }));
    if (fieldError?.field === key) setFieldError(null);
  };

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFieldError(null);
    setDone(null);
    try {
      const rule = await api.createAlarmRule(farmId, ruleBody(form));
      setDone(TEXT.created(rule.name));
      setForm(EMPTY_RULE_FORM);
      onCreated();
    } catch (err) {
      const field = formFieldOf(err);
      if (field && err instanceof ApiError) setFieldError({ field, message: fieldMessage(err) });
      else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  /** The label, the control, and the API's complaint about it right below, tied by aria-describedby. */
  const row = (field: RuleField, control: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => React.ReactNode) => {
    const id = `${ids}-${field}`;
    const bad = fieldError?.field === field;
    return (
      <div className="field" key={field}>
        <label htmlFor={id}>
          <span>{TEXT.field[field]}</span>
        </label>
        {control({ id, "aria-invalid": bad, "aria-describedby": bad ? `${id}-error` : undefined })}
        {bad && (
          <span className="field-error" id={`${id}-error`} data-testid={`rule-error-${field}`}>
            {fieldError.message}
          </span>
        )}
      </div>
    );
  };

  return (
    <form className="panel form" onSubmit={(e) => void submit(e)} data-testid="create-rule" noValidate>
      <h2>{TEXT.create}</h2>
      <div className="rule-form">
        {row("name", (p) => (
          <input {...p} name="name" value={form.name} onChange={(e) => set("name", e.target.value)} placeholder="Frost risk" />
        ))}
        {row("kind", (p) => (
          <select {...p} name="kind" value={form.kind} onChange={(e) => set("kind", e.target.value as AlarmRuleKind)}>
            {(Object.keys(TEXT.kinds) as AlarmRuleKind[]).map((k) => (
              <option key={k} value={k}>
                {TEXT.kinds[k]}
              </option>
            ))}
          </select>
        ))}
        {row("severity", (p) => (
          <select {...p} name="severity" value={form.severity} onChange={(e) => set("severity", e.target.value as AlarmSeverity)}>
            <option value="warning">{severityLabel("warning")}</option>
            <option value="critical">{severityLabel("critical")}</option>
          </select>
        ))}
        {threshold
          ? row("sensor", (p) => (
              <select {...p} name="sensor" value={form.sensor} onChange={(e) => set("sensor", e.target.value)}>
                <option value="">{TEXT.noSensor}</option>
                {sensors.map((s) => (
                  <option key={s.id} value={`id:${s.id}`}>
                    {farm?.devices[s.deviceId]?.name ?? s.deviceId} · {s.name}
                  </option>
                ))}
                {sensorNames.map((n) => (
                  <option key={n} value={`name:${n}`}>
                    {TEXT.everySensorNamed(n)}
                  </option>
                ))}
              </select>
            ))
          : row("deviceId", (p) => (
              <select {...p} name="device" value={form.deviceId} onChange={(e) => set("deviceId", e.target.value)}>
                <option value="">{TEXT.everyDevice}</option>
                {devices.map((d) => (
                  <option key={d.id} value={String(d.id)}>
                    {d.name}
                  </option>
                ))}
              </select>
            ))}
        {threshold &&
          row("threshold", (p) => (
            <input {...p} name="threshold" type="number" step="any" value={form.threshold} onChange={(e) => set("threshold", e.target.value)} />
          ))}
        {threshold &&
          row("clearThreshold", (p) => (
            <input
              {...p}
              name="clear_threshold"
              type="number"
              step="any"
              value={form.clearThreshold}
              onChange={(e) => set("clearThreshold", e.target.value)}
            />
          ))}
        {row("forS", (p) => (
          <input {...p} name="for_s" type="number" step="any" value={form.forS} onChange={(e) => set("forS", e.target.value)} />
        ))}
        {row("message", (p) => (
          <input {...p} name="message" value={form.message} onChange={(e) => set("message", e.target.value)} />
        ))}
        <label className="field field-check">
          <input type="checkbox" name="enabled" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
          <span>{TEXT.field.enabled}</span>
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="muted" role="status">
          {done}
        </p>
      )}
      <button type="submit" className="btn btn-primary" disabled={busy} data-testid="create-rule-submit">
        {busy ? TEXT.creating : TEXT.createButton}
      </button>
    </form>
  );
}

function AuditTable({ entries }: { entries: readonly AlarmRuleAuditEntry[] }) {
  if (entries.length === 0) return <p className="muted">{TEXT.auditNone}</p>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid="alarm-rules-audit">
        <thead>
          <tr>
            {TEXT.auditColumns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {entries.map((e, i) => (
            <tr key={`${e.at}-${e.rule}-${i}`}>
              <td>{formatDateTime(e.at)}</td>
              <td>{String(e.user ?? "")}</td>
              <td>{e.action}</td>
              <td>{String(e.after?.name ?? e.before?.name ?? e.rule)}</td>
              <td>{auditChanges(e.before as Record<string, unknown> | null, e.after as Record<string, unknown> | null)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
