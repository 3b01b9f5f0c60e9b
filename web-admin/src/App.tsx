import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";

import { ConnectionBanner, ConnectionIndicator } from "./components/ConnectionIndicator";
import { LanguageSwitch } from "./components/LanguageSwitch";
import { useI18n } from "./i18n";
import { auth, useAuth } from "./lib/auth";
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from "./lib/ws/messages";
import { useWebSocket } from "./lib/ws/useWebSocket";
import { AlarmRulesPage } from "./pages/admin/AlarmRulesPage";
import { ConnectionsPage } from "./pages/admin/ConnectionsPage";
import { DevicesPage } from "./pages/admin/DevicesPage";
import { DisplaysPage } from "./pages/admin/DisplaysPage";
import { ExportPage } from "./pages/admin/ExportPage";
import { FarmsPage } from "./pages/admin/FarmsPage";
import { PendingPage } from "./pages/admin/PendingPage";
import { UsersPage } from "./pages/admin/UsersPage";
import { AccountPage } from "./pages/AccountPage";
import { DisplayPage } from "./pages/DisplayPage";
import { FarmPage } from "./pages/FarmPage";
import { LoginPage } from "./pages/LoginPage";
import { OverviewPage } from "./pages/OverviewPage";
import { useDirectory } from "./store/directory";

export function App() {
  const { session } = useAuth();
  const location = useLocation();
  // A wall screen: its own credential, outside the login (pages/DisplayPage.tsx).
  if (location.pathname === "/display") return <DisplayPage />;
  if (!session) {
    if (location.pathname !== "/login") {
      const next = location.pathname + location.search;
      return <Navigate to={`/login${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`} replace />;
    }
    return <LoginPage />;
  }
  return <Shell />;
}

function Shell() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  // Every farm the user sees stays subscribed while signed in, so the overview is live and
  // a farm page opens on data already current.
  useWebSocket(farms.slice(0, MAX_SUBSCRIPTIONS_PER_CONNECTION).map((f) => f.id));
  const isAdmin = me?.is_admin ?? false;
  const farmAdmin = isAdmin || Object.values(me?.roles ?? {}).includes("admin");
  return (
    <div className="shell">
      <header className="topbar">
        <NavLink to="/" className="brand" end>
          <span className="brand-mark" aria-hidden>
            ◉
          </span>
          Farm Bridge
        </NavLink>
        <nav className="nav">
          <NavLink to="/" end>
            {t("app.nav.overview")}
          </NavLink>
          {farmAdmin && <NavLink to="/admin/farms">{t("app.nav.farms")}</NavLink>}
          {farmAdmin && <NavLink to="/admin/devices">{t("app.nav.devices")}</NavLink>}
          {farmAdmin && <NavLink to="/admin/pending">{t("app.nav.pending")}</NavLink>}
          {farmAdmin && <NavLink to="/admin/users">{t("app.nav.users")}</NavLink>}
          {farmAdmin && <NavLink to="/admin/displays">{t("app.nav.displays")}</NavLink>}
          {farmAdmin && <NavLink to="/admin/alarm-rules">{t("app.nav.alarmRules")}</NavLink>}
          {isAdmin && <NavLink to="/admin/connections">{t("app.nav.connections")}</NavLink>}
          <NavLink to="/export">{t("app.nav.export")}</NavLink>
        </nav>
        <ConnectionIndicator />
        <LanguageSwitch />
        <div className="user">
          <NavLink to="/account" className="user-name" title={t("app.account.title")}>
            {me?.username ?? ""}
          </NavLink>
          <button
            type="button"
            className="btn btn-ghost"
            onClick={() => auth.signOut(null)}
            title={t("app.logout.title")}
          >
            {t("app.logout")}
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main className="content">
        <Routes>
          <Route path="/" element={<OverviewPage />} />
          <Route path="/farms/:farmId" element={<FarmPage />} />
          <Route path="/admin/farms" element={<FarmsPage />} />
          <Route path="/admin/devices" element={<DevicesPage />} />
          <Route path="/admin/pending" element={<PendingPage />} />
          <Route path="/export" element={<ExportPage />} />
          <Route path="/admin/users" element={<UsersPage />} />
          <Route path="/admin/displays" element={<DisplaysPage />} />
          <Route path="/admin/alarm-rules" element={<AlarmRulesPage />} />
          <Route path="/admin/connections" element={<ConnectionsPage />} />
          <Route path="/account" element={<AccountPage />} />
          <Route path="/login" element={<Navigate to="/" replace />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </div>
  );
}

function NotFound() {
  const { t } = useI18n();
  return (
    <section className="panel">
      <h1>{t("app.notFound.title")}</h1>
      <p>
        {t("app.notFound.text")} <NavLink to="/">{t("app.notFound.back")}</NavLink>
      </p>
    </section>
  );
}
