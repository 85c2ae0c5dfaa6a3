/**
 * The HTML report without a browser: the calendar's worst-verdict choice and placement of records on chain-hours,
 * the writer's bounds on many records, and escaping of hostile text from traces, keys and servers.
 */
import { PassThrough, Writable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCli } from "../../src/config.js";
import type { Alert } from "../../src/detect/types.js";
import {
  DEFAULT_HTML_LIMITS,
  VERDICTS_WORST_FIRST,
  worstVerdict,
  type CellVerdict,
  type HtmlLimits,
} from "../../src/report/HtmlTally.js";
import { HtmlWriter } from "../../src/report/HtmlWriter.js";
import type {
  DigestRecord,
  FileRecord,
  GapRecord,
  ReportHeader,
  ReportTail,
} from "../../src/report/types.js";
import { REDACTED } from "../../src/safeText.js";

const IAM = "CloudTraces/ap-southeast-1/system/Digest/IAM";
const hourOf = (iso: string) => Date.parse(iso) / 3_600_000;

function traceKey(time: string, service = "IAM", n = 0): string {
  const day = time.slice(0, 10).replace(/-/g, "/");
  const ts = time.replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  return `CloudTraces/ap-southeast-1/${day}/system/${service}/cts_CloudTrace_ap-southeast-1_${ts}_${n.toString(16).padStart(16, "0")}.json.gz`;
}
function digestKey(end: string, service = "IAM"): string {
  const day = end.slice(0, 10).replace(/-/g, "/");
  return `CloudTraces/ap-southeast-1/${day}/system/Digest/${service}/cts_CloudTrace-Digest_ap-southeast-1_${end.replace(/:/g, "-")}.json.gz`;
}
function file(
  object: string,
  integrity: FileRecord["integrity"],
  more: Partial<FileRecord> = {},
): FileRecord {
  return { object, kind: "trace", status: "scanned", traces: 1, integrity, error: "", ...more };
}

const header: ReportHeader = {
  version: 1,
  command: "scan",
  sources: ["fixtures/sample-bucket"],
  startedAt: "2024-07-20T00:00:00.000Z",
  window: {},
  verify: "warn",
};
function tail(alerts: Alert[] = [], more: Partial<ReportTail> = {}): ReportTail {
  return {
    finishedAt: "2024-07-20T00:01:00.000Z",
    summary: {
      objects: 0,
      traceFiles: 0,
      digestFiles: 0,
      traces: 0,
      matched: 0,
      alerts: alerts.length,
      suppressed: 0,
      failed: 0,
      skipped: 0,
      integrityViolations: 0,
      reused: 0,
    },
    alerts,
    notifications: [],
    errors: [],
    exitCode: 0,
    ...more,
  };
}
function alert(more: Partial<Alert> = {}): Alert {
  return {
    traceId: "t1",
    traceName: "login",
    user: "alice",
    userId: "u1",
    domain: "acme",
    sourceIp: "203.0.113.7",
    time: "2024-07-19T00:12:30.000Z",
    region: "ap-southeast-1",
    object: traceKey("2024-07-19T00:14:12Z"),
    integrity: "valid",
    reason: "not-allowlisted",
    ...more,
  };
}

interface Records {
  files?: FileRecord[];
  digests?: DigestRecord[];
  gaps?: GapRecord[];
}
async function page(
  records: Records | ((w: HtmlWriter) => Promise<void>),
  t: ReportTail = tail(),
  limits?: HtmlLimits,
): Promise<{ text: string; writer: HtmlWriter }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const writer = new HtmlWriter(out, limits);
  await writer.begin(header);
  if (typeof records === "function") await records(writer);
  else {
    for (const f of records.files ?? []) await writer.file(f);
    for (const d of records.digests ?? []) await writer.digest(d);
    for (const g of records.gaps ?? []) await writer.gap(g);
  }
  await writer.end(t);
  return { text: Buffer.concat(chunks).toString("utf8"), writer };
}

