import type { Writable } from "node:stream";
import { describeEvidence } from "../detect/describeEvidence.js";
import { SEVERITY_ORDER } from "../detect/RulesConfig.js";
import type { Alert } from "../detect/types.js";
import { describePlace } from "../enrich/enrichAlerts.js";
import { isFileViolation } from "../integrity/failClosed.js";
import { safeLine } from "../safeText.js";
import { Bounded } from "./Bounded.js";
import { StreamOut } from "./StreamOut.js";
import type {
  DigestRecord,
  FileRecord,
  GapRecord,
  Report,
  ReportHeader,
  ReportTail,
  ReportWriter,
} from "./types.js";

// Object keys, reasons and errors come from the bucket and from servers: one line each, no secret, no escape code.
const safe = (text: string) => safeLine(text);

interface ChainTally {
  digests: number;
  valid: number;
  newestEnd: string | undefined;
}

/**
 * What the text report needs of a run, kept as records pass: counts per verdict and per chain, and the records
 * worth a line (problems, failures). A million valid files cost a few counters.
 */
export class TextTally {
  readonly verdicts = new Map<string, number>();
  readonly chains = new Map<string, ChainTally>();
  /** Lines of integrity findings: a run of a million missing files must not keep a million lines. */
  readonly problems = new Bounded<string>(MAX_LISTED);
  /** Runs that verified nothing (gaps of no one chain): said first, in one line each. */
  readonly notVerified: string[] = [];
  firstStart: string | undefined;
  lastEnd: string | undefined;
  readonly failed = new Bounded<FileRecord>(MAX_LISTED);
  digests = 0;
  validDigests = 0;
  pending = 0;
  unverified = 0;
  notStarted = 0;
  notStartedReason = "";

  file(f: FileRecord): void {
    if (f.kind === "trace") {
      this.verdicts.set(f.integrity, (this.verdicts.get(f.integrity) ?? 0) + 1);
      if (f.integrity === "pending") this.pending++;
      if (f.integrity === "unverified") this.unverified++;
    }
    if (isFileViolation(f.integrity)) {
      const why = f.reason || f.error;
      this.problems.add(
        `  Trace file   ${safe(f.object)}  INVALID: ${f.integrity}${why ? ` (${safe(why)})` : ""}`,
      );
    }
    if (f.status === "failed" && f.integrity !== "missing") this.failed.add(f);
    if (f.reason?.startsWith("not started")) {
      if (this.notStarted++ === 0) this.notStartedReason = f.reason;
    }
  }

  digest(d: DigestRecord): void {
    this.digests++;
    const chain = this.chains.get(d.chain) ?? { digests: 0, valid: 0, newestEnd: undefined };
    chain.digests++;
    if (d.status === "valid") {
      this.validDigests++;
      chain.valid++;
    } else {
      this.problems.add(
        `  Digest file  ${safe(d.object)}  INVALID: ${d.status}${d.reason ? ` (${safe(d.reason)})` : ""}`,
      );
    }
    if (d.end && (!chain.newestEnd || d.end > chain.newestEnd)) chain.newestEnd = d.end;
    if (d.start && (!this.firstStart || d.start < this.firstStart)) this.firstStart = d.start;
    if (d.end && (!this.lastEnd || d.end > this.lastEnd)) this.lastEnd = d.end;
    this.chains.set(d.chain, chain);
  }

  gap(g: GapRecord): void {
    if (g.chain === "") {
      this.notVerified.push(`  INTEGRITY NOT VERIFIED: ${safe(g.reason ?? "nothing verified")}`);
      return;
    }
    this.problems.add(
      `  Gap in ${safe(g.chain)}: ${g.from || "?"} to ${g.to}${g.reason ? ` (${safe(g.reason)})` : ""}`,
    );
  }

  /**
   * The report for a person. Like `aws cloudtrail validate-logs`, but it says more: per chain, counts, each
   * violation with its object and reason.
   */
  render(header: ReportHeader, tail: ReportTail): string {
    const s = tail.summary;
    const out: string[] = [];
    out.push(
      `cts-audit ${header.command}: ${s.objects} objects (${s.traceFiles} trace files, ${s.digestFiles} digest files), ` +
        `${s.traces} traces read, ${s.matched} audited, ${s.alerts} alerts` +
        (s.suppressed ? ` (${s.suppressed} already sent)` : "") +
        `, ${s.failed} failed, ${s.skipped} skipped`,
    );
    if (header.window.since || header.window.until) {
      out.push(`Window: ${header.window.since ?? "start"} to ${header.window.until ?? "now"}`);
    }
    if (header.verify !== "off") {
      // Like validate-logs: what was asked for, and what the digests found.
      out.push(
        `Results requested for ${header.window.since ?? "the oldest object"} to ${header.window.until ?? header.startedAt}`,
        this.firstStart && this.lastEnd
          ? `Results found for ${this.firstStart} to ${this.lastEnd}`
          : "Results found: no digest file",
      );
      out.push(
        `Integrity: ${this.validDigests}/${this.digests} digest files valid; trace files: ` +
          ([...this.verdicts.entries()].map(([k, v]) => `${v} ${k}`).join(", ") || "none"),
      );
      for (const chain of [...this.chains.keys()].sort()) {
        const c = this.chains.get(chain)!;
        out.push(
          `  chain ${safe(chain)}: ${c.digests} digests, ${c.valid} valid` +
            (c.newestEnd ? `, covering to ${c.newestEnd}` : ""),
        );
      }
      const problems = [...this.notVerified, ...this.problems.items];
      if (problems.length) out.push("Integrity findings:", ...problems);
      if (this.problems.more)
        out.push(
          `  ... and ${this.problems.more} more integrity findings: --format json or ndjson lists every record`,
        );
      if (this.pending)
        out.push(
          `  ${this.pending} trace files are pending: newer than every digest, verify again after the next digest lands`,
        );
      if (this.unverified && this.digests === 0) {
        out.push(
          '  No digest files found: is "Verify Trace File" enabled on the tracker? Trace files are unverified.',
        );
      }
    }
    if (this.failed.total) {
      out.push("Failed objects:");
      for (const f of this.failed.items) out.push(`  ${safe(f.object)}: ${safe(f.error)}`);
      if (this.failed.more)
        out.push(
          `  ... and ${this.failed.more} more failed objects: --format json or ndjson lists every one`,
        );
    }
    for (const n of tail.notifications) {
      out.push(
        n.error
          ? `Notification via ${n.sink}: ${safe(n.error)}${n.savedTo ? `; digest saved to ${safe(n.savedTo)}` : ""}`
          : `Notification via ${n.sink}: ${n.parts} part(s)${n.messageIds.length ? ` [${n.messageIds.join(", ")}]` : ""}`,
      );
    }
    for (const e of tail.errors) out.push(`Error: ${safe(e)}`);
    if (this.notStarted)
      out.push(
        `Interrupted: ${this.notStarted} objects not started (${safe(this.notStartedReason)}); run again to finish`,
      );
    if (header.command === "scan" && s.alerts === 0) out.push("No alerts.");
    else if (tail.alerts.length > 0) out.push(...alertLines(tail.alerts));
    out.push(...alertPlaces(tail.alerts));
    for (const d of header.geoData ?? []) out.push(`Data: ${safe(d.attribution)}; ${safe(d.source)}`);
    out.push(`Exit code ${tail.exitCode}`);
    return `${out.join("\n")}\n`;
  }
}

