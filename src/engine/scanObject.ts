import type { CtsObjectKey } from "../cts/objectKey.js";
import type { AuditRules } from "../detect/AuditRules.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import { describeError, SourceError } from "../errors.js";
import type { DigestChains } from "../integrity/DigestChains.js";
import { ByteBudget } from "../parse/ByteBudget.js";
import {
  auditObject,
  placeAlerts,
  placeAttempts,
  type AuditedObject,
  type AuditReadOptions,
} from "../parse/auditObject.js";
import { readTraceFile } from "../parse/readTraceFile.js";
import type { FileRecord } from "../report/types.js";
import { backoffDelay, DEFAULT_RETRY } from "../retry.js";
import type { ObjectSource, SourceObject } from "../sources/types.js";
import type { EngineOptions } from "./types.js";

/** One listed object on its way through a run. */
export interface Slot {
  object: SourceObject;
  key: CtsObjectKey;
  record: FileRecord;
  /** Every alert of the object, whatever the time window (outcomes are stored window-free, to be reusable). */
  allAlerts: Alert[];
  /** Times of the traces the rules audited (null: no time), to count those inside the window. */
  matchedTimes: Array<number | null>;
  /** Every login attempt of the object, whatever the window, for the windowed rules. */
  attempts: LoginAttempt[];
  /** Its outcome came from the ledger (not read in this run). */
  reused?: boolean;
  /** The alerts inside the window: what the report shows. */
  alerts: Alert[];
  hashes?: Record<string, string>;
  /** The chain whose digest for this file was overdue (its final verdict), for the truncation judgement. */
  overdueChain?: string;
  /** The record's reason before any integrity verdict (a held file is judged again). */
  baseReason?: string;
}

/** What scanning needs besides the object. */
export interface ScanContext {
  source: ObjectSource;
  chains: DigestChains | undefined;
  rules: AuditRules;
  options: EngineOptions;
  bufferLimit: number;
  warn?: (message: string) => void;
}

export const MD5_HEX = /^[0-9a-f]{32}$/;
// Objects up to this size are read in one piece where the source can (local files, OBS) and inflated in one call:
// streaming zlib costs more in chunk hand-offs than inflating does. Larger ones stream, in bounded memory.
const WHOLE_READ_BYTES = 4 * 1024 * 1024;
// Whole reads in flight hold at most this many stored bytes at once, whatever the concurrency.
const wholeReadBudget = new ByteBudget(8 * WHOLE_READ_BYTES);

// A stream that breaks mid-object (connection reset) is read again from the start, this many times in all.
const READ_ATTEMPTS = 3;

/**
 * Reads one trace file once: parses it, audits every trace, hashes its stored bytes. A stream that breaks
 * mid-object is read again from the start (alerts of the broken attempt are dropped, never counted twice).
 * The outcome goes into the slot; nothing is thrown.
 */
export async function scanFile(slot: Slot, ctx: ScanContext): Promise<void> {
  const { source, chains, rules, options } = ctx;
  const record = slot.record;
  const readOptions: AuditReadOptions = {
    hashAlgorithms: chains ? chains.algorithmsFor(slot.object.key) : ["md5"],
    maxDecompressedBytes: options.maxDecompressedBytes,
    bufferLimit: ctx.bufferLimit,
  };
  // Objects up to a few MB in one read when the store does that cheaply; the rest streamed. The bytes of
  // whole reads in flight are bounded whatever the concurrency.
  const size = slot.object.size;
  const whole = source.read !== undefined && size <= WHOLE_READ_BYTES;
  if (whole && !wholeReadBudget.tryAcquire(size)) await wholeReadBudget.acquire(size);
  let audited: AuditedObject | undefined;
  try {
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      try {
        // The last attempt streams: should it break too, the traces of the bytes that arrived are still
        // audited (and marked with the failure), where a broken whole read gives nothing.
        const input =
          whole && attempt < READ_ATTEMPTS
            ? await source.read!(slot.object.key, size)
            : await source.open(slot.object.key);
        audited = await auditObject(input, rules, readOptions);
      } catch (err) {
        // A whole read that broke part-way (a connection reset) is read again, like a stream that breaks.
        if (err instanceof SourceError && err.code === "READ" && attempt < READ_ATTEMPTS) {
          ctx.warn?.(`${slot.object.key}: ${describeError(err)}; reading it again (attempt ${attempt + 1})`);
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(DEFAULT_RETRY, attempt)));
          continue;
        }
        record.status = "failed";
        record.error = describeError(err);
        return;
      }
      // Each attempt starts clean: an alert read before a reset is read again, never counted twice.
      if (audited.result.error?.code !== "READ" || attempt === READ_ATTEMPTS) break;
      ctx.warn?.(
        `${slot.object.key}: ${audited.result.error.message}; reading it again (attempt ${attempt + 1})`,
      );
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(DEFAULT_RETRY, attempt)));
    }
  } finally {
    if (whole) wholeReadBudget.release(size);
  }
  if (!audited) return;
  const { result, matches } = audited;
  slot.matchedTimes = matches.map((m) => m.time);
  slot.allAlerts = placeAlerts(matches, slot.key.region, slot.object.key);
  slot.attempts = placeAttempts(matches, slot.key.region, slot.object.key);
  record.traces = result.traces;
  record.bytes = result.bytes;
  slot.hashes = result.hashes;
  if (result.hashes.md5) record.md5 = result.hashes.md5;
  if (result.oversized) record.oversized = result.oversized;
  if (audited.traceErrors && !result.error) {
    result.error = {
      code: "TRACE",
      message: `${audited.traceErrors.count} trace(s) could not be audited: ${audited.traceErrors.first}`,
    };
  }
  if (result.error) {
    record.status = "failed";
    record.error = `${result.error.message}${result.traces > 0 ? ` (after ${result.traces} traces)` : ""}`;
    for (const alert of slot.allAlerts) alert.fileError = record.error;
  }
  // OBS's ETag of a non-multipart object is the MD5 of its bytes: a mismatch means the bytes changed in transit.
  const etag = slot.object.etag;
  if (!result.error && etag && MD5_HEX.test(etag) && result.hashes.md5 && etag !== result.hashes.md5) {
    record.status = "failed";
    record.error = `downloaded bytes have MD5 ${result.hashes.md5} but the listing's ETag is ${etag}: read again`;
  }
}

/**
 * Hashes a trace file the run need not parse (another service's, or `verify`): from the listing's ETag when that
 * is the MD5 (no download), else by reading its bytes once without parsing.
 */
export async function hashFile(slot: Slot, ctx: ScanContext & { chains: DigestChains }): Promise<void> {
  const { source, chains, options } = ctx;
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
      maxDecompressedBytes: options.maxDecompressedBytes,
      bufferLimit: 0,
      // Nothing is audited here: count the traces, parse none.
      prefilter: new Set(),
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
