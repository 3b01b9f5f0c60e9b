/** The farm's live event log, newest first, with filters by level and device; alarms stand out. */

import { useMemo, useState } from "react";

import { useI18n } from "../i18n";
import { formatDateTime } from "../lib/format";
import type { EventLevel } from "../lib/ws/messages";
import type { DeviceView, EventView } from "../store/farmState";

interface Props {
  events: readonly EventView[];
  devices: Readonly<Record<number, DeviceView>>;
}

export const EVENT_LOG_ROWS = 100;

export function EventLog({ events, devices }: Props) {
  const { t } = useI18n();
  const [level, setLevel] = useState<EventLevel | "all">("all");
  const [device, setDevice] = useState<number | "all">("all");
  const shown = useMemo(
    () =>
      events
        .filter((e) => (level === "all" || e.level === level) && (device === "all" || e.deviceId === device))
        .slice(0, EVENT_LOG_ROWS),
    [events, level, device],
  );
  return (
    <div className="events">
      <div className="filters">
        <label>
          {t("events.level")}{" "}
          <select value={level} onChange={(e) => setLevel(e.target.value as EventLevel | "all")} data-testid="filter-level">
            <option value="all">{t("events.all")}</option>
            <option value="alarm">{t("events.levelName.alarm")}</option>
            <option value="warning">{t("events.levelName.warning")}</option>
            <option value="info">{t("events.levelName.info")}</option>
          </select>
        </label>
        <label>
          {t("events.device")}{" "}
          <select
            value={device}
            onChange={(e) => setDevice(e.target.value === "all" ? "all" : Number(e.target.value))}
            data-testid="filter-device"
          >
            <option value="all">{t("events.all")}</option>
            {Object.values(devices).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ol className="event-list" data-testid="event-log">
        {shown.map((e) => (
          <li key={e.seq} className={`event event-${e.level}`} data-seq={e.seq}>
            <span className={`level level-${e.level}`}>{t(`events.levelName.${e.level}`)}</span>
            <span className="event-msg">
              <strong>{e.code}</strong> {e.message}
            </span>
            <span className="event-meta">
              {e.deviceId !== null ? (devices[e.deviceId]?.name ?? t("alarm.source.device", { id: e.deviceId })) : t("alarm.source.farm")} ·{" "}
              {formatDateTime(e.tsMs)}
            </span>
          </li>
        ))}
        {shown.length === 0 && <li className="muted">{level !== "all" || device !== "all" ? t("events.noMatch") : t("events.none")}</li>}
      </ol>
    </div>
  );
}
