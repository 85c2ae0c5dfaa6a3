import pLimit from "p-limit";
import type { Config } from "./config.js";
import { parseObjectKey, type CtsObjectKey } from "./cts/objectKey.js";
import { AuditRules } from "./detect/AuditRules.js";
import type { Alert, FileIntegrity } from "./detect/types.js";
import { describeError, NotifyError } from "./errors.js";
import { backoffDelay, DEFAULT_RETRY } from "./retry.js";
import { DigestChains } from "./integrity/DigestChains.js";
import { readDigest } from "./integrity/readDigest.js";
import type { DigestRead } from "./integrity/types.js";
import { buildDigest, SMN_LIMITS, type DigestLimits, type IntegrityFinding } from "./notify/buildDigest.js";
import type { AlertDigest, Notifier } from "./notify/types.js";
import { readTraceFile } from "./parse/readTraceFile.js";
import type { ReadTraceResult } from "./parse/types.js";
import type { FileRecord, NotificationRecord, Report } from "./report/types.js";
import { parseObsUrl } from "./sources/obsUrl.js";
import type { ObjectSource, SourceObject } from "./sources/types.js";

export type { Config } from "./config.js";
export type { Report } from "./report/types.js";

/** Adapters the engine runs with. Entry points build them; tests pass real ones or in-memory ones. */
export interface RunDeps {
  /** One per `<source>`, in the order given. */
  sources: ObjectSource[];
  /** Where the alert digest goes; undefined for `--notify none`. */
  notifier?: Notifier;
  /** Now, for the report's times. */
  clock?: () => Date;
  /** Size limits for the digest's parts (the notifier's). */
  digestLimits?: DigestLimits;
  /** Decompressed size up to which a trace file is parsed in one piece (fast path); larger ones stream. */
  bufferLimit?: number;
  /** Keeps a digest that could not be sent; returns where (a file path or a state key). */
  saveUnsent?: (digest: AlertDigest) => Promise<string>;
  /** Warnings for a person (stderr on the command line, the log in the function). */
  warn?: (message: string) => void;
}

const DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024;
// A trace reaches OBS minutes after it happened: files uploaded up to this long after --until may still hold it.
const UPLOAD_GRACE_MS = 60 * 60 * 1000;
const MD5_HEX = /^[0-9a-f]{32}$/;

/** How the run treats one listed object. */
type Plan =
  | { action: "parse" }
  | { action: "hash"; reason: string }
  | { action: "digest" }
  | { action: "skip"; reason: string };

interface Slot {
  object: SourceObject;
  key: CtsObjectKey;
  plan: Plan;
  record: FileRecord;
  alerts: Alert[];
  hashes?: Record<string, string>;
}

function sortKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The engine: plan -> read -> verify -> parse -> detect -> notify -> report. Every listed object appears in the
 * report exactly once; per-object failures are data in the report, never exceptions. Throws only when a source
 * cannot be listed at all.
 */
