import { parseCtsTime } from "./objectKey.js";

/** One trace file a digest lists. */
export interface DigestLogFile {
  bucket: string;
  object: string;
  hashValue: string;
  /** Node hash name (`md5`, `sha256`, ...). */
  hashAlgorithm: string;
}

/** A CTS digest file (reference §3.3), with the fields the verification needs. */
export interface DigestFile {
  projectId: string;
  startTime: Date;
  endTime: Date;
  /** `digest_end_time` exactly as written: it is part of the signed string. */
  endTimeText: string;
  bucket: string;
  object: string;
  signatureAlgorithm: string;
  previous:
    | { bucket: string; object: string; hashValue: string; hashAlgorithm: string; signature: string }
    | undefined;
  logFiles: DigestLogFile[];
}

const HASH_NAMES: Record<string, string> = {
  md5: "md5",
  sha1: "sha1",
  "sha-1": "sha1",
  sha256: "sha256",
  "sha-256": "sha256",
  sha512: "sha512",
  "sha-512": "sha512",
};

/** Maps a CTS hash algorithm name (`MD5`, `SHA-256`) to Node's, or undefined when unknown. */
export function nodeHashName(name: string): string | undefined {
  return HASH_NAMES[name.trim().toLowerCase()];
}

function text(obj: Record<string, unknown>, field: string, problems: string[], required = true): string {
  const value = obj[field];
  if (typeof value === "string") return value;
  if (value === undefined || value === null) {
    if (required) problems.push(`missing field ${field}`);
    return "";
  }
  problems.push(`field ${field} is not a string`);
  return "";
}

/** Validates a parsed digest JSON. Returns the digest, or the list of problems (never throws). */
export function parseDigestFile(json: unknown): { digest: DigestFile } | { problems: string[] } {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return { problems: ["digest is not a JSON object"] };
  }
  const d = json as Record<string, unknown>;
  const problems: string[] = [];
  const startText = text(d, "digest_start_time", problems);
  const endTimeText = text(d, "digest_end_time", problems);
  const startTime = parseCtsTime(startText);
  const endTime = parseCtsTime(endTimeText);
  if (startText && !startTime) problems.push(`digest_start_time "${startText}" is not a CTS time`);
  if (endTimeText && !endTime) problems.push(`digest_end_time "${endTimeText}" is not a CTS time`);
  const bucket = text(d, "digest_bucket", problems);
  const object = text(d, "digest_object", problems);
  const signatureAlgorithm = text(d, "digest_signature_algorithm", problems);
  if (signatureAlgorithm && signatureAlgorithm.toUpperCase() !== "SHA256WITHRSA") {
    problems.push(
      `unsupported digest_signature_algorithm "${signatureAlgorithm}" (only SHA256withRSA is defined)`,
    );
  }
  const prevObject = text(d, "previous_digest_object", problems, false);
  let previous: DigestFile["previous"];
  if (prevObject !== "") {
    const prevAlgorithm = text(d, "previous_digest_hash_algorithm", problems, false) || "MD5";
    const node = nodeHashName(prevAlgorithm);
    if (!node) problems.push(`unknown previous_digest_hash_algorithm "${prevAlgorithm}"`);
    previous = {
      bucket: text(d, "previous_digest_bucket", problems, false),
      object: prevObject,
      hashValue: text(d, "previous_digest_hash_value", problems).toLowerCase(),
      hashAlgorithm: node ?? "",
      // As written: it is part of the next signing string (reference §3.4), which signs these very characters.
      signature: text(d, "previous_digest_signature", problems),
    };
  }
  const logFiles: DigestLogFile[] = [];
  const rawFiles = d.log_files ?? [];
  if (!Array.isArray(rawFiles)) problems.push("log_files is not an array");
  else {
    rawFiles.forEach((entry: unknown, i) => {
      if (entry === null || typeof entry !== "object") {
        problems.push(`log_files[${i}] is not an object`);
        return;
      }
      const e = entry as Record<string, unknown>;
      const fileProblems: string[] = [];
      const objectKey = text(e, "object", fileProblems);
      const hashValue = text(e, "log_hash_value", fileProblems);
      const algorithm = text(e, "log_hash_algorithm", fileProblems, false) || "MD5";
      const node = nodeHashName(algorithm);
      if (!node) fileProblems.push(`unknown log_hash_algorithm "${algorithm}"`);
      problems.push(...fileProblems.map((p) => `log_files[${i}]: ${p}`));
      logFiles.push({
        bucket: text(e, "bucket", [], false),
        object: objectKey,
        hashValue: hashValue.toLowerCase(),
        hashAlgorithm: node ?? "",
      });
    });
  }
  if (problems.length > 0 || !startTime || !endTime) return { problems };
  return {
    digest: {
      projectId: text(d, "project_id", [], false),
      startTime,
      endTime,
      endTimeText,
      bucket,
      object,
      signatureAlgorithm,
      previous,
      logFiles,
    },
  };
}
