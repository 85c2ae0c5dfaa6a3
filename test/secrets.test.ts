/**
 * No credential or signature leaves the process, even when an endpoint echoes the whole request (headers and
 * body) in its error body: OBS through esdk-obs-nodejs against an echoing OBS-like server, SMN through SmnClient
 * against the SMN endpoint's echo mode, and the command line against both (its stdout, stderr, report, notifier
 * record and saved digest). Each case runs with the run's secrets registered and with the registry empty, so the
 * patterns alone are shown to catch every signature scheme the clients send.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { describeError } from "../src/errors.js";
import { buildDigest } from "../src/notify/buildDigest.js";
import { FileNotifier } from "../src/notify/FileNotifier.js";
import { SmnClient } from "../src/notify/SmnClient.js";
import { SmnNotifier } from "../src/notify/SmnNotifier.js";
import type { Report } from "../src/report/types.js";
import { clearRegisteredSecrets, registerSecrets } from "../src/safeText.js";
import { ObsBucket } from "../src/sources/ObsBucket.js";
import { runCli, sampleScanToSmn } from "./support/cli.js";
import { makeTrace } from "./support/ctsBucket.js";
import { startEchoObsServer, type TestServer } from "./support/echoObsServer.js";
import { tempDir } from "./support/harness.js";
import { SmnTestServer } from "./support/smnServer.js";

const AK = "ECHOAKID0123456789AB";
const SK = "echoSecret/Key+With=Odd&Chars0123456789abcdef";
const TOKEN = "gQpJYXAtc291dGhlYXN0LTGFa+/QzLzA3MjQ=echoSecurityToken-0123456789";
const fast = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 };

/** Every form of every secret a request carried: the values, their encodings, the signatures and whole headers. */
function secretsOf(
  seen: Array<{ headers: Record<string, string | string[] | undefined>; url?: string }>,
): string[] {
  const out = new Set<string>();
  for (const value of [AK, SK, TOKEN]) {
    out.add(value);
    out.add(encodeURIComponent(value));
  }
  for (const r of seen) {
    const auth = String(r.headers.authorization ?? "");
    if (auth) out.add(auth);
    // OBS/AWS v2: "OBS AK:signature"; SDK-HMAC-SHA256 and AWS4: "..., Signature=hex".
    const v2 = /^(?:OBS|AWS) [^:]+:(.+)$/.exec(auth)?.[1];
    const hmac = /Signature=([0-9a-f]+)/.exec(auth)?.[1];
    for (const sig of [v2, hmac]) {
      if (!sig) continue;
      out.add(sig);
      out.add(encodeURIComponent(sig));
    }
  }
  return [...out];
}

function expectClean(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) expect(text, `leaks ${secret}`).not.toContain(secret);
}

const modes = [
  { mode: "the run's secrets registered", registry: true },
  { mode: "patterns only (nothing registered)", registry: false },
];

