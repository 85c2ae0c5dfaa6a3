import type { KeyObject } from "node:crypto";
import { parseObjectKey, type CtsObjectKey } from "../cts/objectKey.js";
import type { DigestRecord, DigestStatus, GapRecord } from "../report/types.js";
import { signingString, verifySignature } from "./signature.js";
import type { DigestRead, FileVerdict } from "./types.js";

/** Digests older than the run's window or outside its prefix are not "missing": they are out of scope. */
export type ScopeTest = (key: string, uploadTime: Date | undefined) => boolean;

interface Listing {
  hashValue: string;
  hashAlgorithm: string;
  digest: string;
  status: DigestStatus;
}

interface Coverage {
  start: number;
  end: number;
}

// A digest's hour and its neighbour's may not meet to the second; a gap under this is not reported.
const GAP_TOLERANCE_MS = 5 * 60 * 1000;

/** The chain a trace file's digests live in: `<...>CloudTraces/<region>/<tracker>/Digest/<service>`. */
export function chainOfTraceKey(key: CtsObjectKey): string {
  const lead = key.key.slice(0, Math.max(0, key.key.indexOf("CloudTraces/"))) + "CloudTraces";
  return [lead, key.region, key.tracker, "Digest", key.service].filter((s) => s !== "").join("/");
}

/**
 * Verifies every digest chain of a source (reference §3) and answers, for each trace file, whether a trusted
 * digest vouches for it.
 *
 * A digest is trusted (`valid`) when its signature verifies and it is anchored: by its own metadata signature
 * (always so for the newest), or by a valid newer digest whose `previous_digest_signature` verifies it and whose
 * `previous_digest_hash_value` equals its MD5. Files listed only by untrusted digests are `unverified`.
 */
export class DigestChains {
  readonly digests: DigestRecord[] = [];
  readonly gaps: GapRecord[] = [];
  private readonly listings = new Map<string, Listing>();
  private readonly coverage = new Map<string, Coverage[]>();

