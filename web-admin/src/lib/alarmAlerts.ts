/**
 * Telling the user of a newly raised alarm beyond the banner: a short WebAudio beep (off by
 * default, a choice kept in localStorage) and a browser notification when the user allowed
 * them. Permission is asked only from a click (`requestNotifications`), never on load.
 */

import { t } from "../i18n";
import { type AlarmView, newlyRaised } from "../store/alarms";
import type { FarmState } from "../store/farmState";

export const SOUND_SETTING_KEY = "farmbridge.alarms.sound";
export const NOTIFY_SETTING_KEY = "farmbridge.alarms.notify";
/** Each beep's length and pitch; a critical alarm beeps twice. */
export const BEEP_DURATION_S = 0.18;
export const BEEP_GAP_S = 0.12;
export const BEEP_CRITICAL_HZ = 880;
export const BEEP_WARNING_HZ = 660;
const BEEP_GAIN = 0.2;

const TEXT = {
  title: (a: AlarmView) => t("alerts.notification.title", { severity: t(`alarm.severity.${a.severity}`), text: a.message || a.code }),
  body: (farmName: string) => t("alerts.notification.body", { farm: farmName }),
} as const;

/**
 * The alarms to tell of between two store states: raised live on a farm that already had
 * its data. A farm's first snapshot (a page load) tells nothing: the banner shows those.
 */
export function alertsBetween(
  prev: Readonly<Record<number, FarmState>>,
  next: Readonly<Record<number, FarmState>>,
): AlarmView[] {
  if (prev === next) return [];
  const out: AlarmView[] = [];
  for (const farm of Object.values(next)) {
    const before = prev[farm.id];
    if (!before?.hasSnapshot || !farm.hasSnapshot || before.alarms === farm.alarms) continue;
    out.push(...newlyRaised(before.alarms, farm.alarms));
  }
  return out;
}

function readSetting(key: string): boolean {
  try {
    return window.localStorage.getItem(key) === "on";
  } catch {
    return false; // storage blocked: the default, off
  }
}

function writeSetting(key: string, on: boolean): void {
  try {
    if (on) window.localStorage.setItem(key, "on");
    else window.localStorage.removeItem(key);
  } catch {
    // storage blocked: the choice lasts for this page only
  }
}

export type NotificationAccess = "unsupported" | NotificationPermission;

export function notificationAccess(): NotificationAccess {
  return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
}

export interface AlertSettings {
  sound: boolean;
  notify: boolean;
}

type Listener = () => void;

/** The user's alert choices and the means to act on them; one per tab. */
export class AlarmAlerts {
  private settings: AlertSettings = { sound: readSetting(SOUND_SETTING_KEY), notify: readSetting(NOTIFY_SETTING_KEY) };
  private audio: AudioContext | null = null;
  private readonly listeners = new Set<Listener>();
  /** Beeps and notifications so far, for the end-to-end tests and diagnostics. */
  beeps = 0;
  notifications = 0;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSettings = (): AlertSettings => this.settings;

  /** Turns the sound on or off; call it from a click, so the browser lets audio start. */
  setSound(on: boolean): void {
    writeSetting(SOUND_SETTING_KEY, on);
    this.settings = { ...this.settings, sound: on };
    if (on) void this.context()?.resume();
    this.notify();
  }

  /** Turns notifications on (asking the browser's permission: call it from a click) or off. */
  async setNotify(on: boolean): Promise<NotificationAccess> {
    let access = notificationAccess();
    if (on && access === "default") access = await Notification.requestPermission();
    const enabled = on && access === "granted";
    writeSetting(NOTIFY_SETTING_KEY, enabled);
    this.settings = { ...this.settings, notify: enabled };
    this.notify();
    return access;
  }

  /** Tells of the given new alarms as the settings say. */
  tell(alarms: readonly AlarmView[], farmName: (id: number) => string): void {
    if (!alarms.length) return;
    if (this.settings.sound) this.beep(alarms.some((a) => a.severity === "critical"));
    if (this.settings.notify && notificationAccess() === "granted") {
      for (const a of alarms) {
        try {
          // The tag makes a repeat of the same alarm replace its notification, not pile up.
          new Notification(TEXT.title(a), { body: TEXT.body(farmName(a.farm)), tag: `farmbridge-alarm-${a.id}` });
          this.notifications += 1;
        } catch {
          // Some browsers allow notifications only from a service worker; the banner remains.
        }
      }
    }
  }

  private context(): AudioContext | null {
    if (this.audio) return this.audio;
    if (typeof AudioContext === "undefined") return null;
    this.audio = new AudioContext();
    return this.audio;
  }

  private beep(critical: boolean): void {
    const ctx = this.context();
    if (!ctx) return;
    // A context made without a click stays suspended until the user touches the page.
    if (ctx.state === "suspended") void ctx.resume();
    const times = critical ? 2 : 1;
    for (let i = 0; i < times; i++) {
      const start = ctx.currentTime + i * (BEEP_DURATION_S + BEEP_GAP_S);
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = critical ? BEEP_CRITICAL_HZ : BEEP_WARNING_HZ;
      gain.gain.setValueAtTime(BEEP_GAIN, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + BEEP_DURATION_S);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + BEEP_DURATION_S);
    }
    this.beeps += 1;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export const alarmAlerts = new AlarmAlerts();
