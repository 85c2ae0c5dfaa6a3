import type { DigestFile } from "../cts/digestFile.js";
import type { CtsObjectKey } from "../cts/objectKey.js";

/** What reading one digest object produced, before verification. */
export interface DigestRead {
  key: CtsObjectKey;
  /** Hex MD5 of the stored (compressed) bytes; the signed string and the chain link use it. */
  md5: string | undefined;
  digest: DigestFile | undefined;
  /** Why the digest could not be read or understood (status `invalid-format`). */
  problem: string | undefined;
  /** The object itself could not be read (an I/O failure, not bad content): the file fails, exit 1. */
  readFailed: boolean;
  /** `signature` / `meta-signature` from the object's metadata, lower-case hex, when present. */
  metadataSignature: string | undefined;
  /**
   * The user named this digest as a source of its own: its place in a bucket is unknown (no location check), and
   * the digests and files it links to are not expected beside it (none is reported missing).
   */
  explicit?: boolean;
}

/** A file's verdict with the digest it rests on. */
export interface FileVerdict {
  integrity: "valid" | "modified" | "unlisted" | "pending" | "unverified";
  /** The digest that lists the file, when one does. */
  digest?: string;
  /** Why, when not valid. */
  detail?: string;
  /** `unlisted` because its digest is overdue: its chain (this one) was truncated after its newest digest. */
  overdueChain?: string;
}
