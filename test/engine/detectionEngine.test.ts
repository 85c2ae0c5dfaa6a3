/**
 * The detection rules through the engine: the service folders a rule needs are parsed (CTS for audit-tamper),
 * the others only hashed; one trace raises one alert per rule; login attempts are kept in the ledger so that an
 * object reused by a later run still yields them.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadRulesParser } from "../../src/detect/rulesParser.js";
import type { ObjectOutcome } from "../../src/state/types.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);
const ownerMessage = JSON.stringify({
  login: { user_type: "domain owner", login_protect: { status: "off" } },
});

function bucketDir(): { dir: string; keys: Record<string, string> } {
  const bucket = new CtsBucket(testKeys().privateKey, "b");
  const keys = {
    iam: bucket.addTraceFile({
      uploadTime: t("2024-07-19T00:05:00Z"),
      traces: [
        makeTrace({
          traceName: "login",
          sourceIp: "203.0.113.9",
          time: t("2024-07-19T00:01:00Z"),
          user: "root",
          extra: { message: ownerMessage },
        }),
        makeTrace({ traceName: "loginFailed", sourceIp: "192.0.2.1", time: t("2024-07-19T00:02:00Z") }),
        makeTrace({
          traceName: "iamUserSsoLoginSuccess",
          sourceIp: "192.0.2.1",
          time: t("2024-07-19T00:03:00Z"),
        }),
      ],
    }),
    cts: bucket.addTraceFile({
      uploadTime: t("2024-07-19T00:06:00Z"),
      service: "CTS",
      traces: [
        makeTrace({
          traceName: "deleteTracker",
          sourceIp: "192.0.2.1",
          time: t("2024-07-19T00:04:00Z"),
          serviceType: "CTS",
          user: "mallory",
        }),
        makeTrace({
          traceName: "updateTracker",
          sourceIp: "192.0.2.1",
          time: t("2024-07-19T00:04:30Z"),
          serviceType: "CTS",
          extra: { request: JSON.stringify({ status: "enabled", is_support_validate: true }) },
        }),
      ],
    }),
    // A trace named like a tamper operation in another service's folder: that folder is only hashed.
    ecs: bucket.addTraceFile({
      uploadTime: t("2024-07-19T00:07:00Z"),
      service: "ECS",
      traces: [
        makeTrace({
          traceName: "deleteTracker",
          sourceIp: "192.0.2.1",
          time: t("2024-07-19T00:04:00Z"),
          serviceType: "CTS",
        }),
      ],
    }),
  };
  const dir = tempDir();
  bucket.writeTo(dir);
  return { dir, keys };
}

// Entry points load the rules parser when a rules file is given (test/cli.startup.test.ts); these tests call the
// configuration directly.
beforeAll(() => loadRulesParser());

describe("detection rules through the engine", () => {
  it("parses IAM and CTS folders, hashes the others, and raises one alert per rule of a trace", async () => {
    const { dir, keys } = bucketDir();
    const r = await runLocal(["scan", dir, "--verify", "off", "--notify", "none", "--allow", "192.0.2.0/24"]);
    const got = r.alerts.map((a) => `${a.rule}/${a.severity}/${a.traceName}/${a.user}`).sort();
    expect(got).toEqual([
      "audit-tamper/critical/deleteTracker/mallory",
      "ip-not-allowed/high/login/root",
      "login-without-mfa/medium/login/root",
      "owner-login/high/login/root",
    ]);
    const file = (key: string) => r.files.find((f) => f.object === key)!;
    expect(file(keys.cts!)).toMatchObject({ status: "scanned", traces: 2, matched: 2 });
    expect(file(keys.iam!)).toMatchObject({ status: "scanned", traces: 3, matched: 3 });
    expect(file(keys.ecs!)).toMatchObject({
      status: "skipped",
      reason: "service folder ECS holds no traces the rules read",
    });
  });

  it("only hashes CTS folders when audit-tamper is off (--rules)", async () => {
    const { dir, keys } = bucketDir();
    const rules = path.join(tempDir(), "rules.yaml");
    writeFileSync(rules, "rules:\n  audit-tamper: { enabled: false }\n  owner-login: { enabled: false }\n");
    const r = await runLocal(["scan", dir, "--verify", "off", "--notify", "none", "--rules", rules]);
    expect(r.alerts.map((a) => a.rule).sort()).toEqual([
      "ip-not-allowed",
      "ip-not-allowed",
      "ip-not-allowed",
      "login-without-mfa",
    ]);
    expect(r.files.find((f) => f.object === keys.cts)).toMatchObject({ status: "skipped" });
  });

  it("keeps login attempts in the ledger: a reused object yields them", async () => {
    const { dir, keys } = bucketDir();
    const state = path.join(tempDir(), "ledger");
    const args = ["scan", dir, "--verify", "off", "--notify", "none", "--allow", "192.0.2.0/24"];
    const first = await runLocal(args, { ledger: new LocalLedger(state, { retentionMs: 864e5 * 90 }) });
    const reused: ObjectOutcome[] = [];
    const inner = new LocalLedger(state, { retentionMs: 864e5 * 90 });
    // The real ledger, watched: what the engine gets back for objects it does not read again.
    const ledger = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === "getObjects")
          return async (...a: Parameters<LocalLedger["getObjects"]>) => {
            const found = await target.getObjects(...a);
            reused.push(...found.values());
            return found;
          };
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    const second = await runLocal(args, { ledger });
    expect(second.summary.reused).toBe(3);
    expect(second.alerts.map((a) => a.rule).sort()).toEqual(first.alerts.map((a) => a.rule).sort());
    const attempts = reused.flatMap((o) => o.attempts ?? []);
    expect(
      attempts.map((a) => `${a.traceName}/${a.outcome}/${a.userKey}/${a.object === keys.iam}`).sort(),
    ).toEqual([
      "iamUserSsoLoginSuccess/success/acme/alice/true",
      "login/success/acme/root/true",
      "loginFailed/failure/acme/alice/true",
    ]);
    expect(attempts.every((a) => a.region === "ap-southeast-1" && a.time > 0)).toBe(true);
  });
});
