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

function storage(): Storage | null {
  return typeof sessionStorage === "undefined" ? null : sessionStorage;
}

export class AuthStore {
  private state: AuthState = { session: storage() === null ? null : load(), endedBecause: null };
  private readonly listeners = new Set<Listener>();
  private renewals = 0;
  /** A sign-out asked for while a renewal ran (undefined: none), applied if it fails. */
  private deferredSignOut: string | null | undefined = undefined;

  getState = (): AuthState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  token(): string | null {
    return this.state.session?.token ?? null;
  }

  signIn(session: Session): void {
    storage()?.setItem(TOKEN_STORAGE_KEY, JSON.stringify(session));
    this.set({ session, endedBecause: null });
  }

  /**
   * Runs `work`, which revokes the current token and yields the fresh session (a password
   * change). The server may refuse the old token (its socket closes 4001) before the fresh
   * one arrives: a sign-out meanwhile waits, and is dropped once the fresh session is in.
   */
  async renew(work: () => Promise<Session>): Promise<void> {
    this.renewals += 1;
    let fresh: Session;
    try {
      fresh = await work();
    } catch (err) {
      this.renewals -= 1;
      const deferred = this.deferredSignOut;
      this.deferredSignOut = undefined;
      if (deferred !== undefined && this.renewals === 0) this.signOut(deferred);
      throw err;
    }
    this.renewals -= 1;
    if (this.renewals === 0) this.deferredSignOut = undefined;
    this.signIn(fresh);
  }

  /** Ends the session; `reason` is shown on the login page. */
  signOut(reason: string | null = null): void {
    if (this.renewals > 0) {
      this.deferredSignOut = reason;
      return;
    }
    storage()?.removeItem(TOKEN_STORAGE_KEY);
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
