import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SmnClient, SmnError } from "../../src/notify/SmnClient.js";
import { SmnNotifier } from "../../src/notify/SmnNotifier.js";
import { buildDigest, SMN_LIMITS } from "../../src/notify/buildDigest.js";
import type { Alert } from "../../src/detect/types.js";
import { SmnTestServer } from "../support/smnServer.js";

const AK = "HSTAEXAMPLEAK0000001";
const SK = "exampleSecretKey0000000000000000000000000";
const TOKEN = "temporary-security-token-example";
const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

let smn: SmnTestServer;
let urn: string;
beforeAll(async () => {
  smn = await SmnTestServer.start();
  smn.allow(AK, SK, TOKEN);
  urn = smn.addTopic("cts-login-alerts");
  for (let i = 0; i < 150; i++) smn.addTopic(`other-${i}`);
});
afterAll(() => smn.stop());

const client = (over: { sk?: string; token?: string; timeoutMs?: number; projectId?: string } = {}) =>
  new SmnClient(
    smn.endpoint,
    {
      accessKeyId: AK,
      secretAccessKey: over.sk ?? SK,
      securityToken: over.token ?? TOKEN,
      projectId: over.projectId ?? smn.projectId,
    },
    { retry: fast, timeoutMs: over.timeoutMs ?? 2000 },
  );

describe("SmnClient against the local SMN endpoint", () => {
  it("publishes a signed message with the security token and project id", async () => {
    const before = smn.published.length;
    const r = await client().publish(urn, {
      subject: "s",
      message_structure: JSON.stringify({ default: "hello" }),
    });
    expect(r.messageId).toMatch(/^[0-9a-f]{32}$/);
    const got = smn.published.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers["x-security-token"]).toBe(TOKEN);
    expect(got[0]!.headers["x-project-id"]).toBe(smn.projectId);
    expect(String(got[0]!.headers.authorization)).toMatch(
      /SignedHeaders=.*x-project-id.*x-sdk-date.*x-security-token/,
    );
  });

  it("resolves a topic name to its URN", async () => {
    expect(await client().resolveTopicUrn("cts-login-alerts")).toBe(urn);
    expect(await client().resolveTopicUrn("other-140")).toBe(
      `urn:smn:${smn.region}:${smn.projectId}:other-140`,
    );
  });

  it("explains an unknown topic in plain words", async () => {
    await expect(client().resolveTopicUrn("nope")).rejects.toThrow(
      /topic not found: check SMN_TOPIC_URN or SMN_Topic/,
    );
    await expect(client().publish(`${urn}-gone`, { message: "x" })).rejects.toMatchObject({
      status: 404,
      smnCode: "SMN.0006",
    });
  });

  it("retries 429 and 500 and then succeeds", async () => {
    smn.inject({ kind: "status", status: 429, code: "SMN.0429", times: 1 });
    smn.inject({ kind: "status", status: 500, code: "SMN.0018", times: 1 });
    const before = smn.published.length;
    await client().publish(urn, { message: "after faults" });
    expect(smn.published.length).toBe(before + 1);
  });

  it("retries a request that times out", async () => {
    smn.inject({ kind: "hang", times: 1 });
    await client({ timeoutMs: 300 }).publish(urn, { message: "after a hang" });
    expect(smn.published.at(-1)?.body.message).toBe("after a hang");
  });

  it("gives up after the attempts with the last error", async () => {
    // As many faults as the client has attempts: each one is spent, and the last error is the one reported.
    smn.inject({ kind: "status", status: 503, code: "SMN.0018", times: fast.attempts });
    const before = smn.published.length;
    await expect(client().publish(urn, { message: "x" })).rejects.toMatchObject({ status: 503 });
    expect(smn.published.length).toBe(before);
    await client().publish(urn, { message: "the faults are spent" });
    expect(smn.published.length).toBe(before + 1);
  });

  it("rejects a wrong secret key without retrying and without leaking any secret", async () => {
    const err = (await client({ sk: "wrong-secret-key-000000000000000000000000" })
      .publish(urn, { message: "x" })
      .catch((e: unknown) => e)) as SmnError;
    expect(err).toBeInstanceOf(SmnError);
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/authentication failed: check HUAWEICLOUD_SDK_AK\/SK/);
    for (const secret of [SK, "wrong-secret-key", TOKEN, AK]) expect(err.message).not.toContain(secret);
  });

  it("answers SMN.0001 for another project", async () => {
    await expect(
      client({ projectId: "ffffffffffffffffffffffffffffffff" }).publish(urn, { message: "x" }),
    ).rejects.toThrow(/no permission/);
  });
});

describe("SmnNotifier", () => {
  const alerts: Alert[] = Array.from({ length: 4000 }, (_, i) => ({
    traceId: `t${i}`,
    traceName: "login",
    user: `user-${i}-${"x".repeat(60)}`,
    userId: "",
    domain: "acme",
    sourceIp: `10.${i >> 8}.${i & 255}.9`,
    time: new Date(Date.UTC(2024, 6, 19, 0, 0, i)).toISOString(),
    region: "r",
    object: "o",
    integrity: "valid",
    reason: "not-allowlisted",
  }));

  it("publishes one message for a digest, with message_structure default, email and a short sms", async () => {
    const before = smn.published.length;
    const digest = buildDigest(alerts.slice(0, 3), [], { sources: ["s"] })!;
    const record = await new SmnNotifier(client(), { name: "cts-login-alerts" }).send(digest);
    const got = smn.published.slice(before);
    expect(got).toHaveLength(1);
    expect(record).toEqual({ sink: "smn", parts: 1, messageIds: [got[0]!.messageId] });
    const structure = JSON.parse(got[0]!.body.message_structure!) as Record<string, string>;
    expect(structure.default).toBe(digest.parts[0]);
    expect(structure.email).toBe(digest.parts[0]);
    expect(structure.sms!.length).toBeLessThan(490);
    expect(got[0]!.body.subject).toBe(digest.subject);
  });

  it("splits a digest over 256 KB into numbered messages that SMN accepts, dropping nothing", async () => {
    const before = smn.published.length;
    const digest = buildDigest(alerts, [], { sources: ["s"] }, SMN_LIMITS)!;
    expect(digest.parts.length).toBeGreaterThan(1);
    const record = await new SmnNotifier(client(), { urn }).send(digest);
    const got = smn.published.slice(before);
    expect(got).toHaveLength(digest.parts.length);
    expect(record.messageIds).toEqual(got.map((g) => g.messageId));
    got.forEach((g, i) =>
      expect(g.body.subject).toMatch(new RegExp(`\\(${i + 1}/${digest.parts.length}\\)$`)),
    );
    const text = got
      .map((g) => (JSON.parse(g.body.message_structure!) as { default: string }).default)
      .join("\n");
    for (const a of alerts) expect(text).toContain(`- ${a.sourceIp}  ${a.user}`);
  });
});
