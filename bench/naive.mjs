// The naive checker: whole-file gunzip + JSON.parse, then the same filter as cts-audit's `ip-not-allowed` rule
// (an audited login name, case-insensitive; IAM or no service; an address outside 192.0.2.0/24), file after file.
// Usage: node bench/naive.mjs <events,comma,separated> <file...>
// Prints {"seconds", "decompressed", "alerts", "maxRssMb"} on stdout.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

const [eventsText = "", ...files] = process.argv.slice(2);
const EVENTS = new Set(eventsText.split(",").map((e) => e.toLowerCase()));
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
let alerts = 0;
for (const file of files) {
  const text = gunzipSync(readFileSync(file));
  decompressed += text.length;
  for (const t of JSON.parse(text.toString("utf8"))) {
    if (
      EVENTS.has(String(t.trace_name).toLowerCase()) &&
      (t.service_type ?? "IAM") === "IAM" &&
      !String(t.source_ip).startsWith("192.0.2.")
    )
      alerts++;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(JSON.stringify({ seconds, decompressed, alerts, maxRssMb: peakRssMb() }) + "\n");
