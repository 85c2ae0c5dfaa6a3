// Runs the built cts-audit command line in this process and reports its wall time and peak RSS (VmHWM) on stderr, with
// the peaks of anonymous memory (the heap and buffers) and of file-backed pages (a memory-mapped database's pages
// the kernel may drop at will) sampled from /proc every 50 ms.
// Usage: node bench/measure.mjs <cts-audit args...>
import { readFileSync } from "node:fs";

const start = process.hrtime.bigint();
const peak = { anonMb: 0, fileMb: 0 };
const sample = () => {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    peak.anonMb = Math.max(peak.anonMb, kb("RssAnon") / 1024);
    peak.fileMb = Math.max(peak.fileMb, (kb("RssFile") + kb("RssShmem")) / 1024);
  } catch {
    // not Linux: only the total peak
  }
};
const timer = setInterval(sample, 50);
timer.unref();
// The peak of this process's own memory (VmHWM). getrusage's maxRSS is not it on Linux: a child started with fork
// and exec inherits the parent's peak at the fork, so a bench process holding a large corpus inflated the figure.
const hwmMb = () => {
  try {
    return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
};
// The main thread's own CPU (utime + stime, in USER_HZ ticks of 10 ms): the thread a scan waits on, where the
// process's CPU also counts zlib's pool, the garbage collector's helpers and the listing worker.
const mainCpuSeconds = () => {
  try {
    const fields =
      readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
};
process.on("exit", () => {
  sample();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const hwm = hwmMb();
  const usage = process.resourceUsage();
  const maxRssMb = Number.isFinite(hwm) ? hwm : usage.maxRSS / 1024;
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stderr.write(
    `MEASURE ${JSON.stringify({ seconds, maxRssMb, cpuSeconds, mainCpuSeconds: mainCpuSeconds(), ...peak })}\n`,
  );
});
process.argv = [process.argv[0], "cts-audit", ...process.argv.slice(2)];
await import("../dist/cli.js");
