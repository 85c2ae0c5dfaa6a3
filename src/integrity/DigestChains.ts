import type { KeyObject } from "node:crypto";
import { parseObjectKey, type CtsObjectKey } from "../cts/objectKey.js";
import type { DigestRecord, DigestStatus, GapRecord } from "../report/types.js";
import { siblingGroup, type ChainSummary } from "./failClosed.js";
import { signingString, verifySignature } from "./signature.js";
import { DIGEST_PERIOD_MS, digestDueAt, GAP_TOLERANCE_MS, hourlyPieces } from "./timing.js";
import type { DigestRead, FileVerdict } from "./types.js";

/** Digests older than the run's window or outside its prefix are not "missing": they are out of scope. */
export type ScopeTest = (key: string, uploadTime: Date | undefined) => boolean;

/** What a run knows beyond the digests: now, and the bucket the source reads. */
export interface ChainOptions {
  /** The run's clock: a file is `pending` only while its digest is not yet due. Undefined: never due. */
  now?: Date;
  /** The bucket the digests were read from (`ObjectSource.bucket`); a digest naming another is `moved`. */
  bucket?: string;
}

interface Listing {
  hashValue: string;
  hashAlgorithm: string;
  digest: string;
  status: DigestStatus;
  /** The listing digest's chain. */
  chain: string;
  /**
   * Whether that chain is the file's own (a digest of another chain may not vouch for it): worked out when first
   * asked, since parsing every listed key of every digest costs more than the rest of a rerun's verification.
   */
  ownChain?: boolean;
  /** Listed by a digest the user named alone: the file is not expected in the source. */
  explicit: boolean;
}

interface Coverage {
  start: number;
  end: number;
}

