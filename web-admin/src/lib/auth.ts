/**
 * The signed-in user's token: in memory, mirrored to sessionStorage so a reload keeps the
 * session in this tab (and no other). A 401 from the API or a 4001/4003 close from the
 * stream ends it, and the app goes back to the login page.
 */

import { useSyncExternalStore } from "react";

export const TOKEN_STORAGE_KEY = "farmbridge.session";

export interface Session {
  token: string;
  username: string;
  /** Epoch seconds. */
  expiresAt: number;
}

export interface AuthState {
  session: Session | null;
  /** Why the last session ended, for the login page; null after a plain log out. */
  endedBecause: string | null;
}

type Listener = () => void;

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(TOKEN_STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.token !== "string" || typeof parsed.username !== "string") return null;
    const expiresAt = typeof parsed.expiresAt === "number" ? parsed.expiresAt : 0;
    if (expiresAt * 1000 <= Date.now()) return null;
    return { token: parsed.token, username: parsed.username, expiresAt };
  } catch {
    return null;
  }
}

class AuthStore {
  private state: AuthState = { session: typeof sessionStorage === "undefined" ? null : load(), endedBecause: null };
  private readonly listeners = new Set<Listener>();

  getState = (): AuthState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  token(): string | null {
    return this.state.session?.token ?? null;
  }

  signIn(session: Session): void {
    sessionStorage.setItem(TOKEN_STORAGE_KEY, JSON.stringify(session));
    this.set({ session, endedBecause: null });
  }

  /** Ends the session; `reason` is shown on the login page. */
  signOut(reason: string | null = null): void {
    sessionStorage.removeItem(TOKEN_STORAGE_KEY);
    if (this.state.session === null && reason === this.state.endedBecause) return;
    this.set({ session: null, endedBecause: reason });
  }

  private set(state: AuthState): void {
    this.state = state;
    for (const listener of [...this.listeners]) listener();
  }
}

export const auth = new AuthStore();

export function useAuth(): AuthState {
  return useSyncExternalStore(auth.subscribe, auth.getState);
}
