/** Whether a farm can be shown at all: the server may have refused or not known it. Pure. */

import type { FarmState } from "./farmState";

export type Unavailable = "forbidden" | "not_found";

/**
 * `forbidden` (no role on the farm) or `not_found` (no such farm) once the server ended the
 * farm's subscription so, until a snapshot comes; otherwise null (shown, or still waiting).
 */
export function unavailableReason(farm: Pick<FarmState, "endedReason" | "hasSnapshot"> | undefined): Unavailable | null {
  if (!farm || farm.hasSnapshot) return null;
  if (farm.endedReason === "farm_deleted") return "not_found"; // deleted while watched
  return farm.endedReason === "forbidden" || farm.endedReason === "not_found" ? farm.endedReason : null;
}
