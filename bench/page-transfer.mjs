// What a listing page costs the main thread to take from a worker (ListingWorker): the objects structured-cloned,
// against the page as ListingWorker posts it (keys joined by NUL, sizes and times in one moved Float64Array).
// Either way the main thread builds the SourceObjects with a Date each. The main thread's own CPU is read from
// /proc (Linux): deserialising happens before the message handler runs, so timing the handler misses it.
// Usage: node bench/page-transfer.mjs objects|encoded   Prints the main thread's µs an object.
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

const mode = process.argv[2];
if (mode !== "objects" && mode !== "encoded") throw new Error("usage: page-transfer.mjs objects|encoded");
const PAGES = 200;
const PER_PAGE = 2740; // a day's folder of the scale corpus
const worker = new Worker(
  `const { parentPort, workerData } = require("node:worker_threads");
  const { mode, PAGES, PER_PAGE } = workerData;
  parentPort.once("message", () => {
    for (let p = 0; p < PAGES; p++) {
      const keys = [], numbers = [], objects = [];
      for (let i = 0; i < PER_PAGE; i++) {
        const key = "CloudTraces/ap-southeast-1/2026/01/" + String(p).padStart(3, "0") +
          "/system/IAM/cts_CloudTrace_ap-southeast-1_2026-01-01T00-00-" + String(i).padStart(5, "0") + "Z_0123abcd.json.gz";
        if (mode === "objects") objects.push({ key, size: 4000 + i, lastModified: 1.7e12 + i });
        else keys.push(key), numbers.push(4000 + i, 1.7e12 + i);
      }
      if (mode === "objects") parentPort.postMessage(objects);
      else {
        const f = new Float64Array(numbers);
        parentPort.postMessage({ keys: keys.join("\\0"), numbers: f }, [f.buffer]);
      }
    }
  });`,
  { eval: true, workerData: { mode, PAGES, PER_PAGE } },
);
const mainCpuMs = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in USER_HZ (100) ticks
};
let pages = 0;
let objects = 0;
const before = mainCpuMs();
worker.on("message", (m) => {
  const page = [];
  if (mode === "objects")
    for (const o of m) page.push({ key: o.key, size: o.size, lastModified: new Date(o.lastModified) });
  else {
    const keys = m.keys.split("\0");
    for (let i = 0; i < keys.length; i++)
      page.push({ key: keys[i], size: m.numbers[2 * i], lastModified: new Date(m.numbers[2 * i + 1]) });
  }
  objects += page.length;
  if (++pages === PAGES) void worker.terminate();
});
worker.on("exit", () => {
  const ms = mainCpuMs() - before;
  console.log(
    JSON.stringify({ mode, objects, mainThreadMs: ms, usPerObject: +((ms * 1000) / objects).toFixed(2) }),
  );
});
worker.postMessage("go");