  constructor(
    reads: readonly DigestRead[],
    private readonly publicKey: KeyObject,
    private readonly inScope: ScopeTest,
  ) {
    const chains = new Map<string, DigestRead[]>();
    for (const read of reads) {
      const list = chains.get(read.key.chain) ?? [];
      list.push(read);
      chains.set(read.key.chain, list);
    }
    for (const [chain, list] of chains) this.verifyChain(chain, list);
    this.digests.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0));
    this.gaps.sort((a, b) => (a.chain + a.from < b.chain + b.from ? -1 : 1));
  }

  private verifyChain(chain: string, reads: DigestRead[]): void {
    const endOf = (r: DigestRead) => r.digest?.endTime.getTime() ?? r.key.uploadTime?.getTime() ?? 0;
    // Newest first: each digest vouches for the one before it.
    const ordered = [...reads].sort((a, b) => endOf(b) - endOf(a));
    const byKey = new Map(ordered.map((r) => [r.key.key, r]));
    const statusOf = new Map<string, DigestStatus>();
    // Links from valid newer digests: key of the older digest -> the newer's claims about it.
    const trustedLinks = new Map<
      string,
      { from: string; hashValue: string; hashAlgorithm: string; signature: string }
    >();

    for (const read of ordered) {
      const record = this.check(read, trustedLinks.get(read.key.key));
      record.chain = chain;
      statusOf.set(read.key.key, record.status);
      this.digests.push(record);
      const digest = read.digest;
      if (!digest) continue;
      this.addCoverage(chain, digest.startTime.getTime(), digest.endTime.getTime());
      for (const file of digest.logFiles) {
        const existing = this.listings.get(file.object);
        if (!existing || (existing.status !== "valid" && record.status === "valid")) {
          this.listings.set(file.object, {
            hashValue: file.hashValue,
            hashAlgorithm: file.hashAlgorithm,
            digest: read.key.key,
            status: record.status,
          });
        }
      }
      const prev = digest.previous;
      if (prev) {
        if (record.status === "valid") trustedLinks.set(prev.object, { from: read.key.key, ...prev });
        const older = byKey.get(prev.object);
        if (!older) {
          const prevKey = parseObjectKey(prev.object);
          if (this.inScope(prev.object, prevKey.uploadTime)) {
            this.digests.push({
              object: prev.object,
              status: "missing",
              chain,
              reason: `linked as previous digest by ${read.key.key} but not found`,
            });
            this.gaps.push({
              chain,
              from: prevKey.uploadTime?.toISOString() ?? "",
              to: digest.startTime.toISOString(),
              reason: `digest ${prev.object} is missing`,
            });
          }
        } else if (
          older.digest &&
          digest.startTime.getTime() - older.digest.endTime.getTime() > GAP_TOLERANCE_MS
        ) {
          this.gaps.push({
            chain,
            from: older.digest.endTime.toISOString(),
            to: digest.startTime.toISOString(),
            reason: "hours between linked digests are not covered",
          });
        }
      } else {
        // A starting digest while older ones exist: the chain restarted (verification was switched off and on).
        const older = ordered.find(
          (r) => r.digest && r.digest.endTime.getTime() < digest.startTime.getTime(),
        );
        if (older?.digest) {
          this.gaps.push({
            chain,
            from: older.digest.endTime.toISOString(),
            to: digest.startTime.toISOString(),
            reason: `chain restarts at ${read.key.key}`,
          });
        }
      }
    }
  }

  private check(
    read: DigestRead,
    link: { from: string; hashValue: string; hashAlgorithm: string; signature: string } | undefined,
  ): DigestRecord {
    const record: DigestRecord = { object: read.key.key, status: "valid", chain: "" };
    const digest = read.digest;
    if (!digest || read.md5 === undefined) {
      return { ...record, status: "invalid-format", reason: read.problem ?? "digest could not be read" };
    }
    record.start = digest.startTime.toISOString();
    record.end = digest.endTime.toISOString();
    record.files = digest.logFiles.length;
    const fail = (status: DigestStatus, reason: string): DigestRecord => ({ ...record, status, reason });

    if (digest.object !== read.key.key) {
      return fail(
        "moved",
        `digest_object says ${digest.object} but the digest was read from ${read.key.key}`,
      );
    }
    // The link's hash first: a digest altered after a newer one linked it is a hash mismatch, whatever else.
    if (link && (link.hashAlgorithm !== "md5" || link.hashValue !== read.md5)) {
      return fail(
        "hash-mismatch",
        `changed after ${link.from} linked it: its MD5 is ${read.md5}, the link says ${link.hashValue}`,
      );
    }
    const message = signingString(
      digest.endTimeText,
      digest.object,
      read.md5,
      digest.previous?.signature ?? "",
    );
    if (
      read.metadataSignature !== undefined &&
      !verifySignature(message, read.metadataSignature, this.publicKey)
    ) {
      return fail(
        "invalid-signature",
        "the signature in the object's metadata does not verify under the public key",
      );
    }
    if (link) {
      if (!verifySignature(message, link.signature, this.publicKey)) {
        return fail("invalid-signature", `the signature ${link.from} records for it does not verify`);
      }
      return record;
    }
    if (read.metadataSignature === undefined) {
      return fail("unanchored", "no signature in its metadata and no valid newer digest links to it");
    }
    return record;
  }

  private addCoverage(chain: string, start: number, end: number): void {
    const list = this.coverage.get(chain) ?? [];
    list.push({ start, end });
    this.coverage.set(chain, list);
  }

  /** Hash algorithms (Node names) that digests require for a trace file, MD5 when none lists it. */
  algorithmsFor(key: string): string[] {
    const listing = this.listings.get(key);
    return listing && listing.hashAlgorithm !== "md5" && listing.hashAlgorithm !== ""
      ? ["md5", listing.hashAlgorithm]
      : ["md5"];
  }

  /** The verdict for one trace file present in the source, given the hashes of its stored bytes. */
  verdict(key: CtsObjectKey, hashes: Readonly<Record<string, string>> | undefined): FileVerdict {
    const listing = this.listings.get(key.key);
    if (listing) {
      if (listing.status !== "valid") {
        return {
          integrity: "unverified",
          digest: listing.digest,
          detail: `listed by digest that is ${listing.status}`,
        };
      }
      const actual = hashes?.[listing.hashAlgorithm];
      if (actual === undefined) {
        return {
          integrity: "unverified",
          digest: listing.digest,
          detail: "the file's bytes could not be hashed",
        };
      }
      if (actual.toLowerCase() !== listing.hashValue) {
        return {
          integrity: "modified",
          digest: listing.digest,
          detail: `${listing.hashAlgorithm} is ${actual.toLowerCase()}, the digest says ${listing.hashValue}`,
        };
      }
      return { integrity: "valid", digest: listing.digest };
    }
    // No digest read at all (a bucket without digests): no chain to look up, for any of its files.
    const coverage = this.coverage.size > 0 ? this.coverage.get(chainOfTraceKey(key)) : undefined;
    const at = key.uploadTime?.getTime();
    if (!coverage || at === undefined) {
      return { integrity: "unverified", detail: "no digest chain covers this file's folder" };
    }
    if (coverage.some((c) => c.start <= at && at <= c.end)) {
      return {
        integrity: "unlisted",
        detail: "a digest covers the hour it was uploaded in, but none lists it",
      };
    }
    if (coverage.every((c) => at > c.end)) {
      return { integrity: "pending", detail: "newer than every digest: its digest has not arrived yet" };
    }
    return { integrity: "unverified", detail: "no digest covers the hour it was uploaded in" };
  }

  /** Files some digest lists that the source does not hold (within the run's scope). */
  missing(present: ReadonlySet<string>): Array<{ object: string; digest: string }> {
    const out: Array<{ object: string; digest: string }> = [];
    for (const [object, listing] of this.listings) {
      if (present.has(object)) continue;
      if (!this.inScope(object, parseObjectKey(object).uploadTime)) continue;
      out.push({ object, digest: listing.digest });
    }
    return out.sort((a, b) => (a.object < b.object ? -1 : 1));
  }
}
