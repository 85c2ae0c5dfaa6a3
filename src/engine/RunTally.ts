import type { Alert } from "../detect/types.js";
import { isFileViolation } from "../integrity/failClosed.js";
import type { IntegrityFinding } from "../notify/buildDigest.js";
import type { DigestRecord, FileRecord, GapRecord, ReportSummary } from "../report/types.js";
import { alertKey } from "../state/alertKey.js";

/** What files count into a run's summary (see {@link RunTally.file}). */
export type FileCounts = Pick<
  ReportSummary,
  | "objects"
  | "traceFiles"
  | "digestFiles"
  | "traces"
  | "matched"
  | "failed"
  | "skipped"
  | "integrityViolations"
>;

const FILE_COUNTS = [
  "objects",
  "traceFiles",
  "digestFiles",
  "traces",
  "matched",
  "failed",
  "skipped",
  "integrityViolations",
] as const satisfies ReadonlyArray<keyof FileCounts>;

/**
 * What `records` add to a run's summary, and their integrity findings: counted once when a replayed unit is
 * stored, added by {@link RunTally.addFiles} when it is replayed.
 */
export function countFiles(records: Iterable<FileRecord>): {
  counts: FileCounts;
  findings: IntegrityFinding[];
} {
  const t = new RunTally();
  for (const r of records) t.file(r);
  const counts = {} as FileCounts;
  for (const k of FILE_COUNTS) counts[k] = t.summary[k];
  return { counts, findings: t.findings };
}

/**
 * What the run keeps of its records: the summary's counts, the integrity findings (for the digest) and the
 * alerts, deduped by trace. Everything else has gone to the report writer.
 */
export class RunTally {
  readonly summary: ReportSummary = {
    objects: 0,
    traceFiles: 0,
    digestFiles: 0,
    traces: 0,
    matched: 0,
    alerts: 0,
    suppressed: 0,
    failed: 0,
    skipped: 0,
    integrityViolations: 0,
    reused: 0,
  };
  readonly findings: IntegrityFinding[] = [];
  private readonly alertsByKey = new Map<string, Alert>();

  file(f: FileRecord): void {
    const s = this.summary;
    if (f.integrity !== "missing") s.objects++;
    if (f.kind === "trace" && f.integrity !== "missing") s.traceFiles++;
    if (f.kind === "digest") s.digestFiles++;
    s.traces += f.traces;
    s.matched += f.matched ?? 0;
    if (f.status === "failed" && f.integrity !== "missing") s.failed++;
    if (f.status === "skipped") s.skipped++;
    if (isFileViolation(f.integrity)) {
      s.integrityViolations++;
      this.findings.push({ object: f.object, verdict: `file ${f.integrity}`, detail: f.reason ?? f.error });
    }
  }

  /** Files counted by {@link countFiles} (a replayed unit's), as {@link file} would count them one by one. */
  addFiles(counts: FileCounts, findings: readonly IntegrityFinding[]): void {
    for (const k of FILE_COUNTS) this.summary[k] += counts[k];
    // One by one: spread into push, a unit of 150,000 violations would overflow the stack.
    for (const f of findings) this.findings.push(f);
  }

  digest(d: DigestRecord): void {
    if (d.status === "valid") return;
    this.summary.integrityViolations++;
    this.findings.push({ object: d.object, verdict: `digest ${d.status}`, detail: d.reason ?? "" });
  }

  /**
   * A gap is a violation (DESIGN "Fail closed"): a missing digest's hours, a truncated chain, nothing verified.
   * A chain's gap goes into the digest (a deleted digest is how tampering shows); "nothing verified" (chain "")
   * does not: a bucket whose tracker never had verification on would send it every run, and it is the report's
   * and the exit code's to say.
   */
  gap(g: GapRecord): void {
    this.summary.integrityViolations++;
    if (g.chain === "") return;
    this.findings.push({
      object: g.chain,
      verdict: "gap",
      detail: `${g.from} to ${g.to}${g.reason ? `: ${g.reason}` : ""}`,
    });
  }

  /**
   * Adds a file's alerts. CTS delivers at least once: a trace seen in two files is one alert (the first file's,
   * in listing order).
   */
  alerts(alerts: readonly Alert[]): void {
    for (const a of alerts) {
      const key = alertKey(a);
      if (!this.alertsByKey.has(key)) this.alertsByKey.set(key, a);
    }
  }

  /** Every alert, sorted by time, then trace id, then object. */
  sortedAlerts(): Alert[] {
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return [...this.alertsByKey.values()].sort(
      (a, b) => cmp(a.time, b.time) || cmp(a.traceId, b.traceId) || cmp(a.object, b.object),
    );
  }

  has(alert: Alert): boolean {
    return this.alertsByKey.has(alertKey(alert));
  }
}
