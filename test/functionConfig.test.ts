import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { DEFAULT_EVENTS } from "../src/detect/AuditRules.js";
import { functionConfig } from "../src/functionConfig.js";
import { CTS_PUBLIC_KEY_BASE64 } from "../src/integrity/signature.js";
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from "../src/config.js";

const agency = {
  HUAWEICLOUD_SDK_AK: "AK",
  HUAWEICLOUD_SDK_SK: "SK",
  HUAWEICLOUD_SDK_SECURITY_TOKEN: "TOKEN",
  HUAWEICLOUD_SDK_PROJECT_ID: "project",
};

function problems(env: Record<string, string>, obs = true, context: string[] = []): string[] {
  try {
    functionConfig(env, { obs }, context);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe("functionConfig", () => {
  it("builds the engine options and cloud settings from the sample's variables, with the documented defaults", () => {
    const c = functionConfig(
      { ...agency, RegionName: "ap-southeast-1", SMN_Topic: "alerts", IP: "192.0.2.1" },
      { obs: true },
    );
    expect(c.options).toMatchObject({
      command: "scan",
      events: [...DEFAULT_EVENTS],
      verify: "warn",
      since: undefined,
      until: undefined,
      concurrency: 8,
      dryRun: false,
      maxDecompressedBytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
    });
    expect(c.options.allowList.entries).toEqual(["192.0.2.1"]);
    expect(c.options.publicKey.export({ type: "spki", format: "der" }).toString("base64")).toBe(
      CTS_PUBLIC_KEY_BASE64,
    );
    expect(c.cloud).toEqual({
      region: "ap-southeast-1",
      obsEndpoint: "https://obs.ap-southeast-1.myhuaweicloud.com",
      smnEndpoint: "https://smn.ap-southeast-1.myhuaweicloud.com",
      smnTopic: { name: "alerts" },
      credentials: { accessKeyId: "AK", secretAccessKey: "SK", securityToken: "TOKEN", projectId: "project" },
      unsentDir: "/tmp",
      timeoutSeconds: 30,
    });
    expect(c.notify).toEqual({ kind: "smn" });
    expect(c.state).toBeUndefined();
  });

  it("prefers SMN_TOPIC_URN, CTS_AUDIT_ALLOW and explicit endpoints; reads CTS_AUDIT_EVENTS and CTS_AUDIT_VERIFY", () => {
    const c = functionConfig(
      {
        ...agency,
        SMN_TOPIC_URN: "urn:smn:r:p:alerts",
        SMN_Topic: "ignored",
        CTS_AUDIT_ALLOW: "10.0.0.0/8",
        IP: "192.0.2.1",
        OBS_ENDPOINT: "http://127.0.0.1:9000",
        SMN_ENDPOINT: "http://127.0.0.1:9001",
        CTS_AUDIT_EVENTS: "login, loginFailed",
        CTS_AUDIT_VERIFY: "require",
        CTS_AUDIT_STATE: "obs://cts-state/run1",
      },
      { obs: true },
    );
    expect(c.cloud).toMatchObject({
      obsEndpoint: "http://127.0.0.1:9000",
      smnTopic: { urn: "urn:smn:r:p:alerts" },
    });
    expect(c.options).toMatchObject({ events: ["login", "loginFailed"], verify: "require" });
    expect(c.options.allowList.entries).toEqual(["10.0.0.0/8"]);
    expect(c.state).toBe("obs://cts-state/run1");
  });

  it("sends to no SMN without a topic, and needs no cloud at all when nothing is on OBS", () => {
    const c = functionConfig({}, { obs: false });
    expect(c.notify).toEqual({ kind: "none" });
    expect(c.cloud.credentials).toBeUndefined();
  });

  it.each([
    [
      {},
      true,
      [
        "OBS endpoint unknown: set RegionName (or OBS_ENDPOINT) in the function's environment variables",
        "no temporary credentials in the function's context: give the function an agency with OBS read access",
      ],
    ],
    [
      { CTS_AUDIT_STATE: "obs://cts-state/s" },
      false,
      [
        "OBS endpoint unknown: set RegionName (or OBS_ENDPOINT) in the function's environment variables",
        "no temporary credentials in the function's context: give the function an agency with OBS read access",
      ],
    ],
    [
      { SMN_Topic: "t" },
      false,
      [
        "SMN endpoint unknown: set RegionName (or SMN_ENDPOINT) in the function's environment variables",
        "no temporary credentials in the function's context: give the function an agency that may publish to SMN",
      ],
    ],
  ])("%j (OBS records: %s) names every missing setting at once", (env, obs, want) => {
    expect(problems(env, obs)).toEqual(want);
  });

  it("adds what failed in the context to the problems it explains", () => {
    expect(problems({}, true, ["context.getSecurityAccessKey() failed: boom"]).at(-1)).toBe(
      "the function's context failed: context.getSecurityAccessKey() failed: boom",
    );
    expect(
      problems({ ...agency, RegionName: "r" }, true, ["context.getRequestID is not a function"]),
    ).toEqual([]);
  });

  it("never names a command-line flag", () => {
    const all = problems({
      IP: "x",
      CTS_AUDIT_EVENTS: "bad name",
      CTS_AUDIT_VERIFY: "x",
      CTS_AUDIT_PUBLIC_KEY: "x",
      CTS_AUDIT_STATE: "obs://",
      RegionName: "no region",
      OBS_ENDPOINT: "x",
      SMN_Topic: "t",
      HUAWEICLOUD_SDK_AK: "a",
      HUAWEICLOUD_SDK_SK: "s",
    });
    expect(all).toHaveLength(9);
    for (const p of all) expect(p).not.toMatch(/(^|[\s(])--[a-z]/);
  });
});
