/** Display helpers: numbers, times and durations as an operator reads them. */

import { useEffect, useState } from "react";

export function formatValue(value: number | null | undefined, unit = ""): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  const digits = abs >= 10_000 ? 0 : abs >= 100 ? 1 : 2;
  const text = value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

export function formatClock(ms: number | null | undefined): string {
  if (!ms) return "–";
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function formatDateTime(ms: number | null | undefined): string {
  if (!ms) return "–";
  return new Date(ms).toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", or a date. */
export function formatAgo(ms: number | null | undefined, now: number): string {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 3) return "just now";
  if (s < 90) return `${s} s ago`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 36) return `${h} h ago`;
  return formatDateTime(ms);
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
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
