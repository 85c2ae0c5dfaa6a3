import { createHash, hash, type Hash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ByteBudget } from "./ByteBudget.js";
import { describeError, ParseError } from "../errors.js";
import { inflateGzip, inflateWholeMember, inflateWholeMemberAsync, type GzipFraming } from "./gzipMembers.js";
import { boundElements, isSkipped } from "./boundElements.js";
import { MAX_ELEMENT_BYTES, TraceArraySplitter } from "./TraceArraySplitter.js";
import type { ReadTraceOptions, ReadTraceResult } from "./types.js";

/** Skipped elements named in a result, at most (all are counted). */
export const MAX_OVERSIZED_LISTED = 16;

/** Notes one element skipped for its size. */
function noteOversized(result: ReadTraceResult, index: number, offset: number, bytes: number): void {
  result.oversized ??= { count: 0, elements: [] };
  result.oversized.count++;
  if (result.oversized.elements.length < MAX_OVERSIZED_LISTED)
    result.oversized.elements.push({ index, offset, bytes });
}

/**
 * Notes one element that is not a trace (not a JSON object, or malformed JSON within bounds the walk found; it
 * was counted among the file's traces): it is skipped, and the elements after it are read, so that one bad
 * element never costs the traces after it.
 */
function noteNotTrace(result: ReadTraceResult, where: string, reason: string): void {
  result.notTraces ??= { count: 0, elements: [] };
  result.notTraces.count++;
  if (result.notTraces.elements.length < MAX_OVERSIZED_LISTED)
    result.notTraces.elements.push({ where, reason });
}

/**
 * The failure of a file whose only faults are skipped elements (too large, or not traces): they were not
 * audited, and it must show.
 */
function skippedElementsError(result: ReadTraceResult): { code: string; message: string } | undefined {
  const o = result.oversized;
  const n = result.notTraces;
  if (!o && !n) return undefined;
  const parts: string[] = [];
  if (o) {
    const listed = o.elements
      .map((e) => `element ${e.index} at byte ${e.offset}: ${e.bytes} bytes`)
      .join("; ");
    parts.push(
      `${o.count} element(s) over ${MAX_ELEMENT_BYTES} bytes skipped unread, not a CTS trace (${listed}${o.count > o.elements.length ? "; ..." : ""})`,
    );
  }
  if (n) {
    const listed = n.elements.map((e) => `${e.where}: ${e.reason}`).join("; ");
    parts.push(
      `${n.count} element(s) skipped, not a trace (${listed}${n.count > n.elements.length ? "; ..." : ""})`,
    );
  }
  const skipped = (o?.count ?? 0) + (n?.count ?? 0);
  return {
    code: o ? "OVERSIZED" : "NOT_TRACE",
    message: `${parts.join("; and ")}; the other ${result.traces - skipped} traces were read`,
  };
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
// Inflated output per chunk: larger than zlib's 16 KB default, so that fewer chunks cross from the thread pool.
const GUNZIP_CHUNK = 128 * 1024;

/**
 * Reads one trace file from a stream of its stored bytes, once: hashes the stored bytes, gunzips when the content
 * is gzip (by magic bytes, not by name), and hands every trace object to `onTrace`.
 *
 * Shapes: a top-level array (CTS files), `{"traces": [...]}` (API exports), `{"cts": {...}}` (the CTS trigger
 * event), a single trace object, and NDJSON. Files up to `bufferLimit` decompressed bytes are parsed with
 * JSON.parse (fast); larger ones are streamed with stream-json in bounded memory.
 *
 * Never throws for bad content: the result carries the error, and the traces delivered before it stand.
 */
export async function readTraceFile(input: Readable, options: ReadTraceOptions): Promise<ReadTraceResult> {
  const hashes: Array<[string, Hash]> = options.hashAlgorithms.map((a) => [a, createHash(a)]);
  const result: ReadTraceResult = {
    bytes: 0,
    decompressedBytes: 0,
    hashes: {},
    gzip: false,
    traces: 0,
    shape: "",
  };
  let inputFailed = false;
  const source = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Chunks read ahead to see the magic bytes (a stream may hand them over one byte at a time).
  const ahead: Buffer[] = [];

  // Stored bytes, hashed as they pass. The iterator is shared so that a parse failure can drain the rest.
  async function* stored(): AsyncGenerator<Buffer> {
    while (ahead.length > 0) yield ahead.shift()!;
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      yield next.value;
    }
  }
  function account(chunk: Buffer): Buffer {
    result.bytes += chunk.length;
    for (const [, h] of hashes) h.update(chunk);
    return chunk;
  }
  const hashed = async function* (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of stored()) yield account(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    } catch (err) {
      inputFailed = true;
      throw new ParseError("READ", `reading the object failed: ${describeError(err)}`, { cause: err });
    }
  };

  const framing: GzipFraming = { members: 0 };
  let inflating: AsyncGenerator<Buffer> | undefined;
  try {
    let aheadBytes = 0;
    while (aheadBytes < 2) {
      const next = await source.next();
      if (next.done) break;
      ahead.push(next.value);
      aheadBytes += next.value.length;
    }
    const head = Buffer.concat(ahead);
    result.gzip = head.length >= 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
    inflating = result.gzip ? inflateGzip(hashed(), framing, GUNZIP_CHUNK) : undefined;
    let parseError: unknown;
    try {
      await parseContent(
        capped(inflating ?? hashed(), options.maxDecompressedBytes, result),
        options,
        result,
      );
    } catch (err) {
      parseError = err;
    }
    // The parser is done with the content: stop inflating (the feed stops pulling stored bytes, so that the rest
    // of them are read below by one reader, hashed in order).
    await inflating?.return(undefined);
    // A fault of the gzip framing (a bad trailer, a second member) explains a parse error as well (content after
    // the first array): it is the cause to report. Checked after parsing: every alert of what inflated stands.
    if (framing.problem) throw framing.problem;
    if (parseError) throw parseError;
  } catch (err) {
    result.error = toError(err);
  }
  result.error ??= skippedElementsError(result);
  if (!inputFailed) {
    // Drain what the parser did not need, so that the hashes cover every stored byte: integrity of a file
    // that fails to parse is still known (and a failing file is read once, not twice).
    try {
      for await (const chunk of stored()) account(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      for (const [name, h] of hashes) result.hashes[name] = h.digest("hex");
    } catch (err) {
      result.error ??= toError(new ParseError("READ", `reading the object failed: ${describeError(err)}`));
    }
  }
  input.destroy();
  return result;
}

