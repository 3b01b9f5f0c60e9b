/** A farm's alarm rules for its admins: list, create (the API's field errors beside the field), enable, disable, delete; and the audit. */

import { useCallback, useEffect, useId, useMemo, useState } from "react";

import { t, useI18n } from "../../i18n";
import { type AlarmRule, type AlarmRuleAuditEntry, type AlarmRuleKind, ApiError, api, errorText } from "../../lib/api";
import { formatDateTime, formatNumber, formatSeconds } from "../../lib/format";
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

/** The page's words in the UI's language; read on each render, so a switch applies at once. */
function pageText() {
  return {
    title: t("rules.title"),
    notAdmin: t("admin.notAdmin"),
    none: t("rules.none"),
    columns: [
      t("rules.col.name"),
      t("rules.col.kind"),
      t("rules.col.severity"),
      t("rules.col.watches"),
      t("rules.col.condition"),
      t("rules.col.enabled"),
      "",
    ],
    enable: t("rules.enable"),
    disable: t("rules.disable"),
    remove: t("common.delete"),
    confirmDelete: (name: string) => t("rules.confirmDelete", { name }),
    create: t("rules.create"),
    createButton: t("rules.createButton"),
    creating: t("rules.creating"),
    created: (name: string) => t("rules.created", { name }),
    audit: t("rules.audit"),
    auditNone: t("rules.auditNone"),
    auditColumns: [t("rules.audit.when"), t("rules.audit.who"), t("rules.audit.what"), t("rules.audit.rule"), t("rules.audit.changed")],
    everySensorNamed: (name: string) => t("rules.everySensorNamed", { name }),
    everyDevice: t("rules.everyDevice"),
    noSensor: t("rules.noSensor"),
    field: {
      name: t("rules.field.name"),
      kind: t("rules.field.kind"),
      severity: t("rules.field.severity"),
      sensor: t("rules.field.sensor"),
      deviceId: t("rules.field.deviceId"),
      threshold: t("rules.field.threshold"),
      clearThreshold: t("rules.field.clearThreshold"),
      forS: t("rules.field.forS"),
      message: t("rules.field.message"),
      enabled: t("rules.field.enabled"),
    } satisfies Record<RuleField, string>,
    kinds: {
      above: t("rules.kind.above"),
      below: t("rules.kind.below"),
      no_data: t("rules.kind.no_data"),
      offline: t("rules.kind.offline"),
      command_failed: t("rules.kind.command_failed"),
    } satisfies Record<AlarmRuleKind, string>,
    condition: (r: AlarmRule) => {
      const forS = r.for_s ? t("rules.condition.for", { seconds: formatSeconds(r.for_s) }) : "";
      if (!isThresholdKind(r.kind)) return forS || t("rules.condition.atOnce");
      const clears =
        r.clear_threshold !== null && r.clear_threshold !== undefined
          ? t("rules.condition.clears", { value: formatNumber(r.clear_threshold) })
          : "";
      const head = t(`rules.condition.${r.kind}`, { value: formatNumber(r.threshold ?? Number.NaN) });
      return [head, clears, forS].filter(Boolean).join(" ");
    },
    fieldError: (detail: string) => t("rules.fieldError", { detail }),
    action: (action: string) => t(`rules.audit.action.${action}`, { defaultValue: action }),
    sensorId: (id: unknown) => t("rules.sensorId", { id: String(id) }),
    deviceId: (id: number) => t("alarm.source.device", { id }),
    yes: t("common.yes"),
    no: t("common.no"),
  } as const;
}

export function AlarmRulesPage() {
  useI18n();
  const TEXT = pageText();
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
                  <td>{watches(r, live, TEXT)}</td>
                  <td>{TEXT.condition(r)}</td>
                  <td>{r.enabled ? TEXT.yes : TEXT.no}</td>
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

function watches(r: AlarmRule, farm: FarmState | undefined, TEXT: ReturnType<typeof pageText>): string {
  if (isThresholdKind(r.kind)) {
    if (r.sensor_name) return TEXT.everySensorNamed(r.sensor_name);
    const sensor = r.sensor_id !== null && r.sensor_id !== undefined ? farm?.sensors[r.sensor_id] : undefined;
    const device = sensor ? farm?.devices[sensor.deviceId] : undefined;
    return sensor ? `${device?.name ?? ""} · ${sensor.name}` : TEXT.sensorId(r.sensor_id);
  }
  if (r.device_id === null || r.device_id === undefined) return TEXT.everyDevice;
  return farm?.devices[r.device_id]?.name ?? TEXT.deviceId(r.device_id);
}

function CreateRule({ farmId, farm, onCreated }: { farmId: number; farm: FarmState | undefined; onCreated: () => void }) {
  useI18n();
  const TEXT = pageText();
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
      if (field && err instanceof ApiError) setFieldError({ field, message: TEXT.fieldError(fieldMessage(err)) });
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
          <input {...p} name="name" value={form.name} onChange={(e) => set("name", e.target.value)} placeholder={t("rules.field.namePlaceholder")} />
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
  useI18n();
  const TEXT = pageText();
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
              <td>{TEXT.action(e.action)}</td>
              <td>{String(e.after?.name ?? e.before?.name ?? e.rule)}</td>
              <td>{auditChanges(e.before as Record<string, unknown> | null, e.after as Record<string, unknown> | null)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
