import { describe, expect, it } from "vitest";

import { exportFileName, localInput } from "./exportFile";

describe("localInput", () => {
  it("writes a local time as datetime-local text that reads back to the same minute", () => {
    const ms = new Date(2026, 11, 3, 9, 5).getTime();
    expect(localInput(ms)).toBe("2026-12-03T09:05");
    expect(new Date(localInput(ms)).getTime()).toBe(ms);
  });
});

describe("exportFileName", () => {
  it("names the farm and the first and last day", () => {
    const start = new Date(2026, 10, 30, 23, 0).getTime();
    const end = new Date(2026, 11, 3, 1, 0).getTime();
    expect(exportFileName("greenhouse-1", start, end)).toBe("greenhouse-1-readings-2026-11-30-2026-12-03.csv");
  });
});
