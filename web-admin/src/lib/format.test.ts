import { afterEach, describe, expect, it } from "vitest";

import { i18n } from "../i18n";
import { formatAgo, formatMs, formatValue } from "./format";

const NOW = Date.UTC(2026, 11, 3, 10, 0, 0);

describe("format, by the UI's language", () => {
  afterEach(async () => {
    await i18n.changeLanguage("en");
  });

  it("says ages in English", () => {
    expect(formatAgo(NOW - 1_000, NOW)).toBe("just now");
    expect(formatAgo(NOW - 42_000, NOW)).toMatch(/^42 sec.* ago$/);
    expect(formatAgo(NOW - 5 * 60_000, NOW)).toMatch(/^5 min.* ago$/);
    expect(formatAgo(null, NOW)).toBe("never");
  });

  it("says ages in Korean after a switch", async () => {
    await i18n.changeLanguage("ko");
    expect(formatAgo(NOW - 1_000, NOW)).toBe("방금");
    expect(formatAgo(NOW - 42_000, NOW)).toBe("42초 전");
    expect(formatAgo(NOW - 3 * 3_600_000, NOW)).toBe("3시간 전");
    expect(formatAgo(null, NOW)).toBe("기록 없음");
  });

  it("groups digits and writes units as the language does", async () => {
    expect(formatValue(12_345.6)).toBe("12,346");
    expect(formatMs(3.25)).toBe("3.3 ms");
    await i18n.changeLanguage("ko");
    expect(formatMs(12_000)).toBe("12.0초");
  });
});
