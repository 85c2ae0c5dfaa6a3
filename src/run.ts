import type { Config } from "./config.js";
import { parseObjectKey, type CtsObjectKey } from "./cts/objectKey.js";
import { AuditRules } from "./detect/AuditRules.js";
import { TimeWindow } from "./detect/TimeWindow.js";
import type { FileIntegrity } from "./detect/types.js";
import { describeError, NotifyError } from "./errors.js";
import { DigestChains } from "./integrity/DigestChains.js";
import {
  integrityViolations,
  mergeChainSummaries,
  nothingVerified,
  truncatedChains,
  type ChainSummaries,
} from "./integrity/failClosed.js";
import { readDigest } from "./integrity/readDigest.js";
import type { DigestRead } from "./integrity/types.js";
import { buildDigest, SMN_LIMITS, type DigestLimits, type IntegrityFinding } from "./notify/buildDigest.js";
import type { AlertDigest, Notifier } from "./notify/types.js";
import type { NotificationRecord, Report } from "./report/types.js";
import { hashFile, scanFile, type ScanContext, type Slot } from "./scanObject.js";
import { parseObsUrl } from "./sources/obsUrl.js";
import type { ObjectSource, SourceObject } from "./sources/types.js";
import { alertKey } from "./state/alertKey.js";
import type { StateStore } from "./state/types.js";

export type { Config } from "./config.js";
export type { Report } from "./report/types.js";

/** Progress of a run, for a progress bar. */
export interface Progress {
  objectsDone: number;
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  alerts: number;
}

/** Adapters the engine runs with. Entry points build them; tests pass real ones or in-memory ones. */
export interface RunDeps {
  /** One per `<source>`, in the order given. */
  sources: ObjectSource[];
  /** Where the alert digest goes; undefined for `--notify none`. */
  notifier?: Notifier;
  /** The ledger for dedupe and resume; undefined for a stateless run. */
  state?: StateStore;
  /** Now, for the report's times. */
  clock?: () => Date;
  /** Size limits for the digest's parts (the notifier's). */
  digestLimits?: DigestLimits;
  /** Decompressed size up to which a trace file is parsed in one piece (fast path); larger ones stream. */
  bufferLimit?: number;
  /** Keeps a digest that could not be sent; returns where (a file path). */
  saveUnsent?: (digest: AlertDigest) => Promise<string>;
  /** Warnings for a person (stderr on the command line, the log in the function). */
  warn?: (message: string) => void;
  /** Called as objects complete. */
  onProgress?: (progress: Progress) => void;
  /**
   * Asked before each object starts: true stops the run from starting more (time running out in the function,
   * SIGINT/SIGTERM on the command line). What did not start is reported as skipped, with the reason.
   */
  shouldStop?: () => string | undefined;
}

const DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024;
// A trace reaches OBS minutes after it happened: files uploaded up to this long after --until may still hold it.
const UPLOAD_GRACE_MS = 60 * 60 * 1000;
// How often completed objects are made durable during a long run: a crash loses at most this much work.
const FLUSH_INTERVAL_MS = 1000;

/** How the run treats one listed object. */
type Plan =
  | { action: "parse" }
  | { action: "hash"; reason: string }
  | { action: "digest" }
  | { action: "skip"; reason: string };

function sortKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A cheap identity of an object's content: the ETag when the store has one, else size and modification time. */
function fingerprint(object: SourceObject): string {
  return object.etag ?? `${object.size}:${object.lastModified?.getTime() ?? 0}`;
}

/**
 * The engine: plan -> read -> verify -> parse -> detect -> notify -> report. Every listed object appears in the
 * report exactly once; per-object failures are data in the report, never exceptions. Throws only when a source
 * cannot be listed or the state store cannot be opened.
 */
