import type { FileRecord } from "../report/types.js";
import type { ObjectOutcome } from "../state/types.js";
import type { Slot } from "./scanObject.js";

/**
 * A completed object's outcome as the ledger keeps it, and back (LedgerPolicy's `record` and `lookup`): lean where
 * a million outcomes repeat what the key already says, and restored to exactly what the run made (the same report
 * text, key order included).
 */

/**
 * What the ledger keeps of a completed object's record: the key is the ledger's own key, and the MD5 is in the
 * outcome's hashes (a million objects are a million copies of each). `lookup` puts the key back.
 */
function storedRecord(record: FileRecord): FileRecord {
  // Copied field by field, not spread then `delete`d: a deletion turns an object into a dictionary, which msgpackr
  // packs at about twice the cost (a million outcomes: a second of the ledger run's main thread).
  const stored: Record<string, unknown> = {};
  for (const field in record)
    if (field !== "object" && field !== "md5") stored[field] = record[field as keyof FileRecord];
  return stored as unknown as FileRecord;
}

/**
 * An alert or login attempt as the ledger keeps it with its object's outcome: its `object` (the outcome's own key,
 * a hundred characters, in every one) left empty in place, so that `lookup` puts it back where it was (the same
 * report text). A million outcomes were a tenth smaller to pack and write.
 */
function withoutObject<T extends { object: string }>(item: T, key: string): T {
  return item.object === key ? { ...item, object: "" } : item;
}

/** A cheap identity of an object's content: the ETag when the store has one, else size and modification time. */
export function fingerprint(slot: Slot): string {
  const o = slot.object;
  return o.etag ?? `${o.size}:${o.lastModified?.getTime() ?? 0}`;
}

/** The outcome the ledger keeps of a completed object, as a run under the rules `rulesId` made it at `at`. */
export function storedOutcome(s: Slot, rulesId: string, at: string): ObjectOutcome {
  return {
    fingerprint: fingerprint(s),
    rules: rulesId,
    record: storedRecord(s.record),
    alerts: s.allAlerts.map((a) => withoutObject(a, s.object.key)),
    matchedTimes: s.matchedTimes,
    ...(s.attempts.length > 0 ? { attempts: s.attempts.map((a) => withoutObject(a, s.object.key)) } : {}),
    ...(s.hashes ? { hashes: s.hashes } : {}),
    at,
  };
}

/**
 * Puts back what {@link storedOutcome} left out, in place: a fresh record (the run sets verdicts on it) with its
 * fields in the order of a record the run makes (the key first, the MD5 where reading puts it: after the bytes).
 */
export function restoreOutcome(key: string, outcome: ObjectOutcome): void {
  const md5 = outcome.hashes?.md5;
  const record = { object: key } as FileRecord;
  for (const field in outcome.record) {
    if (field !== "object")
      (record as unknown as Record<string, unknown>)[field] = outcome.record[field as keyof FileRecord];
    if (field === "bytes" && md5) record.md5 = md5;
  }
  if (md5) record.md5 = md5;
  outcome.record = record;
  for (const a of outcome.alerts) if (a.object === "") a.object = key;
  for (const a of outcome.attempts ?? []) if (a.object === "") a.object = key;
}