describe.each(modes)("OBS error bodies that echo the request, $mode", ({ registry }) => {
  let echo: TestServer;
  beforeAll(async () => {
    echo = await startEchoObsServer(403);
  });
  afterAll(() => echo.stop());
  afterEach(() => clearRegisteredSecrets());

  const bucket = () => {
    const b = new ObsBucket("bucket", {
      endpoint: echo.endpoint,
      accessKeyId: AK,
      secretAccessKey: SK,
      securityToken: TOKEN,
      retry: fast,
      timeoutSeconds: 10,
    });
    if (!registry) clearRegisteredSecrets();
    return b;
  };

  it.each([
    ["list", (b: ObsBucket) => b.listAll("CloudTraces/")],
    ["get (stream)", (b: ObsBucket) => b.open("CloudTraces/a.json.gz")],
    ["get (text)", (b: ObsBucket) => b.getText("state/ledger.json")],
    ["head", (b: ObsBucket) => b.metadata("CloudTraces/a.json.gz")],
    ["put", (b: ObsBucket) => b.putText("state/ledger.json", '{"x":1}')],
  ])("%s: the error names the failure and carries no credential or signature", async (_op, call) => {
    const before = echo.seen.length;
    const err = await call(bucket()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const seen = echo.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    // The server did receive the secrets: the test would catch a leak.
    expect(seen.some((r) => String(r.headers.authorization).includes(AK))).toBe(true);
    const secrets = secretsOf(seen);
    const description = describeError(err);
    expect(description).toMatch(/403/);
    expectClean(description, secrets);
    expectClean((err as Error).message, secrets);
  });
});

describe.each(modes)("SMN error bodies that echo the request, $mode", ({ registry }) => {
  let smn: SmnTestServer;
  let urn: string;
  beforeAll(async () => {
    smn = await SmnTestServer.start();
    smn.allow(AK, SK, TOKEN);
    urn = smn.addTopic("cts-login-alerts");
  });
  afterAll(() => smn.stop());
  afterEach(() => {
    clearRegisteredSecrets();
    vi.restoreAllMocks();
  });

  const client = () => {
    const c = new SmnClient(
      smn.endpoint,
      { accessKeyId: AK, secretAccessKey: SK, securityToken: TOKEN, projectId: smn.projectId },
      { retry: fast, timeoutMs: 5000 },
    );
    if (!registry) clearRegisteredSecrets();
    return c;
  };

  it.each([
    [403, "publish", (c: SmnClient) => c.publish(urn, { subject: "s", message: "m" })],
    [500, "publish", (c: SmnClient) => c.publish(urn, { subject: "s", message: "m" })],
    [401, "list topics", (c: SmnClient) => c.listTopics({ offset: 0, limit: 10, name: "x" })],
  ])(
    "%s on %s: the error, and anything written to stdout or stderr meanwhile, carry no secret",
    async (status, _op, call) => {
      // The core SDK's HTTP client logs whole requests through log4js (to stdout) on errors: whatever is written
      // to the process's streams during the call is checked too.
      const written: string[] = [];
      for (const stream of [process.stdout, process.stderr]) {
        const original = stream.write.bind(stream);
        vi.spyOn(stream, "write").mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
          written.push(String(chunk));
          return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
        }) as never);
      }
      const before = smn.seen.length;
      smn.inject({ kind: "echo", status, times: 10 });
      const err = await call(client()).then(
        () => undefined,
        (e: unknown) => e,
      );
      smn.clearFaults();
      expect(err).toBeInstanceOf(Error);
      const seen = smn.seen.slice(before).map((headers) => ({ headers }));
      expect(seen.some((r) => String(r.headers.authorization).includes("Signature="))).toBe(true);
      const secrets = secretsOf(seen);
      expect(describeError(err)).toContain(String(status === 401 ? "authentication failed" : status));
      expectClean(describeError(err), secrets);
      expectClean((err as Error).message, secrets);
      expectClean(written.join(""), secrets);
    },
  );

  it("the notifier's error and a digest saved to a file carry no secret", async () => {
    const before = smn.seen.length;
    smn.inject({ kind: "echo", status: 403, times: 10 });
    const digest = buildDigest(
      [
        {
          traceId: "t",
          traceName: "login",
          user: `alice Authorization: OBS ${AK}:c2lnbmF0dXJlc2lnbmF0dXJlc2ln=`,
          userId: "u",
          domain: `acme x-obs-security-token=${TOKEN}`,
          sourceIp: "203.0.113.7",
          time: "2024-07-19T00:00:00Z",
          region: "r",
          object: "o",
          integrity: "valid",
          reason: "not-allowlisted",
        },
      ],
      [],
      { sources: [`obs://b/?AccessKeyId=${AK}&Signature=abcdefabcdef0123`] },
    )!;
    const err = await new SmnNotifier(client(), { urn }).send(digest).then(
      () => undefined,
      (e: unknown) => e,
    );
    smn.clearFaults();
    const secrets = [
      ...secretsOf(smn.seen.slice(before).map((headers) => ({ headers }))),
      "abcdefabcdef0123",
    ];
    expect(describeError(err)).toMatch(/publishing part 1\/1 of the digest/);
    expectClean(describeError(err), secrets);
    const file = path.join(tempDir(), "digest.txt");
    await new FileNotifier(file).send(digest);
    const saved = readFileSync(file, "utf8");
    expect(saved).toContain("203.0.113.7");
    expectClean(saved, secrets);
  });
});

