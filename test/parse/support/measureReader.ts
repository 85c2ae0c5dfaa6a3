/**
 * Reads one generated trace file with readTraceFile and prints, as JSON, the most memory the reader held: after a
 * full GC at each pull of the input, heap plus array buffers. Run with `node --expose-gc --import tsx`. The input
 * makes a fresh buffer for each chunk, so what the reader keeps is what is counted.
 * Usage: measureReader.ts <shape> <megabytes>
 */
import { Readable } from "node:stream";
import { readTraceFile } from "../../../src/parse/readTraceFile.js";

const [shape = "whitespace", mbArg = "200"] = process.argv.slice(2);
const big = Number(mbArg) * 1024 * 1024;
const login = '{"trace_id":"after","trace_name":"login","source_ip":"203.0.113.7"}';
const bigElement = (fill: number) => ({
  head: '{"trace_id":"big","trace_name":"login","pad":"',
  fill,
  tail: '"}',
});

/** The file as parts: strings as they are, numbers as that many filler bytes. */
function parts(): Array<string | number> {
  const e = bigElement(big);
  switch (shape) {
    case "whitespace":
      return [-big, `[${login}]`];
    case "array":
      return ["[", e.head, e.fill, e.tail, ",", login, "]"];
    case "traces":
      return ['{"traces":[', e.head, e.fill, e.tail, ",", login, "]}"];
    case "ndjson":
      return [e.head, e.fill, e.tail, "\n", login, "\n"];
    default:
      throw new Error(`unknown shape ${shape}`);
  }
}

const gc = (globalThis as { gc?: () => void }).gc!;
let peak = 0;
function sample(): void {
  gc();
  const m = process.memoryUsage();
  peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
}
function* chunks(): Generator<Buffer> {
  for (const part of parts()) {
    if (typeof part === "string") {
      yield Buffer.from(part);
      continue;
    }
    // Negative: whitespace; positive: string filler.
    for (let left = Math.abs(part); left > 0; left -= 1024 * 1024) {
      sample();
      yield Buffer.alloc(Math.min(left, 1024 * 1024), part < 0 ? 0x20 : 0x78);
    }
  }
}

gc();
const base = process.memoryUsage();
const logins: string[] = [];
const result = await readTraceFile(Readable.from(chunks(), { objectMode: false }), {
  hashAlgorithms: ["md5"],
  maxDecompressedBytes: 4 * 1024 ** 3,
  bufferLimit: 8 * 1024 * 1024,
  prefilter: new Set(["login"]),
  onTrace: (t) => {
    // The trace handed out is held at this moment: a reader that built a huge one shows it here.
    sample();
    logins.push(String(t.trace_id));
  },
});
process.stdout.write(
  JSON.stringify({
    heldBytes: peak - (base.heapUsed + base.arrayBuffers),
    logins,
    error: result.error,
    oversized: result.oversized,
    traces: result.traces,
  }),
);
