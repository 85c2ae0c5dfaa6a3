/**
 * Builds CTS-shaped buckets in code: gzipped trace files under the documented key layout and hourly digest files
 * signed with a given RSA key, chained as CTS chains them (reference §1.1, §3). Used by the tests (keys generated
 * at test time) and by scripts/generate-sample-bucket.ts (the committed test key).
 */
import { createHash, createHash as hash, sign, type KeyObject } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

export interface TraceSpec {
  traceName: string;
  sourceIp: string;
  time: Date;
  user?: string;
  domain?: string;
  serviceType?: string;
  /** Extra or overriding raw fields. */
  extra?: Record<string, unknown>;
}

export interface FileSpec {
  region?: string;
  tracker?: string;
  service?: string;
  uploadTime: Date;
  prefix?: string;
  traces: Array<Record<string, unknown>>;
  /** Store the JSON uncompressed (`.json`). */
  plain?: boolean;
}

export interface DigestSpec {
  region?: string;
  tracker?: string;
  service: string;
  /** Hourly digests from `from` to `to` (exclusive), each covering the hour before its end. */
  from: Date;
  to: Date;
  prefix?: string;
  /** Signatures in upper-case hex (in metadata and in the next digest's previous_digest_signature). */
  upperCaseSignatures?: boolean;
}

/** `2024-07-19T03-08-47Z`: CTS's time format in file names and digests. */
export function ctsTime(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/:/g, "-");
}

function dayFolder(date: Date): string {
  const y = date.getUTCFullYear();
  const m = String(date.getUTCMonth() + 1).padStart(2, "0");
  const d = String(date.getUTCDate()).padStart(2, "0");
  return `${y}/${m}/${d}`;
}

export function md5Hex(bytes: Buffer): string {
  return createHash("md5").update(bytes).digest("hex");
}

