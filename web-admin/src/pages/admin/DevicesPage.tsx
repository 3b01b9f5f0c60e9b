/** Devices of a farm: create one (its key is shown once), edit its profile and sensors,
 * rotate a key, delete one. */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type Device, type DeviceKind, api, errorText, parseSensorSpecs } from "../../lib/api";
import { formatAgo, useNow } from "../../lib/format";
import { getStreamClient } from "../../lib/ws/useWebSocket";
import { useFarm } from "../../store";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { DeviceEditor } from "./DeviceEditor";
import { FarmPicker } from "./FarmPicker";

function message(err: unknown): string {
  return errorText(err);
}

export function DevicesPage() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  const adminFarms = farms.filter((f) => roleOn(me, f.id) === "admin");
  const [farmId, setFarmId] = useAdminFarm(adminFarms);
  const live = useFarm(farmId);
  const now = useNow(1000);
  const [devices, setDevices] = useState<Device[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [shownKey, setShownKey] = useState<{ device: string; key: string } | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const edited = devices.find((d) => d.id === editing);

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .devices(farmId)
      .then(setDevices)
      .catch((err: unknown) => setError(message(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const rotate = async (d: Device): Promise<void> => {
    if (!window.confirm(t("admin.devices.confirmRotate", { name: d.name }))) return;
    try {
      const { key } = await api.rotateKey(d.id);
      setShownKey({ device: d.name, key });
    } catch (err) {
      setError(message(err));
    }
  };

  const remove = async (d: Device): Promise<void> => {
    if (!window.confirm(t("admin.devices.confirmDelete", { name: d.name }))) return;
    try {
      await api.deleteDevice(d.id);
      load();
    } catch (err) {
      setError(message(err));
    }
  };

  if (adminFarms.length === 0) return <p className="muted">{t("admin.notAdmin")}</p>;
  return (
    <section>
      <div className="page-head">
        <h1 className="page-title">{t("admin.devices.title")}</h1>
        <FarmPicker farms={adminFarms} value={farmId} onChange={setFarmId} />
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {shownKey && (
        <div className="key-box" data-testid="device-key" role="alert">
          <p>
            <strong>{t("admin.devices.keyFor", { name: shownKey.device })}</strong>: {t("admin.devices.keyOnce")}
          </p>
          <code className="key">{shownKey.key}</code>
          <div className="row">
            <button type="button" className="btn btn-small" onClick={() => void (navigator.clipboard as Clipboard | undefined)?.writeText(shownKey.key)}>
              {t("admin.devices.copy")}
            </button>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setShownKey(null)}>
              {t("admin.devices.saved")}
            </button>
          </div>
        </div>
      )}
      <div className="panel">
        <table className="table">
          <thead>
            <tr>
              <th>{t("admin.devices.col.name")}</th>
              <th>{t("admin.devices.col.kind")}</th>
              <th>{t("admin.devices.col.status")}</th>
              <th>{t("admin.devices.col.lastSeen")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => {
              const status = live?.devices[d.id];
              return (
                <tr key={d.id}>
                  <td>
                    <strong>{d.name}</strong>
                    <div className="muted">
                      {d.title}
                      {d.zone ? ` · ${d.zone}` : ""}
                    </div>
                  </td>
                  <td>{t(`device.kind.${d.kind}`, { defaultValue: d.kind.replace("_", " ") })}</td>
                  <td>
                    <span className={`badge badge-${status?.state ?? d.status.state}`}>{t(`device.state.${status?.state ?? d.status.state}`)}</span>
                  </td>
                  <td>{formatAgo(status?.lastSeenMs ?? d.last_seen_ms, now)}</td>
                  <td className="actions">
                    <button type="button" className="btn btn-small" onClick={() => setEditing(d.id)} data-testid={`edit-${d.name}`}>
                      {t("admin.devices.edit")}
                    </button>
                    <button type="button" className="btn btn-small" onClick={() => void rotate(d)}>
                      {t("admin.devices.rotate")}
                    </button>
                    <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(d)}>
                      {t("common.delete")}
                    </button>
                  </td>
                </tr>
              );
            })}
            {devices.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  {t("admin.devices.none")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {farmId !== null && edited && (
        <DeviceEditor key={edited.id} farmId={farmId} device={edited} onSaved={load} onClose={() => setEditing(null)} />
      )}
      {farmId !== null && (
        <CreateDevice
          farmId={farmId}
          onCreated={(name, key) => {
            setShownKey({ device: name, key });
            load();
            // The live snapshot does not know the new device yet: ask the stream for a fresh one.
            getStreamClient().refreshSnapshot(farmId);
          }}
        />
      )}
    </section>
  );
}

function CreateDevice({ farmId, onCreated }: { farmId: number; onCreated: (name: string, key: string) => void }) {
  const { t } = useI18n();
  const [name, setName] = useState("");
  const [title, setTitle] = useState("");
  const [kind, setKind] = useState<DeviceKind>("sensor_node");
  const [sensors, setSensors] = useState("temperature:°C:-20:60");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.createDevice(farmId, { name, kind, title, sensors: parseSensorSpecs(sensors) });
      onCreated(created.device.name, created.key);
      setName("");
      setTitle("");
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form" onSubmit={(e) => void submit(e)} data-testid="create-device">
      <h2>{t("admin.devices.add")}</h2>
      <div className="form-grid">
        <label className="field">
          <span>{t("admin.devices.col.name")}</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" placeholder="climate-2" />
        </label>
        <label className="field">
          <span>{t("admin.devices.field.title")}</span>
          <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder={t("admin.devices.field.titlePlaceholder")} />
        </label>
        <label className="field">
          <span>{t("admin.devices.col.kind")}</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as DeviceKind)}>
            <option value="sensor_node">{t("device.kind.sensor_node")}</option>
            <option value="actuator">{t("device.kind.actuator")}</option>
            <option value="controller">{t("device.kind.controller")}</option>
          </select>
        </label>
        <label className="field field-wide">
          <span>{t("admin.devices.field.sensors")}</span>
          <textarea value={sensors} onChange={(e) => setSensors(e.target.value)} rows={3} />
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <button type="submit" className="btn btn-primary" disabled={busy}>
        {t("admin.devices.create")}
      </button>
    </form>
  );
}
