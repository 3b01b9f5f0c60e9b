/** The export page's date input text and file name. Pure. */

/** `datetime-local` text of an epoch ms, in the browser's time zone. */
export function localInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The file name of an export: the farm and the range's first and last day. */
export function exportFileName(farmName: string, startMs: number, endMs: number): string {
  const day = (ms: number): string => localInput(ms).slice(0, 10);
  return `${farmName}-readings-${day(startMs)}-${day(endMs)}.csv`;
}
