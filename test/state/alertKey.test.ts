import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/detect/types.js";
import { alertKey } from "../../src/state/alertKey.js";

const base: Pick<Alert, "traceId" | "traceName" | "sourceIp" | "time" | "user" | "object"> = {
  traceId: "t1",
  traceName: "login",
  sourceIp: "203.0.113.7",
  time: "2024-07-19T00:00:00.000Z",
  user: "root",
  object: "o",
};

describe("alertKey per rule instance", () => {
  it.each([
    [undefined, "t1"],
    ["ip-not-allowed", "t1"],
    ["owner-login", "owner-login:t1"],
    ["login-without-mfa", "login-without-mfa:t1"],
    ["audit-tamper", "audit-tamper:t1"],
  ] as const)("rule %s keys as %s (ip-not-allowed keeps the key an old ledger holds)", (rule, key) => {
    expect(alertKey({ ...base, ...(rule ? { rule } : {}) })).toBe(key);
  });

  it("keeps one trace's alerts of different rules apart, also without a trace id", () => {
    const noId = { ...base, traceId: "" };
    const keys = (["ip-not-allowed", "owner-login", "login-without-mfa"] as const).map((rule) =>
      alertKey({ ...noId, rule }),
    );
    expect(new Set(keys).size).toBe(3);
    expect(keys[0]).toMatch(/^noid:/);
  });
});
