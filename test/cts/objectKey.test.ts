import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { matchCtsName, parseCtsTime, parseObjectKey } from "../../src/cts/objectKey.js";

describe("parseObjectKey", () => {
  it.each([
    {
      name: "real console key (padded, prefix file, service CTS)",
      key: "CloudTraces/cn-southwest-237/2023/08/30/system/CTS/file_CloudTrace_cn-southwest-237_2023-08-30T01-50-12Z_d22ef9d12629392c.json.gz",
      want: {
        kind: "trace",
        region: "cn-southwest-237",
        day: "2023-08-30",
        tracker: "system",
        service: "CTS",
        filePrefix: "file",
        gzipName: true,
      },
      upload: "2023-08-30T01:50:12.000Z",
    },
    {
      name: "documented unpadded month and day",
      key: "CloudTraces/eu-de/2016/5/9/system/IAM/pre_CloudTrace_eu-de_2016-05-09T16-20-56Z_21d36ced8c8af71e.json.gz",
      want: { kind: "trace", region: "eu-de", day: "2016-05-09", tracker: "system", service: "IAM" },
      upload: "2016-05-09T16:20:56.000Z",
    },
    {
      name: "no service folder (Sort by Cloud Service off)",
      key: "CloudTraces/ap-southeast-1/2024/12/13/system/FilePrefix_CloudTrace_ap-southeast-1_2024-12-13T01-29-19Z_47b9d51830deff47.json.gz",
      want: { kind: "trace", tracker: "system", service: "", filePrefix: "FilePrefix" },
      upload: "2024-12-13T01:29:19.000Z",
    },
    {
      name: "region-project in the name, uncompressed",
      key: "CloudTraces/eu-de/2016/05/30/system/ECS/my.log-1_CloudTrace_eu-de-project_2016-05-30T16-20-56Z_21d36ced8c8af71e.json",
      want: { kind: "trace", service: "ECS", filePrefix: "my.log-1", gzipName: false },
      upload: "2016-05-30T16:20:56.000Z",
    },
    {
      name: "stray slash after the region (documentation example)",
      key: "CloudTraces/eu-de-01/2017/3/28/ECS/mylog_CloudTrace_eu-de-01/_2017-03-28T02-09-17Z_0faa86bc40071242.json.gz",
      want: { kind: "trace", region: "eu-de-01", day: "2017-03-28" },
      upload: "2017-03-28T02:09:17.000Z",
    },
    {
      name: "leading folder before CloudTraces",
      key: "archive/2024/CloudTraces/ap-southeast-1/2024/07/19/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-19T00-14-12Z_8b53c3c10aff5a49.json.gz",
      want: { kind: "trace", region: "ap-southeast-1", service: "IAM" },
      upload: "2024-07-19T00:14:12.000Z",
    },
    {
      name: "digest with tracker",
      key: "CloudTraces/ap-southeast-1/2024/07/19/system/Digest/IAM/cts_CloudTrace-Digest_ap-southeast-1_2024-07-19T01-00-00Z.json.gz",
      want: {
        kind: "digest",
        tracker: "system",
        service: "IAM",
        chain: "CloudTraces/ap-southeast-1/system/Digest/IAM",
      },
      upload: "2024-07-19T01:00:00.000Z",
    },
    {
      name: "digest without tracker segment, stray slash (documentation example)",
      key: "CloudTraces/eu-de-01/2017/3/28/Digest/EVS/mylog_CloudTrace-Digest_eu-de-01/_2017-03-28T02-09-17Z.json.gz",
      want: {
        kind: "digest",
        region: "eu-de-01",
        tracker: "",
        service: "EVS",
        chain: "CloudTraces/eu-de-01/Digest/EVS",
      },
      upload: "2017-03-28T02:09:17.000Z",
    },
    {
      name: "digest with an empty region (ME-Abu Dhabi documentation copy)",
      key: "CloudTraces/2017/3/28/Digest/EVS/mylog_CloudTrace-Digest__2017-03-28T02-09-17Z.json.gz",
      want: { kind: "digest", region: "", day: "2017-03-28", service: "EVS" },
      upload: "2017-03-28T02:09:17.000Z",
    },
    {
      name: "empty file prefix",
      key: "CloudTraces/eu-de/2024/01/02/system/IAM/CloudTrace_eu-de_2024-01-02T03-04-05Z_abcdef0123456789.json.gz",
      want: { kind: "trace", filePrefix: "" },
      upload: "2024-01-02T03:04:05.000Z",
    },
  ])("$name", ({ key, want, upload }) => {
    const parsed = parseObjectKey(key);
    expect(parsed).toMatchObject({ key, ...want });
    expect(parsed.uploadTime?.toISOString()).toBe(upload);
  });

  it.each([
    ["README.md"],
    ["CloudTraces/ap-southeast-1/2024/07/19/system/IAM/notes.json.gz"],
    ["cts-audit-state/ledger.json"],
    ["CloudTraces/eu-de/2024/01/02/system/IAM/x_CloudTrace_eu-de_2024-13-45T99-04-05Z_abcdef.json.gz"],
  ])("%s is not a CTS file, with a reason", (key) => {
    const parsed = parseObjectKey(key);
    expect(parsed.kind).toBe("other");
    expect(parsed.reason).not.toBe("");
  });
});

/**
 * The reference: the regular-expression parser parseCtsTime had before it read the common 20-character form by
 * position. Every input must give what it gives.
 */
function referenceCtsTime(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})[-:](\d{2})[-:](\d{2})(?:\.\d+)?Z$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    mi > 59 ||
    s > 59
  )
    return undefined;
  return date.getTime();
}

