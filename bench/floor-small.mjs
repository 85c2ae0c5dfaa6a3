// The small-file floor: the work a scan of a local directory cannot skip, and nothing else. It lists the
// directory with a stat a file (a scan needs sizes and times: the report, the resume ledger, the choice between a
// whole read and a stream), reads each file once, MD5s it (integrity) and inflates it. No parsing, no audit, no
// report. The naive checker does neither the listing nor the MD5: the gap between the two is what a scan has left
// for everything else.
// Usage: node bench/floor-small.mjs <dir>   Prints {"files", "decompressed"} on stdout.
import { hash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";

const files = [];
(function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full);
    else files.push([full, statSync(full).size]);
  }
})(process.argv[2]);
let decompressed = 0;
for (const [file, size] of files) {
  const fd = openSync(file, "r");
  const buffer = Buffer.allocUnsafe(size + 1);
  const n = readSync(fd, buffer, 0, size + 1, null);
  closeSync(fd);
  const stored = buffer.subarray(0, n);
  hash("md5", stored, "hex");
  // Inflated as the scan does it: one output buffer sized from the gzip trailer.
  const claimed = stored.readUInt32LE(n - 4);
  decompressed += gunzipSync(stored, {
    maxOutputLength: claimed + 1,
    chunkSize: Math.max(4095, claimed + 1),
  }).length;
}
process.stdout.write(JSON.stringify({ files: files.length, decompressed }) + "\n");
