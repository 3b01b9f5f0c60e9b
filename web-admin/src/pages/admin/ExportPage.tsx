/**
 * CSV export: the readings of the sensors chosen, in a chosen range, downloaded with the
 * user's token (fetched, then saved from a blob: a bare link would carry no token).
 */

import { useEffect, useMemo, useState } from "react";

import { useI18n } from "../../i18n";
import { type Sensor, api, errorText } from "../../lib/api";
import { useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { exportFileName, localInput } from "./exportFile";
import { FarmPicker } from "./FarmPicker";
import "../../admin.css";

const DAY_MS = 86_400_000;

/** Saves a blob as a download of that name. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoked after the click has handed the blob to the download.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function ExportPage() {
  const { t } = useI18n();
  const { farms } = useDirectory();
  const [farmId, setFarmId] = useAdminFarm(farms);
  const farm = farms.find((f) => f.id === farmId);
  const [sensors, setSensors] = useState<Sensor[]>([]);
  const [devices, setDevices] = useState<Record<number, string>>({});
  const [chosen, setChosen] = useState<Set<number>>(new Set());
  const [start, setStart] = useState(() => localInput(Date.now() - DAY_MS));
  const [end, setEnd] = useState(() => localInput(Date.now() + 60_000));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    if (farmId === null) return;
    Promise.all([api.sensors(farmId), api.devices(farmId)])
      .then(([s, d]) => {
        setSensors(s);
        setDevices(Object.fromEntries(d.map((x) => [x.id, x.name])));
        setChosen(new Set(s.map((x) => x.id)));
      })
      .catch((err: unknown) => setError(errorText(err)));
  }, [farmId]);

  const sorted = useMemo(
    () => [...sensors].sort((a, b) => (devices[a.device_id] ?? "").localeCompare(devices[b.device_id] ?? "") || a.id - b.id),
    [sensors, devices],
  );

  const toggle = (id: number): void =>
    setChosen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const download = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    if (farmId === null || !farm) return;
    setError(null);
    setDone(null);
    const startMs = new Date(start).getTime();
    const endMs = new Date(end).getTime();
    if (!(endMs > startMs)) {
      setError(t("export.badRange"));
      return;
    }
    setBusy(true);
    try {
      const blob = await api.exportCsv(farmId, [...chosen].sort((a, b) => a - b), startMs, endMs);
      const name = exportFileName(farm.name, startMs, endMs);
      save(blob, name);
      setDone(name);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (farms.length === 0) return <p className="muted">{t("export.noFarms")}</p>;
  return (
    <section data-testid="export-page">
      <div className="page-head">
        <h1 className="page-title">{t("export.title")}</h1>
        <FarmPicker farms={farms} value={farmId} onChange={setFarmId} />
      </div>
      <form className="panel form" onSubmit={(e) => void download(e)} data-testid="export-form">
        <fieldset>
          <legend>{t("export.sensors")}</legend>
          <div className="row">
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setChosen(new Set(sensors.map((s) => s.id)))}>
              {t("export.all")}
            </button>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setChosen(new Set())}>
              {t("export.none")}
            </button>
          </div>
          <div className="sensor-picks">
            {sorted.map((s) => (
              <label key={s.id} className="field-check">
                <input type="checkbox" checked={chosen.has(s.id)} onChange={() => toggle(s.id)} data-testid={`export-sensor-${s.id}`} />
                <span>
                  {devices[s.device_id] ?? ""} · {s.name}
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <div className="form-grid">
          <label className="field">
            <span>{t("export.from")}</span>
            <input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} required data-testid="export-start" />
          </label>
          <label className="field">
            <span>{t("export.to")}</span>
            <input type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} required data-testid="export-end" />
          </label>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {done && (
          <p className="muted" data-testid="export-done">
            {t("export.done", { name: done })}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || chosen.size === 0} data-testid="export-download">
          {t("export.download")}
        </button>
      </form>
    </section>
  );
}