// Integrity findings and failed objects the text report lists, each; the rest are counted (--format json and
// ndjson list every record). As many as a person reads; a run's memory stays bounded whatever it finds.
const MAX_LISTED = 1000;

// Lines of alerts the text report prints; the rest are counted (every alert is in --format json/ndjson).
const MAX_ALERT_LINES = 500;

/**
 * The alerts, one line each, the highest severity first: the report lists them whatever the notification
 * (with `--notify none` it is the only place a person sees them).
 */
function alertLines(alerts: readonly Alert[]): string[] {
  const rank = (a: Alert) => SEVERITY_ORDER.indexOf(a.severity ?? "high");
  const sorted = [...alerts].sort(
    (a, b) => rank(b) - rank(a) || (a.time < b.time ? -1 : a.time > b.time ? 1 : 0),
  );
  const lines = sorted.slice(0, MAX_ALERT_LINES).map((a) => {
    const who = a.user ? `${a.user}${a.domain ? ` (${a.domain})` : ""}` : "(unknown user)";
    const context = [a.userType, a.mfa ? `login protection ${a.mfa}` : "", a.traceType].filter(Boolean);
    return safe(
      `  [${a.severity ?? "high"}] ${a.rule ?? "ip-not-allowed"}  ${a.time || "time unknown"}  ${a.traceName}  ${who}  ` +
        `${a.sourceIp || "(no source IP)"}  ${describeEvidence(a) ?? a.reason}${context.length ? `  ${context.join(", ")}` : ""}` +
        (a.suppressed ? "  (already sent)" : ""),
    );
  });
  if (sorted.length > MAX_ALERT_LINES)
    lines.push(`  ... and ${sorted.length - MAX_ALERT_LINES} more: --format json lists every alert`);
  return ["Alerts:", ...lines];
}

const MAX_PLACES = 20;

/** Where the alerts' addresses are (country, network), most alerts first: a line per address, bounded. */
function alertPlaces(alerts: ReportTail["alerts"]): string[] {
  const byIp = new Map<string, { place: string; count: number }>();
  for (const a of alerts) {
    const place = describePlace(a);
    if (!place) continue;
    const e = byIp.get(a.sourceIp) ?? { place, count: 0 };
    e.count++;
    byIp.set(a.sourceIp, e);
  }
  if (byIp.size === 0) return [];
  const rows = [...byIp].sort((x, y) => y[1].count - x[1].count || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const out = ["Alert addresses:"];
  for (const [ip, e] of rows.slice(0, MAX_PLACES))
    out.push(
      `  ${safe(ip || "(no source IP)")}  ${safe(e.place)} (${e.count} alert${e.count === 1 ? "" : "s"})`,
    );
  if (rows.length > MAX_PLACES)
    out.push(`  (+${rows.length - MAX_PLACES} more addresses: see --format json)`);
  return out;
}

/** The text report (`--format text`), written once the run is over from what the tally kept. */
export class TextWriter implements ReportWriter {
  private readonly out: StreamOut;
  private readonly tally = new TextTally();
  private header: ReportHeader | undefined;

  constructor(stream: Writable) {
    this.out = new StreamOut(stream);
  }

  async begin(header: ReportHeader): Promise<void> {
    this.header = header;
  }
  async file(record: FileRecord): Promise<void> {
    this.tally.file(record);
  }
  async digest(record: DigestRecord): Promise<void> {
    this.tally.digest(record);
  }
  async gap(record: GapRecord): Promise<void> {
    this.tally.gap(record);
  }
  async end(tail: ReportTail): Promise<void> {
    if (!this.header) throw new Error("TextWriter: begin() was not called");
    await this.out.write(this.tally.render(this.header, tail));
    await this.out.flush();
  }
}

/** The text report of a whole report held in memory. */
export function formatText(report: Report): string {
  const tally = new TextTally();
  for (const f of report.files) tally.file(f);
  for (const d of report.digests) tally.digest(d);
  for (const g of report.gaps) tally.gap(g);
  return tally.render(report, report);
}