// Largest output the in-memory path inflates in one call; anything bigger goes through the streaming path.
const WHOLE_INFLATE_LIMIT = 32 * 1024 * 1024;
// Inflated bytes the in-memory path holds at once, over all files in flight: memory stays bounded whatever the
// concurrency, and a file waits for room rather than streaming.
const WHOLE_INFLATE_BUDGET = 64 * 1024 * 1024;
// Stored sizes above which inflating goes to zlib's thread pool, in parallel with parsing other files here;
// below it the round trip costs more than inflating on this thread.
const ASYNC_INFLATE_BYTES = 64 * 1024;
const inflateBudget = new ByteBudget(WHOLE_INFLATE_BUDGET);

/**
 * Reads one trace file already in memory (one read of the object): the same result as readTraceFile, without
 * the stream machinery. Streaming zlib hands over one chunk at a time and costs several times what inflating
 * does (270 MB/s against 800 MB/s on the bench machine); a file of a few MB is inflated in one call instead,
 * into one buffer sized from the gzip trailer. Files whose trailer claims more than WHOLE_INFLATE_LIMIT, or
 * whose content is not what the trailer says, go through the streaming path, in bounded memory.
 */
export async function readTraceBuffer(stored: Buffer, options: ReadTraceOptions): Promise<ReadTraceResult> {
  const result: ReadTraceResult = {
    bytes: stored.length,
    decompressedBytes: 0,
    hashes: {},
    gzip: false,
    traces: 0,
    shape: "",
  };
  result.gzip = stored.length >= 2 && stored[0] === GZIP_MAGIC_0 && stored[1] === GZIP_MAGIC_1;
  // The trailer's size, when it is one a whole inflate may produce: a file that expands past it (a second
  // member, a lying trailer, a bomb) fails the one call and streams instead.
  const claimed = result.gzip && stored.length >= 18 ? stored.readUInt32LE(stored.length - 4) : -1;
  if (result.gzip && (claimed < 0 || claimed > Math.min(options.maxDecompressedBytes, WHOLE_INFLATE_LIMIT)))
    return readTraceFile(Readable.from([stored]), options);
  let content = stored;
  const held = result.gzip ? claimed : 0;
  if (!inflateBudget.tryAcquire(held)) await inflateBudget.acquire(held);
  try {
    // Larger files inflate on zlib's thread pool while this thread hashes the same bytes. One output buffer for
    // the whole file: zlib stops at the first byte past what the trailer claims.
    const inflating =
      result.gzip && stored.length > ASYNC_INFLATE_BYTES
        ? inflateWholeMemberAsync(stored, claimed + 1)
        : undefined;
    for (const algorithm of options.hashAlgorithms) result.hashes[algorithm] = hash(algorithm, stored, "hex");
    if (result.gzip) {
      const inflated = inflating ? await inflating : inflateWholeMember(stored, claimed + 1);
      // Truncated, corrupt, more members or more than the trailer says: the streaming path hands out every trace
      // that inflates and says what is wrong. The bytes are in memory: nothing is read twice.
      if (!inflated) return await readTraceFile(Readable.from([stored]), options);
      content = inflated;
    }
    return await parseWhole(content, options, result);
  } finally {
    inflateBudget.release(held);
  }
}

