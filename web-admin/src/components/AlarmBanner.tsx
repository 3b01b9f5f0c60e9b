/**
 * The banner of a farm's unacknowledged alarms (active, or cleared but not seen), critical
 * first. It stays until someone acknowledges each one; an operator acknowledges here, with
 * an optional comment, and every other screen follows from the stream. Viewers see no button.
 */

import { useId, useState } from "react";

import { useI18n } from "../i18n";
import { ApiError, api, errorText } from "../lib/api";
import { formatClock } from "../lib/format";
import { liveStore } from "../store";
import { type AlarmView, alarmView, bannerAlarms } from "../store/alarms";
import type { FarmState } from "../store/farmState";
import { severityLabel, alarmSource, alarmTitle } from "./alarmLabels";


/** Longest comment sent; the server bounds it too. */
export const ACK_COMMENT_MAX_CHARS = 500;

interface Props {
  farmId: number;
  farm: FarmState | undefined;
  canAcknowledge: boolean;
}

export function AlarmBanner({ farmId, farm, canAcknowledge }: Props) {
  const { t } = useI18n();
  const alarms = farm ? bannerAlarms(farm.alarms) : [];
  if (!farm || alarms.length === 0) return null;
  const critical = alarms.some((a) => a.severity === "critical");
  return (
    <div
      className={`alarm-banner${critical ? " alarm-banner-critical" : " alarm-banner-warning"}`}
      role="alert"
      data-testid="alarm-banner"
      data-count={alarms.length}
    >
      <strong className="alarm-banner-head">{t("banner.heading", { count: alarms.length })}</strong>
      <ul className="alarm-banner-list">
        {alarms.map((a) => (
          <BannerRow key={a.id} farmId={farmId} farm={farm} alarm={a} canAcknowledge={canAcknowledge} />
        ))}
      </ul>
    </div>
  );
}

function BannerRow({
  farmId,
  farm,
  alarm,
  canAcknowledge,
}: {
  farmId: number;
  farm: FarmState;
  alarm: AlarmView;
  canAcknowledge: boolean;
}) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const title = alarmTitle(alarm);
  return (
    <li className="alarm-row" data-testid={`banner-alarm-${alarm.id}`} data-state={alarm.state} data-severity={alarm.severity}>
      <span className={`sev sev-${alarm.severity}`}>{severityLabel(alarm.severity)}</span>
      <span className="alarm-row-text">
        <span className="alarm-row-title">{title}</span>
        <span className="alarm-row-meta">
          {alarmSource(alarm, farm.devices, farm.sensors)} · {t("banner.raised")} {formatClock(alarm.raisedAtMs)}
          {alarm.state === "cleared" && <span className="alarm-row-cleared"> · {t("banner.cleared")}</span>}
        </span>
      </span>
      {canAcknowledge && !open && (
        <button
          type="button"
          className="btn btn-small alarm-ack-btn"
          aria-label={t("banner.acknowledgeLabel", { title })}
          data-testid={`ack-${alarm.id}`}
          onClick={() => setOpen(true)}
        >
          {t("banner.acknowledge")}
        </button>
      )}
      {canAcknowledge && open && <AckForm farmId={farmId} alarm={alarm} onDone={() => setOpen(false)} />}
    </li>
  );
}

function AckForm({ farmId, alarm, onDone }: { farmId: number; alarm: AlarmView; onDone: () => void }) {
  const { t } = useI18n();
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();

  const submit = async (e: React.SyntheticEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const acked = await api.ackAlarm(farmId, alarm.id, comment.trim());
      // The stream brings the same change to every screen; this one need not wait for it.
      liveStore.addAlarms(farmId, [alarmView(acked)]);
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) setError(t("banner.alreadyClosed"));
      else setError(t("banner.failed", { error: errorText(err) }));
      setBusy(false);
    }
  };

  return (
    <form className="ack-form" onSubmit={(e) => void submit(e)} data-testid={`ack-form-${alarm.id}`}>
      <label htmlFor={inputId} className="ack-form-label">
        {t("banner.comment")}
      </label>
      <input
        id={inputId}
        name="comment"
        type="text"
        value={comment}
        maxLength={ACK_COMMENT_MAX_CHARS}
        placeholder={t("banner.commentPlaceholder")}
        onChange={(e) => setComment(e.target.value)}
        // The form opens on a click: the comment field takes the keyboard at once.
        autoFocus
      />
      <button type="submit" className="btn btn-small btn-primary" disabled={busy} data-testid={`ack-send-${alarm.id}`}>
        {busy ? t("banner.sending") : t("banner.send")}
      </button>
      <button type="button" className="btn btn-small btn-ghost" onClick={onDone} disabled={busy}>
        {t("common.cancel")}
      </button>
      {error && (
        <span className="error" role="status">
          {error}
        </span>
      )}
    </form>
  );
}
