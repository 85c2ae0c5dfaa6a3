import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { constants, gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readTraceBuffer, readTraceFile } from "../../src/parse/readTraceFile.js";
import { MAX_ELEMENT_BYTES } from "../../src/parse/TraceArraySplitter.js";

const traces = [
  { trace_id: "a", trace_name: "login", source_ip: "203.0.113.7", time: 1 },
  {
    trace_id: "b",
    trace_name: "logout",
    source_ip: "2001:db8::1",
    message: 'quote " brace } [ ] \\u00e9',
    time: 2,
  },
  { trace_id: "c", trace_name: "loginFailed", user: '{"name":"x"}', time: 3 },
];

/** Feeds bytes in small chunks, so that elements and gzip members straddle chunk boundaries. */
function chunked(bytes: Buffer, size = 7): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

async function read(bytes: Buffer, bufferLimit: number, chunkSize = 7) {
  const seen: Array<Record<string, unknown>> = [];
  const result = await readTraceFile(chunked(bytes, chunkSize), {
    hashAlgorithms: ["md5", "sha256"],
    maxDecompressedBytes: 1024 * 1024,
    bufferLimit,
    onTrace: (t) => seen.push(t),
  });
  return { result, seen };
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const ndjson = traces.map((t) => JSON.stringify(t)).join("\n") + "\n";

const shapes: Array<[string, string, number]> = [
  ["array", JSON.stringify(traces), 3],
  ["array, pretty-printed with CRLF", JSON.stringify(traces, null, 2).replace(/\n/g, "\r\n"), 3],
  ["traces", JSON.stringify({ traces, meta_data: { count: 3 } }), 3],
  ["cts", JSON.stringify({ cts: traces[0] }), 1],
  ["object", JSON.stringify(traces[1]), 1],
  ["ndjson", ndjson, 3],
  // Values one after another, pretty-printed (jq's output): not NDJSON line by line, read as a stream of values.
  ["concatenated pretty-printed objects", traces.map((t) => JSON.stringify(t, null, 2)).join("\n") + "\n", 3],
];

describe("readTraceFile", () => {
  // bufferLimit 1 MB: the JSON.parse fast path; 0: the stream-json path. Both must give the same traces.
  describe.each([
    ["buffered", 1024 * 1024],
    ["streaming", 0],
  ])("%s", (_mode, bufferLimit) => {
    it.each(shapes)("reads shape %s (gzip and plain, decided by content)", async (_name, json, count) => {
      for (const bytes of [gzipSync(Buffer.from(json)), Buffer.from(json)]) {
        const { result, seen } = await read(bytes, bufferLimit);
        expect(result.error).toBeUndefined();
        expect(result.traces).toBe(count);
        expect(seen).toEqual(
          _name === "cts" ? [traces[0]] : _name === "object" ? [traces[1]] : traces.slice(0, count),
        );
        expect(result.hashes.md5).toBe(md5(bytes));
        expect(result.hashes.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
        expect(result.bytes).toBe(bytes.length);
        expect(result.gzip).toBe(bytes[0] === 0x1f);
        expect(result.decompressedBytes).toBe(Buffer.byteLength(json));
      }
    });

    it("reports a truncated gzip, keeps the traces read before it, and still hashes every byte", async () => {
      const many = Array.from({ length: 2000 }, (_, i) => ({
        trace_id: `id${i}`,
        trace_name: "login",
        pad: "x".repeat(i % 50),
      }));
      const whole = gzipSync(Buffer.from(JSON.stringify(many)), { level: 1 });
      const truncated = whole.subarray(0, Math.floor(whole.length * 0.6));
      const { result, seen } = await read(truncated, bufferLimit, 1024);
      expect(result.error?.code).toMatch(/GZIP|JSON/);
      expect(result.error?.message).toMatch(/gzip|JSON|end/i);
      expect(result.hashes.md5).toBe(md5(truncated));
      expect(result.bytes).toBe(truncated.length);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.length).toBe(result.traces);
    });

    it.each([1024, 4096, 65536])(
      "delivers every trace whole in what a truncated gzip inflates to, fed in chunks of %i bytes",
      async (chunkSize) => {
        // Compressible, as real traces are: each chunk of input inflates to many chunks of output.
        const many = Array.from({ length: 1_500 }, (_, i) => ({
          trace_id: `id${i}`,
          trace_name: "login",
          pad: "x".repeat(500 + (i % 50)),
        }));
        const gz = gzipSync(Buffer.from(JSON.stringify(many)));
        const truncated = gz.subarray(0, Math.floor(gz.length * 0.7));
        // All that the bytes can give: inflate without insisting on the end of the stream.
        const inflatable = gunzipSync(truncated, { finishFlush: constants.Z_SYNC_FLUSH }).toString();
        const whole = inflatable.split("}").length - 1;
        const { result, seen } = await read(truncated, bufferLimit, chunkSize);
        expect(result.error?.code).toBe("GZIP");
        expect(whole).toBeGreaterThan(500);
        expect(seen.map((t) => t.trace_id)).toEqual(many.slice(0, whole).map((t) => t.trace_id));
      },
    );

    it.each([
      ["gzip", true],
      ["plain", false],
    ])("fails with READ when the %s stream breaks part-way, after the traces it carried", async (_n, gz) => {
      const many = Array.from({ length: 3_000 }, (_, i) => ({ trace_id: `id${i}`, trace_name: "login" }));
      const text = Buffer.from(JSON.stringify(many));
      const bytes = gz ? gzipSync(text) : text;
      // Half of the bytes in 1 KB chunks: several can be buffered, read ahead of the parser, when the break comes.
      const parts: Buffer[] = [];
      for (let at = 0; at < bytes.length / 2; at += 1024) parts.push(bytes.subarray(at, at + 1024));
      const broken = Readable.from(
        (async function* () {
          yield* parts;
          throw new Error("connection reset by peer");
        })(),
        { objectMode: false },
      );
      const seen: Array<Record<string, unknown>> = [];
      const result = await readTraceFile(broken, {
        hashAlgorithms: ["md5"],
        maxDecompressedBytes: 1024 * 1024,
        bufferLimit,
        onTrace: (t) => seen.push(t),
      });
      expect(result.error?.code).toBe("READ");
      expect(result.error?.message).toMatch(/connection reset/);
      // Every trace whole in what arrived, and no other.
      const arrived = Buffer.concat(parts);
      const content = gz ? gunzipSync(arrived, { finishFlush: constants.Z_SYNC_FLUSH }) : arrived;
      const whole = content.toString().split("}").length - 1;
      expect(whole).toBeGreaterThan(1_000);
      expect(seen.map((t) => t.trace_id)).toEqual(many.slice(0, whole).map((t) => t.trace_id));
      // Not every byte was read: no hash can be vouched for.
      expect(result.hashes).toEqual({});
    });

    it.each([
      ["malformed JSON", '[{"trace_id": "a"}, {"trace_id": ', /malformed JSON|JSON/],
      ["a JSON string", '"hello"', /not a trace file|not JSON|expected/],
      ["an object that is not a trace", '{"foo": 1, "bar": 2}', /not a trace file|no "traces" array/],
    ])("fails on %s with a clear message", async (_name, text, pattern) => {
      const { result } = await read(gzipSync(Buffer.from(text)), bufferLimit);
      expect(result.error?.message).toMatch(pattern);
    });

    // One element that is not a trace never costs the traces after it: it is counted, named and skipped, and the
    // file fails at the end (NOT_TRACE) with every trace read.
    const [t0, t1, t2] = traces.map((t) => JSON.stringify(t));
    it.each([
      ["numbers, null and arrays in an array", `[1, ${t0}, null, [${t1}], ${t1}, "x", ${t2}, true]`, 5, 8],
      [
        "an array element that is malformed JSON inside",
        `[${t0}, {"trace_id": "z", "x": tru}, ${t1}, ${t2}]`,
        1,
        4,
      ],
      ["an array of non-objects only", "[1, 2]", 2, 2],
      ["non-objects in an export's traces", `{"traces": [${t0}, 1, ${t1}, [], ${t2}]}`, 2, 5],
    ])("skips and names %s, and reads on", async (_name, text, skipped, total) => {
      for (const bytes of [gzipSync(Buffer.from(text)), Buffer.from(text)]) {
        const { result, seen } = await read(bytes, bufferLimit, 5);
        expect(seen.map((t) => t.trace_id)).toEqual(["a", "b", "c"].slice(0, total - skipped));
        expect(result.traces).toBe(total);
        expect(result.error?.code).toBe("NOT_TRACE");
        expect(result.error?.message).toContain(`${skipped} element(s) skipped, not a trace`);
        expect(result.error?.message).toContain(`the other ${total - skipped} traces were read`);
        expect(result.notTraces?.count).toBe(skipped);
        // Every stored byte was read: the file's hash is still known.
        expect(result.hashes.md5).toBe(md5(bytes));
      }
    });
  });

  it("fails an empty object", async () => {
    const { result } = await read(Buffer.alloc(0), 1024);
    expect(result.error?.code).toBe("EMPTY");
    expect(result.hashes.md5).toBe(md5(Buffer.alloc(0)));
  });

  it("fails a non-gzip binary named anything", async () => {
    const { result } = await read(Buffer.from([0x00, 0x01, 0x02, 0xff]), 1024);
    expect(result.error).toBeDefined();
  });

  it("enforces the decompressed-size cap (decompression bomb guard)", async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from("["), Buffer.alloc(5 * 1024 * 1024, 0x20)]));
    const seen: unknown[] = [];
    const result = await readTraceFile(Readable.from([bomb]), {
      hashAlgorithms: ["md5"],
      maxDecompressedBytes: 1024 * 1024,
      bufferLimit: 64 * 1024,
      onTrace: (t) => seen.push(t),
    });
    expect(result.error?.code).toBe("TOO_LARGE");
    expect(result.error?.message).toContain("--max-decompressed-bytes");
    expect(result.hashes.md5).toBe(md5(bomb));
  });

  it("streams a file larger than the buffer limit and yields every element in order", async () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({
      trace_id: `id${i}`,
      trace_name: i % 7 ? "x" : "login",
      s: 'é}"]',
    }));
    const { result, seen } = await read(gzipSync(Buffer.from(JSON.stringify(many))), 16 * 1024, 4096);
    expect(result.error).toBeUndefined();
    expect(seen.map((t) => t.trace_id)).toEqual(many.map((t) => t.trace_id));
  });

  it("reports the NDJSON line that is malformed", async () => {
    const { result, seen } = await read(Buffer.from(`${ndjson}{"trace_id": oops}\n`), 1024 * 1024);
    expect(result.error?.message).toContain("line 4");
    expect(seen).toHaveLength(3);
  });

  // Buffered only: NDJSON over the buffer limit goes to stream-json, whose parser stops at the first bad line.
  it("skips and names malformed NDJSON lines and values that are not objects, and reads the lines after them", async () => {
    const [t0, t1, t2] = traces.map((t) => JSON.stringify(t));
    const text = `${t0}\n{"trace_id": oops}\n${t1}\n7\n${t2}\n`;
    const { result, seen } = await read(Buffer.from(text), 1024 * 1024);
    expect(seen.map((t) => t.trace_id)).toEqual(["a", "b", "c"]);
    expect(result.traces).toBe(5);
    expect(result.error?.code).toBe("NOT_TRACE");
    expect(result.error?.message).toMatch(
      /line 2: malformed JSON .*; line 4: not a JSON object \(found number\)/,
    );
  });
});

