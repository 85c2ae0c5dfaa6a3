// A process of its own for test/sources/LocalSource.worker.test.ts (run with `node --expose-gc --import tsx`): it
// lists a tree with the walk on a worker, keeps one key of every page (as a run keeps its alerts' keys), and prints
// the heap that holding those keys costs: the heap used with them kept, minus the heap used once they are dropped.
//   <root>
import { LocalSource } from "../../src/sources/LocalSource.js";

const [root] = process.argv.slice(2);
if (!root) throw new Error("usage: retainChild.ts <root>");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const source = await LocalSource.open(root, { listOnWorkerAfter: 0 });
let kept: string[] = [];
for await (const page of source.pages()) if (page[0]) kept.push(page[0].key);
gc();
const withKeys = process.memoryUsage().heapUsed;
const pages = kept.length;
kept = [];
gc();
const withoutKeys = process.memoryUsage().heapUsed;
process.stdout.write(`${JSON.stringify({ pages, retainedBytes: withKeys - withoutKeys })}\n`);
