/**
 * Farms: create one (global admins), rename one (its admins), delete one (global admins)
 * after a dialog that says what goes with it and asks for the farm's name. The farm list
 * of the overview follows at once (the directory is loaded again after each change, and
 * when this page opens; a farm deleted elsewhere leaves it through the stream).
 */

import { useEffect, useState } from "react";

import { useConfirm } from "../../components/useConfirm";
import { useI18n } from "../../i18n";
import { type Farm, api, errorText } from "../../lib/api";
import { auth } from "../../lib/auth";
import { formatDateTime } from "../../lib/format";
import { loadDirectory, roleOn, useDirectory } from "../../store/directory";
import "../../admin.css";

const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}";

async function reloadFarms(): Promise<void> {
  const token = auth.token();
  if (token) await loadDirectory(token, true);
}

export function FarmsPage() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  const [error, setError] = useState<string | null>(null);
  const [confirm, dialog] = useConfirm();
  const isAdmin = me?.is_admin ?? false;
  const mine = farms.filter((f) => roleOn(me, f.id) === "admin");
  // Farms another admin made or renamed since sign-in show up when this page opens.
  useEffect(() => {
    void reloadFarms();
  }, []);

  const remove = async (f: Farm): Promise<void> => {
    setError(null);
    const ok = await confirm({
      title: t("admin.farms.deleteTitle", { name: f.title || f.name }),
      body: (
        <>
          <p>{t("admin.farms.deleteLost")}</p>
          <ul>
            <li>{t("admin.farms.lost.devices")}</li>
            <li>{t("admin.farms.lost.history")}</li>
            <li>{t("admin.farms.lost.alarms")}</li>
            <li>{t("admin.farms.lost.people")}</li>
          </ul>
          <p className="once-warning">{t("admin.farms.deleteUndo")}</p>
        </>
      ),
      confirmLabel: t("admin.farms.deleteConfirm"),
      danger: true,
      typeToConfirm: f.name,
    });
    if (!ok) return;
    try {
      await api.deleteFarm(f.id);
      await reloadFarms();
    } catch (err) {
      setError(errorText(err));
    }
  };

  if (mine.length === 0 && !isAdmin) return <p className="muted">{t("admin.notAdmin")}</p>;
  return (
    <section data-testid="farms-admin">
      {dialog}
      <div className="page-head">
        <h1 className="page-title">{t("admin.farms.title")}</h1>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="panel">
        <table className="table">
          <thead>
            <tr>
              <th>{t("admin.farms.col.name")}</th>
              <th>{t("admin.farms.col.title")}</th>
              <th>{t("admin.farms.col.created")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {mine.map((f) => (
              <FarmRow key={f.id} farm={f} canDelete={isAdmin} onDelete={() => void remove(f)} onError={setError} />
            ))}
            {mine.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  {t("admin.farms.none")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {isAdmin && <CreateFarm />}
    </section>
  );
}

function FarmRow({
  farm,
  canDelete,
  onDelete,
  onError,
}: {
  farm: Farm;
  canDelete: boolean;
  onDelete: () => void;
  onError: (e: string | null) => void;
}) {
  const { t } = useI18n();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(farm.name);
  const [title, setTitle] = useState(farm.title);

  const save = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    onError(null);
    try {
      await api.patchFarm(farm.id, { name: name.trim(), title: title.trim() });
      setEditing(false);
      await reloadFarms();
    } catch (err) {
      onError(errorText(err));
    }
  };

  if (editing)
    return (
      <tr data-testid="farm-row" data-farm={farm.name}>
        <td colSpan={4}>
          <form className="inline-form" onSubmit={(e) => void save(e)} data-testid="rename-farm">
            <label className="field">
              <span>{t("admin.farms.col.name")}</span>
              <input name="name" value={name} onChange={(e) => setName(e.target.value)} required pattern={NAME_PATTERN} />
            </label>
            <label className="field">
              <span>{t("admin.farms.col.title")}</span>
              <input name="title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} />
            </label>
            <button type="submit" className="btn btn-primary btn-small">
              {t("common.save")}
            </button>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setEditing(false)}>
              {t("common.cancel")}
            </button>
          </form>
          <p className="muted">{t("admin.farms.renameNote")}</p>
        </td>
      </tr>
    );
  return (
    <tr data-testid="farm-row" data-farm={farm.name}>
      <td>
        <strong>{farm.name}</strong>
      </td>
      <td>{farm.title}</td>
      <td>{formatDateTime(farm.created_ms)}</td>
      <td className="actions">
        <button type="button" className="btn btn-small" onClick={() => setEditing(true)} data-testid="rename">
          {t("admin.farms.rename")}
        </button>
        {canDelete && (
          <button type="button" className="btn btn-small btn-danger" onClick={onDelete} data-testid="delete">
            {t("common.delete")}
          </button>
        )}
      </td>
    </tr>
  );
}

function CreateFarm() {
  const { t } = useI18n();
  const [name, setName] = useState("");
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.createFarm(name.trim(), title.trim());
      setName("");
      setTitle("");
      await reloadFarms();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form" onSubmit={(e) => void submit(e)} data-testid="create-farm">
      <h2>{t("admin.farms.add")}</h2>
      <div className="form-grid">
        <label className="field">
          <span>{t("admin.farms.col.name")}</span>
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required pattern={NAME_PATTERN} />
        </label>
        <label className="field">
          <span>{t("admin.farms.col.title")}</span>
          <input
            name="title"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            maxLength={200}
            placeholder={t("admin.farms.titlePlaceholder")}
          />
        </label>
      </div>
      <p className="muted">{t("admin.farms.nameNote")}</p>
      {error && <p className="error">{error}</p>}
      <button type="submit" className="btn btn-primary" disabled={busy}>
        {t("admin.farms.create")}
      </button>
    </form>
  );
}