export async function run(config: Config, deps: RunDeps): Promise<Report> {
  const clock = deps.clock ?? (() => new Date());
  const startedAt = clock();
  const rules = new AuditRules(config.events, config.allowList, { since: config.since, until: config.until });
  const limit = pLimit(config.concurrency);
  const verifyOn = config.verify !== "off";
  const report: Report = {
    version: 1,
    command: config.command,
    sources: deps.sources.map((s) => s.name),
    startedAt: startedAt.toISOString(),
    finishedAt: "",
    window: { since: config.since?.toISOString(), until: config.until?.toISOString() },
    verify: config.verify,
    summary: {
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
    },
    alerts: [],
    files: [],
    digests: [],
    gaps: [],
    notifications: [],
    exitCode: 0,
  };

  const inWindow = (time: Date | undefined, graceAfter: number): boolean => {
    if (!time) return true;
    if (config.since && time.getTime() < config.since.getTime()) return false;
    if (config.until && time.getTime() > config.until.getTime() + graceAfter) return false;
    return true;
  };

  const plan = (object: SourceObject, key: CtsObjectKey): Plan => {
    if (object.explicit)
      return config.command === "verify" ? { action: "hash", reason: "" } : { action: "parse" };
    if (key.kind === "other") return { action: "skip", reason: key.reason };
    if (key.kind === "digest") {
      if (!verifyOn) return { action: "skip", reason: "integrity verification is off (--verify off)" };
      // A digest is needed if the hour it covers (up to an hour before its upload) touches the window.
      if (
        !inWindow(key.uploadTime, 2 * UPLOAD_GRACE_MS) ||
        (config.since &&
          key.uploadTime &&
          key.uploadTime.getTime() + UPLOAD_GRACE_MS < config.since.getTime())
      ) {
        return { action: "skip", reason: "digest outside the --since/--until window" };
      }
      return { action: "digest" };
    }
    if (!inWindow(key.uploadTime, UPLOAD_GRACE_MS))
      return { action: "skip", reason: "uploaded outside the --since/--until window" };
    if (config.command === "verify") return { action: "hash", reason: "verify reads no traces" };
    if (key.service !== "" && key.service.toUpperCase() !== "IAM") {
      return { action: "hash", reason: `service folder ${key.service} holds no IAM traces` };
    }
    return { action: "parse" };
  };

  for (const source of deps.sources) {
    const slots: Slot[] = [];
    for await (const object of source.list()) {
      const key = parseObjectKey(object.key);
      const p = plan(object, key);
      const kind = object.explicit ? "trace" : key.kind;
      slots.push({
        object,
        key,
        plan: p,
        alerts: [],
        record: {
          object: object.key,
          kind,
          status: p.action === "skip" ? "skipped" : "scanned",
          traces: 0,
          integrity: "unverified",
          error: "",
          ...(p.action === "skip" || (p.action === "hash" && p.reason) ? { reason: p.reason } : {}),
          bytes: object.size,
        },
      });
    }

    // Digests first: they are small, and they say which hash each trace file needs.
    const digestReads: DigestRead[] = await Promise.all(
      slots.filter((s) => s.plan.action === "digest").map((s) => limit(() => readDigest(source, s.key))),
    );
    const slotOf = new Map(slots.map((s) => [s.object.key, s]));
    for (const read of digestReads) {
      const slot = slotOf.get(read.key.key)!;
      slot.hashes = read.md5 ? { md5: read.md5 } : undefined;
      if (read.md5) slot.record.md5 = read.md5;
      if (read.readFailed) {
        slot.record.status = "failed";
        slot.record.error = read.problem ?? "digest could not be read";
      }
    }
    const prefix = sourcePrefix(source);
    const chains = verifyOn
      ? new DigestChains(
          digestReads,
          config.publicKey,
          (key, time) => key.startsWith(prefix) && inWindow(time, UPLOAD_GRACE_MS),
        )
      : undefined;

    await Promise.all(
      slots.map((slot) => {
        if (slot.plan.action === "parse")
          return limit(() => scanFile(source, slot, chains, rules, config, deps));
        if (slot.plan.action === "hash" && verifyOn && slot.object.explicit !== true) {
          return limit(() => hashFile(source, slot, chains!, config));
        }
        if (slot.plan.action === "hash") {
          slot.record.status = "skipped";
        }
        return undefined;
      }),
    );

    // Integrity verdicts, now that every hash is known.
    const digestStatus = new Map((chains?.digests ?? []).map((d) => [d.object, d]));
    for (const slot of slots) {
      if (slot.record.kind === "digest") {
        const d = digestStatus.get(slot.object.key);
        slot.record.integrity = d?.status === "valid" ? "valid" : "unverified";
        if (d && d.status !== "valid" && slot.record.status !== "failed")
          slot.record.reason = `${d.status}: ${d.reason ?? ""}`;
      } else if (
        slot.record.kind === "trace" &&
        chains &&
        (slot.record.status !== "skipped" || slot.hashes)
      ) {
        const v = chains.verdict(slot.key, slot.hashes);
        slot.record.integrity = v.integrity;
        if (v.digest) slot.record.digest = v.digest;
        if (v.integrity !== "valid" && v.detail) {
          slot.record.reason = slot.record.reason ? `${slot.record.reason}; ${v.detail}` : v.detail;
        }
      }
      for (const alert of slot.alerts) alert.integrity = slot.record.integrity;
    }

    for (const slot of slots) {
      report.files.push(slot.record);
      report.alerts.push(...slot.alerts);
    }
    if (chains) {
      const present = new Set(slots.map((s) => s.object.key));
      for (const m of chains.missing(present)) {
        report.files.push({
          object: m.object,
          kind: "trace",
          status: "failed",
          traces: 0,
          integrity: "missing",
          error: `listed in digest ${m.digest} but not found`,
          digest: m.digest,
        });
      }
      report.digests.push(...chains.digests);
      report.gaps.push(...chains.gaps);
    }
    report.summary.objects += slots.length;
  }

  report.alerts.sort(
    (a, b) => sortKey(a.time, b.time) || sortKey(a.traceId, b.traceId) || sortKey(a.object, b.object),
  );
  finishSummary(report);

  if (config.command === "scan") {
    const findings = integrityFindings(report);
    const windowText = [report.window.since, report.window.until].some(Boolean)
      ? `${report.window.since ?? "start"} to ${report.window.until ?? "now"}`
      : undefined;
    const digest = buildDigest(
      report.alerts,
      findings,
      { sources: report.sources, window: windowText },
      deps.digestLimits ?? SMN_LIMITS,
    );
    if (digest && deps.notifier) {
      report.notifications.push(await notify(deps.notifier, digest, config, deps));
    }
  }
  report.exitCode = exitCode(report, config);
  report.finishedAt = clock().toISOString();
  return report;
}

