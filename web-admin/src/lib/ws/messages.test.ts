import { describe, expect, it } from "vitest";

import { CloseCode, MalformedMessageError, batchChanges, decodeFrame, retryAfterMsFromReason } from "./messages";

describe("decodeFrame", () => {
  it("reads one message or an array of them", () => {
    expect(decodeFrame('{"type":"ping","t":1}')).toEqual([{ type: "ping", t: 1 }]);
    expect(decodeFrame('[{"type":"ping","t":1},{"type":"pong","t":2}]')).toHaveLength(2);
  });

  it("refuses frames that are not JSON or hold no typed objects", () => {
    expect(() => decodeFrame("nope")).toThrow(MalformedMessageError);
    expect(() => decodeFrame("[1]")).toThrow(MalformedMessageError);
  });
});

describe("batchChanges", () => {
  it("decodes the documented example into changes with absolute times, by seq", () => {
    const changes = batchChanges({
      type: "batch",
      farm: 1,
      t0: 1767225600000,
      r: [
        [1206, 8, 63.0, -118, 2],
        [1205, 7, 21.5, -120, 0],
      ],
      s: [[1207, 3, "online", { power: "on" }, -5, 3]],
      e: [[1208, 2, "alarm", "temp_high", "temperature above 35 °C", -4, 4]],
      c: [[1209, 41, 3, "acknowledged", "on", "pump on", 6]],
      sent: 1767225600009,
    });
    expect(changes.map((c) => c.seq)).toEqual([1205, 1206, 1207, 1208, 1209]);
    expect(changes[0]).toEqual({
      kind: "reading",
      farm: 1,
      seq: 1205,
      sensorId: 7,
      value: 21.5,
      tsMs: 1767225599880,
      storedMs: 1767225600000,
    });
    expect(changes[2]).toMatchObject({ kind: "status", deviceId: 3, state: "online", actuator: { power: "on" } });
    expect(changes[3]).toMatchObject({ kind: "event", level: "alarm", code: "temp_high", storedMs: 1767225600004 });
    expect(changes[4]).toMatchObject({ kind: "command", commandId: 41, state: "acknowledged", atMs: 1767225600006 });
  });

  it("decodes device removals (key x) in seq order with the others", () => {
    const changes = batchChanges({ type: "batch", farm: 1, t0: 1_000, r: [[12, 7, 1, 0, 0]], x: [[11, 3, 5]] });
    expect(changes).toEqual([
      { kind: "removal", farm: 1, seq: 11, deviceId: 3, storedMs: 1_005 },
      expect.objectContaining({ kind: "reading", seq: 12 }),
    ]);
  });

  it("ignores items a newer server appends to a row", () => {
    const [change] = batchChanges({ type: "batch", farm: 1, t0: 0, r: [[1, 2, 3, 4, 5, "extra"]] });
    expect(change).toMatchObject({ seq: 1, sensorId: 2, value: 3 });
  });
});

describe("close codes", () => {
  it("match docs/protocol.md", () => {
    expect(CloseCode.ServiceRestart).toBe(1012);
    expect(CloseCode.TryAgainLater).toBe(1013);
    expect(CloseCode.Unauthenticated).toBe(4001);
    expect(CloseCode.TokenExpired).toBe(4003);
    expect(CloseCode.Abuse).toBe(4029);
  });

  it("read the retry-after of a 1013 reason", () => {
    expect(retryAfterMsFromReason("retry_after_ms=1500")).toBe(1500);
    expect(retryAfterMsFromReason("")).toBeNull();
  });
});
