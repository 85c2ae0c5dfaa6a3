import { describe, expect, it } from "vitest";
import { normaliseTrace, toEpochMs } from "../../src/cts/trace.js";

describe("normaliseTrace", () => {
  it("reads user as a JSON string, code as a string, time in ms, and keeps unknown fields", () => {
    const raw = {
      trace_id: "3731b346-457c-11ef-a25f-f754d1610e5b",
      trace_name: "login",
      service_type: "IAM",
      source_ip: " 203.0.113.7 ",
      time: 1721358527589,
      code: "302",
      user: '{"name":"alice","id":"u1","domain":{"name":"acme","id":"d1"}}',
      brand_new_field: { x: 1 },
    };
    const t = normaliseTrace(raw);
    expect(t).toMatchObject({
      traceId: raw.trace_id,
      traceName: "login",
      serviceType: "IAM",
      sourceIp: "203.0.113.7",
      time: 1721358527589,
      code: "302",
      user: { name: "alice", id: "u1", domain: "acme", domainId: "d1" },
    });
    expect(t.raw.brand_new_field).toEqual({ x: 1 });
  });

  it("reads user as an object and code as a number", () => {
    const t = normaliseTrace({ user: { name: "bob", id: "u2", domain: { name: "d", id: "x" } }, code: 302 });
    expect(t.user).toEqual({ name: "bob", id: "u2", domain: "d", domainId: "x" });
    expect(t.code).toBe("302");
  });

  it("falls back to record_time and keeps a non-JSON user string as the name", () => {
    const t = normaliseTrace({ record_time: 1534748957990, user: "{some crazy used struct}" });
    expect(t.time).toBe(1534748957990);
    expect(t.user.name).toBe("{some crazy used struct}");
  });

  it.each([
    [1721358527589, 1721358527589],
    [1721358527, 1721358527000],
    ["1721358527", 1721358527000],
    ["2024-07-19T03:08:47.589Z", 1721358527589],
    ["", undefined],
    [null, undefined],
    ["yesterday", undefined],
    [-5, undefined],
  ])("toEpochMs(%j) = %j", (input, want) => {
    expect(toEpochMs(input)).toBe(want);
  });
});
