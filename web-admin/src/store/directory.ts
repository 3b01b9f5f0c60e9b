/**
 * Who the user is and which farms they see: loaded once when a session starts, and again
 * only after an admin action changes it (never on a timer).
 */

import { useSyncExternalStore } from "react";

import { type Farm, type Me, api } from "../lib/api";

export interface Directory {
  me: Me | null;
  farms: Farm[];
  loading: boolean;
  error: string | null;
}

let state: Directory = { me: null, farms: [], loading: false, error: null };
let loadedFor: string | null = null;
const listeners = new Set<() => void>();

function set(next: Directory): void {
  state = next;
  for (const listener of [...listeners]) listener();
}

/** Loads me and the farms for this token, unless done already; `force` loads again. */
export async function loadDirectory(token: string, force = false): Promise<void> {
  if (!force && loadedFor === token) return;
  loadedFor = token;
  set({ ...state, loading: true, error: null });
  try {
    const [me, farms] = await Promise.all([api.me(), api.farms()]);
    if (loadedFor === token) set({ me, farms, loading: false, error: null });
  } catch (err) {
    if (loadedFor === token) set({ ...state, loading: false, error: String(err instanceof Error ? err.message : err) });
  }
}

export function clearDirectory(): void {
  loadedFor = null;
  set({ me: null, farms: [], loading: false, error: null });
}

/** The directory as it is now, outside React. */
export function getDirectory(): Directory {
  return state;
}

export function useDirectory(): Directory {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => state,
  );
}

/** The user's role on a farm ("admin" for a global admin). */
export function roleOn(me: Me | null, farmId: number): "viewer" | "operator" | "admin" | null {
  if (!me) return null;
  if (me.is_admin) return "admin";
  return me.roles[String(farmId)] ?? null;
}
