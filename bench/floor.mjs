// The floor: gunzip + md5 of the same files in one Node process, as many in flight as the scan has.
// Usage: node bench/floor.mjs <concurrency> <file...>   Prints {"seconds", "decompressed"} on stdout.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";

const [concurrencyText, ...files] = process.argv.slice(2);
const start = process.hrtime.bigint();
let decompressed = 0;
async function one(file) {
  const md5 = createHash("md5");
  const gunzip = createGunzip();
  const input = createReadStream(file, { highWaterMark: 256 * 1024 });
  input.on("data", (c) => md5.update(c));
  input.pipe(gunzip);
  for await (const chunk of gunzip) decompressed += chunk.length;
  md5.digest("hex");
}
let next = 0;
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (next < files.length) await one(files[next++]);
  }),
);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(
  JSON.stringify({ seconds, decompressed, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + "\n",
);