async function parseWhole(
  content: Buffer,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): Promise<ReadTraceResult> {
  result.decompressedBytes = content.length;
  try {
    if (content.length > options.maxDecompressedBytes) {
      throw new ParseError(
        "TOO_LARGE",
        `decompressed size exceeds the limit of ${options.maxDecompressedBytes} bytes (--max-decompressed-bytes): refusing a possible decompression bomb`,
      );
    }
    // A gzip file here is one well-formed member (inflateWholeMember checked it): any other goes to the stream.
    if (firstNonSpace([content]) === 0x5b /* [ */) {
      // A CTS file: split here and now, without the stream machinery (most files are a few KB).
      const splitter = arraySplitter(options, result);
      splitter.push(withoutBom(content));
      splitter.end();
    } else await parseContent(single(content), options, result);
  } catch (err) {
    result.error = toError(err);
  }
  result.error ??= skippedElementsError(result);
  return result;
}

function toError(err: unknown): { code: string; message: string } {
  if (err instanceof ParseError) return { code: err.code, message: err.message };
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && code.startsWith("Z_")) {
    return { code: "GZIP", message: `corrupt or truncated gzip data (${describeError(err)})` };
  }
  return { code: "PARSE", message: describeError(err) };
}

async function* capped(
  content: AsyncIterable<Buffer>,
  max: number,
  result: ReadTraceResult,
): AsyncGenerator<Buffer> {
  for await (const chunk of content) {
    result.decompressedBytes += chunk.length;
    if (result.decompressedBytes > max) {
      throw new ParseError(
        "TOO_LARGE",
        `decompressed size exceeds the limit of ${max} bytes (--max-decompressed-bytes): refusing a possible decompression bomb`,
      );
    }
    yield chunk;
  }
}

function firstNonSpace(chunks: readonly Buffer[]): number | undefined {
  for (const chunk of chunks) {
    for (const byte of chunk) {
      // Skip whitespace and a UTF-8 byte-order mark.
      if (
        byte === 0x20 ||
        byte === 0x0a ||
        byte === 0x0d ||
        byte === 0x09 ||
        byte === 0xef ||
        byte === 0xbb ||
        byte === 0xbf
      )
        continue;
      return byte;
    }
  }
  return undefined;
}

/** Whether a chunk is JSON whitespace only (no byte-order mark: that is only allowed at the start). */
function isBlank(chunk: Buffer): boolean {
  for (const byte of chunk)
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return false;
  return true;
}

// Bytes of content read before choosing a streaming parser: enough to see the shape (`[`, `{"traces"`, a first
// NDJSON line) even when the buffer limit is tiny.
const HEAD_BYTES = 64 * 1024;

async function parseContent(
  content: AsyncGenerator<Buffer>,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): Promise<void> {
  const buffered: Buffer[] = [];
  let size = 0;
  let ended = false;
  let first: number | undefined;
  try {
    // Enough to see the shape; an array (every CTS file) goes to the splitter straight away, in bounded memory.
    while (first === undefined || (first !== 0x5b && (size <= options.bufferLimit || size < HEAD_BYTES))) {
      const next = await content.next();
      if (next.done) {
        ended = true;
        break;
      }
      // Whitespace before the content is dropped, not buffered: it can be gigabytes of a small gzip file.
      if (first === undefined && isBlank(next.value)) continue;
      buffered.push(next.value);
      size += next.value.length;
      first ??= firstNonSpace([next.value]);
    }
  } catch (err) {
    // The bytes stopped (truncated gzip, read error) before the content ended: deliver the traces that are whole
    // in what did arrive, then report the failure. Alerts read before a failure are never lost.
    await salvage(Buffer.concat(buffered, size), options, result);
    throw err;
  }
  if (first === 0x5b /* [ */) {
    await parseArray(
      (async function* () {
        yield* buffered;
        if (!ended) yield* content;
      })(),
      options,
      result,
    );
    return;
  }
  const head = Buffer.concat(buffered, size);
  if (ended && size <= options.bufferLimit) {
    try {
      parseBuffered(head.toString("utf8"), options, result);
    } catch (err) {
      if (!(err instanceof ParseError) || err.code !== "JSON" || result.traces > 0) throw err;
      // JSON.parse saw an error somewhere: stream the same bytes, exactly as the streaming path would for a large
      // file. Its error (with position) is the one reported, after what stands before it was delivered; content
      // it reads whole (values one after another, as jq writes them) is read, as it would be were it large.
      await parseStreamingBuffer(head, options, result);
    }
    return;
  }
  const rest = (async function* () {
    yield head;
    yield* content;
  })();
  await parseStreaming(rest, firstNonSpace([head]), head.toString("utf8", 0, HEAD_BYTES), options, result);
}