describe.each(["wasm", "js"] as const)("an element over the cap, %s splitter", (engine) => {
  it("is skipped, counted and named; the logins around it are read; the file fails OVERSIZED", async () => {
    const big = `{"trace_id":"big","trace_name":"login","pad":"${"x".repeat(MAX_ELEMENT_BYTES)}"}`;
    const text = `[{"trace_id":"a","trace_name":"login"},${big},{"trace_id":"b","trace_name":"login"}]`;
    const seen: string[] = [];
    const result = await readTraceFile(chunked(Buffer.from(text), 3 * 1024 * 1024 + 7), {
      hashAlgorithms: [],
      maxDecompressedBytes: 1024 ** 3,
      bufferLimit: 0,
      prefilter: new Set(["login"]),
      splitter: engine,
      onTrace: (t) => void seen.push(String(t.trace_id)),
    });
    expect(seen).toEqual(["a", "b"]);
    expect(result.traces).toBe(3);
    const offset = text.indexOf('{"trace_id":"big"');
    expect(result.oversized).toEqual({ count: 1, elements: [{ index: 1, offset, bytes: big.length }] });
    expect(result.error?.code).toBe("OVERSIZED");
    expect(result.error?.message).toContain(`element 1 at byte ${offset}: ${big.length} bytes`);
  });
});

