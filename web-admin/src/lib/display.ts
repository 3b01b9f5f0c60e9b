/**
 * Wall screens (docs/api.md, "Display credentials"): the display secret lives in this
 * browser's localStorage only, is exchanged for a short-lived viewer token, and the token
 * is refreshed on the open socket a minute before it expires.
 */

export const DISPLAY_SECRET_KEY = "farmbridge.displaySecret";
/** Exchange again this long before `expires_at`. */
export const REFRESH_LEAD_MS = 60_000;
/** Never sooner than this after an exchange, whatever the token's lifetime. */
export const MIN_REFRESH_DELAY_MS = 5_000;

/**
 * How long from `nowMs` to wait before exchanging the secret again for a token that
 * expires at `expiresAtS` (epoch seconds): a minute before expiry; for a token shorter
 * than two minutes, at half its remaining life; never less than MIN_REFRESH_DELAY_MS.
 */
export function refreshDelayMs(expiresAtS: number, nowMs: number): number {
  const left = expiresAtS * 1000 - nowMs;
  const delay = left > 2 * REFRESH_LEAD_MS ? left - REFRESH_LEAD_MS : left / 2;
  return Math.max(MIN_REFRESH_DELAY_MS, Math.floor(delay));
}

export function loadSecret(): string | null {
  try {
    return localStorage.getItem(DISPLAY_SECRET_KEY);
  } catch {
    return null;
  }
}

export function saveSecret(secret: string): void {
  localStorage.setItem(DISPLAY_SECRET_KEY, secret);
}

export function forgetSecret(): void {
  localStorage.removeItem(DISPLAY_SECRET_KEY);
}

/**
 * A `#secret` fragment (the link an admin gets): moved to localStorage and removed from
 * the address bar. Fragments are never sent to the server.
 */
export function takeSecretFromFragment(loc: Location = window.location, history: History = window.history): void {
  const raw = loc.hash.replace(/^#/, "");
  if (!raw) return;
  const secret = decodeURIComponent(raw).trim();
  if (secret) saveSecret(secret);
  history.replaceState(null, "", loc.pathname + loc.search);
}

/** The URL an admin opens on the screen (the secret rides in the fragment only). */
export function displayUrl(secret: string, origin: string = window.location.origin): string {
  return `${origin}/display#${encodeURIComponent(secret)}`;
}

export type ExchangeResult =
  | { kind: "ok"; token: string; expiresAt: number }
  | { kind: "revoked" }
  | { kind: "failed"; detail: string };

export async function exchangeSecret(secret: string): Promise<ExchangeResult> {
  let res: Response;
  try {
    res = await fetch("/api/v1/auth/display-token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ secret }),
    });
  } catch (err) {
    return { kind: "failed", detail: String(err) };
  }
  if (res.status === 401) return { kind: "revoked" };
  if (!res.ok) return { kind: "failed", detail: `HTTP ${res.status}` };
  const body = (await res.json()) as { access_token: string; expires_at: number };
  return { kind: "ok", token: body.access_token, expiresAt: body.expires_at };
}

/** The one farm a display token is viewer of, and its title, from GET /me and the farm. */
export async function displayFarm(token: string): Promise<{ id: number; title: string } | null> {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  const me = await fetch("/api/v1/me", { headers });
  if (!me.ok) return null;
  const { roles } = (await me.json()) as { roles: Record<string, string> };
  const id = Number(Object.keys(roles)[0]);
  if (!Number.isFinite(id)) return null;
  const farm = await fetch(`/api/v1/farms/${id}`, { headers });
  if (!farm.ok) return { id, title: "" };
  const f = (await farm.json()) as { name: string; title: string };
  return { id, title: f.title || f.name };
}