function sourcePrefix(source: ObjectSource): string {
  return parseObsUrl(source.name)?.prefix ?? "";
}

// A stream that breaks mid-object (connection reset) is read again from the start, this many times in all.
const READ_ATTEMPTS = 3;

async function scanFile(
  source: ObjectSource,
  slot: Slot,
  chains: DigestChains | undefined,
  rules: AuditRules,
  config: Config,
  deps: RunDeps,
): Promise<void> {
  const record = slot.record;
  let result: ReadTraceResult | undefined;
  let matched = 0;
  for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
    // Each attempt starts clean: an alert read before a reset is read again, never counted twice.
    slot.alerts = [];
    matched = 0;
    try {
      const stream = await source.open(slot.object.key);
      result = await readTraceFile(stream, {
        hashAlgorithms: chains ? chains.algorithmsFor(slot.object.key) : ["md5"],
        maxDecompressedBytes: config.maxDecompressedBytes,
        bufferLimit: deps.bufferLimit ?? DEFAULT_BUFFER_LIMIT,
        onTrace: (raw) => {
          const outcome = rules.audit(raw);
          if (!outcome.matched) return;
          matched++;
          if (outcome.alert) {
            slot.alerts.push({
              ...outcome.alert,
              region: typeof raw.region === "string" ? raw.region : slot.key.region,
              object: slot.object.key,
              integrity: "unverified",
            });
          }
        },
      });
    } catch (err) {
      record.status = "failed";
      record.error = describeError(err);
      return;
    }
    if (result.error?.code !== "READ" || attempt === READ_ATTEMPTS) break;
    deps.warn?.(`${slot.object.key}: ${result.error.message}; reading it again (attempt ${attempt + 1})`);
    await new Promise((resolve) => setTimeout(resolve, backoffDelay(DEFAULT_RETRY, attempt)));
  }
  if (!result) return;
  record.traces = result.traces;
  record.matched = matched;
  record.bytes = result.bytes;
  slot.hashes = result.hashes;
  if (result.hashes.md5) record.md5 = result.hashes.md5;
  if (result.error) {
    record.status = "failed";
    record.error = `${result.error.message}${result.traces > 0 ? ` (after ${result.traces} traces)` : ""}`;
    for (const alert of slot.alerts) alert.fileError = record.error;
  }
  // OBS's ETag of a non-multipart object is the MD5 of its bytes: a mismatch means the bytes changed in transit.
  const etag = slot.object.etag;
  if (!result.error && etag && MD5_HEX.test(etag) && result.hashes.md5 && etag !== result.hashes.md5) {
    record.status = "failed";
    record.error = `downloaded bytes have MD5 ${result.hashes.md5} but the listing's ETag is ${etag}: read again`;
  }
}

