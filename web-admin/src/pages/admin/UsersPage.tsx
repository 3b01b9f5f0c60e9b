/** Users (global admins) and each farm's members and roles (farm admins). */

import { useCallback, useEffect, useState } from "react";

import { ApiError, type Member, type Role, type User, api } from "../../lib/api";
import { formatDateTime } from "../../lib/format";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";

const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

function message(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

export function UsersPage() {
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
      <h1 className="page-title">Users and roles</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {isAdmin && (
        <div className="panel">
          <h2>Users</h2>
          <table className="table" data-testid="users-table">
            <thead>
              <tr>
                <th>User</th>
                <th>Global admin</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td>
                    <strong>{u.username}</strong>
                  </td>
                  <td>{u.is_admin ? "yes" : "no"}</td>
                  <td>{formatDateTime(u.created_ms)}</td>
                  <td className="actions">
                    <button
                      type="button"
                      className="btn btn-small"
                      title="End every session of this user"
                      onClick={() => void act(() => api.revokeTokens(u.id))}
                    >
                      Log out everywhere
                    </button>
                    {u.id !== me?.id && (
                      <button
                        type="button"
                        className="btn btn-small btn-danger"
                        onClick={() => {
                          if (window.confirm(`Delete user ${u.username}?`)) void act(() => api.deleteUser(u.id));
                        }}
                      >
                        Delete
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
      <h3>Add a user</h3>
      <div className="form-grid">
        <label className="field">
          <span>User name</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="off" />
        </label>
        <label className="field">
          <span>Password (8+ characters)</span>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} minLength={8} required autoComplete="new-password" />
        </label>
        <label className="field field-check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> global admin
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <button type="submit" className="btn btn-primary">
        Add user
      </button>
    </form>
  );
}

function Members({ users, farms, canListUsers }: { users: User[]; farms: ReturnType<typeof useDirectory>["farms"]; canListUsers: boolean }) {
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
  const nameOf = (id: number): string => users.find((u) => u.id === id)?.username ?? `user ${id}`;

  return (
    <div className="panel">
      <div className="panel-head">
        <h2>Farm roles</h2>
        <FarmPicker farms={farms} value={farmId} onChange={setFarmId} />
      </div>
      {error && <p className="error">{error}</p>}
      <table className="table" data-testid="members-table">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
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
                  aria-label={`role of ${nameOf(m.user_id)}`}
                >
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td className="actions">
                <button type="button" className="btn btn-small btn-danger" onClick={() => void change(() => api.removeRole(m.farm_id, m.user_id))}>
                  Remove
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
          <select value={newUser} onChange={(e) => setNewUser(e.target.value)} aria-label="user">
            <option value="">choose a user…</option>
            {users
              .filter((u) => !members.some((m) => m.user_id === u.id))
              .map((u) => (
                <option key={u.id} value={u.id}>
                  {u.username}
                </option>
              ))}
          </select>
          <select value={newRole} onChange={(e) => setNewRole(e.target.value as Role)} aria-label="role">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <button type="submit" className="btn">
            Give role
          </button>
        </form>
      )}
    </div>
  );
}
