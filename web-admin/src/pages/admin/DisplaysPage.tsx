/** Wall screens of a farm: create a display credential (its secret and link are shown once), list, revoke. */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type DisplayCredential, api, errorText } from "../../lib/api";
import { displayUrl } from "../../lib/display";
import { formatDateTime } from "../../lib/format";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";

export function DisplaysPage() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  const adminFarms = farms.filter((f) => me?.is_admin || roleOn(me, f.id) === "admin");
  const [farmId, setFarmId] = useAdminFarm(adminFarms);
  const [displays, setDisplays] = useState<DisplayCredential[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [shown, setShown] = useState<{ name: string; secret: string } | null>(null);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .displays(farmId)
      .then(setDisplays)
      .catch((err: unknown) => setError(errorText(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const create = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    if (farmId === null) return;
    setBusy(true);
    setError(null);
    try {
      const created = await api.createDisplay(farmId, name.trim());
      setShown({ name: created.name, secret: created.secret });
      setName("");
      load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (d: DisplayCredential): Promise<void> => {
    if (farmId === null || !window.confirm(t("admin.displays.confirmRevoke", { name: d.name }))) return;
    try {
      await api.revokeDisplay(farmId, d.id);
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  if (adminFarms.length === 0) return <p className="muted">{t("admin.notAdmin")}</p>;
  const link = shown ? displayUrl(shown.secret) : "";
  return (
    <section>
      <div className="page-head">
        <h1 className="page-title">{t("admin.displays.title")}</h1>
        <FarmPicker farms={adminFarms} value={farmId} onChange={setFarmId} />
      </div>
      <p className="muted">{t("admin.displays.intro")}</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {shown && (
        <div className="key-box" data-testid="display-secret" role="alert">
          <p>
            <strong>{t("admin.displays.secretFor", { name: shown.name })}</strong>: {t("admin.displays.secretOnce")}
          </p>
          <code className="key" data-testid="display-secret-value">
            {shown.secret}
          </code>
          <p>{t("admin.displays.openOnScreen")}</p>
          <code className="key" data-testid="display-link">
            {link}
          </code>
          <div className="row">
            <button type="button" className="btn btn-small" onClick={() => void (navigator.clipboard as Clipboard | undefined)?.writeText(link)}>
              {t("admin.displays.copyLink")}
            </button>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setShown(null)}>
              {t("admin.devices.saved")}
            </button>
          </div>
        </div>
      )}
      <div className="panel">
        <table className="table" data-testid="displays">
          <thead>
            <tr>
              <th>{t("admin.displays.col.name")}</th>
              <th>{t("admin.displays.col.created")}</th>
              <th>{t("admin.displays.col.expires")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {displays.map((d) => (
              <tr key={d.id} data-testid="display-row">
                <td>
                  <strong>{d.name}</strong>
                </td>
                <td>{formatDateTime(d.created_ms)}</td>
                <td>{d.expires_ms === null ? t("admin.displays.never") : formatDateTime(d.expires_ms)}</td>
                <td className="actions">
                  <button type="button" className="btn btn-small btn-danger" onClick={() => void revoke(d)}>
                    {t("admin.displays.revoke")}
                  </button>
                </td>
              </tr>
            ))}
            {displays.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  {t("admin.displays.none")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <form className="panel form" onSubmit={(e) => void create(e)} data-testid="create-display">
        <h2>{t("admin.displays.add")}</h2>
        <label className="field">
          <span>{t("admin.displays.col.name")}</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} placeholder={t("admin.displays.namePlaceholder")} />
        </label>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t("admin.displays.create")}
        </button>
      </form>
    </section>
  );
}