describe("parseCtsTime agrees with the regular-expression parser", () => {
  it.each([
    ["2017-03-28T02-09-17Z"],
    ["2017-03-28T02:09:17Z"],
    ["2017-03-28T02-09:17Z"],
    ["2024-02-29T23-59-59Z"],
    ["2023-02-29T00-00-00Z"],
    ["2024-13-01T00-00-00Z"],
    ["2024-12-32T00-00-00Z"],
    ["2024-12-31T24-00-00Z"],
    ["2024-12-31T23-60-00Z"],
    ["2024-12-31T23-59-60Z"],
    ["0099-01-01T00-00-00Z"],
    ["2024-01-01T00-00-00z"],
    ["2024-01-01t00-00-00Z"],
    ["2024/01-01T00-00-00Z"],
    ["2024-01-01T00.00-00Z"],
    ["2024-01-0aT00-00-00Z"],
    ["2024-01-01T00-00-00.5Z"],
    ["2024-01-01T00-00-0Z"],
    ["２０２４-01-01T00-00-00Z"],
    [""],
  ])("%s", (text) => {
    expect(parseCtsTime(text)?.getTime()).toBe(referenceCtsTime(text));
  });

  it("on any string of time-like characters, and on valid times with one character changed", () => {
    const chars = fc.constantFrom(..."0123456789-:TZ.tz/ 9\u0660".split(""));
    const anyText = fc.array(chars, { minLength: 18, maxLength: 24 }).map((a) => a.join(""));
    const valid = fc
      .date({
        min: new Date(Date.UTC(1000, 0, 1)),
        max: new Date(Date.UTC(9999, 11, 31)),
        noInvalidDate: true,
      })
      .map((d) =>
        d
          .toISOString()
          .replace(/\.\d{3}Z$/, "Z")
          .replace(/:/g, "-"),
      );
    const mutated = fc
      .tuple(valid, fc.nat(19), chars)
      .map(([t, i, ch]) => t.slice(0, i) + ch + t.slice(i + 1));
    fc.assert(
      fc.property(fc.oneof(anyText, valid, mutated), (text) => {
        expect(parseCtsTime(text)?.getTime()).toBe(referenceCtsTime(text));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe("matchCtsName", () => {
  // The reference: the patterns searched at every position, as parseObjectKey did before it tried the name's own
  // position first. Written out again here, not imported: the differential test checks the fast path against them.
  const TIME = String.raw`\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z`;
  const TRACE = new RegExp(
    String.raw`(?:^|/)(?:([A-Za-z0-9._-]{0,64})_)?CloudTrace_(.*?)_(${TIME})_([0-9A-Fa-f]+)\.json(\.gz)?$`,
  );
  const DIGEST = new RegExp(
    String.raw`(?:^|/)(?:([A-Za-z0-9._-]{0,64})_)?CloudTrace-Digest_(.*?)_(${TIME})\.json(\.gz)?$`,
  );
  // What parseObjectKey reads of a match: where the name starts (after the `/` the full search includes) and the
  // captures.
  const where = (m: RegExpExecArray) => ({
    start: m.index + (m[0].startsWith("/") ? 1 : 0),
    captures: m.slice(1),
  });
  const reference = (key: string) => {
    const digest = key.includes("CloudTrace-Digest_") ? DIGEST.exec(key) : null;
    const trace = digest || !key.includes("CloudTrace_") ? null : TRACE.exec(key);
    const match = digest ?? trace;
    return match ? { kind: digest ? "digest" : "trace", ...where(match) } : undefined;
  };
  const fast = (key: string) => {
    const named = matchCtsName(key);
    return named && { kind: named.kind, ...where(named.match) };
  };

  it.each([
    "CloudTraces/r/2024/01/02/system/IAM/p_CloudTrace_r_2024-01-02T03-04-05Z_abc.json.gz",
    "CloudTrace_r_2024-01-02T03-04-05Z_abc.json",
    // A prefix the pattern does not take (a space): the name matches from its marker, after the prefix.
    "a/b c_CloudTrace_r_2024-01-02T03-04-05Z_abc.json.gz",
    // The marker twice: the first one starts the name, the region part holds the second.
    "a/x_CloudTrace_CloudTrace_r_2024-01-02T03-04-05Z_abc.json",
    "a/CloudTrace_x/CloudTrace_r/s_2024-01-02T03-04-05Z_abc.json",
    "CloudTraces/r/2024/01/02/system/Digest/IAM/p_CloudTrace-Digest_r_2024-01-02T03-04-05Z.json.gz",
    "a/CloudTrace-Digest_x_CloudTrace_r_2024-01-02T03-04-05Z_abc.json",
    "a/b/c.json",
    // The name's own position does not match, a later one does: the full search's match.
    "a/b c_CloudTrace_x/CloudTrace_r_2024-01-02T03-04-05Z_abc.json",
    `a/${"p".repeat(70)}_CloudTrace_x/q_CloudTrace_r_2024-01-02T03-04-05Z_abc.json.gz`,
    `a/${"p".repeat(70)}_CloudTrace_r_2024-01-02T03-04-05Z_abc.json`,
  ])("finds what the full search finds: %s", (key) => {
    expect(fast(key)).toEqual(reference(key));
  });

  it("finds what the full search finds, on keys built from the names' parts", () => {
    const part = fc.constantFrom(
      "/",
      "_",
      "CloudTrace_",
      "CloudTrace-Digest_",
      "CloudTraces/",
      "ap-southeast-1",
      "2024-01-02T03-04-05Z",
      "_0123abcd",
      ".json",
      ".json.gz",
      " ",
      "p.x-1",
      "a".repeat(40),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 14 }), (parts) => {
        const key = parts.join("");
        expect(fast(key)).toEqual(reference(key));
      }),
      { numRuns: 5000 },
    );
  });
});
