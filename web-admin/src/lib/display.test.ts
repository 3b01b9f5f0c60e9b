import { describe, expect, it } from "vitest";

import { MIN_REFRESH_DELAY_MS, REFRESH_LEAD_MS, displayUrl, refreshDelayMs } from "./display";

describe("refreshDelayMs", () => {
  const now = 1_700_000_000_000;

  it("refreshes a minute before a 15 min token expires", () => {
    expect(refreshDelayMs(now / 1000 + 900, now)).toBe(900_000 - REFRESH_LEAD_MS);
  });

  it("refreshes a short token at half its remaining life", () => {
    expect(refreshDelayMs(now / 1000 + 100, now)).toBe(50_000);
  });

  it("never waits less than the floor, even for an expired token", () => {
    expect(refreshDelayMs(now / 1000 + 4, now)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(now / 1000 - 30, now)).toBe(MIN_REFRESH_DELAY_MS);
  });

  it("counts from now, not from the exchange", () => {
    expect(refreshDelayMs(now / 1000 + 900, now + 600_000)).toBe(300_000 - REFRESH_LEAD_MS);
  });
});

describe("displayUrl", () => {
  it("keeps the secret in the fragment", () => {
    expect(displayUrl("fbw_a-b", "https://bridge")).toBe("https://bridge/display#fbw_a-b");
  });
});
