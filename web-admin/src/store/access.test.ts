import { describe, expect, it } from "vitest";

import { unavailableReason } from "./access";

describe("unavailableReason", () => {
  it("names a refused or unknown farm", () => {
    expect(unavailableReason({ hasSnapshot: false, endedReason: "forbidden" })).toBe("forbidden");
    expect(unavailableReason({ hasSnapshot: false, endedReason: "not_found" })).toBe("not_found");
  });

  it("shows a farm deleted while watched as not found", () => {
    expect(unavailableReason({ hasSnapshot: false, endedReason: "farm_deleted" })).toBe("not_found");
  });

  it("is null while waiting, once shown, or for another end", () => {
    expect(unavailableReason(undefined)).toBeNull();
    expect(unavailableReason({ hasSnapshot: false, endedReason: null })).toBeNull();
    expect(unavailableReason({ hasSnapshot: true, endedReason: "forbidden" })).toBeNull();
    expect(unavailableReason({ hasSnapshot: false, endedReason: "requested" })).toBeNull();
  });
});
