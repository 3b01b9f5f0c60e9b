/** The signed-in user's account: change the own password. */

import { useState } from "react";

import { api } from "../lib/api";
import { auth, useAuth } from "../lib/auth";
import { MIN_PASSWORD_CHARS, passwordChangeError, passwordFormProblem } from "./passwordForm";

export function AccountPage() {
  const { session } = useAuth();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setDone(false);
    const problem = passwordFormProblem({ current, next, confirm });
    setError(problem);
    if (problem !== null || session === null) return;
    setBusy(true);
    try {
      const { username } = session;
      // Every other token ends; this tab goes on with the fresh one (its stream reconnects).
      await auth.renew(async () => {
        const token = await api.changePassword(current, next);
        return { token: token.access_token, username, expiresAt: token.expires_at };
      });
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone(true);
    } catch (err) {
      setError(passwordChangeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1 className="page-title">Account</h1>
      <div className="panel">
        <form className="form inline-form" onSubmit={(e) => void submit(e)} data-testid="password-form">
          <h2>Change password</h2>
          <p className="muted">Every other session of {session?.username ?? "yours"} is logged out.</p>
          <div className="form-grid">
            <label className="field">
              <span>Current password</span>
              <input
                name="current-password"
                type="password"
                autoComplete="current-password"
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
                required
              />
            </label>
            <label className="field">
              <span>New password ({MIN_PASSWORD_CHARS}+ characters)</span>
              <input
                name="new-password"
                type="password"
                autoComplete="new-password"
                value={next}
                onChange={(e) => setNext(e.target.value)}
                minLength={MIN_PASSWORD_CHARS}
                required
              />
            </label>
            <label className="field">
              <span>New password again</span>
              <input
                name="confirm-password"
                type="password"
                autoComplete="new-password"
                value={confirm}
                onChange={(e) => setConfirm(e.target.value)}
                required
              />
            </label>
          </div>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          {done && <p className="notice">Password changed. Your other sessions were logged out.</p>}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Changing…" : "Change password"}
          </button>
        </form>
      </div>
    </section>
  );
}
