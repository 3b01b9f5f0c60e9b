/**
 * One device's profile (name, title, zone, confirm before commands) and its sensors (unit
 * and range of each, and a new one). Each save goes to the API, then the live snapshot is
 * asked again so the dashboard shows it.
 */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type Device, type Sensor, api, errorText } from "../../lib/api";
import { getStreamClient } from "../../lib/ws/useWebSocket";
import { MAX_ZONE_CHARS, parseBound, rangeProblem } from "./sensorRange";
import "../../admin.css";

const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}";
export function DeviceEditor({ farmId, device, onSaved, onClose }: { farmId: number; device: Device; onSaved: () => void; onClose: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState(device.name);
  const [title, setTitle] = useState(device.title);
  const [zone, setZone] = useState(device.zone ?? "");
  const [confirmCommands, setConfirmCommands] = useState(device.confirm_commands ?? true);
  const [sensors, setSensors] = useState<Sensor[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  const loadSensors = useCallback(() => {
    api
      .sensors(farmId)
      .then((all) => setSensors(all.filter((s) => s.device_id === device.id)))
      .catch((err: unknown) => setError(errorText(err)));
  }, [farmId, device.id]);
  useEffect(loadSensors, [loadSensors]);

  const changed = (): void => {
    onSaved();
    getStreamClient().refreshSnapshot(farmId);
  };

  const saveProfile = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      await api.patchDevice(device.id, { name: name.trim(), title: title.trim(), zone: zone.trim() || null, confirm_commands: confirmCommands });
      setSaved(true);
      changed();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <div className="panel editor" data-testid="device-editor" data-device={device.name}>
      <div className="panel-head">
        <h2>{t("admin.devices.editTitle", { name: device.name })}</h2>
        <button type="button" className="btn btn-small btn-ghost" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
      <form className="form" onSubmit={(e) => void saveProfile(e)} data-testid="device-profile">
        <div className="form-grid">
          <label className="field">
            <span>{t("admin.devices.col.name")}</span>
            <input name="name" value={name} onChange={(e) => setName(e.target.value)} required pattern={NAME_PATTERN} />
          </label>
          <label className="field">
            <span>{t("admin.devices.field.title")}</span>
            <input name="title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} />
          </label>
          <label className="field">
            <span>{t("admin.devices.field.zone")}</span>
            <input
              name="zone"
              value={zone}
              onChange={(e) => setZone(e.target.value)}
              maxLength={MAX_ZONE_CHARS}
              placeholder={t("admin.devices.field.zonePlaceholder")}
            />
          </label>
          <label className="field-check">
            <input name="confirm_commands" type="checkbox" checked={confirmCommands} onChange={(e) => setConfirmCommands(e.target.checked)} />
            <span>{t("admin.devices.field.confirmCommands")}</span>
          </label>
        </div>
        {name.trim() !== device.name && <p className="muted">{t("admin.devices.renameNote")}</p>}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {saved && <p className="muted" data-testid="profile-saved">{t("admin.devices.savedProfile")}</p>}
        <button type="submit" className="btn btn-primary">
          {t("common.save")}
        </button>
      </form>
      <h3>{t("admin.sensors.title")}</h3>
      <table className="table" data-testid="sensor-table">
        <thead>
          <tr>
            <th>{t("admin.sensors.col.name")}</th>
            <th>{t("admin.sensors.col.unit")}</th>
            <th>{t("admin.sensors.col.min")}</th>
            <th>{t("admin.sensors.col.max")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {sensors.map((s) => (
            <SensorRow
              key={s.id}
              sensor={s}
              onSaved={(next) => {
                setSensors((prev) => prev.map((x) => (x.id === next.id ? next : x)));
                changed();
              }}
            />
          ))}
          {sensors.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                {t("admin.sensors.none")}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <AddSensor
        deviceId={device.id}
        onAdded={() => {
          loadSensors();
          changed();
        }}
      />
    </div>
  );
}

function SensorRow({ sensor, onSaved }: { sensor: Sensor; onSaved: (s: Sensor) => void }) {
  const { t } = useI18n();
  const [unit, setUnit] = useState(sensor.unit);
  const [min, setMin] = useState(sensor.min === null ? "" : String(sensor.min));
  const [max, setMax] = useState(sensor.max === null ? "" : String(sensor.max));
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  const save = async (): Promise<void> => {
    setError(null);
    setSaved(false);
    const lo = parseBound(min);
    const hi = parseBound(max);
    const problem = rangeProblem(lo, hi);
    if (problem) {
      setError(t(problem));
      return;
    }
    try {
      onSaved(await api.patchSensor(sensor.id, { unit: unit.trim(), min: lo, max: hi }));
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <tr data-testid="sensor-row" data-sensor={sensor.name}>
      <td>{sensor.name}</td>
      <td>
        <input aria-label={t("admin.sensors.col.unit")} name="unit" value={unit} onChange={(e) => setUnit(e.target.value)} maxLength={16} />
      </td>
      <td>
        <input aria-label={t("admin.sensors.col.min")} name="min" inputMode="decimal" value={min} onChange={(e) => setMin(e.target.value)} />
      </td>
      <td>
        <input aria-label={t("admin.sensors.col.max")} name="max" inputMode="decimal" value={max} onChange={(e) => setMax(e.target.value)} />
      </td>
      <td className="actions">
        <button type="button" className="btn btn-small" onClick={() => void save()} data-testid="save-sensor">
          {t("common.save")}
        </button>
        {saved && <span className="muted" data-testid="sensor-saved">{t("admin.sensors.saved")}</span>}
        {error && (
          <span className="error" role="alert" data-testid="sensor-error">
            {error}
          </span>
        )}
      </td>
    </tr>
  );
}

function AddSensor({ deviceId, onAdded }: { deviceId: number; onAdded: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState("");
  const [unit, setUnit] = useState("");
  const [min, setMin] = useState("");
  const [max, setMax] = useState("");
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setError(null);
    const lo = parseBound(min);
    const hi = parseBound(max);
    const problem = rangeProblem(lo, hi);
    if (problem) {
      setError(t(problem));
      return;
    }
    try {
      await api.addSensor(deviceId, { name: name.trim(), unit: unit.trim(), min: lo, max: hi });
      setName("");
      setUnit("");
      setMin("");
      setMax("");
      onAdded();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} data-testid="add-sensor">
      <label className="field">
        <span>{t("admin.sensors.col.name")}</span>
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required pattern={NAME_PATTERN} />
      </label>
      <label className="field">
        <span>{t("admin.sensors.col.unit")}</span>
        <input name="unit" value={unit} onChange={(e) => setUnit(e.target.value)} maxLength={16} />
      </label>
      <label className="field">
        <span>{t("admin.sensors.col.min")}</span>
        <input name="min" inputMode="decimal" value={min} onChange={(e) => setMin(e.target.value)} />
      </label>
      <label className="field">
        <span>{t("admin.sensors.col.max")}</span>
        <input name="max" inputMode="decimal" value={max} onChange={(e) => setMax(e.target.value)} />
      </label>
      <button type="submit" className="btn btn-small">
        {t("admin.sensors.add")}
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