describe("the command line against echoing endpoints", () => {
  let obs: TestServer;
  let smn: SmnTestServer;
  let urn: string;
  beforeAll(async () => {
    obs = await startEchoObsServer(500);
    smn = await SmnTestServer.start();
    smn.allow(AK, SK, TOKEN);
    urn = smn.addTopic("cts-login-alerts");
  });
  afterAll(async () => {
    await obs.stop();
    await smn.stop();
  });

  const env = {
    HUAWEICLOUD_SDK_AK: AK,
    HUAWEICLOUD_SDK_SK: SK,
    HUAWEICLOUD_SDK_SECURITY_TOKEN: TOKEN,
    HUAWEICLOUD_SDK_PROJECT_ID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
  };

  it("scan obs:// prints no secret on stdout or stderr", async () => {
    const r = await runCli(
      [
        "scan",
        "obs://bucket/CloudTraces/",
        "--obs-endpoint",
        obs.endpoint,
        "--timeout",
        "5",
        "--format",
        "json",
      ],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("500");
    expect(obs.seen.length).toBeGreaterThan(0);
    const secrets = secretsOf(obs.seen);
    expectClean(r.stdout, secrets);
    expectClean(r.stderr, secrets);
  }, 60_000);

  it("--notify smn prints no secret, and neither the notifier record nor the saved digest holds one", async () => {
    const unsent = tempDir();
    smn.inject({ kind: "echo", status: 403, times: 100 });
    const before = smn.seen.length;
    const r = await runCli(sampleScanToSmn("--smn-endpoint", smn.endpoint, "--unsent-dir", unsent), {
      ...env,
      SMN_TOPIC_URN: urn,
    });
    smn.clearFaults();
    const seen = smn.seen.slice(before).map((headers) => ({ headers }));
    expect(seen.length).toBeGreaterThan(0);
    const secrets = secretsOf(seen);
    expectClean(r.stdout, secrets);
    expectClean(r.stderr, secrets);
    const report = JSON.parse(r.stdout) as Report;
    const record = report.notifications[0]!;
    expect(record.error).toMatch(/publishing part/);
    expectClean(JSON.stringify(record), secrets);
    expect(record.savedTo).toBeDefined();
    expectClean(readFileSync(record.savedTo!, "utf8"), secrets);
  }, 60_000);
});

describe("registered secrets", () => {
  afterEach(() => clearRegisteredSecrets());
  it("are redacted from any error description, whatever its source", () => {
    registerSecrets("plainSecretValue42");
    expect(describeError(new Error("body: plainSecretValue42 and plainSecretValue42"))).toBe(
      "body: [REDACTED] and [REDACTED]",
    );
  });
});

describe("configuration errors quote values back safely", () => {
  it("an option value with control characters or a token cannot forge a line of stderr", async () => {
    const r = await runCli(
      ["scan", "fixtures/sample-bucket", "--timeout", `1\n\x1b[31mFORGED x-security-token=${TOKEN}`],
      {},
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--timeout");
    expect(r.stderr).not.toMatch(/[^\P{Cc}\n]|[\p{Zl}\p{Zp}\p{Bidi_Control}]/u);
    expect(r.stderr.split("\n").filter((l) => l.includes("FORGED"))).toHaveLength(1);
    expect(r.stderr.split("\n").some((l) => l.startsWith("FORGED") || l.startsWith("\x1b"))).toBe(false);
    expectClean(r.stderr, [TOKEN]);
  });

  it("a credential given to the wrong option or variable is quoted back redacted", async () => {
    const r = await runCli(["scan", "obs://bucket/CloudTraces/", "--obs-endpoint", SK], {
      HUAWEICLOUD_SDK_AK: AK,
      HUAWEICLOUD_SDK_SK: SK,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--obs-endpoint");
    expectClean(r.stderr, [SK, encodeURIComponent(SK)]);
    const inEnv = await runCli(["scan", "obs://bucket/CloudTraces/"], {
      HUAWEICLOUD_SDK_AK: AK,
      HUAWEICLOUD_SDK_SK: SK,
      OBS_ENDPOINT: `https://${AK}:${encodeURIComponent(SK)}@obs.example.com`,
    });
    expect(inEnv.code).toBe(2);
    expect(inEnv.stderr).toContain("OBS_ENDPOINT");
    expectClean(inEnv.stderr, [AK, SK, encodeURIComponent(SK)]);
  });
});

describe("secrets inside traces", () => {
  // What an attacker, a misconfigured client or a CTS field can put in a login trace: each must reach no output.
  const carried = {
    sourceIp: ["password=hunter2SRCIP", "http://u:PASSINURL99@h"],
    userAgent: [
      "curl/8 Authorization: Bearer eyJUAUAxyz.bbb.ccc",
      "Mozilla access_token=ACCESSTOKENUA55",
      "ua Bearer eyJBAREBEARER6.sig",
    ],
    user: ["carol token=TOKUSERNAME123", 'dave {"client_secret":"CLIENTSECRET7"}'],
    domain: ["acme password: DOMAINPW77 rest"],
  };
  const secrets = [
    "hunter2SRCIP",
    "PASSINURL99",
    "eyJUAUAxyz",
    "ACCESSTOKENUA55",
    "eyJBAREBEARER6",
    "TOKUSERNAME123",
    "CLIENTSECRET7",
    "DOMAINPW77",
  ];

  function exportWithSecrets(): string {
    const dir = tempDir();
    const time = new Date("2024-07-19T10:00:00Z");
    const traces: Array<Record<string, unknown>> = [];
    let n = 0;
    for (const sourceIp of [...carried.sourceIp, "203.0.113.9"])
      for (const userAgent of carried.userAgent)
        for (const user of [...carried.user, "erin"])
          for (const domain of [...carried.domain, "acme"])
            for (const traceName of ["login", "loginFailed"])
              traces.push(
                makeTrace({
                  traceName,
                  sourceIp,
                  user,
                  domain,
                  time: new Date(time.getTime() + n++ * 1000),
                  extra: { user_agent: userAgent },
                }),
              );
    const file = path.join(dir, "traces.json");
    writeFileSync(file, JSON.stringify({ traces }));
    return file;
  }

  it.each(["json", "ndjson", "text", "html"])(
    "reach neither the %s report, stderr, the notification nor the ledger",
    async (format) => {
      const file = exportWithSecrets();
      const state = tempDir();
      const notified = path.join(tempDir(), "digest.txt");
      const r = await runCli(
        [
          "scan",
          file,
          "--verify",
          "off",
          "--format",
          format,
          "--state",
          path.join(state, "ledger"),
          "--notify",
          `file:${notified}`,
        ],
        {},
      );
      expect(r.code).toBe(0);
      // The alerts are there, with what could be kept of each field.
      expect(r.stdout).toContain("203.0.113.9");
      expect(r.stdout).toMatch(/\[REDACTED\]/);
      expectClean(r.stdout, secrets);
      expectClean(r.stderr, secrets);
      expectClean(readFileSync(notified, "utf8"), secrets);
      // The ledger's files, byte for byte (an embedded database: values and keys).
      for (const f of readdirSync(state, { recursive: true, withFileTypes: true }))
        if (f.isFile())
          expectClean(readFileSync(path.join(f.parentPath, f.name)).toString("latin1"), secrets);
    },
    60_000,
  );
});
