/**
 * Wall-screen mode (/display), outside the login: the display secret is pasted once (or
 * arrives as a `#secret` fragment) and kept in localStorage; it is exchanged for a viewer
 * token of one farm, refreshed on the open socket before it expires, and the farm is shown
 * full screen with no controls. A revoked credential shows so and stops.
 */

import { useEffect, useMemo, useRef, useState } from "react";

import { AlarmBanner } from "../components/AlarmBanner";
import { ConnectionIndicator } from "../components/ConnectionIndicator";
import { SensorTile } from "../components/SensorTile";
import { t as translate, useI18n } from "../i18n";
import {
  displayFarm,
  exchangeSecret,
  forgetSecret,
  loadSecret,
  refreshDelayMs,
  saveSecret,
  takeSecretFromFragment,
} from "../lib/display";
import { formatClock, useNow } from "../lib/format";
import { isLive } from "../lib/ws/client";
import { getStreamClient, useWebSocket } from "../lib/ws/useWebSocket";
import { useFarm } from "../store";

/** After a failed exchange (network, 429, 5xx), try again this much later. */
const RETRY_MS = 10_000;

type Phase =
  | { kind: "setup" }
  | { kind: "starting" }
  | { kind: "live"; farmId: number; title: string }
  | { kind: "revoked" }
  | { kind: "failed"; detail: string };

export function DisplayPage() {
  const { t } = useI18n();
  const [secret, setSecret] = useState<string | null>(() => {
    takeSecretFromFragment();
    return loadSecret();
  });
  const [phase, setPhase] = useState<Phase>(secret ? { kind: "starting" } : { kind: "setup" });
  const farmRef = useRef<{ id: number; title: string } | null>(null);

  useEffect(() => {
    if (!secret) return undefined;
    const client = getStreamClient();
    const run = { stopped: false };
    // Read through a call: an await may have stopped this run meanwhile.
    const stopped = (): boolean => run.stopped;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let exchanging = false;

    const later = (ms: number, work: () => void): void => {
      clearTimeout(timer);
      timer = setTimeout(work, ms);
    };
    const revoked = (): void => {
      run.stopped = true;
      clearTimeout(timer);
      client.setToken(null);
      setPhase({ kind: "revoked" });
    };

    /** Exchanges the secret; `apply` uses the fresh token. */
    const exchange = async (apply: (token: string) => Promise<void> | void): Promise<void> => {
      if (stopped() || exchanging) return;
      exchanging = true;
      const result = await exchangeSecret(secret);
      exchanging = false;
      if (stopped()) return;
      if (result.kind === "revoked") {
        revoked();
        return;
      }
      if (result.kind === "failed") {
        if (farmRef.current === null) setPhase({ kind: "failed", detail: result.detail });
        later(RETRY_MS, () => void exchange(apply));
        return;
      }
      await apply(result.token);
      if (stopped()) return;
      later(refreshDelayMs(result.expiresAt, Date.now()), refresh);
    };

    // A fresh token goes on the open socket, with no reconnect (docs/protocol.md, Display tokens).
    const refresh = (): void => void exchange((token) => client.reauthenticate(token));

    const begin = (): void =>
      void exchange(async (token) => {
        if (farmRef.current === null) {
          const farm = await displayFarm(token).catch(() => null);
          if (farm === null) {
            setPhase({ kind: "failed", detail: translate("display.noFarm") });
            later(RETRY_MS, begin);
            return;
          }
          farmRef.current = farm;
        }
        client.setToken(token);
        setPhase({ kind: "live", farmId: farmRef.current.id, title: farmRef.current.title });
      });

    // Refused on the socket (4001 after a revocation, 4003 expired): one exchange decides.
    const offFailure = client.onAuthFailure(() => {
      clearTimeout(timer);
      void exchange((token) => client.setToken(token));
    });

    begin();
    return () => {
      run.stopped = true;
      clearTimeout(timer);
      offFailure();
      client.setToken(null);
    };
  }, [secret]);

  const takeSecret = (value: string): void => {
    saveSecret(value);
    farmRef.current = null;
    setPhase({ kind: "starting" });
    setSecret(value);
  };
  const startOver = (): void => {
    forgetSecret();
    farmRef.current = null;
    setSecret(null);
    setPhase({ kind: "setup" });
  };

  switch (phase.kind) {
    case "setup":
      return <SecretForm onSecret={takeSecret} />;
    case "revoked":
      return (
        <div className="kiosk kiosk-message" data-testid="display-revoked" role="alert">
          <h1>{t("display.revoked.title")}</h1>
          <p>{t("display.revoked.text")}</p>
          <button type="button" className="btn" onClick={startOver}>
            {t("display.newSecret")}
          </button>
        </div>
      );
    case "failed":
      return (
        <div className="kiosk kiosk-message" data-testid="display-failed" role="alert">
          <h1>{t("display.failed.title")}</h1>
          <p>{t("display.failed.text", { detail: phase.detail })}</p>
        </div>
      );
    case "starting":
      return (
        <div className="kiosk kiosk-message" data-testid="display-starting">
          <p>{t("display.starting")}</p>
        </div>
      );
    case "live":
      return <KioskFarm farmId={phase.farmId} title={phase.title} />;
  }
}

function SecretForm({ onSecret }: { onSecret: (secret: string) => void }) {
  const { t } = useI18n();
  const [value, setValue] = useState("");
  return (
    <div className="kiosk kiosk-message">
      <form
        className="panel form"
        data-testid="display-setup"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onSecret(value.trim());
        }}
      >
        <h1>{t("display.setup.title")}</h1>
        <p className="muted">{t("display.setup.text")}</p>
        <label className="field">
          <span>{t("display.setup.secret")}</span>
          <input value={value} onChange={(e) => setValue(e.target.value)} required autoComplete="off" spellCheck={false} />
        </label>
        <button type="submit" className="btn btn-primary">
          {t("display.setup.start")}
        </button>
      </form>
    </div>
  );
}

const noop = (): void => undefined;

function KioskFarm({ farmId, title }: { farmId: number; title: string }) {
  const { t } = useI18n();
  const { status } = useWebSocket([farmId]);
  const farm = useFarm(farmId);
  const now = useNow(1000);
  const stale = !isLive(status) || !farm?.hasSnapshot;
  const sensors = useMemo(() => Object.values(farm?.sensors ?? {}).sort((a, b) => a.id - b.id), [farm?.sensors]);
  return (
    <div className="kiosk" data-testid="kiosk" data-farm={farmId}>
      <header className="kiosk-head">
        <h1 className="kiosk-title">{title || t("farm.fallbackTitle", { id: farmId })}</h1>
        <span className="kiosk-clock">{formatClock(now)}</span>
        <ConnectionIndicator />
      </header>
      <AlarmBanner farmId={farmId} farm={farm} canAcknowledge={false} />
      {stale && (
        <p className="kiosk-stale" data-testid="kiosk-stale">
          {farm?.hasSnapshot ? t("display.notLive") : t("farm.waiting")}
        </p>
      )}
      <div className="tiles kiosk-tiles" data-testid="tiles">
        {sensors.map((s) => (
          <SensorTile
            key={s.id}
            sensor={s}
            deviceName={farm?.devices[s.deviceId]?.name ?? ""}
            device={farm?.devices[s.deviceId]}
            stale={stale}
            selected={false}
            now={now}
            onSelect={noop}
          />
        ))}
      </div>
    </div>
  );
}
