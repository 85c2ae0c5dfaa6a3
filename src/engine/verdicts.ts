import type { DigestChains } from "../integrity/DigestChains.js";
import type { DigestRecord } from "../report/types.js";
import type { Slot } from "./scanObject.js";

/** A digest file's record takes its digest's status. */
export function digestVerdict(slot: Slot, d: DigestRecord | undefined): void {
  const record = slot.record;
  record.integrity = d?.status === "valid" ? "valid" : "unverified";
  if (d && d.status !== "valid" && record.status !== "failed")
    record.reason = `${d.status}: ${d.reason ?? ""}`;
}

/**
 * Sets a trace file's verdict from the chains; true when a later digest can still change it (the file is then
 * held for the next unit). `partial`: the function's one-object listing, where a file with no digest in view is
 * `pending` (its digest still to come).
 */
export function fileVerdict(slot: Slot, chains: DigestChains, partial: boolean): boolean {
  const record = slot.record;
  if (record.kind !== "trace") return false;
  if (record.status === "skipped" && !slot.hashes) {
    // Listed but unreadable (a dangling link, one that leaves the source) where a digest vouches for a file: the
    // file the digest lists is not there to read, which is a missing file, not a skipped one.
    if (!slot.object.unreadable) return false;
    const v = chains.verdict(slot.key, undefined);
    // Not listed here: held like any file no digest lists yet, for a digest of the next unit (a file of 23:50 is
    // listed in the next day's folder).
    if (!v.digest) return !partial && (v.integrity === "pending" || v.integrity === "unverified");
    record.status = "failed";
    record.integrity = "missing";
    record.digest = v.digest;
    record.error = `listed in digest ${v.digest} but cannot be read: ${slot.object.unreadable}`;
    delete record.reason;
    return false;
  }
  const v = chains.verdict(slot.key, slot.hashes);
  // A held file is judged again: its reason is rebuilt from what it was before any verdict.
  slot.baseReason ??= record.reason ?? "";
  if (slot.baseReason) record.reason = slot.baseReason;
  else delete record.reason;
  // The function sees one new object: with no digest of its chain in view, the digest is still to come.
  record.integrity = v.integrity === "unverified" && partial && !v.digest ? "pending" : v.integrity;
  if (v.digest) record.digest = v.digest;
  if (v.overdueChain) slot.overdueChain = v.overdueChain;
  else delete slot.overdueChain;
  if (record.integrity !== "valid" && v.detail && record.integrity !== "pending") {
    record.reason =
      record.reason && !record.reason.includes(v.detail) ? `${record.reason}; ${v.detail}` : v.detail;
  }
  // Judged with the next unit's digests too: a file of 23:50 is listed by a digest in the next day's folder.
  return (
    !partial &&
    !v.digest &&
    (v.integrity === "pending" || v.integrity === "unverified" || v.overdueChain !== undefined)
  );
}
