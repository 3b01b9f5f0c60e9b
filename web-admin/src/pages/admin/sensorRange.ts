/** The device editor's input rules: a zone's length, a sensor range as typed. Pure. */

export const MAX_ZONE_CHARS = 64;

/** A bound as typed: empty is none, else a finite number (NaN: not a number). */
export function parseBound(text: string): number | null {
  const s = text.trim().replace(",", ".");
  return s === "" ? null : Number(s);
}

/** Why a range cannot be saved (an i18n key), or null when it can. */
export function rangeProblem(min: number | null, max: number | null): string | null {
  if ((min !== null && !Number.isFinite(min)) || (max !== null && !Number.isFinite(max))) return "admin.sensors.notNumber";
  if (min !== null && max !== null && !(min < max)) return "admin.sensors.minBelowMax";
  return null;
}
