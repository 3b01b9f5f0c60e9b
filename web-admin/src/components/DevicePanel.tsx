/**
 * The farm's devices: a status badge each, and for actuators the controls (switch a pump
 * or fan, set a vent position) with their commands' lifecycle as the stream reports it:
 * pending -> sent -> acknowledged | failed | timed_out. A device whose `confirm_commands`
 * is on (the default) asks "Switch pump-1 on?" before a command is sent.
 */

import { memo, useState } from "react";

import { t, useI18n } from "../i18n";
import { api, commandView, errorText } from "../lib/api";
import { formatAgo, formatNumber } from "../lib/format";
import { liveStore } from "../store";
import type { CommandView, DeviceView } from "../store/farmState";
import { deviceHealth } from "../store/health";
import { useConfirm } from "./useConfirm";

interface Props {
  farmId: number;
  devices: readonly DeviceView[];
  commands: readonly CommandView[];
  canOperate: boolean;
  stale: boolean;
  now: number;
}


const FINAL_STATES = new Set(["acknowledged", "failed", "timed_out", "cancelled"]);

function describe(cmd: CommandView): string {
  if (cmd.action === "set" && cmd.params && "position" in cmd.params)
    return t("command.setPosition", { position: String(cmd.params.position) });
  return t(`command.action.${cmd.action}`, { defaultValue: cmd.action });
}

export function DevicePanel({ farmId, devices, commands, canOperate, stale, now }: Props) {
  const { t } = useI18n();
  return (
    <div className="devices">
      {devices.map((d) => (
        <DeviceCard
          key={d.id}
          farmId={farmId}
          device={d}
          commands={commands.filter((c) => c.deviceId === d.id)}
          canOperate={canOperate}
          stale={stale}
          now={now}
        />
      ))}
      {devices.length === 0 && <p className="muted">{t("devices.none")}</p>}
    </div>
  );
}

const DeviceCard = memo(function DeviceCard({
  farmId,
  device,
  commands,
  canOperate,
  stale,
  now,
}: {
  farmId: number;
  device: DeviceView;
  commands: readonly CommandView[];
  canOperate: boolean;
  stale: boolean;
  now: number;
}) {
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const position = typeof device.actuator.position === "number" ? device.actuator.position : null;
  const [target, setTarget] = useState<number>(position ?? 50);
  const power = device.actuator.power;
  const hasPower = power !== undefined || (device.kind === "actuator" && position === null);
  const hasPosition = position !== null || /vent/i.test(device.name);
  const recent = [...commands].sort((a, b) => b.id - a.id).slice(0, 3);
  const inFlight = recent.some((c) => !FINAL_STATES.has(c.state));
  const health = deviceHealth(device, now);
  const [confirm, dialog] = useConfirm();

  const send = async (action: string, params?: Record<string, unknown>): Promise<void> => {
    if (device.confirmCommands !== false) {
      const question =
        action === "set" && params && "position" in params
          ? t("command.confirm.set", { name: device.name, position: formatNumber(Number(params.position) / 100, { style: "percent" }) })
          : t(`command.confirm.${action}`, { name: device.name, action, defaultValue: t("command.confirm.other", { name: device.name, action }) });
      if (!(await confirm({ title: question, confirmLabel: t("command.confirm.send") }))) return;
    }
    setBusy(true);
    setError(null);
    try {
      const cmd = await api.sendCommand(device.id, action, params);
      liveStore.addCommands(farmId, [commandView(cmd)]);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  // Only a command still waiting for its device can be taken back; the stream brings the
  // cancelled state like every other.
  const cancel = async (commandId: number): Promise<void> => {
    setError(null);
    try {
      const cmd = await api.cancelCommand(commandId);
      liveStore.addCommands(farmId, [commandView(cmd)]);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <article className={`device${stale ? " stale" : ""}`} data-testid={`device-${device.name}`}>
      {dialog}
      <header className="device-head">
        <div>
          <div className="device-title">{device.title || device.name}</div>
          <div className="device-sub">
            {device.name} · {t(`device.kind.${device.kind}`, { defaultValue: device.kind.replace("_", " ") })}
          </div>
        </div>
        <span
          className={`badge badge-${health.state}`}
          data-testid="device-state"
          data-derived={health.derived}
          title={health.derived ? t("device.state.derived") : undefined}
        >
          {t(`device.state.${health.state}`)}
        </span>
      </header>
      <div className="device-meta">
        {Object.entries(device.actuator).map(([k, v]) => (
          <span key={k} className="chip" data-testid={`actuator-${k}`}>
            {k}: <strong>{String(v)}</strong>
          </span>
        ))}
        <span className="muted">{t("device.seen", { ago: formatAgo(device.lastSeenMs, now) })}</span>
      </div>
      {device.kind === "actuator" && canOperate && (
        <div className="controls">
          {hasPower && (
            <div className="btn-group" role="group" aria-label={t("device.powerLabel", { name: device.name })}>
              <button
                type="button"
                className={`btn${power === "on" ? " btn-on" : ""}`}
                disabled={busy}
                onClick={() => void send("on")}
                data-testid={`cmd-on-${device.name}`}
              >
                {t("device.on")}
              </button>
              <button
                type="button"
                className={`btn${power === "off" ? " btn-off" : ""}`}
                disabled={busy}
                onClick={() => void send("off")}
                data-testid={`cmd-off-${device.name}`}
              >
                {t("device.off")}
              </button>
            </div>
          )}
          {hasPosition && !hasPower && (
            <div className="slider">
              <input
                type="range"
                min={0}
                max={100}
                step={5}
                value={target}
                onChange={(e) => setTarget(Number(e.target.value))}
                aria-label={t("device.positionLabel", { name: device.name })}
                data-testid={`position-${device.name}`}
              />
              <span className="slider-value">{formatNumber(target / 100, { style: "percent" })}</span>
              <button
                type="button"
                className="btn"
                disabled={busy}
                onClick={() => void send("set", { position: target })}
                data-testid={`cmd-set-${device.name}`}
              >
                {t("device.set")}
              </button>
            </div>
          )}
        </div>
      )}
      {error && <p className="error">{error}</p>}
      {recent.length > 0 && (
        <ul className={`commands${inFlight ? " in-flight" : ""}`}>
          {recent.map((c) => (
            <li key={c.id} data-testid={`command-${c.id}`} data-state={c.state}>
              <span className="cmd-action">{describe(c)}</span>
              <span className={`cmd-state cmd-${c.state}`}>{t(`command.state.${c.state}`)}</span>
              {c.detail && <span className="muted cmd-detail">{c.detail}</span>}
              {canOperate && c.state === "pending" && (
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => void cancel(c.id)}
                  data-testid={`cancel-command-${c.id}`}
                >
                  {t("command.cancel")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </article>
  );
});
