/** Log in: the OAuth2 password form of the bridge; the token stays in this tab. */

import { useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";

import { LanguageSwitch } from "../components/LanguageSwitch";
import { useI18n } from "../i18n";
import { ApiError, api, errorText } from "../lib/api";
import { auth, useAuth } from "../lib/auth";

export function LoginPage() {
  const { t } = useI18n();
  const { endedBecause } = useAuth();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const [params] = useSearchParams();

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const token = await api.login(username, password);
      auth.signIn({ token: token.access_token, username, expiresAt: token.expires_at });
      const next = params.get("next");
      void navigate(next?.startsWith("/") ? next : "/", { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError(t("login.wrong"));
      else if (err instanceof ApiError && err.status === 429) setError(t("login.tooMany"));
      else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-card" onSubmit={(e) => void submit(e)}>
        <div className="login-brand">
          <span className="brand-mark" aria-hidden>
            ◉
          </span>{" "}
          Farm Bridge
          <LanguageSwitch />
        </div>
        <h1>{t("login.title")}</h1>
        <p className="muted">{t("login.tagline")}</p>
        {endedBecause && !error && <p className="notice">{endedBecause}</p>}
        <label className="field">
          <span>{t("login.username")}</span>
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label className="field">
          <span>{t("login.password")}</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? t("login.signingIn") : t("login.submit")}
        </button>
      </form>
    </div>
  );
}