/** A top-level array, split element by element; only elements the prefilter lets through are parsed. */
async function parseArray(
  content: AsyncIterable<Buffer>,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): Promise<void> {
  const splitter = arraySplitter(options, result);
  let firstChunk = true;
  for await (const chunk of content) {
    splitter.push(firstChunk ? withoutBom(chunk) : chunk);
    firstChunk = false;
  }
  splitter.end();
}

/** The splitter of a top-level array, parsing and handing out the elements the prefilter lets through. */
function arraySplitter(options: ReadTraceOptions, result: ReadTraceResult): TraceArraySplitter {
  result.shape = "array";
  return new TraceArraySplitter(
    options.prefilter,
    (index, bytes) => {
      result.traces++;
      if (!bytes) return;
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString("utf8"));
      } catch (err) {
        // The walk found the element's bounds (its strings and brackets balance): the next element starts after
        // them whatever is wrong inside, so this one is skipped and named, and the file read on.
        return noteNotTrace(result, `element ${index}`, `malformed JSON (${describeError(err)})`);
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return noteNotTrace(result, `element ${index}`, `not a JSON object (found ${kindOf(value)})`);
      }
      options.onTrace(value as Record<string, unknown>);
    },
    options.splitter,
    (index, offset, bytes) => noteOversized(result, index, offset, bytes),
  );
}

/** A UTF-8 byte-order mark before the array is tolerated, as JSON.parse of the decoded text would. */
function withoutBom(chunk: Buffer): Buffer {
  return chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? chunk.subarray(3) : chunk;
}

async function* single(buffer: Buffer): AsyncGenerator<Buffer> {
  yield buffer;
}

/** The streaming parsers over bytes already in memory: traces up to an error are delivered, as for a stream. */
function parseStreamingBuffer(
  content: Buffer,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): Promise<void> {
  return parseStreaming(
    single(content),
    firstNonSpace([content]),
    content.toString("utf8", 0, HEAD_BYTES),
    options,
    result,
  );
}

async function salvage(partial: Buffer, options: ReadTraceOptions, result: ReadTraceResult): Promise<void> {
  if (partial.length === 0) return;
  try {
    await parseStreamingBuffer(partial, options, result);
  } catch {
    // Expected: the partial content ends mid-value. The caller reports the original failure.
  }
}

/** What a JSON value is, for a message: `null`, `an array`, or its typeof. */
function kindOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

/** Hands one element, line or value to `onTrace`; one that is not a JSON object is counted, named and skipped. */
function deliver(value: unknown, where: string, options: ReadTraceOptions, result: ReadTraceResult): void {
  result.traces++;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return noteNotTrace(result, where, `not a JSON object (found ${kindOf(value)})`);
  }
  options.onTrace(value as Record<string, unknown>);
}

function deliverObject(
  value: Record<string, unknown>,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): void {
  if (Array.isArray(value.traces)) {
    result.shape = "traces";
    value.traces.forEach((t, i) => deliver(t, `traces[${i}]`, options, result));
  } else if (value.cts !== null && typeof value.cts === "object" && !Array.isArray(value.cts)) {
    result.shape = "cts";
    deliver(value.cts, "cts", options, result);
  } else if ("trace_name" in value || "trace_id" in value) {
    result.shape = "object";
    deliver(value, "the object", options, result);
  } else {
    throw new ParseError(
      "SHAPE",
      `JSON object is not a trace file: expected an array of traces, {"traces": [...]}, {"cts": {...}} or one trace (keys: ${Object.keys(value).slice(0, 5).join(", ") || "none"})`,
    );
  }
}

