// A process of its own for test/sources/LocalSource.worker.test.ts (run with `node --import tsx`): it lists a tree
// with the walk on a worker after the first page, then leaves the process to exit by itself.
//   <root> return   takes one page, then ends the listing (the iterator's return, as a `break` does)
//   <root> drop     takes one page, then drops the iterator without ending it
//   <root> all      reads the listing to its end
// It prints the pages (and objects) it saw and the workers started.
import { ListingWorker } from "../../src/sources/ListingWorker.js";
import { LocalSource } from "../../src/sources/LocalSource.js";

const [root, mode] = process.argv.slice(2);
if (!root || !mode) throw new Error("usage: listChild.ts <root> return|drop|all");
const source = await LocalSource.open(root, { listOnWorkerAfter: 1 });
const iterator = source.pages()[Symbol.asyncIterator]();
if (mode === "all") {
  let pages = 0;
  let objects = 0;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    pages++;
    objects += next.value.length;
  }
  process.stdout.write(`pages ${pages} objects ${objects} started ${ListingWorker.started}\n`);
} else {
  await iterator.next();
  // The worker is running by now (it starts with the first page) and may be waiting for credits.
  if (mode === "return") await iterator.return?.();
  process.stdout.write(`pages 1 started ${ListingWorker.started}\n`);
}
