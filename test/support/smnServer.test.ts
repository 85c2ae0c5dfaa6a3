import { describe, expect, it } from "vitest";
import { canonicalRequest, verifySdkSignature, type SignedRequest } from "./smnServer.js";

// Reference §6.4: Huawei's documented example, verified against the documented hash and signature.
const vector: SignedRequest = {
  method: "GET",
  path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
  query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
  headers: {
    "content-type": "application/json",
    host: "service.region.example.com",
    "x-sdk-date": "20191115T033655Z",
    authorization:
      "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
  },
  body: Buffer.alloc(0),
};
const sk = (ak: string) =>
  ak === "QTWAOYTTINDUT2QVKYUC" ? "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc" : undefined;
const at = new Date("2019-11-15T03:40:00Z");

describe("the SMN test endpoint's signature check", () => {
  it("builds the documented canonical request", () => {
    expect(canonicalRequest(vector, ["content-type", "host", "x-sdk-date"])).toBe(
      [
        "GET",
        "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/",
        "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
        "content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n",
        "content-type;host;x-sdk-date",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      ].join("\n"),
    );
  });

  it("accepts the documented signature", () => {
    expect(verifySdkSignature(vector, sk, at)).toEqual({ ok: true, ak: "QTWAOYTTINDUT2QVKYUC" });
  });

  it.each([
    [
      "a changed query",
      { ...vector, query: "limit=3&marker=13551d6b-755d-4757-b956-536f674975c0" },
      /does not match/,
    ],
    ["a changed body", { ...vector, body: Buffer.from("{}") }, /does not match/],
    [
      "a changed signed header",
      { ...vector, headers: { ...vector.headers, host: "evil.example.com" } },
      /does not match/,
    ],
    [
      "an unknown key",
      {
        ...vector,
        headers: {
          ...vector.headers,
          authorization: String(vector.headers.authorization).replace("QTWA", "XXXX"),
        },
      },
      /unknown access key/,
    ],
    ["no Authorization", { ...vector, headers: { ...vector.headers, authorization: undefined } }, /missing/],
  ])("rejects %s", (_name, req, reason) => {
    const r = verifySdkSignature(req as SignedRequest, sk, at);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it("rejects a request signed more than 15 minutes ago", () => {
    const r = verifySdkSignature(vector, sk, new Date("2019-11-15T04:00:00Z"));
    expect(!r.ok && r.reason).toMatch(/15 minutes/);
  });
});
