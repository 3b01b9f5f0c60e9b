import { describe, expect, it } from "vitest";

import { type AlarmRule, ApiError } from "../../lib/api";
import { EMPTY_RULE_FORM, auditChanges, fieldMessage, formFieldOf, ruleBody, ruleBodyOf, rulesOf } from "./ruleForm";

describe("ruleBody", () => {
  it("sends a threshold rule with its sensor, threshold, hysteresis and duration, and nothing of a device", () => {
    const body = ruleBody({ ...EMPTY_RULE_FORM, name: " Frost risk ", kind: "below", severity: "critical", sensor: "id:7", threshold: "2", clearThreshold: "3", forS: "300", message: "cold", deviceId: "4" });
    expect(body).toEqual({ name: "Frost risk", kind: "below", severity: "critical", sensor_id: 7, threshold: 2, clear_threshold: 3, for_s: 300, enabled: true, message: "cold" });
  });

  it("names every sensor of a name, and leaves a blank clear threshold to the API's default", () => {
    const body = ruleBody({ ...EMPTY_RULE_FORM, name: "hot", sensor: "name:temperature", threshold: "35" });
    expect(body).toMatchObject({ sensor_name: "temperature", threshold: 35 });
    expect(body).not.toHaveProperty("clear_threshold");
    expect(body).not.toHaveProperty("sensor_id");
  });

  it("sends a device rule with its device, or null for every device, and no threshold", () => {
    expect(ruleBody({ ...EMPTY_RULE_FORM, name: "quiet", kind: "no_data", forS: "600", threshold: "5" })).toEqual({ name: "quiet", kind: "no_data", severity: "warning", device_id: null, for_s: 600, enabled: true });
    expect(ruleBody({ ...EMPTY_RULE_FORM, name: "down", kind: "offline", deviceId: "3", forS: "60" }).device_id).toBe(3);
  });
});

describe("a stored rule", () => {
  const rule: AlarmRule = { id: 1, code: "hot", name: "hot", kind: "above", severity: "warning", sensor_id: 7, sensor_name: null, device_id: null, threshold: 30, clear_threshold: null, for_s: 0, enabled: true, message: null, created_at: 1, updated_at: 2, updated_by: 4 };

  it("is sent back with only the body's fields, one changed", () => {
    expect(ruleBodyOf(rule, { enabled: false })).toEqual({ name: "hot", kind: "above", severity: "warning", sensor_id: 7, threshold: 30, for_s: 0, enabled: false });
  });

  it("is read from a bare list or an object holding it", () => {
    expect(rulesOf([rule])).toEqual([rule]);
    expect(rulesOf({ rules: [rule] })).toEqual([rule]);
  });
});

describe("an API refusal", () => {
  it("names the form field at fault, with the message shown beside it", () => {
    const err = new ApiError(422, "invalid", "threshold: required for above and below", "threshold");
    expect(formFieldOf(err)).toBe("threshold");
    expect(fieldMessage(err)).toBe("required for above and below");
    expect(formFieldOf(new ApiError(422, "invalid", "x", "sensor_name"))).toBe("sensor");
    expect(formFieldOf(new ApiError(422, "invalid", "x", "body"))).toBeNull();
    expect(formFieldOf(new Error("x"))).toBeNull();
  });
});

describe("auditChanges", () => {
  it("lists what changed between before and after, not the bookkeeping", () => {
    expect(auditChanges({ threshold: 30, enabled: true, updated_at: 1 }, { threshold: 35, enabled: true, updated_at: 2 })).toBe("threshold 30 → 35");
    expect(auditChanges(null, { threshold: 35 })).toBe("");
  });
});
