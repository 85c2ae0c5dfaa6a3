import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/detect/types.js";
import { buildDigest, splitParts, SMN_LIMITS } from "../../src/notify/buildDigest.js";

function alert(i: number, over: Partial<Alert> = {}): Alert {
  return {
    traceId: `t${i}`,
    traceName: "login",
    user: "alice",
    userId: "u1",
    domain: "acme",
    sourceIp: "203.0.113.7",
    time: new Date(Date.UTC(2024, 6, 19, 0, i)).toISOString(),
    region: "ap-southeast-1",
    object: "CloudTraces/x.json.gz",
    integrity: "valid",
    reason: "not-allowlisted",
    ...over,
  };
}

describe("buildDigest", () => {
  it("returns nothing when there is nothing to tell", () => {
    expect(buildDigest([], [], { sources: ["s"] })).toBeUndefined();
  });

  it("groups by source IP and user with counts, first and last time, names and integrity", () => {
    const alerts = [
      alert(1),
      alert(2, { traceName: "logout" }),
      alert(3, { traceName: "loginFailed", integrity: "pending" }),
      alert(4, { traceName: "loginfailed" }),
      alert(5, { sourceIp: "2001:db8:bad::17", user: "bob" }),
      alert(6, { sourceIp: "", reason: "missing-source-ip", user: "carol" }),
    ];
    const d = buildDigest(alerts, [], { sources: ["fixtures/sample-bucket"] })!;
    expect(d.parts).toHaveLength(1);
    expect(d.headline).toBe(
      "cts-audit: 6 alerts from 3 source IPs outside the allowlist (login x3, loginFailed x2, logout), " +
        "2024-07-19T00:01:00.000Z to 2024-07-19T00:06:00.000Z",
    );
    const text = d.parts[0]!;
    expect(text).toContain(
      "- 203.0.113.7  alice (acme): 4 events (loginFailed x2, login, logout)\n" +
        "    2024-07-19T00:01:00.000Z to 2024-07-19T00:04:00.000Z; file integrity: pending, valid",
    );
    expect(text).toContain("- 2001:db8:bad::17  bob (acme): 1 event (login)");
    expect(text).toContain("- (no source IP)  carol (acme): 1 event (login)");
    expect(text).toContain("no source IP recorded");
    expect(d.alerts).toBe(6);
  });

  it("includes integrity findings and counts them in the headline", () => {
    const d = buildDigest(
      [],
      [{ object: "CloudTraces/a.json.gz", verdict: "file modified", detail: "md5 differs" }],
      {
        sources: ["s"],
      },
    )!;
    expect(d.headline).toBe("cts-audit: 1 integrity violation");
    expect(d.parts[0]).toContain("- file modified: CloudTraces/a.json.gz (md5 differs)");
  });

  it("keeps the SMS under 490 characters and the subject within 512 bytes, however many alerts", () => {
    const alerts = Array.from({ length: 500 }, (_, i) =>
      alert(i, { sourceIp: `203.0.113.${i % 250}`, user: `user-with-a-long-name-${"é".repeat(40)}-${i}` }),
    );
    const d = buildDigest(alerts, [], { sources: ["s"] })!;
    expect(d.sms.length).toBeLessThan(490);
    expect(Buffer.byteLength(d.subject)).toBeLessThanOrEqual(512);
    expect(d.sms.startsWith(d.headline.slice(0, 50))).toBe(true);
  });

  it("splits a large digest into numbered parts within the limit, dropping nothing", () => {
    const alerts = Array.from({ length: 3000 }, (_, i) =>
      alert(i, { sourceIp: `10.${i >> 8}.${i & 255}.1`, user: `u${i}` }),
    );
    const limits = { ...SMN_LIMITS, maxPartBytes: 16 * 1024 };
    const d = buildDigest(alerts, [], { sources: ["s"] }, limits)!;
    expect(d.parts.length).toBeGreaterThan(1);
    d.parts.forEach((p, i) => {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(limits.maxPartBytes);
      expect(p.startsWith(`(part ${i + 1}/${d.parts.length})\n`)).toBe(true);
    });
    const joined = d.parts.map((p) => p.replace(/^\(part \d+\/\d+\)\n/, "")).join("\n");
    for (const a of alerts) expect(joined).toContain(`- ${a.sourceIp}  ${a.user} (acme)`);
  });
});

