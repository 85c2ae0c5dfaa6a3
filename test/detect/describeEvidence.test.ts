import { describe, expect, it } from "vitest";
import { describeEvidence, EVIDENCE_NAMES_SHOWN } from "../../src/detect/describeEvidence.js";
import type { Alert, AlertEvidence, RuleId } from "../../src/detect/types.js";
import { EVIDENCE_LIST_MAX } from "../../src/detect/WindowedRules.js";
import { buildDigest, SMN_LIMITS } from "../../src/notify/buildDigest.js";
import { HtmlWriter } from "../../src/report/HtmlWriter.js";
import { formatText } from "../../src/report/TextWriter.js";
import type { Report } from "../../src/report/types.js";

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function windowed(rule: RuleId, evidence: Partial<AlertEvidence>, over: Partial<Alert> = {}): Alert {
  return {
    traceId: `c-${rule}`,
    traceName: rule === "failures-then-success" ? "login" : "loginFailed",
    user: "frank",
    userId: "frank",
    domain: "acme",
    sourceIp: "192.0.2.10",
    time: "2024-07-18T23:52:00.000Z",
    region: "ap-southeast-1",
    object: "CloudTraces/ap-southeast-1/2024/07/18/system/IAM/f.json.gz",
    integrity: "valid",
    reason: "login-pattern",
    rule,
    severity: rule === "failures-then-success" ? "critical" : "high",
    evidence: {
      count: 5,
      first: "2024-07-18T23:40:00.000Z",
      last: "2024-07-18T23:52:00.000Z",
      traceIds: names("t", 5),
      users: ["frank"],
      sourceIps: ["192.0.2.10"],
      group: "user:acme/frank",
      windowId: "2024-07-18T23:52:00.000Z",
      ...evidence,
    },
    ...over,
  };
}

const bf = windowed("brute-force", {});
const bfIp = windowed("brute-force", { count: 12, users: ["ann", "bob"], group: "ip:192.0.2.10" });
const spray = windowed(
  "password-spray",
  { count: 6, users: ["ivan", "judy", "kim"], group: "ip:198.51.100.7", sourceIps: ["198.51.100.7"] },
  { user: "ivan", sourceIp: "198.51.100.7" },
);
const fts = windowed("failures-then-success", {
  count: 4,
  first: "2024-07-19T00:31:00.000Z",
  last: "2024-07-19T01:05:00.000Z",
});

describe("describeEvidence: what a windowed alert saw, in one bounded line", () => {
  it.each<[string, Alert, string]>([
    ["brute force of a user", bf, "5 failed logins of frank in 12 min, 23:40–23:52 UTC, from 192.0.2.10"],
    [
      "brute force from an address",
      bfIp,
      "12 failed logins from 192.0.2.10 in 12 min, 23:40–23:52 UTC, against 2 users: ann, bob",
    ],
    [
      "password spray",
      spray,
      "failed logins against 3 users: ivan, judy, kim; 6 attempts in 12 min, 23:40–23:52 UTC, from 198.51.100.7",
    ],
    [
      "failures then success",
      fts,
      "frank logged in after failed logins; 4 login attempts in 34 min, 00:31–01:05 UTC, from 192.0.2.10",
    ],
    [
      "a span across midnight names its days",
      windowed("brute-force", { first: "2024-07-18T23:50:00.000Z", last: "2024-07-19T00:02:00.000Z" }),
      "5 failed logins of frank in 12 min, 2024-07-18 23:50–2024-07-19 00:02 UTC, from 192.0.2.10",
    ],
    [
      "more names than shown are counted",
      windowed("password-spray", { count: 9, users: names("u", 7), group: "ip:192.0.2.10" }),
      "failed logins against 7 users: u0, u1, u2, +4 more; 9 attempts in 12 min, 23:40–23:52 UTC, from 192.0.2.10",
    ],
    [
      "a list cut at the evidence limit is a lower bound",
      windowed("password-spray", {
        count: 400,
        users: names("u", EVIDENCE_LIST_MAX),
        group: "ip:192.0.2.10",
      }),
      `failed logins against ${EVIDENCE_LIST_MAX}+ users: u0, u1, u2, and more; 400 attempts in 12 min, 23:40–23:52 UTC, from 192.0.2.10`,
    ],
    [
      "addresses of a user's brute force",
      windowed("brute-force", { sourceIps: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] }),
      "5 failed logins of frank in 12 min, 23:40–23:52 UTC, from 4 addresses: 192.0.2.1, 192.0.2.2, 192.0.2.3, +1 more",
    ],
    [
      "names from traces have control characters escaped",
      windowed("password-spray", { users: ["a\nFORGED", "b\u001b[31m"], group: "ip:192.0.2.10" }),
      "failed logins against 2 users: a\\nFORGED, b\\x1b[31m; 5 attempts in 12 min, 23:40–23:52 UTC, from 192.0.2.10",
    ],
  ])("%s", (_, alert, expected) => {
    expect(describeEvidence(alert)).toBe(expected);
  });

  it("a per-trace alert has none", () => {
    const plain: Alert = { ...bf, rule: "ip-not-allowed" };
    delete plain.evidence;
    expect(describeEvidence(plain)).toBeUndefined();
  });

  it(`a hostile list (a pending alert from an old ledger) still shows ${EVIDENCE_NAMES_SHOWN} names`, () => {
    const text = describeEvidence(windowed("password-spray", { users: names("x".repeat(50), 100_000) }))!;
    expect(text.length).toBeLessThan(400);
  });
});