describe("calendar: the worst verdict of an hour", () => {
  it.each<[CellVerdict[], CellVerdict | undefined]>([
    [[], undefined],
    [["valid"], "valid"],
    [["valid", "unverified"], "unverified"],
    [["unverified", "pending", "valid"], "pending"],
    [["valid", "pending", "unlisted"], "unlisted"],
    [["unlisted", "gap"], "gap"],
    [["gap", "missing", "valid"], "missing"],
    [["missing", "digest-invalid"], "digest-invalid"],
    [["valid", "digest-invalid", "modified", "pending"], "modified"],
    [["modified", "valid"], "modified"],
  ])("%j -> %s", (verdicts, worst) => {
    expect(worstVerdict(verdicts)).toBe(worst);
  });

  it("is one of the verdicts and does not depend on their order", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...VERDICTS_WORST_FIRST), { minLength: 1 }), (verdicts) => {
        const worst = worstVerdict(verdicts);
        expect(verdicts).toContain(worst);
        expect(worstVerdict([...verdicts].reverse())).toBe(worst);
      }),
    );
  });

  it.each<[string, Records, string, string, CellVerdict]>([
    [
      "a valid trace file: the hour of its key",
      { files: [file(traceKey("2024-07-19T00:14:12Z"), "valid")] },
      IAM,
      "2024-07-19T00:00:00Z",
      "valid",
    ],
    [
      "a modified trace file",
      { files: [file(traceKey("2024-07-19T05:59:59Z"), "modified")] },
      IAM,
      "2024-07-19T05:00:00Z",
      "modified",
    ],
    [
      "a file a digest lists that is gone",
      {
        files: [file(traceKey("2024-07-19T03:10:00Z"), "missing", { status: "failed", error: "not found" })],
      },
      IAM,
      "2024-07-19T03:00:00Z",
      "missing",
    ],
    [
      "a pending file",
      { files: [file(traceKey("2024-07-19T07:01:00Z", "ECS"), "pending")] },
      `${IAM.slice(0, -3)}ECS`,
      "2024-07-19T07:00:00Z",
      "pending",
    ],
    [
      "a digest with a bad signature: the hour it covers",
      {
        digests: [
          {
            object: digestKey("2024-07-19T01-00-00Z"),
            status: "invalid-signature",
            chain: IAM,
            start: "2024-07-19T00:00:00Z",
            end: "2024-07-19T01:00:00Z",
          },
        ],
      },
      IAM,
      "2024-07-19T00:00:00Z",
      "digest-invalid",
    ],
    [
      "an unreadable digest: the hour before its name's time",
      { digests: [{ object: digestKey("2024-07-19T02-00-00Z"), status: "invalid-format", chain: IAM }] },
      IAM,
      "2024-07-19T01:00:00Z",
      "digest-invalid",
    ],
    [
      "a missing digest is a gap",
      { digests: [{ object: digestKey("2024-07-19T02-00-00Z"), status: "missing", chain: IAM }] },
      IAM,
      "2024-07-19T01:00:00Z",
      "gap",
    ],
    [
      "a gap of two hours: its first hour",
      { gaps: [{ chain: IAM, from: "2024-07-19T01:00:00Z", to: "2024-07-19T03:00:00Z" }] },
      IAM,
      "2024-07-19T01:00:00Z",
      "gap",
    ],
    [
      "a gap of two hours: its second hour",
      { gaps: [{ chain: IAM, from: "2024-07-19T01:00:00Z", to: "2024-07-19T03:00:00Z" }] },
      IAM,
      "2024-07-19T02:00:00Z",
      "gap",
    ],
    [
      "a gap without a start: the hour before its end",
      { gaps: [{ chain: IAM, from: "", to: "2024-07-19T03:00:00Z" }] },
      IAM,
      "2024-07-19T02:00:00Z",
      "gap",
    ],
    [
      "a modified file beside valid ones and a valid digest",
      {
        files: [
          file(traceKey("2024-07-19T00:10:00Z", "IAM", 1), "valid"),
          file(traceKey("2024-07-19T00:20:00Z", "IAM", 2), "modified"),
          file(traceKey("2024-07-19T00:30:00Z", "IAM", 3), "valid"),
        ],
        digests: [
          {
            object: digestKey("2024-07-19T01-00-00Z"),
            status: "valid",
            chain: IAM,
            start: "2024-07-19T00:00:00Z",
          },
        ],
      },
      IAM,
      "2024-07-19T00:00:00Z",
      "modified",
    ],
  ])("%s", async (_name, records, chain, hour, verdict) => {
    const { text, writer } = await page(records);
    const cell = writer.tally.chains.get(chain)?.get(hourOf(hour));
    expect(cell?.worst).toBe(verdict);
    // The page draws it so, in the chain's section.
    const stamp = hour.slice(0, 16).replace("T", " ");
    expect(text).toContain(`data-verdict="${verdict}" data-hour="${stamp}"`);
  });

  it("names the worst records of a full cell: a modified file among many valid ones is named", async () => {
    const files = Array.from({ length: 10 }, (_, i) =>
      file(traceKey(`2024-07-19T00:${String(10 + i)}:00Z`, "IAM", i), "valid"),
    );
    const bad = traceKey("2024-07-19T00:45:00Z", "IAM", 99);
    files.splice(6, 0, file(bad, "modified"));
    const { text, writer } = await page({ files });
    const cell = writer.tally.chains.get(IAM)!.get(hourOf("2024-07-19T00:00:00Z"))!;
    expect(cell.names).toHaveLength(DEFAULT_HTML_LIMITS.namesPerCell);
    expect(cell.names.map((n) => n.verdict)).toContain("modified");
    expect(cell.unnamed).toBe(11 - DEFAULT_HTML_LIMITS.namesPerCell);
    const name = bad.slice(bad.lastIndexOf("/") + 1);
    const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(text).toMatch(
      new RegExp(`<title>[^<]*\n1 modified, 10 valid\nmodified: ${quoted}\n[^<]*and 8 more</title>`),
    );
  });

  it("a month folds into one row per day: 30 rows of 24 cells, and the page says so", async () => {
    const files = Array.from({ length: 720 }, (_, h) =>
      file(
        traceKey(
          new Date(Date.parse("2024-06-01T00:10:00Z") + h * 3_600_000).toISOString().replace(".000Z", "Z"),
        ),
        "valid",
      ),
    );
    const { text } = await page({ files });
    const svg = /<svg class="calendar"[^>]*height="(\d+)"/.exec(text);
    expect(text.match(/<text class="day"/g)).toHaveLength(30);
    expect(text.match(/data-verdict="valid" data-hour=/g)).toHaveLength(720);
    expect(Number(svg?.[1])).toBeLessThan(30 * 30);
    expect(text).toContain("Folded by day: one row per chain and UTC day");
  });
});