describe("splitParts", () => {
  it("returns the text whole when it fits", () => {
    expect(splitParts(["a", "b"], 100)).toEqual(["a\nb"]);
  });

  it("cuts a block larger than a part at line and character boundaries, losing no byte", () => {
    const block = Array.from({ length: 50 }, (_, i) => `line ${i} ${"x".repeat(i * 10)}`).join("\n");
    const parts = splitParts([block], 200);
    for (const p of parts) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(200);
    const body = parts.map((p) => p.replace(/^\(part \d+\/\d+\)\n/, "")).join("");
    expect(body.replace(/\n/g, "")).toBe(block.replace(/\n/g, ""));
  });

  it("splits exactly at the size limit", () => {
    const blocks = ["a".repeat(100), "b".repeat(100)];
    expect(splitParts(blocks, 201)).toHaveLength(1);
    expect(splitParts(blocks, 200)).toHaveLength(2);
  });
});

describe("buildDigest with rules and severities", () => {
  const mixed = [
    alert(1),
    alert(2, { sourceIp: "198.51.100.9", user: "bob" }),
    alert(3, {
      rule: "owner-login",
      severity: "medium",
      reason: "owner-login",
      user: "root",
      sourceIp: "192.0.2.1",
    }),
    alert(4, {
      rule: "audit-tamper",
      severity: "critical",
      reason: "tracker-deleted",
      traceName: "deleteTracker",
      user: "mallory",
      sourceIp: "192.0.2.5",
    }),
    alert(5, { rule: "ip-not-allowed", severity: "high" }),
  ];

  it("leads with the highest severity, then groups by rule, then by address and user", () => {
    const d = buildDigest(mixed, [], { sources: ["s"] })!;
    expect(d.headline).toMatch(
      /^cts-audit: 5 alerts: 1 audit-tamper \(critical\), 3 ip-not-allowed \(high\), 1 owner-login \(medium\), /,
    );
    const text = d.parts[0]!;
    const at = (s: string) => text.indexOf(s);
    expect(at("[critical] audit-tamper: 1 alert")).toBeGreaterThan(0);
    expect(at("[critical] audit-tamper")).toBeLessThan(at("[high] ip-not-allowed: 3 alerts"));
    expect(at("[high] ip-not-allowed")).toBeLessThan(at("[medium] owner-login: 1 alert"));
    // Inside a rule, by address and user (most events first).
    const ip = text.slice(at("[high] ip-not-allowed"), at("[medium] owner-login"));
    expect(ip).toContain("- 203.0.113.7  alice (acme): 2 events (login x2)");
    expect(ip.indexOf("203.0.113.7  alice")).toBeLessThan(ip.indexOf("198.51.100.9  bob"));
    expect(text).toContain("a CTS tracker was deleted");
    expect(text).toContain("the account owner (root) logged in");
  });

  it.each([
    [
      "the critical one",
      mixed,
      "Worst: critical audit-tamper: deleteTracker by mallory (acme) from 192.0.2.5",
    ],
    [
      "the earliest of equals",
      [alert(9, { user: "late" }), alert(2, { user: "early" })],
      "Worst: high ip-not-allowed: login by early (acme) from 203.0.113.7 at 2024-07-19T00:02:00.000Z",
    ],
  ])("names %s in the SMS, whatever the headline's length", (_, alerts, worst) => {
    const many = [
      ...alerts,
      ...Array.from({ length: 300 }, (_, i) =>
        alert(100 + i, {
          sourceIp: `10.0.${i}.1`,
          user: `user-${"x".repeat(30)}-${i}`,
          severity: "low",
          rule: "owner-login",
        }),
      ),
    ];
    for (const set of [alerts, many]) {
      const d = buildDigest(set, [], { sources: ["s"] })!;
      expect(d.sms).toContain(worst);
      expect(d.sms.length).toBeLessThan(490);
    }
  });
});
