import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/detect/types.js";
import { describePlace } from "../../src/enrich/enrichAlerts.js";
import { buildDigest } from "../../src/notify/buildDigest.js";
import { NdjsonWriter } from "../../src/report/NdjsonWriter.js";
import { formatText } from "../../src/report/TextWriter.js";
import { runCli } from "../support/cli.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);

/** Logins from a Russian resolver (v4), Google (v6), a private address and no address. */
function bucketDir(): string {
  const bucket = new CtsBucket(testKeys().privateKey);
  bucket.addTraceFile({
    uploadTime: t("2024-07-19T00:10:00Z"),
    traces: [
      makeTrace({
        traceName: "login",
        sourceIp: "77.88.8.8",
        time: t("2024-07-19T00:01:00Z"),
        user: "alice",
      }),
      makeTrace({
        traceName: "login",
        sourceIp: "2001:4860:4860::8888",
        time: t("2024-07-19T00:02:00Z"),
        user: "bob",
      }),
      makeTrace({
        traceName: "logout",
        sourceIp: "10.1.2.3",
        time: t("2024-07-19T00:03:00Z"),
        user: "carol",
      }),
      makeTrace({ traceName: "login", sourceIp: "", time: t("2024-07-19T00:04:00Z"), user: "dave" }),
    ],
  });
  const dir = tempDir();
  bucket.writeTo(dir);
  return dir;
}

describe("enrichment through the engine (command line options, real bucket copy)", () => {
  it("every alert carries country/asn/asOrg or a note; the report names the data and its version", async () => {
    const report = await runLocal(["scan", bucketDir(), "--notify", "none", "--verify", "off"]);
    const by = new Map(report.alerts.map((a) => [a.user, a]));
    expect(by.get("alice")).toMatchObject({
      country: "RU",
      asn: 13238,
      asOrg: expect.stringMatching(/YANDEX/i),
    });
    expect(by.get("alice")!.geoNote).toBeUndefined();
    expect(by.get("bob")).toMatchObject({ country: "US", asn: 15169, asOrg: "Google LLC" });
    expect(by.get("carol")).toMatchObject({ country: "", asOrg: "", geoNote: "private range" });
    expect(by.get("carol")!.asn).toBeUndefined();
    expect(by.get("dave")).toMatchObject({ country: "", geoNote: "no address" });
    expect(report.geoData?.map((d) => d.source)).toEqual([
      expect.stringMatching(/^@ip-location-db\/geo-whois-asn-country-mmdb@\d+\.\d+\.\d+$/),
      expect.stringMatching(/^@ip-location-db\/asn@\d+\.\d+\.\d+$/),
    ]);
    const text = formatText(report);
    expect(text).toContain("77.88.8.8  RU, AS13238");
    expect(text).toContain("10.1.2.3  private range (1 alert)");
    expect(text).toMatch(/^Data: network data: .*DB-IP.*@ip-location-db\/asn@/m);
  });

  it("ndjson: the data record comes first", async () => {
    const report = await runLocal(["scan", bucketDir(), "--notify", "none", "--verify", "off"]);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    const w = new NdjsonWriter(out);
    await w.begin(report);
    await w.end(report);
    const first = JSON.parse(Buffer.concat(chunks).toString().split("\n")[0]!) as {
      type: string;
      data: unknown[];
    };
    expect(first.type).toBe("geoData");
    expect(first.data).toEqual(report.geoData);
  });

  it.each([
    {
      args: ["--geo-db", "/nonexistent/x.mmdb"],
      env: {},
      says: "--geo-db /nonexistent/x.mmdb: not a readable MaxMind DB",
    },
    { args: ["--asn-db", "README.md"], env: {}, says: "--asn-db README.md: not a readable MaxMind DB" },
    {
      args: [],
      env: { CTS_AUDIT_GEO_DB: "package.json" },
      says: "env CTS_AUDIT_GEO_DB package.json: not a readable",
    },
  ] as Array<{ args: string[]; env: Record<string, string>; says: string }>)(
    "a bad database file: exit 2 naming the option ($says)",
    async ({ args, env, says }) => {
      const r = await runCli(["scan", "fixtures/sample-bucket", ...args], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(says);
      expect(r.stdout).toBe("");
    },
  );
});

const base: Alert = {
  traceId: "t1",
  traceName: "login",
  user: "alice",
  userId: "",
  domain: "acme",
  sourceIp: "77.88.8.8",
  time: "2024-07-19T00:01:00.000Z",
  region: "",
  object: "o",
  integrity: "valid",
  reason: "not-allowlisted",
};

describe("the digest shows the place next to each address", () => {
  it.each([
    {
      name: "country and network",
      over: { country: "RU", asn: 13238, asOrg: "YANDEX LLC" },
      line: "- 77.88.8.8 (RU, AS13238 YANDEX LLC)  alice (acme)",
      attributed: true,
    },
    {
      name: "a private range",
      over: { sourceIp: "10.0.0.1", country: "", asOrg: "", geoNote: "private range" },
      line: "- 10.0.0.1 (private range)  alice (acme)",
      attributed: false,
    },
    {
      name: "country only",
      over: { country: "DE", asOrg: "", geoNote: "not in the network data" },
      line: "- 77.88.8.8 (DE; not in the network data)  alice",
      attributed: true,
    },
    { name: "not enriched", over: {}, line: "- 77.88.8.8  alice (acme)", attributed: false },
    // A user's own .mmdb is outside data: a newline in an organisation cannot forge a line.
    {
      name: "a hostile organisation name",
      over: { country: "NL", asn: 64496, asOrg: "Evil\n- 1.2.3.4  root" },
      line: "- 77.88.8.8 (NL, AS64496 Evil\\n- 1.2.3.4  root)  alice",
      attributed: true,
    },
  ])("$name", ({ over, line, attributed }) => {
    const d = buildDigest([{ ...base, ...over }], [], {
      sources: ["s"],
      attribution: "network data: DB-IP",
    })!;
    const text = d.parts.join("\n");
    expect(text).toContain(line);
    expect(text.trimEnd().endsWith("network data: DB-IP")).toBe(attributed);
    expect(text.split("\n").filter((l) => l.startsWith("- "))).toHaveLength(1);
  });

  it("describePlace", () => {
    expect(describePlace({ country: "US", asn: 15169, asOrg: "Google LLC" })).toBe("US, AS15169 Google LLC");
    expect(describePlace({ country: "", asOrg: "", geoNote: "documentation range" })).toBe(
      "documentation range",
    );
    expect(describePlace({})).toBe("");
  });
});
