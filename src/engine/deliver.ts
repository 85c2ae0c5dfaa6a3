import { describeError, NotifyError } from "../errors.js";
import type { Alert } from "../detect/types.js";
import { buildDigest, SMN_LIMITS, type DigestLimits, type IntegrityFinding } from "../notify/buildDigest.js";
import type { AlertDigest, Notifier } from "../notify/types.js";
import type { NotificationRecord } from "../report/types.js";
import { alertKey } from "../state/alertKey.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";

/** What delivering needs. */
export interface DeliverContext {
  notifier: Notifier | undefined;
  ledger: LedgerPolicy;
  dryRun: boolean;
  sources: string[];
  window: string | undefined;
  /** Attribution of the country/network data, printed at the end of a digest that shows places. */
  attribution?: string;
  digestLimits?: DigestLimits;
  saveUnsent?: (digest: AlertDigest) => Promise<string>;
  warn?: (message: string) => void;
}

const findingKey = (f: IntegrityFinding) => `integrity:${f.verdict}:${f.object}:${f.detail}`;
const strip = ({ pending: _p, suppressed: _s, ...a }: Alert): Alert => a;

/** The sink's identity in the ledger: sent to a terminal is not sent to SMN, nor to another file. */
export function sinkId(notifier: Notifier): string {
  return notifier.target ?? notifier.sink;
}

/**
 * The run's last step: alerts kept unsent by earlier runs join this run's, what the ledger says went out to this
 * sink before is marked `suppressed`, the rest goes out as one digest and is recorded as sent. A digest that
 * cannot go out is kept (pending in the ledger, saved to a file) for the next run. Returns the alerts to report
 * (sorted) and the notification record, if any.
 */
export async function deliver(
  alerts: Alert[],
  findings: readonly IntegrityFinding[],
  ctx: DeliverContext,
): Promise<NotificationRecord | undefined> {
  const { notifier, ledger } = ctx;
  if (!notifier) return undefined;
  const sink = sinkId(notifier);
  const seen = new Set(alerts.map(alertKey));
  // A ledger read that fails means nothing can be known to be new, nor what earlier runs left unsent.
  let readFailed = false;
  const reading =
    <T>(op: () => Promise<T>) =>
    async () => {
      try {
        return await op();
      } catch (err) {
        readFailed = true;
        throw err;
      }
    };
  const pending = await ledger.attempt(
    "reading pending alerts",
    "read",
    [],
    reading(() => ledger.ledger!.pending(sink)),
  );
  for (const a of pending) if (!seen.has(alertKey(a))) alerts.push({ ...a, pending: true });
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  alerts.sort((a, b) => cmp(a.time, b.time) || cmp(a.traceId, b.traceId) || cmp(a.object, b.object));

  // Dedupe: what an earlier run already sent to this sink is reported, marked, and not sent again.
  const sentBefore = await ledger.attempt(
    "reading sent alerts",
    "read",
    new Set<string>(),
    reading(() => ledger.ledger!.sent(sink, [...alerts.map(alertKey), ...findings.map(findingKey)])),
  );
  for (const a of alerts) if (sentBefore.has(alertKey(a))) a.suppressed = true;
  const newAlerts = alerts.filter((a) => !a.suppressed);
  const newFindings = findings.filter((f) => !sentBefore.has(findingKey(f)));
  const digest = buildDigest(
    newAlerts,
    [...newFindings],
    {
      sources: ctx.sources,
      window: ctx.window,
      ...(ctx.attribution ? { attribution: ctx.attribution } : {}),
    },
    ctx.digestLimits ?? SMN_LIMITS,
  );
  if (!digest) return undefined;

  if (ledger.ledger && (ledger.unreadable || readFailed)) {
    // Without the ledger nothing can be known to be new: sending could repeat what went out before. The digest
    // is saved instead, and the exit code says that something failed.
    const record: NotificationRecord = {
      sink: notifier.sink,
      parts: digest.parts.length,
      messageIds: [],
      error: "not sent: the state store could not say which alerts are new",
    };
    if (ctx.saveUnsent && !ctx.dryRun) record.savedTo = await ctx.saveUnsent(digest).catch(() => undefined);
    return record;
  }
  const record = await send(notifier, digest, ctx);
  const keys = newAlerts.map(alertKey);
  if (!record.error) {
    await ledger.attempt("recording sent alerts", "write", undefined, (l) =>
      l.markSent(sink, [...keys, ...newFindings.map(findingKey)], record.messageIds[0] ?? record.sink),
    );
    const wasPending = newAlerts.filter((a) => a.pending).map(alertKey);
    if (wasPending.length)
      await ledger.attempt("clearing pending alerts", "write", undefined, (l) =>
        l.removePending(sink, wasPending),
      );
  } else {
    // Not sent: keep the alerts for the next run (integrity findings are found again by it).
    const fresh = newAlerts.filter((a) => !a.pending).map(strip);
    if (fresh.length)
      await ledger.attempt("keeping unsent alerts", "write", undefined, (l) => l.addPending(sink, fresh));
  }
  return record;
}

async function send(
  notifier: Notifier,
  digest: AlertDigest,
  ctx: DeliverContext,
): Promise<NotificationRecord> {
  if (ctx.dryRun)
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
    if (ctx.saveUnsent) {
      try {
        record.savedTo = await ctx.saveUnsent(digest);
      } catch (saveErr) {
        record.error = `${message}; saving the digest failed too: ${describeError(saveErr)}`;
      }
    }
    ctx.warn?.(`${record.error}${record.savedTo ? `; digest saved to ${record.savedTo}` : ""}`);
    return record;
  }
}