const alerts = [bf, bfIp, spray, fts];

describe("the digest, text report and HTML page show a windowed alert's evidence", () => {
  it("the digest lists each windowed alert with its evidence and integrity, not as one event", () => {
    const digest = buildDigest(alerts, [], { sources: ["obs://b"] })!;
    const text = digest.parts.join("\n");
    expect(text).not.toMatch(/1 event \(loginFailed\)|1 event \(login\)/);
    for (const a of alerts) expect(text).toContain(`${a.sourceIp}  frank (acme)`.replace("frank", a.user));
    for (const a of alerts) expect(text).toContain(describeEvidence(a)!);
    expect(text).toContain("2024-07-18T23:40:00.000Z to 2024-07-18T23:52:00.000Z; file integrity: valid");
  });

  it("the SMS names the worst alert by its evidence, within SMN's limit", () => {
    const digest = buildDigest(alerts, [], { sources: ["obs://b"] })!;
    expect(digest.sms).toContain(`Worst: critical failures-then-success: ${describeEvidence(fts)}`);
    expect(digest.sms.length).toBeLessThanOrEqual(SMN_LIMITS.maxSmsChars);
  });

  it("the digest of many windowed alerts with full lists stays within each part's limit", () => {
    const many = Array.from({ length: 3000 }, (_, i) =>
      windowed(
        "password-spray",
        { users: names("user-with-a-long-name-", EVIDENCE_LIST_MAX), group: `ip:10.0.${i >> 8}.${i & 255}` },
        { sourceIp: `10.0.${i >> 8}.${i & 255}`, traceId: `s${i}` },
      ),
    );
    const digest = buildDigest(many, [], { sources: ["obs://b"] })!;
    for (const p of digest.parts) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(SMN_LIMITS.maxPartBytes);
    expect(digest.parts.join("\n").match(/failed logins against/g)).toHaveLength(3000);
  });

  const report: Report = {
    version: 1,
    command: "scan",
    sources: ["obs://b"],
    startedAt: "2024-07-19T03:00:00.000Z",
    finishedAt: "2024-07-19T03:01:00.000Z",
    window: {},
    verify: "warn",
    summary: {
      objects: 1,
      traceFiles: 1,
      digestFiles: 0,
      traces: 20,
      matched: 20,
      alerts: alerts.length,
      suppressed: 0,
      failed: 0,
      skipped: 0,
      integrityViolations: 0,
      reused: 0,
    },
    files: [],
    digests: [],
    gaps: [],
    alerts,
    notifications: [],
    errors: [],
    exitCode: 0,
  };

  it("the text report's alert lines say what each window saw", () => {
    const text = formatText(report);
    for (const a of alerts)
      expect(text).toMatch(new RegExp(`${a.rule}  ${a.time}.*  ${escape(describeEvidence(a)!)}`));
    expect(text).not.toContain("login-pattern");
  });

  it("the HTML alert table has an evidence column", async () => {
    const chunks: string[] = [];
    const { PassThrough } = await import("node:stream");
    const out = new PassThrough();
    out.on("data", (c: Buffer) => chunks.push(c.toString()));
    const w = new HtmlWriter(out);
    await w.begin(report);
    await w.end(report);
    const html = chunks.join("");
    expect(html).toContain("<th>evidence</th>");
    expect(html).toContain(`<td>${describeEvidence(spray)}</td>`);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