async function hashFile(
  source: ObjectSource,
  slot: Slot,
  chains: DigestChains,
  config: Config,
): Promise<void> {
  const algorithms = chains.algorithmsFor(slot.object.key);
  const etag = slot.object.etag?.toLowerCase();
  // The listing's ETag is the MD5 of a non-multipart object: no download needed (reference §3.5).
  if (etag && MD5_HEX.test(etag) && algorithms.length === 1) {
    slot.hashes = { md5: etag };
    slot.record.md5 = etag;
    slot.record.status = "skipped";
    return;
  }
  try {
    const stream = await source.open(slot.object.key);
    const result = await readTraceFile(stream, {
      hashAlgorithms: algorithms,
      maxDecompressedBytes: config.maxDecompressedBytes,
      bufferLimit: 0,
      onTrace: () => undefined,
    });
    slot.hashes = result.hashes;
    if (result.hashes.md5) slot.record.md5 = result.hashes.md5;
    slot.record.status = "skipped";
    if (Object.keys(result.hashes).length === 0) {
      slot.record.status = "failed";
      slot.record.error = result.error?.message ?? "could not be read";
    }
  } catch (err) {
    slot.record.status = "failed";
    slot.record.error = describeError(err);
  }
}

function integrityFindings(report: Report): IntegrityFinding[] {
  const findings: IntegrityFinding[] = [];
  for (const d of report.digests) {
    if (d.status !== "valid")
      findings.push({ object: d.object, verdict: `digest ${d.status}`, detail: d.reason ?? "" });
  }
  for (const f of report.files) {
    if (isViolation(f.integrity))
      findings.push({ object: f.object, verdict: `file ${f.integrity}`, detail: f.reason ?? f.error });
  }
  return findings;
}

function isViolation(integrity: FileIntegrity): boolean {
  return integrity === "modified" || integrity === "missing" || integrity === "unlisted";
}

function finishSummary(report: Report): void {
  const s = report.summary;
  s.traceFiles = report.files.filter((f) => f.kind === "trace" && f.integrity !== "missing").length;
  s.digestFiles = report.files.filter((f) => f.kind === "digest").length;
  s.traces = report.files.reduce((n, f) => n + f.traces, 0);
  s.matched = report.files.reduce((n, f) => n + (f.matched ?? 0), 0);
  s.alerts = report.alerts.length;
  s.failed = report.files.filter((f) => f.status === "failed" && f.integrity !== "missing").length;
  s.skipped = report.files.filter((f) => f.status === "skipped").length;
  s.integrityViolations =
    report.digests.filter((d) => d.status !== "valid").length +
    report.files.filter((f) => isViolation(f.integrity)).length;
}

async function notify(
  notifier: Notifier,
  digest: AlertDigest,
  config: Config,
  deps: RunDeps,
): Promise<NotificationRecord> {
  if (config.dryRun)
    return { sink: notifier.sink, parts: digest.parts.length, messageIds: [], error: "dry run: not sent" };
  try {
    return await notifier.send(digest);
  } catch (err) {
    const message =
      err instanceof NotifyError ? describeError(err) : `notification failed: ${describeError(err)}`;
    const record: NotificationRecord = {
      sink: notifier.sink,
      parts: digest.parts.length,
      messageIds: [],
      error: message,
    };
    // Nothing is lost: the digest that could not be sent is kept where the next run (or a person) finds it.
    if (deps.saveUnsent) {
      try {
        record.savedTo = await deps.saveUnsent(digest);
      } catch (saveErr) {
        record.error = `${message}; saving the digest failed too: ${describeError(saveErr)}`;
      }
    }
    deps.warn?.(`${record.error}${record.savedTo ? `; digest saved to ${record.savedTo}` : ""}`);
    return record;
  }
}

function exitCode(report: Report, config: Config): 0 | 1 | 3 {
  if (config.verify === "require" && report.summary.integrityViolations > 0) return 3;
  const notifyFailed = report.notifications.some((n) => n.error && !config.dryRun);
  if (report.summary.failed > 0 || notifyFailed) return 1;
  return 0;
}
