import path from "node:path";
import { describe, expect, it } from "vitest";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const DAY = 24 * 60 * 60 * 1000;
const START = Date.parse("2024-06-01T08:00:00Z");
// Well-known public resolvers: the bundled data places them (US, AS15169 Google; RU, AS13238 Yandex).
const HOME = "8.8.8.8";
const AWAY = "77.88.8.8";

type Login = { user: string; ip: string; at: number };

/** One trace file a login, each on its own day (so each is its own unit, in time order). */
function bucket(logins: readonly Login[]): string {
  const b = new CtsBucket(testKeys().privateKey);
  for (const l of logins)
    b.addTraceFile({
      uploadTime: new Date(l.at + 5 * 60_000),
      traces: [makeTrace({ traceName: "login", sourceIp: l.ip, time: new Date(l.at), user: l.user })],
    });
  const dir = tempDir();
  b.writeTo(dir);
  return dir;
}

const history = (user: string, days: number): Login[] =>
  Array.from({ length: days }, (_, i) => ({ user, ip: HOME, at: START + i * DAY }));

/** A scan with both addresses allowlisted (no ip-not-allowed noise) over one ledger. */
async function scan(dir: string, ledgerFile: string) {
  const report = await runLocal(
    ["scan", dir, "--notify", "none", "--verify", "off", "--allow", `${HOME},${AWAY}`],
    { ledger: new LocalLedger(ledgerFile, { retentionMs: 90 * DAY }) },
  );
  return report.alerts
    .filter((a) => a.rule === "new-country" || a.rule === "new-asn")
    .map((a) => ({ rule: a.rule, user: a.user, country: a.country, asn: a.asn }));
}

describe("new-country and new-asn through the engine, with a ledger", () => {
  it("20 days of logins from one country, then a login from another: both rules, in the next run", async () => {
    const ledger = path.join(tempDir(), "ledger");
    expect(await scan(bucket(history("alice", 20)), ledger)).toEqual([]);
    const next = START + 21 * DAY;
    const found = await scan(
      bucket([
        { user: "alice", ip: AWAY, at: next },
        // A user the ledger has never seen: no history, no alert.
        { user: "newbie", ip: AWAY, at: next + 60_000 },
      ]),
      ledger,
    );
    expect(found.sort((a, b) => (a.rule! < b.rule! ? -1 : 1))).toEqual([
      { rule: "new-asn", user: "alice", country: "RU", asn: 13238 },
      { rule: "new-country", user: "alice", country: "RU", asn: 13238 },
    ]);
  });

  it("within one run, the history read first (units in time order) makes the later login new", async () => {
    const ledger = path.join(tempDir(), "ledger");
    const found = await scan(
      bucket([...history("bob", 20), { user: "bob", ip: AWAY, at: START + 20 * DAY + 3_600_000 }]),
      ledger,
    );
    expect(found.map((f) => f.rule).sort()).toEqual(["new-asn", "new-country"]);
  });

  it("near misses: under 14 days of history, or the same country again, raise nothing", async () => {
    const ledger = path.join(tempDir(), "ledger");
    const found = await scan(
      bucket([
        ...history("carol", 10),
        { user: "carol", ip: AWAY, at: START + 11 * DAY },
        ...history("dave", 20).map((l) => ({ ...l, user: "dave" })),
        { user: "dave", ip: HOME, at: START + 21 * DAY },
      ]),
      ledger,
    );
    expect(found).toEqual([]);
  });

  it("without a ledger the rules cannot know a history and stay silent", async () => {
    const dir = bucket([...history("erin", 20), { user: "erin", ip: AWAY, at: START + 21 * DAY }]);
    const report = await runLocal([
      "scan",
      dir,
      "--notify",
      "none",
      "--verify",
      "off",
      "--allow",
      `${HOME},${AWAY}`,
    ]);
    expect(report.alerts.filter((a) => a.rule === "new-country" || a.rule === "new-asn")).toEqual([]);
  });
});
