/**
 * Trace fields cannot forge lines of the alert message or drive a terminal, in the digest and in every sink:
 * buildDigest (every field it prints, subject and SMS included), stdout, file and SMN (default/email/sms bodies).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert } from "../../src/detect/types.js";
import { buildDigest, type IntegrityFinding } from "../../src/notify/buildDigest.js";
import { FileNotifier } from "../../src/notify/FileNotifier.js";
import { SmnClient } from "../../src/notify/SmnClient.js";
import { SmnNotifier } from "../../src/notify/SmnNotifier.js";
import { StreamNotifier } from "../../src/notify/StreamNotifier.js";
import type { AlertDigest } from "../../src/notify/types.js";
import { tempDir } from "../support/harness.js";
import { SmnTestServer } from "../support/smnServer.js";

// Anything a terminal, a mail client or a log reader could take as a line break or a control.
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;
const UNSAFE_BUT_NEWLINE = /[^\P{Cc}\n]|[\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

const BAD: Array<[string, string]> = [
  ["a newline", "\nFORGED: 10.0.0.1 admin: 1 event"],
  ["a carriage return", "\rFORGED"],
  ["CRLF", "\r\nFORGED"],
  ["an ANSI colour", "\x1b[31mred\x1b[0m"],
  ["a line separator", "\u2028FORGED"],
  ["a paragraph separator", "\u2029FORGED"],
  ["a right-to-left override", "\u202eDESREVER"],
  ["a bidi isolate", "\u2066x\u2069"],
  ["a C1 next line", "\u0085FORGED"],
  ["NUL and DEL", "\x00\x7f"],
];

function alert(over: Partial<Alert> = {}): Alert {
  return {
    traceId: "t1",
    traceName: "login",
    user: "alice",
    userId: "u1",
    domain: "acme",
    sourceIp: "203.0.113.7",
    time: "2024-07-19T00:01:00.000Z",
    region: "ap-southeast-1",
    object: "CloudTraces/x.json.gz",
    integrity: "valid",
    reason: "not-allowlisted",
    ...over,
  };
}
const finding = (over: Partial<IntegrityFinding> = {}): IntegrityFinding => ({
  object: "CloudTraces/y.json.gz",
  verdict: "file modified",
  detail: "md5 differs",
  ...over,
});

type Build = (bad: string) => AlertDigest;
const FIELDS: Array<[string, Build]> = [
  ["user", (b) => buildDigest([alert({ user: `alice${b}` })], [finding()], { sources: ["s"] })!],
  ["domain", (b) => buildDigest([alert({ domain: `acme${b}` })], [finding()], { sources: ["s"] })!],
  [
    "source IP",
    (b) => buildDigest([alert({ sourceIp: `203.0.113.7${b}` })], [finding()], { sources: ["s"] })!,
  ],
  ["trace name", (b) => buildDigest([alert({ traceName: `login${b}` })], [finding()], { sources: ["s"] })!],
  [
    "time",
    (b) => buildDigest([alert({ time: `2024-07-19T00:01:00.000Z${b}` })], [finding()], { sources: ["s"] })!,
  ],
  [
    "finding object key",
    (b) => buildDigest([alert()], [finding({ object: `CloudTraces/y${b}.json.gz` })], { sources: ["s"] })!,
  ],
  ["finding detail", (b) => buildDigest([alert()], [finding({ detail: `md5${b}` })], { sources: ["s"] })!],
  [
    "finding verdict",
    (b) => buildDigest([alert()], [finding({ verdict: `modified${b}` })], { sources: ["s"] })!,
  ],
  ["source name", (b) => buildDigest([alert()], [finding()], { sources: [`obs://b/${b}`] })!],
  ["window", (b) => buildDigest([alert()], [finding()], { sources: ["s"], window: `2024-07-19${b}` })!],
];

const lines = (text: string) => text.split("\n").length;

function expectSafeDigest(d: AlertDigest, baseline: AlertDigest): void {
  expect(d.subject).not.toMatch(UNSAFE);
  expect(d.headline).not.toMatch(UNSAFE);
  expect(d.sms).not.toMatch(UNSAFE);
  expect(d.parts).toHaveLength(baseline.parts.length);
  d.parts.forEach((part, i) => {
    expect(part).not.toMatch(UNSAFE_BUT_NEWLINE);
    expect(lines(part)).toBe(lines(baseline.parts[i]!));
  });
}

describe("buildDigest escapes every field it prints", () => {
  const cases = FIELDS.flatMap(([field, build]) =>
    BAD.map(([what, bad]) => [field, what, build, bad] as const),
  );
  it.each(cases)("%s with %s", (_field, _what, build, bad) => {
    const d = build(bad);
    expectSafeDigest(d, build(""));
    // The text is still there, escaped: nothing is dropped.
    expect(d.parts.join("\n")).toMatch(/FORGED|red|DESREVER|x|\\x00/);
  });
});

// A digest built by anyone, with raw controls everywhere: the sinks make it safe themselves.
const raw: AlertDigest = {
  subject: "cts-audit: 1 alert\nFORGED SUBJECT \x1b[31m",
  headline: "cts-audit: 1 alert",
  parts: ["cts-audit: 1 alert\n- 203.0.113.7  alice\u2028FORGED\r\n    \u202etime\x1b[2J"],
  sms: "cts-audit: 1 alert\nFORGED \u2029",
  alerts: 1,
  violations: 0,
};
const rawLines = raw.parts[0]!.split("\n").length;

describe("every sink escapes control characters", () => {
  it("stdout", async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
    await new StreamNotifier("stdout", out).send(raw);
    const text = chunks.join("");
    expect(text).not.toMatch(UNSAFE_BUT_NEWLINE);
    expect(text.trimEnd().split("\n")).toHaveLength(rawLines);
  });

  it("file", async () => {
    const file = path.join(tempDir(), "digest.txt");
    await new FileNotifier(file).send(raw);
    const text = readFileSync(file, "utf8");
    expect(text).not.toMatch(UNSAFE_BUT_NEWLINE);
    // The subject line, a blank line, the part.
    expect(text.trimEnd().split("\n")).toHaveLength(2 + rawLines);
    expect(text.split("\n")[0]).toBe("cts-audit: 1 alert\\nFORGED SUBJECT \\x1b[31m");
  });

  describe("SMN", () => {
    let smn: SmnTestServer;
    let urn: string;
    beforeAll(async () => {
      smn = await SmnTestServer.start();
      smn.allow("TEXTSAFETYAK00000001", "textSafetySecret000000000000");
      urn = smn.addTopic("alerts");
    });
    afterAll(() => smn.stop());

    it("subject, default, email and sms bodies", async () => {
      const client = new SmnClient(smn.endpoint, {
        accessKeyId: "TEXTSAFETYAK00000001",
        secretAccessKey: "textSafetySecret000000000000",
        projectId: smn.projectId,
      });
      await new SmnNotifier(client, { urn }).send(raw);
      const sent = smn.published.at(-1)!;
      expect(sent.body.subject).not.toMatch(UNSAFE);
      const structure = JSON.parse(sent.body.message_structure!) as Record<string, string>;
      expect(structure.sms).not.toMatch(UNSAFE);
      for (const body of [structure.default!, structure.email!]) {
        expect(body).not.toMatch(UNSAFE_BUT_NEWLINE);
        expect(body.split("\n")).toHaveLength(rawLines);
      }
    });
  });
});
