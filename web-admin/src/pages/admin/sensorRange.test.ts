import { describe, expect, it } from "vitest";

import { parseBound, rangeProblem } from "./sensorRange";

describe("parseBound", () => {
  it("reads empty as no bound, a decimal comma as a point, and anything else as NaN", () => {
    expect(parseBound("  ")).toBeNull();
    expect(parseBound("-12,5")).toBe(-12.5);
    expect(parseBound("40")).toBe(40);
    expect(parseBound("warm")).toBeNaN();
  });
});

describe("rangeProblem", () => {
  it("accepts an open or proper range", () => {
    expect(rangeProblem(null, null)).toBeNull();
    expect(rangeProblem(-10, null)).toBeNull();
    expect(rangeProblem(0, 1)).toBeNull();
  });

  it("refuses min not below max, and bounds that are not numbers", () => {
    expect(rangeProblem(5, 5)).toBe("admin.sensors.minBelowMax");
    expect(rangeProblem(6, 5)).toBe("admin.sensors.minBelowMax");
    expect(rangeProblem(Number.NaN, 5)).toBe("admin.sensors.notNumber");
    expect(rangeProblem(0, Number.POSITIVE_INFINITY)).toBe("admin.sensors.notNumber");
  });
});
