import { BasicCredentials } from "@huaweicloud/huaweicloud-sdk-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NotifyError } from "../../src/errors.js";
import { encodeRfc3986, sdkDate, signAkSk, type AkSkRequest } from "../../src/notify/signAkSk.js";
import { verifySdkSignature } from "../support/smnServer.js";

/** The SDK core's own signing of the same request: the reference this signer replaces. */
async function sdkHeaders(
  req: AkSkRequest & { data?: object },
  cred: { ak: string; sk: string; token?: string; project?: string },
): Promise<Record<string, string>> {
  const c = new BasicCredentials().withAk(cred.ak).withSk(cred.sk);
  if (cred.project) c.withProjectId(cred.project);
  if (cred.token) c.withSecurityToken(cred.token);
  const signed = (await c.processAuthRequest(
    undefined as never,
    {
      endpoint: req.endpoint,
      url: req.path,
      method: req.method,
      headers: { ...req.headers },
      queryParams: { ...req.query },
      data: req.data,
    } as never,
  )) as { headers: Record<string, string> };
  return signed.headers;
}

const lower = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

describe("signAkSk", () => {
  it("reproduces the documented test vector (reference §6.4)", () => {
    const headers = signAkSk(
      {
        method: "GET",
        endpoint: "https://service.region.example.com",
        path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query: { marker: "13551d6b-755d-4757-b956-536f674975c0", limit: "2" },
        headers: { "Content-Type": "application/json", "X-Sdk-Date": "20191115T033655Z" },
      },
      { accessKeyId: "QTWAOYTTINDUT2QVKYUC", secretAccessKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc" },
    );
    expect(headers.Authorization).toBe(
      "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe",
    );
    expect(headers.host).toBe("service.region.example.com");
  });

  it.each([
    ["2019-11-15T03:36:55.000Z", "20191115T033655Z"],
    ["2024-01-02T00:00:09.999Z", "20240102T000009Z"],
    ["2030-12-31T23:59:59.000Z", "20301231T235959Z"],
  ])("formats X-Sdk-Date %s as %s (UTC)", (iso, expected) => {
    expect(sdkDate(new Date(iso))).toBe(expected);
    const h = signAkSk(
      { method: "GET", endpoint: "http://127.0.0.1:9", path: "/" },
      { accessKeyId: "a", secretAccessKey: "b" },
      new Date(iso),
    );
    expect(h["X-Sdk-Date"]).toBe(expected);
  });

  it.each([
    ["", "s"],
    ["a", ""],
  ])("refuses to sign without an AK (%j) or an SK (%j), naming the variables", (ak, sk) => {
    const sign = () =>
      signAkSk({ method: "GET", endpoint: "http://x", path: "/" }, { accessKeyId: ak, secretAccessKey: sk });
    expect(sign).toThrow(NotifyError);
    expect(sign).toThrow(/HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK/);
  });

  it("encodes as the SDK's urlEncode: only RFC 3986 unreserved characters stay", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 20 }), (s) => {
        const expected = Array.from(Buffer.from(s, "utf8"))
          .map((b) =>
            /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
              ? String.fromCharCode(b)
              : `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
          )
          .join("");
        expect(encodeRfc3986(s)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  // The requests cts-audit sends: SMN publish and list-topics paths (a topic URN in the path), queries, JSON bodies,
  // with and without a project id and a security token, at any time.
  // "." and ".." are left out: a URL resolves them away before anything is sent.
  const segment = fc.stringMatching(/^[A-Za-z0-9_:.~-]{1,24}$/).filter((s) => s !== "." && s !== "..");
  const request = fc.record({
    method: fc.constantFrom("GET", "POST"),
    host: fc.constantFrom("https://smn.ap-southeast-1.myhuaweicloud.com", "http://127.0.0.1:39001"),
    segments: fc.array(segment, { minLength: 1, maxLength: 6 }),
    trailingSlash: fc.boolean(),
    query: fc.dictionary(
      fc.stringMatching(/^[a-z_]{1,8}$/),
      fc.string({ unit: "grapheme-ascii", maxLength: 12 }),
      {
        maxKeys: 3,
      },
    ),
    data: fc.option(fc.record({ subject: fc.string(), message: fc.string({ unit: "grapheme" }) }), {
      nil: undefined,
    }),
    ak: fc.stringMatching(/^[A-Z0-9]{8,20}$/),
    sk: fc.string({ minLength: 1, maxLength: 40 }),
    token: fc.option(fc.stringMatching(/^[A-Za-z0-9+/=]{1,60}$/), { nil: undefined }),
    project: fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }),
    at: fc.date({
      min: new Date("2000-01-01T00:00:00Z"),
      max: new Date("2099-12-31T23:59:59Z"),
      noInvalidDate: true,
    }),
  });

  it("signs exactly as the SDK core's BasicCredentials.processAuthRequest (differential, generated requests)", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = `/${r.segments.join("/")}${r.trailingSlash ? "/" : ""}`;
        const date = sdkDate(r.at);
        const headers = { "Content-Type": "application/json", "X-Sdk-Date": date };
        const ours = signAkSk(
          {
            method: r.method,
            endpoint: r.host,
            path,
            query: r.query,
            body: r.data === undefined ? undefined : JSON.stringify(r.data),
            headers,
          },
          { accessKeyId: r.ak, secretAccessKey: r.sk, securityToken: r.token, projectId: r.project },
        );
        const theirs = await sdkHeaders(
          { method: r.method, endpoint: r.host, path, query: r.query, headers, data: r.data },
          { ak: r.ak, sk: r.sk, token: r.token, project: r.project },
        );
        expect(lower(ours)).toEqual(lower(theirs));
      }),
      { numRuns: 300 },
    );
  });

  it("is accepted by the test SMN endpoint's independent verifier, and a changed body or path is not", () => {
    fc.assert(
      fc.property(request, (r) => {
        const path = `/${r.segments.join("/")}`;
        const body = r.data === undefined ? "" : JSON.stringify(r.data);
        const headers = signAkSk(
          {
            method: r.method,
            endpoint: r.host,
            path,
            query: r.query,
            body,
            headers: { "Content-Type": "application/json" },
          },
          { accessKeyId: r.ak, secretAccessKey: r.sk, securityToken: r.token, projectId: r.project },
          r.at,
        );
        const sent = new URL(r.host + path);
        for (const [k, v] of Object.entries(r.query)) sent.searchParams.append(k, v);
        const asSeen = {
          method: r.method,
          path: sent.pathname,
          query: sent.search.slice(1),
          headers: lower(headers),
          body: Buffer.from(body),
        };
        const secret = (ak: string) => (ak === r.ak ? r.sk : undefined);
        expect(verifySdkSignature(asSeen, secret, r.at)).toEqual({ ok: true, ak: r.ak });
        expect(verifySdkSignature({ ...asSeen, body: Buffer.from(`${body} `) }, secret, r.at).ok).toBe(false);
        expect(verifySdkSignature({ ...asSeen, path: `${asSeen.path}x` }, secret, r.at).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