/** Whether a listing's digest is of the listed file's own chain (see `Listing.ownChain`). */
function isOwn(file: string | CtsObjectKey, listing: Listing): boolean {
  if (listing.ownChain === undefined) {
    const key = typeof file === "string" ? parseObjectKey(file) : file;
    listing.ownChain = key.kind !== "trace" || chainOfTraceKey(key) === listing.chain;
  }
  return listing.ownChain;
}

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
  private readonly overdue = new Map<string, { from: number; to: number }>();
  // The newest digest end of each chain: every file past it asks when its digest is due.
  private readonly newestEnd = new Map<string, number>();

  constructor(
    reads: readonly DigestRead[],
    private readonly publicKey: KeyObject,
    private readonly inScope: ScopeTest,
    private readonly options: ChainOptions = {},
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
        // A listing of an object in another bucket says nothing of the object of that name here.
        const elsewhere = file.bucket !== "" && file.bucket !== (this.options.bucket ?? digest.bucket);
        if (elsewhere) continue;
        const listing: Listing = {
          hashValue: file.hashValue,
          hashAlgorithm: file.hashAlgorithm,
          digest: read.key.key,
          status: record.status,
          chain,
          explicit: read.explicit === true,
        };
        const rank = (l: Listing) => (isOwn(file.object, l) ? 2 : 0) + (l.status === "valid" ? 1 : 0);
        const existing = this.listings.get(file.object);
        if (!existing || rank(listing) > rank(existing)) this.listings.set(file.object, listing);
      }
      const prev = digest.previous;
      if (prev) {
        if (record.status === "valid") trustedLinks.set(prev.object, { from: read.key.key, ...prev });
        const older = byKey.get(prev.object);
        if (!older && read.explicit) {
          // A digest named alone: its predecessor is not expected beside it.
        } else if (!older) {
          const prevKey = parseObjectKey(prev.object);
          if (this.inScope(prev.object, prevKey.uploadTime)) {
            this.digests.push({
              object: prev.object,
              status: "missing",
              chain,
              reason: `linked as previous digest by ${read.key.key} but not found`,
            });
            this.missingHours(chain, read, ordered, prev.object);
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

    // A digest named alone has no bucket root to place it against; its signature still covers digest_object.
    if (!read.explicit && digest.object !== read.key.key) {
      return fail(
        "moved",
        `digest_object says ${digest.object} but the digest was read from ${read.key.key}`,
      );
    }
    const bucket = this.options.bucket;
    if (!read.explicit && bucket !== undefined && digest.bucket !== bucket) {
      return fail(
        "moved",
        `digest_bucket says ${digest.bucket} but the digest was read from bucket ${bucket}`,
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

  /**
   * Gaps for a linked digest that is missing: its own hour (the hour before the digest that links it), then, down
   * to the next older digest present, one gap per digest that should have been there and that nothing links to.
   */
  private missingHours(chain: string, read: DigestRead, ordered: DigestRead[], missing: string): void {
    const to = read.digest!.startTime.getTime();
    const olderEnd = ordered
      .map((r) => r.digest?.endTime.getTime())
      .find((end) => end !== undefined && end <= to + GAP_TOLERANCE_MS);
    const from = Math.max(to - DIGEST_PERIOD_MS, olderEnd ?? -Infinity);
    this.gaps.push({
      chain,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      reason: `digest ${missing} is missing`,
    });
    if (olderEnd === undefined) return;
    for (const piece of hourlyPieces(olderEnd, from)) {
      this.gaps.push({
        chain,
        from: new Date(piece.from).toISOString(),
        to: new Date(piece.to).toISOString(),
        reason: `no digest for this hour: a digest older than ${missing} is missing too`,
      });
    }
  }

  /**
   * The per-chain summary of what this set of digests verified, for the whole-run judgements (failClosed.ts). Call
   * it after every `verdict`: it also carries the chains whose files' digests were overdue.
   */
  summary(): ChainSummary[] {
    const byChain = new Map<string, ChainSummary>();
    const of = (chain: string) => {
      let s = byChain.get(chain);
      if (!s) byChain.set(chain, (s = { chain, digests: 0, valid: 0 }));
      return s;
    };
    for (const d of this.digests) {
      if (d.status === "missing") continue;
      const s = of(d.chain);
      s.digests++;
      if (d.status === "valid") s.valid++;
      const end = d.end ? Date.parse(d.end) : undefined;
      if (end !== undefined && (s.newestEnd === undefined || end > s.newestEnd)) {
        s.newestEnd = end;
        s.newestKey = d.object;
      }
    }
    for (const [chain, o] of this.overdue) {
      const s = of(chain);
      s.overdueFrom = o.from;
      s.overdueTo = o.to;
    }
    return [...byChain.values()].sort((a, b) => (a.chain < b.chain ? -1 : 1));
  }

  private noteOverdue(chain: string, at: number): void {
    const o = this.overdue.get(chain);
    this.overdue.set(
      chain,
      o ? { from: Math.min(o.from, at), to: Math.max(o.to, at) } : { from: at, to: at },
    );
  }

  private addCoverage(chain: string, start: number, end: number): void {
    const list = this.coverage.get(chain) ?? [];
    list.push({ start, end });
    this.coverage.set(chain, list);
    this.newestEnd.set(chain, Math.max(end, this.newestEnd.get(chain) ?? end));
  }

  /** Hash algorithms (Node names) that digests require for a trace file, MD5 when none lists it. */
  algorithmsFor(key: string): string[] {
    const listing = this.listings.get(key);
    return listing && listing.hashAlgorithm !== "md5" && listing.hashAlgorithm !== ""
      ? ["md5", listing.hashAlgorithm]
      : ["md5"];
  }

  /**
   * The verdict for one trace file present in the source, given the hashes of its stored bytes. A file no digest
   * lists is `pending` only while its digest is not yet due (`ChainOptions.now`); once due, it is `unlisted` and its
   * chain is noted as truncated (see `summary`).
   */
  verdict(key: CtsObjectKey, hashes: Readonly<Record<string, string>> | undefined): FileVerdict {
    const chain = chainOfTraceKey(key);
    const coverage = this.coverage.size > 0 ? this.coverage.get(chain) : undefined;
    let listing = this.listings.get(key.key);
    let foreign: Listing | undefined;
    // A digest of another chain does not vouch for a file whose own chain is in view: its own must list it.
    if (listing && !isOwn(key, listing) && coverage) {
      foreign = listing;
      listing = undefined;
    }
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
    const also = foreign ? ` (only ${foreign.digest}, a digest of another chain, lists it)` : "";
    const at = key.uploadTime?.getTime();
    if (at === undefined) return { integrity: "unverified", detail: "its upload time is unknown" };
    if (!coverage) {
      // No digest of its own chain at all: only when a sibling chain shows CTS writing digests past its due time
      // was its chain's digest due; else nothing here says digests were ever on (the run's "verified nothing").
      const due = digestDueAt(at, undefined);
      const siblingsGoOn = this.siblingEnd(chain) >= due - DIGEST_PERIOD_MS;
      if (siblingsGoOn && this.isDue(due)) {
        this.noteOverdue(chain, at);
        return {
          integrity: "unlisted",
          overdueChain: chain,
          detail: `its chain has no digest, though sibling chains do past ${new Date(due).toISOString()}${also}`,
        };
      }
      return { integrity: "unverified", detail: `no digest chain covers this file's folder${also}` };
    }
    if (coverage.some((c) => c.start <= at && at <= c.end)) {
      return {
        integrity: "unlisted",
        detail: `a digest covers the hour it was uploaded in, but none lists it${also}`,
      };
    }
    const newestEnd = this.newestEnd.get(chain)!;
    if (at > newestEnd) {
      const due = digestDueAt(at, newestEnd);
      if (!this.isDue(due)) {
        return { integrity: "pending", detail: "newer than every digest: its digest has not arrived yet" };
      }
      this.noteOverdue(chain, at);
      return {
        integrity: "unlisted",
        overdueChain: chain,
        detail:
          `its digest was due by ${new Date(due).toISOString()} and none lists it: the chain stops at ` +
          `${new Date(newestEnd).toISOString()}${also}`,
      };
    }
    return { integrity: "unverified", detail: `no digest covers the hour it was uploaded in${also}` };
  }

  private isDue(due: number): boolean {
    return this.options.now !== undefined && this.options.now.getTime() >= due;
  }

  /** The newest digest end among the chain's siblings (its tracker's other service folders), or -Infinity. */
  private siblingEnd(chain: string): number {
    const group = siblingGroup(chain);
    let end = -Infinity;
    for (const [other, newest] of this.newestEnd) {
      if (other !== chain && siblingGroup(other) === group) end = Math.max(end, newest);
    }
    return end;
  }

  /** Files some digest lists that the source does not hold (within the run's scope). */
  missing(
    present: ReadonlySet<string>,
    /** Only files these digests list (a unit's own, not the context carried from the unit before). */
    fromDigests?: ReadonlySet<string>,
  ): Array<{ object: string; digest: string }> {
    const out: Array<{ object: string; digest: string }> = [];
    for (const [object, listing] of this.listings) {
      if (present.has(object) || listing.explicit) continue;
      if (fromDigests && !fromDigests.has(listing.digest)) continue;
      if (!this.inScope(object, parseObjectKey(object).uploadTime)) continue;
      out.push({ object, digest: listing.digest });
    }
    return out.sort((a, b) => (a.object < b.object ? -1 : 1));
  }
}
