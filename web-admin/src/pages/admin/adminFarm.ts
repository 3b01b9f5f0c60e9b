/** The farm an admin page is about, kept in the URL (?farm=) so a reload stays on it. */

import { useSearchParams } from "react-router-dom";

import type { Farm } from "../../lib/api";

export function useAdminFarm(farms: readonly Farm[]): [number | null, (id: number) => void] {
  const [params, setParams] = useSearchParams();
  const asked = Number(params.get("farm"));
  const id = farms.some((f) => f.id === asked) ? asked : (farms[0]?.id ?? null);
  return [id, (next: number) => setParams({ farm: String(next) }, { replace: true })];
}

