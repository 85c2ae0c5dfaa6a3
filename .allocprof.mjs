// Sampling allocation profile including collected objects: node .allocprof.mjs out.heapprofile <cli args>
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
const out = process.argv[2];
const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");
await session.post("HeapProfiler.startSampling", {
  samplingInterval: 32768,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
let saved = false;
const save = async () => {
  if (saved) return;
  saved = true;
  const { profile } = await session.post("HeapProfiler.stopSampling");
  writeFileSync(out, JSON.stringify(profile));
};
process.on("beforeExit", save);
const realExit = process.exit;
process.exit = (code) => { save().then(() => realExit(code)); };
process.argv = [process.argv[0], "cts-audit", ...process.argv.slice(3)];
await import("./dist/cli.js");
