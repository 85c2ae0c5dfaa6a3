/**
 * The scale corpus: a replay-sized local bucket of small IAM trace files (as CTS writes them every few minutes),
 * with hourly signed digests chained across days, generated once and cached (a million files take a minute or two
 * to write). About 1% of files hold a login from outside the allowlist, each with its own trace id.
 */
import { createHash, createPrivateKey, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const DAY_MS = 86_400_000;
/** Files a day: one every ~31.5 s, as a busy IAM folder. */
export const FILES_PER_DAY = 2740;
const START = Date.UTC(2024, 0, 1);

const ctsTime = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/:/g, "-");
const dayFolder = (ms: number) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, "/");
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

function traces(i: number, at: number): string {
  const id = (n: number) =>
    `${(i * 7 + n).toString(16).padStart(8, "0")}-4c2e-11ef-9a1b-${i.toString(16).padStart(12, "0")}`;
  const user = `user-${i % 200}`;
  const base = {
    api_version: "3.0",
    domain_id: "b1dd218393794db892fa784b8e1a0bda",
    service_type: "IAM",
    tracker_name: "system",
    trace_type: "ConsoleAction",
    user: JSON.stringify({
      name: user,
      id: createHash("md5").update(user).digest("hex"),
      domain: { name: "acme", id: "b1dd" },
    }),
    user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0",
  };
  const list = [
    {
      ...base,
      trace_id: id(1),
      trace_name: "createUser",
      code: "201",
      source_ip: "198.51.100.9",
      time: at - 20_000,
    },
    {
      ...base,
      trace_id: id(2),
      trace_name: "login",
      code: "302",
      source_ip: `192.0.2.${i % 250}`,
      time: at - 10_000,
    },
  ];
  if (i % 100 === 0)
    list.push({
      ...base,
      trace_id: id(3),
      trace_name: "login",
      code: "302",
      source_ip: `203.0.113.${i % 250}`,
      time: at - 5_000,
    });
  return JSON.stringify(list);
}

/**
 * Writes (once) `files` trace files and their digests under `dir`; returns the directory. `keyPem` signs the
 * digests (the test key pair in fixtures/keys).
 */
export function scaleCorpus(dir: string, files: number, keyPem: string): string {
  // Beside the bucket, not in it: the scan would list it.
  const done = `${dir}.complete`;
  if (existsSync(done) && readFileSync(done, "utf8") === String(files)) return dir;
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  const key = createPrivateKey(keyPem);
  const step = DAY_MS / FILES_PER_DAY;
  let prev: { key: string; md5: string; signature: string } | undefined;
  let hour: Array<{ object: string; md5: string }> = [];
  let hourEnd = START + 3_600_000;
  let madeDir = "";
  const digest = (end: number) => {
    const k = `CloudTraces/ap-southeast-1/${dayFolder(end)}/system/Digest/IAM/bench_CloudTrace-Digest_ap-southeast-1_${ctsTime(end)}.json.gz`;
    const body = {
      project_id: "59336be373624a998b2527fdb9913266",
      digest_start_time: ctsTime(end - 3_600_000),
      digest_end_time: ctsTime(end),
      digest_bucket: "bench",
      digest_object: k,
      digest_signature_algorithm: "SHA256withRSA",
      digest_end: false,
      previous_digest_end: false,
      log_files: hour.map((f) => ({
        bucket: "bench",
        object: f.object,
        log_hash_value: f.md5,
        log_hash_algorithm: "MD5",
      })),
      ...(prev
        ? {
            previous_digest_bucket: "bench",
            previous_digest_object: prev.key,
            previous_digest_hash_value: prev.md5,
            previous_digest_hash_algorithm: "MD5",
            previous_digest_signature: prev.signature,
          }
        : {}),
    };
    const bytes = gzipSync(JSON.stringify(body));
    const m = md5(bytes);
    const signature = sign(
      "sha256",
      Buffer.from(`${ctsTime(end)}${k}${m}${prev?.signature ?? ""}`),
      key,
    ).toString("hex");
    const file = path.join(tmp, ...k.split("/"));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    writeFileSync(`${file}.meta.json`, JSON.stringify({ signature, "signature-algorithm": "SHA256withRSA" }));
    prev = { key: k, md5: m, signature };
    hour = [];
  };
  for (let i = 0; i < files; i++) {
    const at = Math.floor(START + i * step);
    while (at >= hourEnd) {
      digest(hourEnd);
      hourEnd += 3_600_000;
    }
    const folder = `CloudTraces/ap-southeast-1/${dayFolder(at)}/system/IAM`;
    const object = `${folder}/bench_CloudTrace_ap-southeast-1_${ctsTime(at)}_${i.toString(16).padStart(16, "0")}.json.gz`;
    const bytes = gzipSync(traces(i, at), { level: 1 });
    if (madeDir !== folder) {
      mkdirSync(path.join(tmp, ...folder.split("/")), { recursive: true });
      madeDir = folder;
    }
    writeFileSync(path.join(tmp, ...object.split("/")), bytes);
    hour.push({ object, md5: md5(bytes) });
  }
  digest(hourEnd);
  renameSync(tmp, dir);
  writeFileSync(done, String(files));
  return dir;
}
