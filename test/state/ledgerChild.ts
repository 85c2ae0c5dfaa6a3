// A second process for test/state/LocalLedger.test.ts (run with `node --import tsx`): it holds a ledger's writer
// lock, or writes units until it is killed, and says on stdout what it has done.
//   hold <file>            opens the ledger and prints "locked", then waits to be killed
//   write <file> <perUnit> writes units u0, u1, ... and prints "unit <n>" after each putObjects returned
//   once <file>            writes one unit, closes, prints "closed" and leaves the process to exit by itself
//   batches <file> <per>   writes batches b0, b1, ... of unit u (keys u/b<n>-k<i>), prints "batch <n>" after each
import { hostname } from "node:os";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { outcomeFor } from "./ledgerFixtures.js";

const [mode, file, perUnit = "50"] = process.argv.slice(2);
if (!file) throw new Error("usage: ledgerChild.ts hold|write <file> [perUnit]");
const ledger = new LocalLedger(file, { retentionMs: 365 * 86_400_000 });
await ledger.open({
  holder: {
    run: `child-${process.pid}`,
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command: `ledger child ${mode}`,
  },
  lockWaitMs: 5_000,
});
process.stdout.write("locked\n");
if (mode === "once") {
  await ledger.putObjects("u0", [["u0/k0", outcomeFor("u0/k0")]]);
  await ledger.close();
  process.stdout.write("closed\n");
} else if (mode === "batches") {
  for (let b = 0; ; b++) {
    const rows = Array.from(
      { length: Number(perUnit) },
      (_, i) => [`u/b${b}-k${i}`, outcomeFor(`u/b${b}-k${i}`)] as const,
    );
    await ledger.putObjects("u", rows);
    process.stdout.write(`batch ${b}\n`);
  }
} else if (mode === "hold") {
  setInterval(() => undefined, 60_000);
} else {
  for (let u = 0; ; u++) {
    const unit = `u${u}`;
    const rows = Array.from(
      { length: Number(perUnit) },
      (_, i) => [`${unit}/k${i}`, outcomeFor(`${unit}/k${i}`)] as const,
    );
    await ledger.putObjects(unit, rows);
    process.stdout.write(`unit ${u}\n`);
  }
}