function parseBuffered(text: string, options: ReadTraceOptions, result: ReadTraceResult): void {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === "") throw new ParseError("EMPTY", "the object is empty: no JSON content");
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    if (body.trimStart().startsWith("{") && /\}\s*\r?\n\s*\{/.test(body)) {
      parseNdjsonText(body, options, result);
      return;
    }
    throw new ParseError("JSON", `malformed JSON: ${describeError(err)}`, { cause: err });
  }
  if (Array.isArray(value)) {
    result.shape = "array";
    value.forEach((t, i) => deliver(t, `element ${i}`, options, result));
  } else if (value !== null && typeof value === "object") {
    deliverObject(value as Record<string, unknown>, options, result);
  } else {
    throw new ParseError("SHAPE", `JSON ${typeof value} is not a trace file: expected an array or an object`);
  }
}

function parseNdjsonText(text: string, options: ReadTraceOptions, result: ReadTraceResult): void {
  result.shape = "ndjson";
  const lines = text.split("\n");
  let read = 0;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      // Not one value a line from the start (concatenated pretty-printed objects, jq's output): the caller reads
      // the text as a stream of values instead.
      if (read === 0)
        throw new ParseError("JSON", `malformed NDJSON at line ${i + 1}: ${describeError(err)}`, {
          cause: err,
        });
      // NDJSON it is, and its lines stand alone: a malformed one costs no other.
      result.traces++;
      return noteNotTrace(result, `line ${i + 1}`, `malformed JSON (${describeError(err)})`);
    }
    read++;
    deliver(value, `line ${i + 1}`, options, result);
  });
}

async function parseStreaming(
  content: AsyncIterable<Buffer>,
  firstByte: number | undefined,
  head: string,
  options: ReadTraceOptions,
  result: ReadTraceResult,
): Promise<void> {
  // stream-json serves the shapes the splitter does not (large exports, NDJSON): loaded only when one comes.
  const [{ streamArray }, { pick }, { streamValues }, { parser: jsonParser }] = await Promise.all([
    import("stream-json/streamers/stream-array.js"),
    import("stream-json/filters/pick.js"),
    import("stream-json/streamers/stream-values.js"),
    import("stream-json"),
  ]);
  // Elements are held whole by the assembler: each is bounded on its way there (the top-level values, or the
  // elements of the traces array), and one too large is skipped, reported, and the rest read.
  const isTraces = firstByte === 0x7b && /^\uFEFF?\s*\{\s*"traces"\s*:/.test(head);
  const bounded = boundElements(content, firstByte === 0x5b ? 2 : isTraces ? 3 : 1, (index, offset, bytes) =>
    noteOversized(result, index, offset, bytes),
  );
  const source = Readable.from(bounded, { objectMode: false });
  // An error thrown in a sink reaches pipeline() as an abort; keep ours so the message says what was wrong.
  let failure: unknown;
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      failure = err;
      throw err;
    }
  };
  const elements = async (items: AsyncIterable<{ key: unknown; value: unknown }>) => {
    for await (const { key, value } of items) {
      if (isSkipped(value)) result.traces++;
      else guard(() => deliver(value, `element ${String(key)}`, options, result));
    }
  };
  try {
    if (firstByte === 0x5b /* [ */) {
      result.shape = "array";
      await pipeline(source, streamArray.withParserAsStream(), elements);
    } else if (isTraces) {
      // An API export with "traces" first: stream its elements in bounded memory.
      result.shape = "traces";
      await pipeline(
        source,
        jsonParser.asStream(),
        pick.asStream({ filter: "traces" }),
        streamArray.asStream(),
        elements,
      );
    } else if (firstByte === 0x7b) {
      // NDJSON (one trace a line), or one large object: each top-level value in turn.
      let values = 0;
      await pipeline(
        source,
        streamValues.withParserAsStream({ jsonStreaming: true }),
        async (items: AsyncIterable<{ key: number; value: unknown }>) => {
          for await (const { value } of items) {
            values++;
            if (isSkipped(value)) {
              // A skipped top-level value: counted as a trace, as one line of NDJSON would be.
              result.traces++;
              continue;
            }
            guard(() => {
              if (value === null || typeof value !== "object" || Array.isArray(value)) {
                deliver(value, `value ${values}`, options, result);
              } else if (values > 1 || result.shape === "ndjson") {
                result.shape = "ndjson";
                deliver(value, `line ${values}`, options, result);
              } else deliverObject(value as Record<string, unknown>, options, result);
            });
            // A second top-level object means NDJSON: the first was a trace, not a wrapper.
            if (values === 2) result.shape = "ndjson";
          }
        },
      );
    } else {
      throw new ParseError("SHAPE", "content is not JSON: expected an array or an object");
    }
  } catch (err) {
    const cause = failure ?? err;
    if (cause instanceof ParseError) throw cause;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) throw cause;
    throw new ParseError("JSON", `malformed JSON: ${describeError(cause)}`, { cause });
  }
}
