// The floor: the work no scan of large files can skip, done the fastest way this machine does it, in one Node
// process. Usage: node bench/floor.mjs [whole|stream] <concurrency> <file...>
//   whole   (default) read each file whole, MD5 it on this thread while zlib.gunzip inflates it in one call on
//           libuv's thread pool, into one buffer; <concurrency> files in flight, so that both cores stay busy.
//   stream  the former floor: a read stream hashed as it passes, piped through a streaming gunzip.
// Prints {"seconds", "decompressed", "maxRssMb"} on stdout. The bench runs both and keeps the faster as 1.00x, so
// that its ratios measure the scan, not a slow baseline.
import { createHash, hash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { createGunzip, gunzip } from "node:zlib";

const args = process.argv.slice(2);
const mode = args[0] === "whole" || args[0] === "stream" ? args.shift() : "whole";
const [concurrencyText, ...files] = args;
const gunzipAsync = promisify(gunzip);
/** This process's own peak RSS (VmHWM): getrusage's maxRSS includes the bench's own at the fork (see measure.mjs). */
function peakRssMb() {
  try {
    return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024;
  } catch {
    return process.resourceUsage().maxRSS / 1024;
  }
}
const start = process.hrtime.bigint();
let decompressed = 0;

async function whole(file) {
  const stored = await readFile(file);
  // Started first: the inflate runs on the pool while this thread hashes. One output buffer sized from the gzip
  // trailer (zlib's 16 KB default hands hundreds of chunks back across threads, and costs a third more).
  const inflating = gunzipAsync(stored, {
    chunkSize: Math.max(64 * 1024, stored.readUInt32LE(stored.length - 4) + 1),
  });
  hash("md5", stored, "hex");
  decompressed += (await inflating).length;
}

async function stream(file) {
  const md5 = createHash("md5");
  const gunzipStream = createGunzip();
  const input = createReadStream(file, { highWaterMark: 256 * 1024 });
  input.on("data", (c) => md5.update(c));
  input.pipe(gunzipStream);
  for await (const chunk of gunzipStream) decompressed += chunk.length;
  md5.digest("hex");
}

const one = mode === "stream" ? stream : whole;
let next = 0;
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (next < files.length) await one(files[next++]);
  }),
);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(JSON.stringify({ seconds, decompressed, maxRssMb: peakRssMb() }) + "\n");
