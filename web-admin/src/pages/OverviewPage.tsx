/** Every farm the user sees: devices online and offline, active alarms, the last reading; all live. */

import { useEffect } from "react";
import { Link } from "react-router-dom";

import { t, useI18n } from "../i18n";
import { formatAgo, useNow } from "../lib/format";
import { isLive } from "../lib/ws/client";
import { useWebSocket } from "../lib/ws/useWebSocket";
import { useFarms } from "../store";
import { useDirectory } from "../store/directory";
import { alarmCounts, bannerAlarms } from "../store/alarms";
import type { FarmState } from "../store/farmState";
import { countHealth } from "../store/health";
import { loadEventsOnce } from "./history";

export function OverviewPage() {
  const { t } = useI18n();
  const { farms, loading, error } = useDirectory();
  const live = useFarms();
  const { status } = useWebSocket();
  const now = useNow(1000);
  const stale = !isLive(status);

  // The first page of each farm's events, once per session, to know its active alarms.
  useEffect(() => {
    for (const f of farms) loadEventsOnce(f.id);
  }, [farms]);

  if (error) return <p className="error">{t("overview.failed", { error })}</p>;
  if (loading && farms.length === 0) return <p className="muted">{t("overview.loading")}</p>;
  return (
    <section>
      <h1 className="page-title">{t("overview.title")}</h1>
      {farms.length === 0 && <p className="muted">{t("overview.noFarms")}</p>}
      <div className="farm-grid">
        {farms.map((f) => (
          <FarmCard key={f.id} id={f.id} name={f.name} title={f.title} state={live[f.id]} stale={stale} now={now} />
        ))}
      </div>
    </section>
  );
}

function FarmCard({
  id,
  name,
  title,
  state,
  stale,
  now,
}: {
  id: number;
  name: string;
  title: string;
  state: FarmState | undefined;
  stale: boolean;
  now: number;
}) {
  useI18n();
  const devices = state ? Object.values(state.devices) : [];
  // Health from last-seen where no status was reported; error and maintenance count apart.
  const health = countHealth(devices, now);
  // Open and unacknowledged: what still needs a person (acknowledged ones are in hand).
  const alarms = state ? bannerAlarms(state.alarms) : [];
  const counts = state ? alarmCounts(state.alarms) : { unacknowledged: 0, critical: 0, open: 0 };
  const warnings = state ? Object.values(state.conditions).filter((c) => c.level === "warning").length : 0;
  const waiting = !state?.hasSnapshot;
  return (
    <Link
      to={`/farms/${id}`}
      className={`farm-card${counts.critical ? " has-alarm" : counts.unacknowledged ? " has-warning" : ""}${stale ? " stale" : ""}`}
      data-testid={`farm-card-${name}`}
    >
      <div className="farm-card-head">
        <div>
          <div className="farm-title">{title || name}</div>
          <div className="muted">{name}</div>
        </div>
        <AlarmCountBadge counts={counts} />
      </div>
      {waiting ? (
        <p className="muted">{t("overview.waiting")}</p>
      ) : (
        <dl className="farm-stats">
          <div>
            <dt>{t("overview.online")}</dt>
            <dd className="ok" data-testid="devices-online">
              {health.online}
            </dd>
          </div>
          <div>
            <dt>{t("overview.offline")}</dt>
            <dd className={health.offline ? "bad" : ""} data-testid="devices-offline">
              {health.offline}
            </dd>
          </div>
          {health.unknown > 0 && (
            <div>
              <dt>{t("overview.unknown")}</dt>
              <dd className="muted" data-testid="devices-unknown" title={t("overview.unknown.title")}>
                {health.unknown}
              </dd>
            </div>
          )}
          {health.other > 0 && (
            <div>
              <dt>{t("overview.other")}</dt>
              <dd className="warn" data-testid="devices-other">
                {health.other}
              </dd>
            </div>
          )}
          <div>
            <dt>{t("overview.warnings")}</dt>
            <dd className={warnings ? "warn" : ""}>{warnings}</dd>
          </div>
          <div>
            <dt>{t("overview.lastReading")}</dt>
            <dd data-testid="last-reading">{formatAgo(state.lastReadingMs, now)}</dd>
          </div>
        </dl>
      )}
      {alarms.slice(0, 2).map((a) => (
        <p key={a.id} className={`alarm-line alarm-line-${a.severity}`}>
          ⚠ {a.message || a.code}
        </p>
      ))}
      {stale && <span className="stale-tag">{t("common.stale")}</span>}
    </Link>
  );
}

const COUNT_TEXT = {
  alarms: (n: number) => t("overview.count.alarms", { count: n }),
  critical: (n: number) => t("overview.count.critical", { count: n }),
  none: () => t("overview.count.none"),
  acknowledgedOnly: (n: number) => t("overview.count.acknowledged", { count: n }),
} as const;

/** Open, unacknowledged alarms of a farm; red when any is critical, amber for warnings only. */
function AlarmCountBadge({ counts }: { counts: { unacknowledged: number; critical: number; open: number } }) {
  useI18n();
  if (counts.unacknowledged === 0) {
    return (
      <span className="badge badge-ok" data-testid="no-alarms">
        {counts.open ? COUNT_TEXT.acknowledgedOnly(counts.open) : COUNT_TEXT.none()}
      </span>
    );
  }
  return (
    <span
      className={`badge ${counts.critical ? "badge-alarm badge-critical" : "badge-warning"}`}
      data-testid="alarm-count"
      data-count={counts.unacknowledged}
      data-critical={counts.critical}
      title={counts.critical ? COUNT_TEXT.critical(counts.critical) : undefined}
    >
      {COUNT_TEXT.alarms(counts.unacknowledged)}
      {counts.critical > 0 && counts.critical < counts.unacknowledged ? ` · ${COUNT_TEXT.critical(counts.critical)}` : ""}
    </span>
  );
}
