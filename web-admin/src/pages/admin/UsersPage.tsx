/** Users (global admins) and each farm's members and roles (farm admins). */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type Member, type Role, type User, api, errorText } from "../../lib/api";
import { formatDateTime } from "../../lib/format";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";

const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

function message(err: unknown): string {
  return errorText(err);
}

export function UsersPage() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  const isAdmin = me?.is_admin ?? false;
  const adminFarms = farms.filter((f) => roleOn(me, f.id) === "admin");
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);

  const loadUsers = useCallback(() => {
    if (!isAdmin) return;
    api
      .users()
      .then(setUsers)
      .catch((err: unknown) => setError(message(err)));
  }, [isAdmin]);
  useEffect(loadUsers, [loadUsers]);

  const act = async (what: () => Promise<void>): Promise<void> => {
    setError(null);
    try {
      await what();
      loadUsers();
    } catch (err) {
      setError(message(err));
    }
  };

  return (
    <section>
      <h1 className="page-title">{t("admin.users.title")}</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {isAdmin && (
        <div className="panel">
          <h2>{t("admin.users.users")}</h2>
          <table className="table" data-testid="users-table">
            <thead>
              <tr>
                <th>{t("admin.users.col.user")}</th>
                <th>{t("admin.users.col.globalAdmin")}</th>
                <th>{t("admin.users.col.created")}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td>
                    <strong>{u.username}</strong>
                  </td>
                  <td>{u.is_admin ? t("common.yes") : t("common.no")}</td>
                  <td>{formatDateTime(u.created_ms)}</td>
                  <td className="actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      title={t("admin.users.revoke.title")}
                      onClick={() => void act(() => api.revokeTokens(u.id))}
                    >
                      {t("admin.users.revoke")}
                    </button>
                    {u.id !== me?.id && (
                      <button
                        type="button"
                        className="btn btn-small btn-danger"
                        onClick={() => {
                          if (window.confirm(t("admin.users.confirmDelete", { name: u.username }))) void act(() => api.deleteUser(u.id));
                        }}
                      >
                        {t("common.delete")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <CreateUser onCreated={loadUsers} />
        </div>
      )}
      {adminFarms.length > 0 && <Members users={users} farms={adminFarms} canListUsers={isAdmin} />}
    </section>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const { t } = useI18n();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [admin, setAdmin] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await api.createUser({ username, password, is_admin: admin });
      setUsername("");
      setPassword("");
      setAdmin(false);
      onCreated();
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <form className="form inline-form" onSubmit={(e) => void submit(e)}>
      <h3>{t("admin.users.add")}</h3>
      <div className="form-grid">
        <label className="field">
          <span>{t("login.username")}</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="off" />
        </label>
        <label className="field">
          <span>{t("account.new.short", { min: 8 })}</span>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} minLength={8} required autoComplete="new-password" />
        </label>
        <label className="field field-check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> {t("admin.users.globalAdmin")}
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <button type="submit" className="btn btn-primary">
        {t("admin.users.addSubmit")}
      </button>
    </form>
  );
}

function Members({ users, farms, canListUsers }: { users: User[]; farms: ReturnType<typeof useDirectory>["farms"]; canListUsers: boolean }) {
  const { t } = useI18n();
  const [farmId, setFarmId] = useAdminFarm(farms);
  const [members, setMembers] = useState<Member[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [newUser, setNewUser] = useState("");
  const [newRole, setNewRole] = useState<Role>("viewer");

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .members(farmId)
      .then(setMembers)
      .catch((err: unknown) => setError(message(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const change = async (what: () => Promise<void>): Promise<void> => {
    setError(null);
    try {
      await what();
      load();
    } catch (err) {
      setError(message(err));
    }
  };
  const nameOf = (id: number): string => users.find((u) => u.id === id)?.username ?? t("admin.users.userId", { id });

  return (
    <div className="panel">
      <div className="panel-head">
        <h2>{t("admin.users.farmRoles")}</h2>
        <FarmPicker farms={farms} value={farmId} onChange={setFarmId} />
      </div>
      {error && <p className="error">{error}</p>}
      <table className="table" data-testid="members-table">
        <thead>
          <tr>
            <th>{t("admin.users.col.user")}</th>
            <th>{t("admin.users.col.role")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.user_id}>
              <td>{nameOf(m.user_id)}</td>
              <td>
                <select
                  value={m.role}
                  onChange={(e) => void change(() => api.setRole(m.farm_id, m.user_id, e.target.value as Role))}
                  aria-label={t("admin.users.roleOf", { name: nameOf(m.user_id) })}
                >
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {t(`role.${r}`)}
                    </option>
                  ))}
                </select>
              </td>
              <td className="actions">
                <button type="button" className="btn btn-small btn-danger" onClick={() => void change(() => api.removeRole(m.farm_id, m.user_id))}>
                  {t("admin.users.remove")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canListUsers && farmId !== null && (
        <form
          className="form inline-form row"
          onSubmit={(e) => {
            e.preventDefault();
            if (newUser) void change(() => api.setRole(farmId, Number(newUser), newRole));
          }}
        >
          <select value={newUser} onChange={(e) => setNewUser(e.target.value)} aria-label={t("admin.users.col.user")}>
            <option value="">{t("admin.users.chooseUser")}</option>
            {users
              .filter((u) => !members.some((m) => m.user_id === u.id))
              .map((u) => (
                <option key={u.id} value={u.id}>
                  {u.username}
                </option>
              ))}
          </select>
          <select value={newRole} onChange={(e) => setNewRole(e.target.value as Role)} aria-label={t("admin.users.col.role")}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}`)}
              </option>
            ))}
          </select>
          <button type="submit" className="btn">
            {t("admin.users.giveRole")}
          </button>
        </form>
      )}
    </div>
  );
}
