/** Devices of a farm: create one (its key is shown once), rotate a key, delete one. */

import { useCallback, useEffect, useState } from "react";

import { ApiError, type Device, type DeviceKind, api, parseSensorSpecs } from "../../lib/api";
import { formatAgo, useNow } from "../../lib/format";
import { getStreamClient } from "../../lib/ws/useWebSocket";
import { useFarm } from "../../store";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";

function message(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

export function DevicesPage() {
  const { me, farms } = useDirectory();
  const adminFarms = farms.filter((f) => roleOn(me, f.id) === "admin");
  const [farmId, setFarmId] = useAdminFarm(adminFarms);
  const live = useFarm(farmId);
  const now = useNow(1000);
  const [devices, setDevices] = useState<Device[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [shownKey, setShownKey] = useState<{ device: string; key: string } | null>(null);

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .devices(farmId)
      .then(setDevices)
      .catch((err: unknown) => setError(message(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const rotate = async (d: Device): Promise<void> => {
    if (!window.confirm(`Issue a new key for ${d.name}? The old key stops working at once.`)) return;
    try {
      const { key } = await api.rotateKey(d.id);
      setShownKey({ device: d.name, key });
    } catch (err) {
      setError(message(err));
    }
  };

  const remove = async (d: Device): Promise<void> => {
    if (!window.confirm(`Delete ${d.name} and all its data?`)) return;
    try {
      await api.deleteDevice(d.id);
      load();
    } catch (err) {
      setError(message(err));
    }
  };

  if (adminFarms.length === 0) return <p className="muted">You are not an administrator of any farm.</p>;
  return (
    <section>
      <div className="page-head">
        <h1 className="page-title">Devices</h1>
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
            <strong>Key for {shownKey.device}</strong>: copy it now, it is shown this once.
          </p>
          <code className="key">{shownKey.key}</code>
          <div className="row">
            <button type="button" className="btn btn-small" onClick={() => void (navigator.clipboard as Clipboard | undefined)?.writeText(shownKey.key)}>
              Copy
            </button>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setShownKey(null)}>
              I have saved it
            </button>
          </div>
        </div>
      )}
      <div className="panel">
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Status</th>
              <th>Last seen</th>
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
                    <div className="muted">{d.title}</div>
                  </td>
                  <td>{d.kind.replace("_", " ")}</td>
                  <td>
                    <span className={`badge badge-${status?.state ?? d.status.state}`}>{status?.state ?? d.status.state}</span>
                  </td>
                  <td>{formatAgo(status?.lastSeenMs ?? d.last_seen_ms, now)}</td>
                  <td className="actions">
                    <button type="button" className="btn btn-small" onClick={() => void rotate(d)}>
                      Rotate key
                    </button>
                    <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(d)}>
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
            {devices.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No devices.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
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
      <h2>Add a device</h2>
      <div className="form-grid">
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" placeholder="climate-2" />
        </label>
        <label className="field">
          <span>Title</span>
          <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Climate node, north bay" />
        </label>
        <label className="field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as DeviceKind)}>
            <option value="sensor_node">sensor node</option>
            <option value="actuator">actuator</option>
            <option value="controller">controller</option>
          </select>
        </label>
        <label className="field field-wide">
          <span>Sensors (name:unit:min:max, one per line)</span>
          <textarea value={sensors} onChange={(e) => setSensors(e.target.value)} rows={3} />
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <button type="submit" className="btn btn-primary" disabled={busy}>
        Create device
      </button>
    </form>
  );
}