export async function run(config: Config, deps: RunDeps): Promise<Report> {
  const clock = deps.clock ?? (() => new Date());
  const startedAt = clock();
  const rules = new AuditRules(config.events, config.allowList);
  const window = new TimeWindow(config.since, config.until);
  const verifyOn = config.verify !== "off";
  // A dry run writes no state; it still reads it, to show what would be suppressed.
  const state = deps.state;
  const writeState = state !== undefined && !config.dryRun;
  if (state) await state.open();
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
      reused: 0,
    },
    alerts: [],
    files: [],
    digests: [],
    gaps: [],
    notifications: [],
    errors: [],
    exitCode: 0,
  };

  const inWindow = (time: Date | undefined, graceAfter: number): boolean => {
    if (!time) return true;
    if (config.since && time.getTime() < config.since.getTime()) return false;
    if (config.until && time.getTime() > config.until.getTime() + graceAfter) return false;
    return true;
  };

  const plan = (object: SourceObject, key: CtsObjectKey): Plan => {
    // A digest named alone is verified as a digest; any other file named alone is read as a trace file.
    if (object.explicit && key.kind !== "digest")
      return config.command === "verify" ? { action: "hash", reason: "" } : { action: "parse" };
    if (key.kind === "other") return { action: "skip", reason: key.reason };
    if (key.kind === "digest") {
      if (!verifyOn) return { action: "skip", reason: "integrity verification is off (--verify off)" };
      // A digest is needed when the hour it covers (the hour before its upload) touches the window.
      const up = key.uploadTime?.getTime();
      if (
        up !== undefined &&
        ((config.since && up + UPLOAD_GRACE_MS < config.since.getTime()) ||
          !inWindow(key.uploadTime, 2 * UPLOAD_GRACE_MS))
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

  // Durable progress: completed objects are flushed at most every second, one flush at a time.
  let lastFlush = Date.now();
  let flushing: Promise<void> = Promise.resolve();
  const maybeFlush = () => {
    if (!writeState || Date.now() - lastFlush < FLUSH_INTERVAL_MS) return flushing;
    lastFlush = Date.now();
    flushing = flushing.then(() => stateTry("saving progress", undefined, () => state.flush()));
    return flushing;
  };

  // A state store that fails mid-run does not stop the run: the report says so and the exit code is 1. Writes
  // that fail only weaken dedupe and resume (the next run may read an object again, or send an alert again).
  const stateFailed = (what: string, err: unknown) => {
    const message = `state store ${state?.location}: ${what} failed: ${describeError(err)}`;
    if (!report.errors.includes(message)) report.errors.push(message);
    deps.warn?.(message);
  };
  const stateTry = async <T>(what: string, fallback: T, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      stateFailed(what, err);
      return fallback;
    }
  };

  const chainSummaries: ChainSummaries = new Map();
  const allSlots: Slot[][] = [];
  const plans = new Map<Slot, Plan>();
  for (const source of deps.sources) {
    const slots: Slot[] = [];
    for await (const object of source.list()) {
      const key = parseObjectKey(object.key);
      const p = plan(object, key);
      const slot: Slot = {
        object,
        key,
        allAlerts: [],
        matchedTimes: [],
        alerts: [],
        record: {
          object: object.key,
          kind: object.explicit && key.kind !== "digest" ? "trace" : key.kind,
          status: p.action === "skip" ? "skipped" : "scanned",
          traces: 0,
          integrity: "unverified",
          error: "",
          ...(p.action === "skip" || (p.action === "hash" && p.reason) ? { reason: p.reason } : {}),
          bytes: object.size,
        },
      };
      plans.set(slot, p);
      slots.push(slot);
    }
    allSlots.push(slots);
  }
  const work = allSlots.flat().filter((s) => plans.get(s)!.action !== "skip");
  const progress: Progress = {
    objectsDone: 0,
    objectsTotal: work.length,
    bytesDone: 0,
    bytesTotal: work.reduce((n, s) => n + s.object.size, 0),
    alerts: 0,
  };
  const done = (slot: Slot) => {
    progress.objectsDone++;
    progress.bytesDone += slot.object.size;
    progress.alerts += slot.alerts.length;
    deps.onProgress?.({ ...progress });
  };

  for (const [index, source] of deps.sources.entries()) {
    const slots = allSlots[index]!;
    const slotOf = new Map(slots.map((s) => [s.object.key, s]));

    // Digests first: they are small, and they say which hash each trace file needs.
    const digestSlots = slots.filter((s) => plans.get(s)!.action === "digest");
    const digestReads: DigestRead[] = new Array<DigestRead>(digestSlots.length);
    await eachLimited(digestSlots.length, config.concurrency, async (i) => {
      const s = digestSlots[i]!;
      digestReads[i] = await readDigest(source, s.key, s.object.explicit);
      done(s);
    });
    for (const read of digestReads) {
      const slot = slotOf.get(read.key.key)!;
      slot.hashes = read.md5 ? { md5: read.md5 } : undefined;
      if (read.md5) slot.record.md5 = read.md5;
      if (read.readFailed) {
        slot.record.status = "failed";
        slot.record.error = read.problem ?? "digest could not be read";
      }
    }
    const prefix = parseObsUrl(source.name)?.prefix ?? "";
    const chains = verifyOn
      ? new DigestChains(
          digestReads,
          config.publicKey,
          (key, time) => key.startsWith(prefix) && inWindow(time, UPLOAD_GRACE_MS),
          { now: startedAt, bucket: source.bucket },
        )
      : undefined;

    const ctx: ScanContext = {
      source,
      chains,
      rules,
      config,
      bufferLimit: deps.bufferLimit ?? DEFAULT_BUFFER_LIMIT,
      warn: deps.warn,
    };
    const fileSlots = slots.filter((s) => {
      const action = plans.get(s)!.action;
      return action === "parse" || action === "hash";
    });
    await eachLimited(fileSlots.length, config.concurrency, async (i) => {
      const slot = fileSlots[i]!;
      const p = plans.get(slot)!;
      const stop = deps.shouldStop?.();
      if (stop) {
        slot.record.status = "skipped";
        slot.record.reason = `not started: ${stop}`;
        return;
      }
      const fp = state ? fingerprint(slot.object) : "";
      const stored = state
        ? await stateTry("reading", undefined, () => state.getObject(slot.object.key, fp))
        : undefined;
      const kept = stored?.rules === rules.id ? stored : undefined;
      if (kept) {
        // Done by an earlier run under the same rules: its outcome stands, the object is not read again.
        slot.record = { ...kept.record };
        slot.allAlerts = kept.alerts.map((a) => ({ ...a }));
        slot.matchedTimes = kept.matchedTimes;
        slot.hashes = kept.hashes;
        report.summary.reused++;
      } else if (p.action === "parse") await scanFile(slot, ctx);
      else if (chains && !slot.object.explicit) await hashFile(slot, { ...ctx, chains });
      else slot.record.status = "skipped";
      if (!kept && writeState && slot.record.status !== "failed") {
        const outcome = {
          fingerprint: fp,
          rules: rules.id,
          record: { ...slot.record },
          alerts: slot.allAlerts,
          matchedTimes: slot.matchedTimes,
          hashes: slot.hashes,
          at: clock().toISOString(),
        };
        await stateTry("recording a completed object", undefined, () =>
          state.putObject(slot.object.key, outcome),
        );
      }
      // The window applies to trace times, here, so that stored outcomes serve any window.
      slot.alerts = slot.allAlerts.filter((a) => window.contains(a.time ? Date.parse(a.time) : undefined));
      if (p.action === "parse")
        slot.record.matched = slot.matchedTimes.filter((t) => window.contains(t ?? undefined)).length;
      done(slot);
      await maybeFlush();
    });

    // Integrity verdicts, now that every hash is known.
    const digestStatus = new Map((chains?.digests ?? []).map((d) => [d.object, d]));
    for (const slot of slots) {
      const record = slot.record;
      if (record.kind === "digest") {
        const d = digestStatus.get(slot.object.key);
        record.integrity = d?.status === "valid" ? "valid" : "unverified";
        if (d && d.status !== "valid" && record.status !== "failed")
          record.reason = `${d.status}: ${d.reason ?? ""}`;
      } else if (record.kind === "trace" && chains && (record.status !== "skipped" || slot.hashes)) {
        const v = chains.verdict(slot.key, slot.hashes);
        // The function sees one new object: with no digest of its chain in view, the digest is still to come.
        record.integrity =
          v.integrity === "unverified" && source.partial && !v.digest ? "pending" : v.integrity;
        if (v.digest) record.digest = v.digest;
        if (record.integrity !== "valid" && v.detail && record.integrity !== "pending") {
          record.reason =
            record.reason && !record.reason.includes(v.detail) ? `${record.reason}; ${v.detail}` : v.detail;
        }
      }
      for (const alert of slot.alerts) alert.integrity = record.integrity;
    }

    if (chains) mergeChainSummaries(chainSummaries, chains.summary());
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
  await flushing;
  if (verifyOn) {
    // Fail closed: judged over the whole run, from the chains' summaries.
    const partial = deps.sources.every((s) => s.partial);
    report.gaps.push(...truncatedChains(chainSummaries, { partial }));
    const none = nothingVerified(chainSummaries, {
      partial,
      since: config.since,
      until: config.until,
    });
    if (none) report.gaps.push(none);
  }

  // Alerts found by earlier runs whose digest was never sent go out with this one.
  const pending = state ? await stateTry("reading pending alerts", [], () => state.pending()) : [];
  const seen = new Set(report.alerts.map(alertKey));
  for (const a of pending) if (!seen.has(alertKey(a))) report.alerts.push({ ...a, pending: true });
  report.alerts.sort(
    (a, b) => sortKey(a.time, b.time) || sortKey(a.traceId, b.traceId) || sortKey(a.object, b.object),
  );

  // Dedupe: what an earlier run already sent is reported, marked, and not sent again.
  const findings = integrityFindings(report);
  const findingKey = (f: IntegrityFinding) => `integrity:${f.verdict}:${f.object}:${f.detail}`;
  let ledgerUnreadable = false;
  let sentBefore = new Set<string>();
  if (state) {
    try {
      sentBefore = await state.alerted([...report.alerts.map(alertKey), ...findings.map(findingKey)]);
    } catch (err) {
      // Without the ledger nothing can be known to be new: sending could repeat what went out before. The
      // digest is saved instead (below), and the exit code says that something failed.
      ledgerUnreadable = true;
      stateFailed("reading sent alerts", err);
    }
  }
  for (const a of report.alerts) if (sentBefore.has(alertKey(a))) a.suppressed = true;
  const newAlerts = report.alerts.filter((a) => !a.suppressed);
  const newFindings = findings.filter((f) => !sentBefore.has(findingKey(f)));
  finishSummary(report);

  const windowText = [report.window.since, report.window.until].some(Boolean)
    ? `${report.window.since ?? "start"} to ${report.window.until ?? "now"}`
    : undefined;
  const digest = buildDigest(
    newAlerts,
    newFindings,
    { sources: report.sources, window: windowText },
    deps.digestLimits ?? SMN_LIMITS,
  );
  if (digest && deps.notifier && ledgerUnreadable) {
    const record: NotificationRecord = {
      sink: deps.notifier.sink,
      parts: digest.parts.length,
      messageIds: [],
      error: "not sent: the state store could not say which alerts are new",
    };
    if (deps.saveUnsent && !config.dryRun)
      record.savedTo = await deps.saveUnsent(digest).catch(() => undefined);
    report.notifications.push(record);
  } else if (digest && deps.notifier) {
    const record = await notify(deps.notifier, digest, config, deps);
    report.notifications.push(record);
    if (writeState) {
      if (!record.error) {
        await stateTry("recording sent alerts", undefined, () =>
          state.markAlerted(
            [...newAlerts.map(alertKey), ...newFindings.map(findingKey)],
            record.messageIds[0] ?? record.sink,
          ),
        );
        await stateTry("clearing pending alerts", undefined, () => state.setPending([]));
      } else {
        // Not sent: keep the alerts for the next run (integrity findings are found again by it).
        await stateTry("keeping unsent alerts", undefined, () =>
          state.setPending(newAlerts.map(({ pending: _p, suppressed: _s, ...a }) => a)),
        );
      }
    }
  }
  if (writeState) await stateTry("saving", undefined, () => state.flush());
  report.exitCode = exitCode(report, config);
  report.finishedAt = clock().toISOString();
  return report;
}

/**
 * Calls `task` for indexes 0..count-1 in order, at most `concurrency` at a time. Hand-written rather than p-limit:
 * a few runners each take the next index, with no promise or closure a task. In a scan of thousands of small
 * files, p-limit's per-task machinery (four promises and a queue item each) showed up as a cost of its own.
 */
async function eachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, runner));
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
  s.suppressed = report.alerts.filter((a) => a.suppressed).length;
  s.failed = report.files.filter((f) => f.status === "failed" && f.integrity !== "missing").length;
  s.skipped = report.files.filter((f) => f.status === "skipped").length;
  s.integrityViolations = integrityViolations(report);
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
  if (report.summary.failed > 0 || notifyFailed || report.errors.length > 0) return 1;
  return 0;
}
