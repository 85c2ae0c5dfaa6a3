// Runs the built cts-audit command line in this process and reports its wall time and peak RSS on stderr.
// Usage: node bench/measure.mjs <cts-audit args...>
const start = process.hrtime.bigint();
process.on("exit", () => {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stderr.write(
    `MEASURE ${JSON.stringify({ seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
});
process.argv = [process.argv[0], "cts-audit", ...process.argv.slice(2)];
await import("../dist/cli.js");
