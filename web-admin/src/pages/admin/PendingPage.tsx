/**
 * Devices heard of on a farm but not registered: approve one (its key is shown this once,
 * with a copy button), reject one (its messages stay dropped), or forget one (it is held
 * as pending again when it next sends).
 */

import { useCallback, useEffect, useState } from "react";

import { useI18n } from "../../i18n";
import { type DeviceKind, type PendingDevice, api, errorText } from "../../lib/api";
import { copyText } from "../../lib/clipboard";
import { formatAgo, useNow } from "../../lib/format";
import { getStreamClient } from "../../lib/ws/useWebSocket";
import { roleOn, useDirectory } from "../../store/directory";
import { useAdminFarm } from "./adminFarm";
import { FarmPicker } from "./FarmPicker";
import "../../admin.css";

/** The key of a device just registered, shown until the admin says it is saved. */
export function KeyOnce({ device, secret, onDone }: { device: string; secret: string; onDone: () => void }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <div className="key-box" data-testid="device-key" role="alert">
      <p>
        <strong>{t("admin.devices.keyFor", { name: device })}</strong>
      </p>
      <p className="once-warning">{t("admin.pending.keyOnce")}</p>
      <code className="key" data-testid="device-key-value">
        {secret}
      </code>
      <div className="row">
        <button type="button" className="btn btn-small" onClick={() => void copyText(secret).then(setCopied)} data-testid="copy-key">
          {t("admin.devices.copy")}
        </button>
        {copied === true && <span className="muted">{t("admin.pending.copied")}</span>}
        {copied === false && <span className="muted">{t("admin.pending.copyFailed")}</span>}
        <button type="button" className="btn btn-small btn-ghost" onClick={onDone} data-testid="key-saved">
          {t("admin.devices.saved")}
        </button>
      </div>
    </div>
  );
}

export function PendingPage() {
  const { t } = useI18n();
  const { me, farms } = useDirectory();
  const adminFarms = farms.filter((f) => roleOn(me, f.id) === "admin");
  const [farmId, setFarmId] = useAdminFarm(adminFarms);
  const now = useNow(5000);
  const [pending, setPending] = useState<PendingDevice[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [shownKey, setShownKey] = useState<{ device: string; key: string } | null>(null);

  const load = useCallback(() => {
    if (farmId === null) return;
    api
      .pendingDevices(farmId)
      .then(setPending)
      .catch((err: unknown) => setError(errorText(err)));
  }, [farmId]);
  useEffect(load, [load]);

  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(errorText(err));
    }
    load();
  };

  if (adminFarms.length === 0) return <p className="muted">{t("admin.notAdmin")}</p>;
  return (
    <section data-testid="pending-admin">
      <div className="page-head">
        <h1 className="page-title">{t("admin.pending.title")}</h1>
        <FarmPicker farms={adminFarms} value={farmId} onChange={setFarmId} />
      </div>
      <p className="muted">{t("admin.pending.intro")}</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {shownKey && <KeyOnce device={shownKey.device} secret={shownKey.key} onDone={() => setShownKey(null)} />}
      <div className="panel">
        <table className="table">
          <thead>
            <tr>
              <th>{t("admin.pending.col.name")}</th>
              <th>{t("admin.pending.col.source")}</th>
              <th>{t("admin.pending.col.state")}</th>
              <th>{t("admin.pending.col.messages")}</th>
              <th>{t("admin.pending.col.lastSeen")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {pending.map((p) => (
              <PendingRow
                key={p.id}
                pending={p}
                now={now}
                onApprove={(kind, title) =>
                  void act(async () => {
                    const created = await api.approvePending(p.id, kind, title);
                    setShownKey({ device: created.device.name, key: created.key });
                    if (farmId !== null) getStreamClient().refreshSnapshot(farmId);
                  })
                }
                onReject={() => void act(() => api.rejectPending(p.id))}
                onForget={() => void act(() => api.forgetPending(p.id))}
              />
            ))}
            {pending.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  {t("admin.pending.none")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function PendingRow({
  pending,
  now,
  onApprove,
  onReject,
  onForget,
}: {
  pending: PendingDevice;
  now: number;
  onApprove: (kind: DeviceKind, title: string) => void;
  onReject: () => void;
  onForget: () => void;
}) {
  const { t } = useI18n();
  const [kind, setKind] = useState<DeviceKind>("sensor_node");
  return (
    <tr data-testid="pending-row" data-name={pending.name} data-state={pending.state}>
      <td>
        <strong>{pending.name}</strong>
        <div className="muted" title={pending.sample}>
          <code>{pending.sample.slice(0, 60)}</code>
        </div>
      </td>
      <td>{pending.source}</td>
      <td>{t(`admin.pending.state.${pending.state}`)}</td>
      <td>{pending.messages}</td>
      <td>{formatAgo(pending.last_seen_ms, now)}</td>
      <td className="actions">
        <select value={kind} onChange={(e) => setKind(e.target.value as DeviceKind)} aria-label={t("admin.devices.col.kind")}>
          <option value="sensor_node">{t("device.kind.sensor_node")}</option>
          <option value="actuator">{t("device.kind.actuator")}</option>
          <option value="controller">{t("device.kind.controller")}</option>
        </select>
        <button type="button" className="btn btn-small btn-primary" onClick={() => onApprove(kind, "")} data-testid="approve">
          {t("admin.pending.approve")}
        </button>
        {pending.state === "pending" && (
          <button type="button" className="btn btn-small" onClick={onReject} data-testid="reject">
            {t("admin.pending.reject")}
          </button>
        )}
        <button type="button" className="btn btn-small btn-ghost" onClick={onForget} data-testid="forget">
          {t("admin.pending.forget")}
        </button>
      </td>
    </tr>
  );
}