let counter = 0;
/** Starts trace ids afresh, so that a generator run gives the same ids wherever it runs. */
export function resetTraceIds(): void {
  counter = 0;
}
/** A deterministic UUID-shaped id from a seed. */
export function idFrom(seed: string): string {
  const h = hash("sha1").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-1${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A realistic IAM (or other service) trace, keys sorted, `user` as a JSON string like real CTS files. */
export function makeTrace(spec: TraceSpec): Record<string, unknown> {
  const user = spec.user ?? "alice";
  const domain = spec.domain ?? "acme";
  const time = spec.time.getTime();
  const id = idFrom(`${spec.traceName}|${spec.sourceIp}|${time}|${user}|${counter++}`);
  const service = spec.serviceType ?? "IAM";
  const failed = spec.traceName.toLowerCase().endsWith("failed");
  const trace: Record<string, unknown> = {
    code: failed ? "401" : service === "IAM" ? "302" : 200,
    domain_id: "b1dd218393794db892fa784b8e1a0bda",
    event_type: service === "IAM" ? "global" : "system",
    project_id: "59336be373624a998b2527fdb9913266",
    read_only: false,
    record_time: time + 17,
    resource_id: idFrom(user).replace(/-/g, ""),
    resource_name: user,
    resource_type: service === "IAM" ? "user" : "server",
    service_type: service,
    source_ip: spec.sourceIp,
    time,
    trace_id: id,
    trace_name: spec.traceName,
    trace_rating: failed ? "warning" : "normal",
    trace_type: "ConsoleAction",
    tracker_name: "system",
    user: JSON.stringify({
      name: user,
      id: idFrom(`user:${user}`).replace(/-/g, ""),
      domain: { name: domain, id: "b1dd218393794db892fa784b8e1a0bda" },
    }),
    ...spec.extra,
  };
  return trace;
}

interface StoredFile {
  key: string;
  bytes: Buffer;
  region: string;
  tracker: string;
  service: string;
  uploadTime: Date;
}

/** An in-memory bucket: objects (key -> bytes) and their metadata, writable to a directory with sidecars. */
export class CtsBucket {
  readonly objects = new Map<string, Buffer>();
  readonly metadata = new Map<string, Record<string, string>>();
  private readonly traceFiles: StoredFile[] = [];
  private readonly lastDigest = new Map<string, { key: string; md5: string; signature: string }>();

  constructor(
    private readonly privateKey: KeyObject,
    readonly bucketName = "cts-bucket",
  ) {}

  /** Adds a trace file; returns its key. */
  addTraceFile(spec: FileSpec): string {
    const region = spec.region ?? "ap-southeast-1";
    const tracker = spec.tracker ?? "system";
    const service = spec.service ?? "IAM";
    const prefix = spec.prefix ?? "cts";
    const rand = hash("sha1")
      .update(`${service}${spec.uploadTime.toISOString()}${this.traceFiles.length}`)
      .digest("hex")
      .slice(0, 16);
    const name = `${prefix}_CloudTrace_${region}_${ctsTime(spec.uploadTime)}_${rand}.json${spec.plain ? "" : ".gz"}`;
    const folder = `CloudTraces/${region}/${dayFolder(spec.uploadTime)}/${tracker}${service ? `/${service}` : ""}`;
    const key = `${folder}/${name}`;
    const json = Buffer.from(JSON.stringify(spec.traces));
    const bytes = spec.plain ? json : gzipSync(json);
    this.objects.set(key, bytes);
    this.traceFiles.push({ key, bytes, region, tracker, service, uploadTime: spec.uploadTime });
    return key;
  }

  /** Puts raw bytes at a key (for corrupt or foreign objects). */
  put(key: string, bytes: Buffer, metadata?: Record<string, string>): void {
    this.objects.set(key, bytes);
    if (metadata) this.metadata.set(key, metadata);
  }

  /** Adds signed, chained hourly digests for one chain; returns their keys, oldest first. */
  addDigests(spec: DigestSpec): string[] {
    const region = spec.region ?? "ap-southeast-1";
    const tracker = spec.tracker ?? "system";
    const prefix = spec.prefix ?? "cts";
    const chain = `${region}/${tracker}/${spec.service}`;
    const keys: string[] = [];
    for (let end = spec.from.getTime() + 3600_000; end <= spec.to.getTime(); end += 3600_000) {
      const endDate = new Date(end);
      const start = new Date(end - 3600_000);
      const key = `CloudTraces/${region}/${dayFolder(endDate)}/${tracker}/Digest/${spec.service}/${prefix}_CloudTrace-Digest_${region}_${ctsTime(endDate)}.json.gz`;
      const files = this.traceFiles.filter(
        (f) =>
          f.region === region &&
          f.tracker === tracker &&
          f.service === spec.service &&
          f.uploadTime.getTime() >= start.getTime() &&
          f.uploadTime.getTime() < end,
      );
      const prev = this.lastDigest.get(chain);
      const body: Record<string, unknown> = {
        project_id: "59336be373624a998b2527fdb9913266",
        digest_start_time: ctsTime(start),
        digest_end_time: ctsTime(endDate),
        digest_bucket: this.bucketName,
        digest_object: key,
        digest_signature_algorithm: "SHA256withRSA",
        digest_end: false,
        previous_digest_end: false,
        log_files: files.map((f) => ({
          bucket: this.bucketName,
          object: f.key,
          log_hash_value: md5Hex(f.bytes),
          log_hash_algorithm: "MD5",
        })),
      };
      if (prev) {
        Object.assign(body, {
          previous_digest_bucket: this.bucketName,
          previous_digest_object: prev.key,
          previous_digest_hash_value: prev.md5,
          previous_digest_hash_algorithm: "MD5",
          previous_digest_signature: prev.signature,
        });
      }
      const bytes = gzipSync(Buffer.from(JSON.stringify(body)));
      const md5 = md5Hex(bytes);
      const signed = this.sign(`${ctsTime(endDate)}${key}${md5}${prev?.signature ?? ""}`);
      const signature = spec.upperCaseSignatures ? signed.toUpperCase() : signed;
      this.objects.set(key, bytes);
      this.metadata.set(key, { signature, "signature-algorithm": "SHA256withRSA" });
      this.lastDigest.set(chain, { key, md5, signature });
      keys.push(key);
    }
    return keys;
  }

  /** SHA256withRSA, hex: CTS's digest signature. */
  sign(message: string): string {
    return sign("sha256", Buffer.from(message, "utf8"), this.privateKey).toString("hex");
  }

  /** Writes every object under `dir`, metadata as `<file>.meta.json` sidecars. */
  writeTo(dir: string): void {
    for (const [key, bytes] of this.objects) {
      const file = path.join(dir, ...key.split("/"));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, bytes);
      const meta = this.metadata.get(key);
      if (meta) writeFileSync(`${file}.meta.json`, `${JSON.stringify(meta, null, 2)}\n`);
    }
  }
}
