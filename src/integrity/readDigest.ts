import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { parseDigestFile } from "../cts/digestFile.js";
import type { CtsObjectKey } from "../cts/objectKey.js";
import { describeError } from "../errors.js";
import type { ObjectSource } from "../sources/types.js";
import type { DigestRead } from "./types.js";

// Digests list one hour of files: even a busy account's are kilobytes. Anything far larger is not a digest.
const MAX_DIGEST_BYTES = 64 * 1024 * 1024;

/** The digest signature from object metadata: `signature` or `meta-signature`, any case (reference §3.4, Q6). */
export function signatureFromMetadata(metadata: Readonly<Record<string, string>>): string | undefined {
  for (const [name, value] of Object.entries(metadata)) {
    const n = name.toLowerCase().replace(/^x-(?:obs|amz)-meta-/, "");
    if (n === "signature" || n === "meta-signature") return value.trim().toLowerCase();
  }
  return undefined;
}

/**
 * Reads one digest object once: MD5 of the stored bytes, gunzip, JSON, field validation, metadata signature.
 * `explicit`: the user named this digest as a source of its own (see `DigestRead.explicit`).
 */
export async function readDigest(
  source: ObjectSource,
  key: CtsObjectKey,
  explicit = false,
  /** The listed size: a store that reads small objects in one piece (local files, OBS) then does. */
  listedSize?: number,
): Promise<DigestRead> {
  const read: DigestRead = {
    key,
    md5: undefined,
    digest: undefined,
    problem: undefined,
    metadataSignature: undefined,
    readFailed: false,
    ...(explicit ? { explicit } : {}),
  };
  let stored: Buffer;
  try {
    // In one piece when the store can (a local read is synchronous: no wait between units); else streamed. With
    // its metadata in the same request where the store can (OBS: one GET, no HEAD).
    const small = listedSize !== undefined && listedSize <= MAX_DIGEST_BYTES;
    let metadata: Record<string, string> | undefined;
    let whole: Buffer | Readable;
    if (small && source.readWithMetadata) {
      ({ body: whole, metadata } = await source.readWithMetadata(key.key, listedSize));
    } else {
      whole = small && source.read ? await source.read(key.key, listedSize!) : await source.open(key.key);
    }
    if (Buffer.isBuffer(whole)) stored = whole;
    else {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of whole) {
        size += (chunk as Buffer).length;
        if (size > MAX_DIGEST_BYTES)
          throw new Error(`larger than ${MAX_DIGEST_BYTES} bytes: not a CTS digest`);
        chunks.push(chunk as Buffer);
      }
      stored = Buffer.concat(chunks);
    }
    read.md5 = createHash("md5").update(stored).digest("hex");
    read.metadataSignature = signatureFromMetadata(metadata ?? (await source.metadata(key.key)));
  } catch (err) {
    return {
      ...read,
      md5: undefined,
      readFailed: true,
      problem: `reading the digest failed: ${describeError(err)}`,
    };
  }
  let json: unknown;
  try {
    const isGzip = stored[0] === 0x1f && stored[1] === 0x8b;
    const text = (isGzip ? gunzipSync(stored, { maxOutputLength: MAX_DIGEST_BYTES }) : stored).toString(
      "utf8",
    );
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    return { ...read, problem: `not a gzipped JSON digest: ${describeError(err)}` };
  }
  const parsed = parseDigestFile(json);
  if ("problems" in parsed) return { ...read, problem: parsed.problems.join("; ") };
  return { ...read, digest: parsed.digest };
}