/** A stream that counts bytes and keeps nothing. */
class Counter extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.bytes += chunk.length;
    done();
  }
}

async function bytesOfRun(
  records: number,
  problems: boolean,
  limits?: HtmlLimits,
): Promise<{ bytes: number; writer: HtmlWriter }> {
  const out = new Counter();
  const writer = new HtmlWriter(out, limits);
  await writer.begin(header);
  const base = Date.parse("2024-07-01T00:00:00Z");
  const services = ["IAM", "ECS", "OBS", "VPC"];
  for (let i = 0; i < records; i++) {
    // Spread over 4 chains and 48 hours whatever the number of records: the same picture, more objects.
    const at = new Date(base + (i % 48) * 3_600_000 + (i % 3600) * 1000).toISOString().replace(".000Z", "Z");
    const service = services[Math.floor(i / 48) % 4];
    const integrity = problems && i % 1000 === 7 ? "modified" : "valid";
    const status = !problems ? "scanned" : i % 500 === 3 ? "failed" : i % 700 === 5 ? "skipped" : "scanned";
    await writer.file(
      file(traceKey(at, service, i), integrity, {
        status,
        error: status === "failed" ? "read error" : "",
        reason: status === "skipped" ? "not IAM" : "",
      }),
    );
  }
  await writer.end(tail());
  return { bytes: out.bytes, writer };
}