describe("readTraceBuffer (a whole object in memory)", () => {
  const many = Array.from({ length: 3000 }, (_, i) => ({
    trace_id: `id${i}`,
    trace_name: i % 5 ? "createUser" : "login",
    pad: "y".repeat(i % 70),
  }));
  const json = Buffer.from(JSON.stringify(many));
  const gz = gzipSync(json);
  /** The trailer's size field set to `size`: a lying trailer. */
  const withTrailerSize = (bytes: Buffer, size: number) => {
    const copy = Buffer.from(bytes);
    copy.writeUInt32LE(size, copy.length - 4);
    return copy;
  };
  const cases: Array<[string, Buffer, number?]> = [
    ["a gzip file above the thread-pool threshold", gz],
    ["a small gzip file", gzipSync(Buffer.from(JSON.stringify(traces)))],
    ["plain JSON", json],
    ["every shape: traces", gzipSync(Buffer.from(shapes[2]![1]))],
    ["every shape: NDJSON", gzipSync(Buffer.from(ndjson))],
    ["a truncated gzip", gz.subarray(0, Math.floor(gz.length * 0.7))],
    ["two gzip members", Buffer.concat([gzipSync(Buffer.from("[")), gzipSync(json.subarray(1))])],
    ["a trailer that claims less than the content", withTrailerSize(gz, 100)],
    ["a trailer that claims more than the content", withTrailerSize(gz, json.length + 5000)],
    ["a trailer that claims more than the whole-inflate limit", withTrailerSize(gz, 2 ** 31)],
    ["content past the decompressed-size cap", gz, 64 * 1024],
    ["an empty object", Buffer.alloc(0)],
    ["gzip magic and nothing else", Buffer.from([0x1f, 0x8b])],
  ];

  it.each(cases)("gives what the streaming reader gives for %s", async (_name, bytes, cap) => {
    const run = async (reader: typeof readTraceFile | typeof readTraceBuffer) => {
      const seen: Array<Record<string, unknown>> = [];
      const options = {
        hashAlgorithms: ["md5"],
        maxDecompressedBytes: cap ?? 1024 * 1024 * 1024,
        bufferLimit: 8 * 1024 * 1024,
        prefilter: new Set(["login"]),
        onTrace: (t: Record<string, unknown>) => void seen.push(t),
      };
      const result =
        reader === readTraceFile
          ? await readTraceFile(Readable.from([bytes]), options)
          : await readTraceBuffer(bytes, options);
      // The streaming reader gets the bytes in one chunk, as from a whole read. The prefilter is conservative (an
      // element cut by a chunk boundary may be handed out too): what must be equal is what the audit keeps.
      return { result, audited: seen.filter((t) => String(t.trace_name).toLowerCase() === "login") };
    };
    const streamed = await run(readTraceFile);
    const whole = await run(readTraceBuffer);
    expect(whole).toEqual(streamed);
    expect(whole.result.hashes.md5).toBe(md5(bytes));
  });

  it("holds at most its memory budget of inflated bytes across files in flight", async () => {
    // 12 files each claiming 24 MB (a 1-byte trailer lie would stream; these are real): all read, none lost.
    const big = gzipSync(
      Buffer.concat([Buffer.from("["), Buffer.alloc(24 * 1024 * 1024, 0x20), Buffer.from("]")]),
    );
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        readTraceBuffer(big, {
          hashAlgorithms: [],
          maxDecompressedBytes: 1024 ** 3,
          bufferLimit: 0,
          prefilter: new Set(["login"]),
          onTrace: () => undefined,
        }),
      ),
    );
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.decompressedBytes).toBe(24 * 1024 * 1024 + 2);
    }
  });
});
