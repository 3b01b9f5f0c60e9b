/** The user's choice of a sound and a browser notification on a new alarm (kept per browser). */

import { useState, useSyncExternalStore } from "react";

import { useI18n } from "../i18n";
import { type NotificationAccess, alarmAlerts, notificationAccess } from "../lib/alarmAlerts";


export function AlarmAlertSettings() {
  const { t } = useI18n();
  const settings = useSyncExternalStore(alarmAlerts.subscribe, alarmAlerts.getSettings);
  const [access, setAccess] = useState<NotificationAccess>(() => notificationAccess());
  return (
    <div className="alarm-alert-settings" data-testid="alarm-alert-settings">
      <label className="field field-check">
        <input
          type="checkbox"
          checked={settings.sound}
          onChange={(e) => alarmAlerts.setSound(e.target.checked)}
          data-testid="alarm-sound-toggle"
        />
        <span>{t("alerts.sound")}</span>
      </label>
      <label className="field field-check">
        <input
          type="checkbox"
          checked={settings.notify}
          disabled={access === "unsupported"}
          // The permission prompt comes from this click, never from a page load.
          onChange={(e) => void alarmAlerts.setNotify(e.target.checked).then(setAccess)}
          data-testid="alarm-notify-toggle"
        />
        <span>{t("alerts.notify")}</span>
      </label>
      {access === "denied" && <span className="muted">{t("alerts.denied")}</span>}
      {access === "unsupported" && <span className="muted">{t("alerts.unsupported")}</span>}
    </div>
  );
}