describe("HtmlWriter keeps what the page needs, not every record", () => {
  it("fifty times the records in the same chain-hours: the same cells and names, a page of the same size", async () => {
    const small = await bytesOfRun(2_000, false);
    const large = await bytesOfRun(100_000, false);
    for (const run of [small, large]) expect(run.writer.tally.cellCount).toBe(4 * 48);
    for (const hours of large.writer.tally.chains.values())
      for (const cell of hours.values())
        expect(cell.names.length).toBeLessThanOrEqual(DEFAULT_HTML_LIMITS.namesPerCell);
    // Only the digits of the counts differ.
    expect(large.bytes / small.bytes).toBeLessThan(1.02);
  });

  it("failed, skipped and findings: every one counted, the first `listed` kept", async () => {
    const n = 100_000;
    const limits: HtmlLimits = { ...DEFAULT_HTML_LIMITS, listed: 50 };
    const { writer } = await bytesOfRun(n, true, limits);
    const t = writer.tally;
    let failed = 0;
    let skipped = 0;
    let modified = 0;
    for (let i = 0; i < n; i++) {
      if (i % 500 === 3) failed++;
      else if (i % 700 === 5) skipped++;
      if (i % 1000 === 7) modified++;
    }
    for (const [list, total] of [
      [t.failed, failed],
      [t.skipped, skipped],
      [t.findings, modified],
    ] as const) {
      expect(list.items).toHaveLength(50);
      expect(list.total).toBe(total);
    }
  });

  it("past the limits: cells past the cap are counted and said, fine names stop at their budget", async () => {
    const limits: HtmlLimits = { namesPerCell: 2, fineNameChars: 300, cells: 20, gapHours: 5, listed: 10 };
    const { writer } = await bytesOfRun(5_000, true, limits);
    const t = writer.tally;
    expect(t.cellCount).toBe(20);
    expect(t.undrawn).toBeGreaterThan(0);
    let fineChars = 0;
    let findingNames = 0;
    for (const hours of t.chains.values())
      for (const cell of hours.values())
        for (const n of cell.names) {
          if (n.verdict === "valid") fineChars += n.name.length;
          else findingNames++;
        }
    expect(fineChars).toBeLessThanOrEqual(300);
    // Names of findings do not count against the budget: every modified file of a drawn cell is named.
    expect(findingNames).toBeGreaterThan(0);
    const { text } = await page(
      async (w) => {
        await w.gap({ chain: IAM, from: "2024-07-01T00:00:00Z", to: "2024-08-01T00:00:00Z" });
        for (let h = 0; h < 30; h++)
          await w.file(
            file(
              traceKey(
                new Date(Date.parse("2024-09-01T00:00:00Z") + h * 3_600_000)
                  .toISOString()
                  .replace(".000Z", "Z"),
              ),
              "valid",
            ),
          );
      },
      tail(),
      limits,
    );
    expect(text.match(/data-verdict="gap" data-hour=/g)).toHaveLength(5);
    expect(text).toMatch(/\d+ records fell on chain-hours past the page's limit of 20 cells/);
  });
});

describe("alerts: rule, severity and enrichment are shown when present", () => {
  const rated = alert({
    rule: "brute-force",
    severity: "critical",
    country: "NL",
    asn: 64496,
    asOrg: "Example Transit",
    evidence: {
      count: 12,
      first: "2024-07-19T00:01:00.000Z",
      last: "2024-07-19T00:09:00.000Z",
      traceIds: [],
      users: ["alice"],
      sourceIps: ["203.0.113.7"],
    },
  });
  const bare = alert({
    traceId: "t2",
    sourceIp: "198.51.100.9",
    user: "bob",
    time: "2024-07-19T03:00:00.000Z",
  });
  const untimed = alert({ traceId: "t3", sourceIp: "198.51.100.10", time: "" });

  it.each<[string, RegExp]>([
    [
      "the lane of an address ends with its count, worst severity and rule",
      /203\.0\.113\.7<\/text><text class="lane-note"[^>]*>1 · critical · brute-force</,
    ],
    ["an alert without rule or severity shows its reason, unrated", />1 · unrated · not-allowlisted</],
    [
      "each dot's title names rule and severity",
      /<circle class="alert-dot" data-severity="critical"[^>]*><title>[^<]*brute-force · critical/,
    ],
    ["the table shows country, ASN and organisation", /<td>NL · AS64496 · Example Transit<\/td>/],
    [
      "the table's evidence column says what the window saw",
      /<th>evidence<\/th>[\s\S]*<td>12 failed logins of alice in 8 min, 00:01–00:09 UTC, from 203\.0\.113\.7<\/td>/,
    ],
    [
      "top countries, the most first, count the unknown",
      /<title>unknown: 2<\/title>[\s\S]*<title>NL: 1<\/title>/,
    ],
    ["top rules", /<title>brute-force: 1<\/title>/],
    [
      "an alert without a time is in the table and said under the timeline",
      /1 alerts without a time are in the table only/,
    ],
  ])("%s", async (_name, pattern) => {
    const { text } = await page({}, tail([rated, bare, untimed]));
    expect(text).toMatch(pattern);
    expect(text.match(/<tr class="alert"/g)).toHaveLength(3);
  });
});

describe("hostile text stays text", () => {
  const hostile = {
    user: `<script>alert(1)</script>`,
    domain: `"><img src=x onerror=alert(2)>`,
    sourceIp: `203.0.113.9\u202e<b>`,
    userAgent: `</td></tr></table><iframe src="https://evil.example/">`,
    asOrg: `'><svg onload=alert(3)>`,
    object: `CloudTraces/<style>*{display:none}</style>/x_CloudTrace_r_2024-07-19T00-14-12Z_01.json.gz`,
    error: "GET failed: Authorization: OBS AKIAEXAMPLE123:c2lnbmF0dXJlc2lnbmF0dXJlc2ln\nforged line",
  };

  it("no element, attribute or resource comes from a trace, a key or an error; secrets are redacted", async () => {
    const { text } = await page(
      {
        files: [
          file(hostile.object, "modified", { reason: hostile.userAgent }),
          file(traceKey("2024-07-19T00:14:12Z"), "valid", { status: "failed", error: hostile.error }),
          file(`CloudTraces/${hostile.domain}`, "unverified", {
            kind: "other",
            status: "skipped",
            reason: hostile.asOrg,
          }),
        ],
        digests: [
          {
            object: digestKey("2024-07-19T01-00-00Z"),
            status: "hash-mismatch",
            chain: IAM,
            reason: hostile.user,
          },
        ],
        gaps: [{ chain: `${IAM}<script>`, from: "", to: "2024-07-19T03:00:00Z", reason: hostile.domain }],
      },
      tail(
        [
          alert({
            user: hostile.user,
            domain: hostile.domain,
            sourceIp: hostile.sourceIp,
            userAgent: hostile.userAgent,
            asOrg: hostile.asOrg,
            country: `<i>`,
            object: hostile.object,
            rule: "ip-not-allowed",
            severity: "high",
          }),
          alert({
            traceId: "t2",
            user: hostile.asOrg,
            sourceIp: hostile.domain,
            evidence: {
              count: 2,
              first: "",
              last: "",
              traceIds: [],
              users: [hostile.user],
              sourceIps: [hostile.sourceIp],
            },
          }),
        ],
        {
          errors: [hostile.error],
          notifications: [
            { sink: "smn", parts: 0, messageIds: [], error: hostile.error, savedTo: hostile.object },
          ],
        },
      ),
    );
    // Every "<" but the doctype and end tags opens a whole tag of the strict shape we write: no text made one.
    const opens = [...text.matchAll(/<(?![/!])/g)].length;
    const tagList = [...text.matchAll(/<([a-z][a-z0-9]*)((?:\s+[a-z][a-z0-9-]*="[^"<>]*")*)\s*\/?>/gi)];
    expect(tagList).toHaveLength(opens);
    const attributes = new Set(
      tagList.flatMap((m) => [...m[2]!.matchAll(/\s([a-z][a-z0-9-]*)="/gi)].map((a) => a[1]!)),
    );
    expect([...attributes].filter((a) => /^on|^(src|href|xlink:href|action|formaction)$/i.test(a))).toEqual(
      [],
    );
    const tags = new Set(tagList.map((m) => m[1]!.toLowerCase()));
    const ours = [
      "html",
      "head",
      "meta",
      "title",
      "style",
      "body",
      "header",
      "h1",
      "h2",
      "h3",
      "p",
      "span",
      "b",
      "section",
      "dl",
      "dt",
      "dd",
      "br",
      "ul",
      "li",
      "svg",
      "rect",
      "text",
      "g",
      "line",
      "circle",
      "figure",
      "figcaption",
      "div",
      "table",
      "thead",
      "tbody",
      "tr",
      "th",
      "td",
      "footer",
    ];
    expect([...tags].filter((t) => !ours.includes(t))).toEqual([]);
    // One <style>, ours; no script at all; no attribute named on*.
    expect(text.match(/<style>/g)).toHaveLength(1);
    expect(text).not.toMatch(/<script/i);
    expect(text).not.toContain("\u202e");
    expect(text).toContain("203.0.113.9\\u202e&lt;b&gt;");
    expect(text).not.toContain("c2lnbmF0dXJlc2lnbmF0dXJlc2ln");
    expect(text).toContain(REDACTED);
    expect(text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The page cannot fetch anything: its policy forbids every source but inline styles.
    expect(text).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });
});

describe("--format html", () => {
  it("is a report format of the command line; stdout carries the page, so the digest goes nowhere by default", () => {
    const request = parseCli(["scan", "dir", "--format", "html"], {});
    expect(request.kind).toBe("run");
    if (request.kind !== "run") return;
    expect(request.config.format).toBe("html");
    expect(request.config.notify).toEqual({ kind: "none" });
    expect(() => parseCli(["scan", "dir", "--format", "html", "--notify", "stdout"], {})).toThrow(
      /--notify stdout: stdout carries the html report/,
    );
  });
});
