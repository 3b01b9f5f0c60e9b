import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";

import "uplot/dist/uPlot.min.css";
import "./styles.css";
import "./i18n";
import { App } from "./App";
import { alarmAlerts } from "./lib/alarmAlerts";
import { getStreamClient } from "./lib/ws/useWebSocket";
import { startSession } from "./session";
import { liveStore } from "./store";

declare global {
  interface Window {
    /** The tab's stream client and store, for the browser console and the end-to-end tests. */
    farmbridge?: { client: ReturnType<typeof getStreamClient>; store: typeof liveStore; alerts: typeof alarmAlerts };
  }
}

startSession();
// The app shell only (public/sw.js): installable, and it opens offline; data stays live.
if (import.meta.env.PROD && "serviceWorker" in navigator) {
  void navigator.serviceWorker.register("/sw.js").catch(() => undefined);
}
window.farmbridge = { client: getStreamClient(), store: liveStore, alerts: alarmAlerts };

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <BrowserRouter>
      <App />
    </BrowserRouter>
  </StrictMode>,
);
