/** The signed-in user's account: change the own password. */

import { useState } from "react";

import { useI18n } from "../i18n";
import { api } from "../lib/api";
import { auth, useAuth } from "../lib/auth";
import { MIN_PASSWORD_CHARS, passwordChangeError, passwordFormProblem } from "./passwordForm";

export function AccountPage() {
  const { t } = useI18n();
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
      <h1 className="page-title">{t("account.title")}</h1>
      <div className="panel">
        <form className="form inline-form" onSubmit={(e) => void submit(e)} data-testid="password-form">
          <h2>{t("account.change.title")}</h2>
          <p className="muted">{t("account.change.hint", { user: session?.username ?? "" })}</p>
          <div className="form-grid">
            <label className="field">
              <span>{t("account.current")}</span>
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
              <span>{t("account.new", { min: MIN_PASSWORD_CHARS })}</span>
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
              <span>{t("account.confirm")}</span>
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
          {done && <p className="notice">{t("account.done")}</p>}
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t("account.changing") : t("account.change.submit")}
          </button>
        </form>
      </div>
    </section>
  );
}
