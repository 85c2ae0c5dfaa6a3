import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRulesParser } from "../src/detect/rulesParser.js";
import { OPTIONS, parseCli, parseTime } from "../src/config.js";
import { DEFAULT_EVENTS } from "../src/detect/AuditRules.js";
import { ConfigError } from "../src/errors.js";
import { root } from "./support/cli.js";
import { tempDir, testKeys } from "./support/harness.js";

function problems(args: string[], env: Record<string, string> = {}): string[] {
  try {
    parseCli(args, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

function config(args: string[], env: Record<string, string> = {}) {
  const r = parseCli(args, env);
  if (r.kind !== "run") throw new Error("not a run");
  return r.config;
}

// Entry points load the rules parser when a rules file is given (test/cli.startup.test.ts); these tests call the
// configuration directly.
beforeAll(() => loadRulesParser());

describe("parseCli", () => {
  it("applies the documented defaults", () => {
    const c = config(["scan", "dir"]);
    expect(c).toMatchObject({
      command: "scan",
      sources: ["dir"],
      events: [...DEFAULT_EVENTS],
      verify: "warn",
      notify: { kind: "stdout" },
      format: "text",
      concurrency: 8,
      dryRun: false,
      state: undefined,
    });
    expect(config(["scan", "dir", "--format", "json"]).notify).toEqual({ kind: "none" });
    expect(config(["verify", "dir"]).verify).toBe("require");
  });

  it("takes the allowlist from --allow (repeatable), else CTS_AUDIT_ALLOW, else IP", () => {
    expect(
      config(["scan", "d", "--allow", "10.0.0.1,10.0.0.2", "--allow", "2001:db8::/32"], { IP: "1.1.1.1" })
        .allowList.entries,
    ).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::/32"]);
    expect(config(["scan", "d"], { CTS_AUDIT_ALLOW: "10.0.0.0/8", IP: "1.1.1.1" }).allowList.entries).toEqual(
      ["10.0.0.0/8"],
    );
    expect(config(["scan", "d"], { IP: "1.1.1.1 2.2.2.2" }).allowList.entries).toEqual([
      "1.1.1.1",
      "2.2.2.2",
    ]);
  });

  it("reads --allow-file with comments and names the line of a bad entry", () => {
    const dir = tempDir();
    const file = path.join(dir, "allow.txt");
    writeFileSync(file, "# office\n192.0.2.0/24  # v4\n\n2001:db8::/48\nnot-an-ip\n");
    expect(problems(["scan", "d", "--allow-file", file])).toEqual([
      expect.stringContaining(`--allow-file ${file}:5: invalid allowlist entry "not-an-ip"`),
    ]);
    writeFileSync(file, "# office\n192.0.2.0/24  # v4\n");
    expect(config(["scan", "d", "--allow-file", file]).allowList.entries).toEqual(["192.0.2.0/24"]);
  });

  it.each([
    [["scan"], /missing <source>/],
    [[], /missing command/],
    [["audit", "d"], /unknown command "audit"/],
    [["scan", "d", "--verify", "maybe"], /--verify: "maybe" is not one of off, warn, require/],
    [["scan", "d", "--format", "xml"], /--format: "xml" is not one of text, json, ndjson/],
    [["scan", "d", "--notify", "email"], /--notify: "email" is not one of none, stdout, smn, file:PATH/],
    [
      ["scan", "d", "--format", "json", "--notify", "stdout"],
      /--notify stdout: stdout carries the json report/,
    ],
    [["scan", "d", "--since", "yesterday"], /--since: "yesterday" is neither ISO-8601/],
    [["scan", "d", "--since", "1h", "--until", "2h"], /--since must be before --until/],
    [["scan", "d", "--concurrency", "0"], /--concurrency: "0" must be a whole number/],
    [["scan", "d", "--allow", "10.0.0.300"], /--allow: invalid allowlist entry "10.0.0.300"/],
    [["scan", "d", "--events", "login,bad name"], /--events: "bad name" is not a CTS trace name/],
    [["scan", "d", "--public-key", "/nonexistent.pem"], /--public-key: cannot read public key file/],
    [["scan", "d", "--max-decompressed-bytes", "lots"], /--max-decompressed-bytes: "lots" must be a size/],
    [["scan", "d", "--bogus"], /^--bogus: unknown option: check its spelling or remove it$/],
    // Values that parse but cannot be used: each named, with its fix, before the run.
    [
      ["scan", "d", "--since", "99999999999w"],
      /--since: "99999999999w" reaches back further than a date can/,
    ],
    [["scan", "d", "--until", "9999999999d"], /--until: "9999999999d" reaches back further than a date can/],
    [["scan", "d", "--since", "275760-01-01"], /--since: "275760-01-01" is neither ISO-8601/],
    [
      ["scan", "d", "--state-retention", "99999999999w"],
      /--state-retention: "99999999999w" must be a duration longer than 0/,
    ],
    [["scan", "d", "--state-retention", "0d"], /--state-retention: "0d" must be a duration longer than 0/],
    [
      ["scan", "obs://b/p", "--obs-endpoint", "https://obs.example.com:99999"],
      /--obs-endpoint \(env OBS_ENDPOINT\): "https:\/\/obs.example.com:99999" is not an http\(s\) URL \(check its scheme, host and port/,
    ],
    [
      ["scan", "obs://b/p", "--obs-endpoint", "http://[::1"],
      /--obs-endpoint \(env OBS_ENDPOINT\): .* is not an http\(s\) URL/,
    ],
    ...["https://obs.example.com:0", "http:obs.example.com", "https:///obs.example.com"].map(
      (endpoint): [string[], RegExp] => [
        ["scan", "obs://b/p", "--obs-endpoint", endpoint],
        /--obs-endpoint \(env OBS_ENDPOINT\): .* is not an http\(s\) URL \(check its scheme, host and port/,
      ],
    ),
    [
      ["scan", "obs://b/p", "--obs-endpoint", "ftp://obs.example.com"],
      /--obs-endpoint .* is not an http\(s\) URL/,
    ],
    [
      [
        "scan",
        "d",
        "--notify",
        "smn",
        "--smn-topic",
        "t",
        "--smn-endpoint",
        "https://u:ENDPOINTPW1@smn.example.com",
      ],
      /--smn-endpoint \(env SMN_ENDPOINT\): "https:\/\/\[REDACTED\]@smn.example.com" has credentials in it \(remove them from the URL, and set HUAWEICLOUD_SDK_AK/,
    ],
    // An empty value (a script's unset variable) is refused, not taken as "not given".
    ...["--state", "--allow", "--geo-db", "--asn-db", "--smn-topic", "--concurrency", "--since"].map(
      (flag): [string[], RegExp] => [
        ["scan", "d", flag, ""],
        new RegExp(`^${flag} has an empty value: write ${flag} \\S+, or leave the option out$`),
      ],
    ),
    [["scan", "d", "--notify", "smn", "--smn-topic", " "], /--smn-topic has an empty value/],
    [["scan", "d", "--notify", "smn"], /--notify smn needs a topic/],
    [
      ["scan", "d", "--notify", "smn", "--smn-topic", "urn:smn:"],
      /--smn-topic .*"urn:smn:" is not a topic URN: write urn:smn:<region>/,
    ],
    [
      ["scan", "obs://b/p", "--region", "a b"],
      /--region \(env RegionName\): "a b" is not a region id: give one such as ap-southeast-1/,
    ],
  ])("%j is a usage error: %s", (args, pattern) => {
    const found = problems(args);
    expect(found.join("\n")).toMatch(pattern);
  });

  it.each([
    "http://[::1]:9000",
    "https://obs.ap-southeast-1.myhuaweicloud.com",
    "http://localhost:9000/prefix",
  ])("takes %s as an endpoint", (endpoint) => {
    expect(problems(["scan", "obs://b/p", "--obs-endpoint", endpoint]).join("\n")).not.toContain(
      "--obs-endpoint",
    );
  });

  it("reports every problem at once", () => {
    expect(problems(["scan", "d", "--verify", "x", "--format", "y", "--allow", "z"])).toHaveLength(3);
  });

  it("names the env variable for a bad env allowlist", () => {
    expect(problems(["scan", "d"], { IP: "10.0.0.1, nonsense" })).toEqual([
      expect.stringContaining('env IP: invalid allowlist entry "nonsense"'),
    ]);
  });
});

describe("parseTime", () => {
  const now = new Date("2024-07-19T12:00:00Z");
  it.each([
    ["24h", "2024-07-18T12:00:00.000Z"],
    ["7d", "2024-07-12T12:00:00.000Z"],
    ["30m", "2024-07-19T11:30:00.000Z"],
    ["1w", "2024-07-12T12:00:00.000Z"],
    ["2024-07-01T00:00:00Z", "2024-07-01T00:00:00.000Z"],
    ["2024-07-01", "2024-07-01T00:00:00.000Z"],
  ])("%s", (text, want) => {
    expect(parseTime(text, now)?.toISOString()).toBe(want);
  });
  it.each([["yesterday"], ["24"], ["h"], ["2024-13-45"]])("rejects %s", (text) => {
    expect(parseTime(text, now)).toBeUndefined();
  });
});

describe("parseTime reads every offset-less time as UTC, whatever the machine's time zone", () => {
  const now = new Date("2024-07-19T12:00:00Z");
  let zone: string | undefined;
  // Node re-reads TZ when it is assigned: a zone far from UTC makes a local-time reading visible.
  beforeAll(() => {
    zone = process.env.TZ;
    process.env.TZ = "America/New_York";
  });
  afterAll(() => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it.each([
    ["2024-07-19", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T00:00:00", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T13:45", "2024-07-19T13:45:00.000Z"],
    ["2024-07-19T13", "2024-07-19T13:00:00.000Z"],
    ["2024-07-19 13:45:30", "2024-07-19T13:45:30.000Z"],
    ["2024-07-19T13:45:30.250", "2024-07-19T13:45:30.250Z"],
    ["2024-07-19T13:45:30,5", "2024-07-19T13:45:30.500Z"],
    ["2024-07-19t13:45:30.123456789", "2024-07-19T13:45:30.123Z"],
    ["2024-02-29T23:59:59", "2024-02-29T23:59:59.000Z"],
    // Explicit offsets are kept.
    ["2024-07-19T00:00:00Z", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T00:00:00z", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T02:00:00+02:00", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T02:00:00+0200", "2024-07-19T00:00:00.000Z"],
    ["2024-07-18T19:00-05", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19T05:45:00+05:45", "2024-07-19T00:00:00.000Z"],
    ["2024-07-19 00:00:00Z", "2024-07-19T00:00:00.000Z"],
  ])("%s is %s", (text, want) => {
    expect(parseTime(text, now)?.toISOString()).toBe(want);
  });

  it.each([
    ["2024-02-30"],
    ["2023-02-29"],
    ["2024-04-31T00:00:00"],
    ["2024-00-10"],
    ["2024-07-19T24:00:00"],
    ["2024-07-19T12:60"],
    ["2024-07-19T12:00:60"],
    ["2024-07-19T12:00:00+24:00"],
    ["2024-07-19T12:00:00+02:60"],
    ["2024-07-19Z"],
    ["2024-07-19T"],
    ["2024-07-19T12:00:00 UTC"],
    ["2024-07-19junk"],
    ["19.07.2024"],
  ])("rejects %s", (text) => {
    expect(parseTime(text, now)).toBeUndefined();
  });

  // A seeded generator: the same cases on every run, many more than a table.
  function random(seed: number): () => number {
    return () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
  }
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");

  it("agrees with Date.parse on explicit offsets, and reads offset-less text as Date.parse does with Z", () => {
    const next = random(7);
    const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
    for (let i = 0; i < 2000; i++) {
      const date = `${pad(int(1970, 2099), 4)}-${pad(int(1, 12))}-${pad(int(1, 28))}`;
      const time = `${date}T${pad(int(0, 23))}:${pad(int(0, 59))}:${pad(int(0, 59))}.${pad(int(0, 999), 3)}`;
      const offset = next() < 0.3 ? "Z" : `${next() < 0.5 ? "+" : "-"}${pad(int(0, 14))}:${pad(int(0, 59))}`;
      expect(parseTime(time + offset, now)?.getTime(), time + offset).toBe(Date.parse(time + offset));
      expect(parseTime(time, now)?.getTime(), time).toBe(Date.parse(`${time}Z`));
      expect(parseTime(date, now)?.getTime(), date).toBe(Date.parse(`${date}T00:00:00Z`));
    }
  });

  it("takes a day exactly when the calendar has it", () => {
    const next = random(11);
    for (let i = 0; i < 2000; i++) {
      const [year, month, day] = [
        1970 + Math.floor(next() * 500),
        1 + Math.floor(next() * 12),
        27 + Math.floor(next() * 5),
      ];
      const exists = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
      const text = `${year}-${pad(month)}-${pad(day)}`;
      expect(parseTime(text, now) !== undefined, text).toBe(exists);
    }
  });
});

describe("parseCli's option reading", () => {
  it.each([
    [["scan", "d", "--bogus"], "--bogus: unknown option: check its spelling or remove it"],
    [["scan", "d", "-x"], "-x: unknown option: check its spelling or remove it"],
    [["scan", "d", "--q"], "--q: unknown option: check its spelling or remove it"],
    [["scan", "d", "--since"], "--since needs a value: write --since 24h"],
    [
      ["scan", "d", "--since", "--until", "1h"],
      '--since needs a value (--until is an option): write --since 24h, or --since=VALUE for a value that starts with "-"',
    ],
    [["scan", "d", "--format", "-q"], expect.stringMatching(/^--format needs a value \(-q is an option\)/)],
    [["scan", "d", "--dry-run=yes"], "--dry-run takes no value: write --dry-run alone"],
    [["scan", "d", "--help=no"], "--help takes no value: write --help alone"],
  ])("%j is one line naming the option and the fix, without the help hint", (args, want) => {
    const found = problems(args);
    expect(found).toEqual([want]);
    expect(found.join("\n")).not.toContain("--help for");
  });

  it("reports every argv problem at once, with the others", () => {
    expect(problems(["scan", "d", "--bogus", "--dry-run=1", "--format", "xml", "--timeout"])).toEqual([
      expect.stringMatching(/^--bogus: unknown option/),
      expect.stringMatching(/^--dry-run takes no value/),
      expect.stringMatching(/^--timeout needs a value/),
      expect.stringMatching(/^--format: "xml" is not one of/),
    ]);
  });

  it("takes a value after the option even when it starts with a dash but is no option (PEM text, -1h)", () => {
    const pem = testKeys().publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(config(["scan", "d", "--public-key", pem]).publicKey.export({ type: "spki", format: "pem" })).toBe(
      pem,
    );
    expect(problems(["scan", "d", "--since", "-1h"])).toEqual([
      expect.stringMatching(/^--since: "-1h" is neither/),
    ]);
  });

  const valueOptions = Object.entries(OPTIONS).filter(([, spec]) => spec.type === "string");
  const single = valueOptions.filter(([, spec]) => !("multiple" in spec)).map(([name]) => name);
  const list = valueOptions.filter(([, spec]) => "multiple" in spec).map(([name]) => name);
  /** A second valid value for every single-value option (the first is its example). */
  const other: Record<string, string> = {
    since: "7d",
    until: "2024-07-20T00:00:00Z",
    verify: "off",
    "public-key": path.join(root, "fixtures", "keys", "test-public.pem"),
    notify: "none",
    format: "ndjson",
    state: "other-state.json",
    concurrency: "4",
    "max-decompressed-bytes": "512M",
    region: "eu-west-101",
    "obs-endpoint": "https://obs.eu-west-101.myhuaweicloud.eu",
    "smn-endpoint": "https://smn.eu-west-101.myhuaweicloud.eu",
    "smn-topic": "other-topic",
    "unsent-dir": "/tmp",
    timeout: "60",
    "state-retention": "30d",
    "state-wait": "5",
    rules: path.join(root, "fixtures", "rules.example.yaml"),
    "fan-out": "urn:fss:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:function:default:cts-audit:2",
    "fan-out-concurrency": "4",
    "fan-out-shard-objects": "5000",
    "functiongraph-endpoint": "https://functiongraph.eu-west-101.myhuaweicloud.com",
    "geo-db": "own-country.mmdb",
    "asn-db": "own-asn.mmdb",
  };

  it("knows a second value for every single-value option", () => {
    expect(Object.keys(other).sort()).toEqual([...single].sort());
  });

  it.each(single)("--%s given twice with different values is a usage error naming it", (name) => {
    const spec = OPTIONS[name as keyof typeof OPTIONS] as { example: string };
    const found = problems(["scan", "d", `--${name}`, spec.example, `--${name}=${other[name]!}`]);
    expect(found).toContain(`--${name} is given twice with different values: give it once`);
    // The values are not repeated: one of them may be key material.
    expect(found.join("\n")).not.toContain(other[name]!);
  });

  it.each(single)("--%s given twice with the same value is that value", (name) => {
    const found = problems(["scan", "d", `--${name}`, other[name]!, `--${name}`, other[name]!]);
    expect(found.join("\n")).not.toContain("given twice");
  });

  it("knows what every list option accumulates", () => {
    expect(list.sort()).toEqual(["allow", "allow-file", "events"]);
  });

  it("accumulates repeated list options: --events, --allow, --allow-file", () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "a.txt"), "10.0.0.1\n");
    writeFileSync(path.join(dir, "b.txt"), "10.0.0.2\n");
    const c = config([
      "scan",
      "d",
      "--events",
      "login",
      "--events=logout,loginFailed",
      "--allow",
      "192.0.2.1",
      "--allow=192.0.2.2",
      "--allow-file",
      path.join(dir, "a.txt"),
      "--allow-file",
      path.join(dir, "b.txt"),
    ]);
    expect(c.events).toEqual(["login", "logout", "loginFailed"]);
    expect(c.allowList.entries).toEqual(["192.0.2.1", "192.0.2.2", "10.0.0.1", "10.0.0.2"]);
  });

  it("lets boolean options repeat", () => {
    expect(config(["scan", "d", "--dry-run", "--dry-run", "-q", "--quiet"])).toMatchObject({
      dryRun: true,
      quiet: true,
    });
  });
});

describe("--public-key and CTS_AUDIT_PUBLIC_KEY take an RSA public key only", () => {
  const keys = path.join(root, "fixtures", "keys");
  const privatePem = readFileSync(path.join(keys, "test-private.pem"), "utf8");
  const rsaPrivate = testKeys().privateKey;
  const pkcs1Pem = rsaPrivate.export({ type: "pkcs1", format: "pem" }).toString();
  const pkcs8Der = rsaPrivate.export({ type: "pkcs8", format: "der" }).toString("base64");
  const pkcs1Der = rsaPrivate.export({ type: "pkcs1", format: "der" }).toString("base64");
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ed = generateKeyPairSync("ed25519");
  const ecPublic = ec.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const ecPrivatePem = ec.privateKey.export({ type: "sec1", format: "pem" }).toString();
  const edPublicPem = ed.publicKey.export({ type: "spki", format: "pem" }).toString();
  const certificate = path.join(root, "test", "fixtures", "test-cert.pem");
  const dir = tempDir();
  const file = (name: string, content: string | Buffer) => {
    writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  const garbage = Buffer.from(
    "not a key at all, only words that are long enough to look like base64",
  ).toString("base64");

  const PRIVATE = /this is a private key; give the public key instead/;
  const cases: Array<[string, string, RegExp]> = [
    ["a PKCS#8 private key PEM file", path.join(keys, "test-private.pem"), PRIVATE],
    ["PKCS#8 private key PEM text", privatePem, PRIVATE],
    ["PKCS#1 private key PEM text", pkcs1Pem, PRIVATE],
    ["a base64 PKCS#8 private key", pkcs8Der, PRIVATE],
    ["a base64 PKCS#1 private key", pkcs1Der, PRIVATE],
    ["a DER private key file", file("key.der", rsaPrivate.export({ type: "pkcs8", format: "der" })), PRIVATE],
    ["an EC private key PEM", ecPrivatePem, PRIVATE],
    ["a PEM holding a public and a private key", `${edPublicPem}${privatePem}`, PRIVATE],
    ["a certificate PEM file", certificate, /this is a certificate, not a public key; give its public key/],
    ["certificate PEM text", readFileSync(certificate, "utf8"), /this is a certificate/],
    [
      "a base64 DER certificate",
      readFileSync(certificate, "utf8").replace(/-----[A-Z ]+-----|\s/g, ""),
      /this is a certificate/,
    ],
    ["garbage base64", garbage, /not a public key \(neither PEM nor base64 or DER SPKI\)/],
    ["a garbage file", file("junk.pem", "hello\n"), /not a public key/],
    [
      "a PEM of something else",
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      /not a public key|certificate/,
    ],
    ["an EC public key", ecPublic, /this is an ec public key, and CTS signs digests with RSA/],
    ["an Ed25519 public key PEM", edPublicPem, /this is an ed25519 public key/],
  ];

  it.each(cases)("rejects %s, naming the option and not echoing the material", (_, spec, pattern) => {
    for (const [found, origin] of [
      [problems(["scan", "d", "--public-key", spec]), "--public-key"],
      [problems(["scan", "d"], { CTS_AUDIT_PUBLIC_KEY: spec }), "env CTS_AUDIT_PUBLIC_KEY"],
    ] as const) {
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(pattern);
      expect(found[0]!.startsWith(`${origin}: `)).toBe(true);
      for (const line of spec.split(/\s+/).filter((l) => l.length >= 16 && !l.startsWith("/")))
        expect(found[0]).not.toContain(line.slice(0, 16));
    }
  });

  it.each([
    ["a PEM file", path.join(keys, "test-public.pem")],
    ["PEM text", readFileSync(path.join(keys, "test-public.pem"), "utf8")],
    ["base64 SPKI", testKeys().publicKey.export({ type: "spki", format: "der" }).toString("base64")],
    ["a PKCS#1 public key PEM", testKeys().publicKey.export({ type: "pkcs1", format: "pem" }).toString()],
    ["a DER file", file("pub.der", testKeys().publicKey.export({ type: "spki", format: "der" }))],
  ])("takes %s", (_, spec) => {
    expect(config(["scan", "d", "--public-key", spec]).publicKey.asymmetricKeyType).toBe("rsa");
  });
});
