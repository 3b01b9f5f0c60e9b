/**
 * Wires the tab together once: the stream client feeds the live store, follows the
 * signed-in token, and a refused token (4001, 4003) ends the session.
 */

import { t } from "./i18n";
import { alarmAlerts, alertsBetween } from "./lib/alarmAlerts";
import { auth } from "./lib/auth";
import { getStreamClient } from "./lib/ws/useWebSocket";
import { liveStore } from "./store";
import { clearDirectory, getDirectory, loadDirectory } from "./store/directory";
import { forgetLoads } from "./pages/history";

let started = false;

export function startSession(): void {
  if (started) return;
  started = true;
  const client = getStreamClient();
  client.onMessage(liveStore.handle);
  // A farm deleted (by this tab or another admin) leaves the farm list at once.
  client.onMessage((msg) => {
    const token = auth.getState().session?.token;
    if (msg.type === "ended" && msg.reason === "farm_deleted" && token) void loadDirectory(token, true);
  });
  // A newly raised alarm beeps and notifies as the user chose (lib/alarmAlerts.ts).
  let farmsSeen = liveStore.getFarms();
  liveStore.subscribe(() => {
    const next = liveStore.getFarms();
    const raised = alertsBetween(farmsSeen, next);
    farmsSeen = next;
    alarmAlerts.tell(raised, (id) => {
      const farm = getDirectory().farms.find((f) => f.id === id);
      return farm?.title || farm?.name || String(id);
    });
  });
  client.onAuthFailure((reason) => {
    auth.signOut(reason === "session expired" ? t("session.expired") : t("session.again"));
  });
  let token: string | null = null;
  const follow = (): void => {
    const session = auth.getState().session;
    const next = session?.token ?? null;
    if (next === token) return;
    token = next;
    client.setToken(next);
    if (next === null) {
      liveStore.clear();
      clearDirectory();
      forgetLoads();
    } else {
      void loadDirectory(next);
    }
  };
  auth.subscribe(follow);
  follow();
}
