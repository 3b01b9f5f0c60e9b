/** Display helpers: numbers, times and durations as an operator reads them. */

import { useEffect, useState } from "react";

import { currentLocale, t } from "../i18n";

/** Numbers as the current language writes them ("1,234.5", with its decimal mark). */
export function formatNumber(value: number, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(currentLocale(), options).format(value);
}

export function formatValue(value: number | null | undefined, unit = ""): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  const digits = abs >= 10_000 ? 0 : abs >= 100 ? 1 : 2;
  const text = formatNumber(value, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

export function formatClock(ms: number | null | undefined): string {
  if (!ms) return "–";
  return new Intl.DateTimeFormat(currentLocale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(ms);
}

export function formatDateTime(ms: number | null | undefined): string {
  if (!ms) return "–";
  return new Intl.DateTimeFormat(currentLocale(), {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(ms);
}

/** "just now", "42 seconds ago", "5 minutes ago", "3 hours ago" (in the UI's language), or a date. */
export function formatAgo(ms: number | null | undefined, now: number): string {
  if (!ms) return t("format.never");
  const rtf = new Intl.RelativeTimeFormat(currentLocale(), { numeric: "auto", style: "short" });
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 3) return t("format.justNow");
  if (s < 90) return rtf.format(-s, "second");
  const min = Math.round(s / 60);
  if (min < 90) return rtf.format(-min, "minute");
  const h = Math.round(min / 60);
  if (h < 36) return rtf.format(-h, "hour");
  return formatDateTime(ms);
}

/** A duration in milliseconds, or seconds from 10 s up, with the unit the language writes. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  const unit = (u: "millisecond" | "second", digits: number, v: number): string =>
    formatNumber(v, { style: "unit", unit: u, unitDisplay: "short", minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (ms < 10) return unit("millisecond", 1, ms);
  if (ms < 10_000) return unit("millisecond", 0, Math.round(ms));
  return unit("second", 1, ms / 1000);
}

/** Seconds, e.g. "30 s" / "30초", for intervals and countdowns. */
export function formatSeconds(s: number, digits = 0): string {
  return formatNumber(s, { style: "unit", unit: "second", unitDisplay: "short", minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * The current time, re-read every `everyMs` while mounted: for "12 s ago" labels and
 * countdowns. A display timer only; it never fetches.
 */
export function useNow(everyMs = 1000, active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    let handle = 0;
    const tick = (): void => {
      setNow(Date.now());
      handle = window.setTimeout(tick, everyMs);
    };
    handle = window.setTimeout(tick, everyMs);
    return () => window.clearTimeout(handle);
  }, [everyMs, active]);
  return now;
}
