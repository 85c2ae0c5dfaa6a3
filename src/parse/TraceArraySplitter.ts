import { ParseError } from "../errors.js";
import { TRACE_SCANNER_WASM_BASE64 } from "./traceScanner.wasm.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const TRACE_NAME = Buffer.from("trace_name");
/** Bytes of one element kept for parsing at most; larger ones are counted, not kept. */
export const MAX_ELEMENT_BYTES = 64 * 1024 * 1024;

/** Whether the 10 bytes at `at` spell trace_name (compared here: a native compare call costs more). */
function isTraceName(chunk: Buffer, at: number): boolean {
  for (let k = 0; k < 10; k++) if (chunk[at + k] !== TRACE_NAME[k]) return false;
  return true;
}
// Bytes of a string scanned one by one before a run without quotes or backslashes is jumped with indexOf.

// Byte classes for the walk. The bracket kinds are ordered so that a closer's kind minus 2 is its opener's.
const ORDINARY = 0;
const QUOTE_KIND = 1;
const OPEN_BRACE_KIND = 2;
const OPEN_BRACKET_KIND = 3;
const CLOSE_BRACE_KIND = 4;
const CLOSE_BRACKET_KIND = 5;
const SPACE_KIND = 6;
const COMMA_KIND = 7;
const COLON_KIND = 8;
const KIND = new Uint8Array(256);
KIND[QUOTE] = QUOTE_KIND;
KIND[OPEN_BRACE] = OPEN_BRACE_KIND;
KIND[OPEN_BRACKET] = OPEN_BRACKET_KIND;
KIND[CLOSE_BRACE] = CLOSE_BRACE_KIND;
KIND[CLOSE_BRACKET] = CLOSE_BRACKET_KIND;
KIND[COMMA] = COMMA_KIND;
KIND[0x3a] = COLON_KIND;
for (const c of [0x20, 0x0a, 0x0d, 0x09]) KIND[c] = SPACE_KIND;

/**
 * Splits a top-level JSON array of objects (a CTS trace file) into its elements, chunk by chunk, without parsing
 * them, and says of each whether its `trace_name` can be one of the audited names. Only those are handed to
 * JSON.parse; the rest are counted. That is what makes the scan fast: JSON tokenising is the bottleneck, and
 * about 97% of traces are not logins.
 *
 * Written by hand because no library splits JSON array elements as raw bytes (stream-json assembles every value,
 * at a quarter of JSON.parse's speed). It tracks strings (with escapes, across chunk boundaries) and bracket
 * nesting, validates the structure between elements, and jumps through string contents with Buffer.indexOf.
 * The prefilter is conservative: an element is parsed when any `"trace_name"` key in it (top-level or nested)
 * has an audited value, when such a value holds an escape, or when the element has no plain `"trace_name"`
 * key but holds a `\u` escape (a key could be spelled with one). Property tests check that it yields exactly the
 * alerts of a full parse.
 *
 * Two engines walk the bytes, with the same state machine and the same decisions: `wasm` (traceScanner.wat,
 * which crosses string contents 16 bytes at a time with SIMD: about four times the speed) and `js` (the walk
 * below, for a platform without WebAssembly SIMD). The property tests run both.
 *
 * What it does not do: validate the tokens inside an element it does not parse (a corrupt number in a
 * non-login trace is not noticed; the file's digest hash still is).
 */
export class TraceArraySplitter {
  private depth = 0;
  /** Kinds of the open brackets inside the array, to check that `}` closes `{` and `]` closes `[`. */
  private readonly stack: number[] = [];
  private inString = false;
  /** The next byte is escaped (a chunk ended on an odd run of backslashes inside a string). */
  private escaped = false;
  private closed = false;
  /** Arrays after the first one. */
  private arrays = 0;
  /** Inside the array, between elements: a `,` or `]` is due. */
  private afterElement = false;
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** The current element outgrew MAX_ELEMENT_BYTES: its bytes are no longer kept, only counted. */
  private oversized = false;
  private oversizedBytes = 0;
  /** Content offset of the window being walked (bytes pushed before it). */
  private base = 0;
  /** At the element's top level, the next string is a key. */
  private keyNext = false;
  /** The next top-level value is the `trace_name` key's. */
  private nameValueNext = false;
  /** The current element must be parsed. */
  private mustParseElement = false;
  /** A bare element (a number or literal, not an object) cut by the chunk's end. */
  private inBareElement = false;
  private elements = 0;

  /**
   * @param names audited trace names, lower-case; undefined to hand out every element
   * @param onElement called for each element with its bytes, or undefined when it need not be parsed
   * @param onOversized called for an element over MAX_ELEMENT_BYTES (skipped: onElement gets no bytes), with its
   *   content offset and size
   */
  constructor(
    private readonly names: ReadonlySet<string> | undefined,
    private readonly onElement: (index: number, bytes: Buffer | undefined) => void,
    engine: SplitterEngine = DEFAULT_ENGINE,
    private readonly onOversized?: (index: number, offset: number, bytes: number) => void,
  ) {
    const key = names ?? NO_NAMES;
    let prepared = preparedNames.get(key);
    if (!prepared) {
      // Only ASCII names can equal an ASCII value; a value with other bytes is always parsed (see auditedName).
      const ascii = new Set([...key].filter((n) => [...n].every((c) => c.charCodeAt(0) < 0x80)));
      prepared = { ascii, lengths: new Set([...ascii].map((n) => n.length)) };
      preparedNames.set(key, prepared);
    }
    this.asciiNames = prepared.ascii;
    this.lengths = prepared.lengths;
    this.wasm = engine === "wasm" ? WasmWalk.create(key, this.asciiNames, names === undefined) : undefined;
  }

  /** The audited names that are ASCII, and their lengths. */
  private readonly asciiNames: ReadonlySet<string>;
  private readonly lengths: ReadonlySet<number>;
  /** The WebAssembly walk's state, when that engine is in use. */
  private wasm: WasmWalk | undefined;

  /** The engine in use: `wasm` unless asked for `js` or the platform has no WebAssembly SIMD. */
  get engine(): SplitterEngine {
    return this.wasm ? "wasm" : "js";
  }

  /** Feeds the next chunk of decompressed content. Throws a ParseError on a structural error. */
  push(chunk: Buffer): void {
    // The module walks a window of its memory at a time; windows are chunks like any other.
    const base = this.base;
    for (let at = 0; at < chunk.length; at += WINDOW) {
      const window = chunk.subarray(at, at + WINDOW);
      this.base = base + at;
      if (this.wasm) this.pushWasm(this.wasm, window);
      else this.pushJs(window);
    }
    this.base = base + chunk.length;
  }

  /** One window of the WebAssembly walk: the same steps as pushJs, with the loop in traceScanner.wat. */
  private pushWasm(walk: WasmWalk, window: Buffer): void {
    const scanner = walk.load(this.pieces.length > 0 || this.oversized ? 0 : -1, window);
    for (;;) {
      const status = scanner.scan();
      const records = scanner.state[S_RECORDS]!;
      for (let r = 0; r < records; r++) {
        const at = r * 3;
        const mustParse = scanner.records[at + 2] !== 0;
        this.finishElement(window, scanner.records[at]!, scanner.records[at + 1]!, mustParse);
      }
      scanner.state[S_RECORDS] = 0;
      if (status === 1) continue;
      walk.save();
      if (status === 7) return this.continueInJs(walk, window);
      // An element that is not an object (the module stopped just after its first byte): rare, and never a
      // trace, so the JavaScript walk, which hands such elements over to be named and skipped, takes the rest.
      if (status === 6) {
        walk.state[S_POS]!--;
        return this.continueInJs(walk, window);
      }
      if (status !== 0) throw this.walkError(status, window[walk.state[S_POS]!]!, walk.state[S_CLOSED] !== 0);
      break;
    }
    this.keepPiece(window, walk.state[S_START]!);
  }

  /**
   * An element nests deeper than the module's bracket stack (a million levels; JSON.parse takes more): the
   * JavaScript walk, whose stack grows, takes over from the byte the module stopped at, for the rest of the
   * file.
   */
  private continueInJs(walk: WasmWalk, window: Buffer): void {
    const state = walk.state;
    const at = state[S_POS]!;
    this.depth = state[S_DEPTH]!;
    this.stack.length = 0;
    for (const kind of walk.openBrackets()) this.stack.push(kind);
    this.inString = false;
    this.escaped = false;
    this.closed = state[S_CLOSED] !== 0;
    this.arrays = state[S_ARRAYS]!;
    this.afterElement = state[S_AFTER_ELEMENT] !== 0;
    this.keyNext = state[S_KEY_NEXT] !== 0;
    this.nameValueNext = state[S_NAME_VALUE_NEXT] !== 0;
    this.mustParseElement = state[S_MUST_PARSE] !== 0;
    walk.release();
    this.wasm = undefined;
    this.keepPiece(window.subarray(0, at), state[S_START]!);
    this.base += at;
    this.pushJs(window.subarray(at));
  }

  private walkError(status: number, byte: number, closed: boolean): ParseError {
    switch (status) {
      case 2:
        return new ParseError(
          "JSON",
          `malformed JSON: mismatched ${String.fromCharCode(byte)} in element ${this.elements}`,
        );
      case 3:
        return new ParseError(
          closed ? "JSON" : "SHAPE",
          closed ? "malformed JSON: content after the end of the array" : "content is not a JSON array",
        );
      case 4:
        return new ParseError("JSON", `malformed JSON: unexpected , before element ${this.elements}`);
      case 5:
        return new ParseError("JSON", `malformed JSON: missing , before element ${this.elements}`);
      case 6:
        return new ParseError("SHAPE", `element ${this.elements} is not a JSON object`);
      default:
        return new ParseError(
          "JSON",
          `malformed JSON: nesting deeper than ${MAX_NESTING} levels in element ${this.elements}`,
        );
    }
  }

  /** The walk of one chunk in JavaScript. */
  private pushJs(chunk: Buffer): void {
    const len = chunk.length;
    const stack = this.stack;
    let depth = this.depth;
    let start = this.pieces.length > 0 || this.oversized ? 0 : -1;
    let i = 0;
    // Element state in locals for the loop; written back whenever an element ends or the chunk does.
    let keyNext = this.keyNext;
    let nameValueNext = this.nameValueNext;
    let mustParse = this.mustParseElement;
    if (this.inString) {
      const from = this.escaped ? 1 : 0;
      this.escaped = false;
      i = this.skipString(chunk, from);
      // A top-level string cut by the last chunk's end was decided conservatively; what it was is consumed.
      if (!this.inString && depth === 2) {
        if (keyNext) keyNext = false;
        else nameValueNext = false;
      }
      // A string element (not a trace) ended.
      if (!this.inString && depth === 1) {
        this.finishElement(chunk, start, i, true);
        start = -1;
        this.afterElement = true;
      }
    } else if (this.inBareElement) {
      i = skipBare(chunk, 0);
      if (i < len) {
        this.inBareElement = false;
        this.finishElement(chunk, start, i, true);
        start = -1;
        this.afterElement = true;
      }
    }
    // One tight loop, one table lookup a byte outside strings and two comparisons a byte inside them: a walk
    // written with indexOf or with more branches runs at a third of this speed.
    while (i < len) {
      const kind = KIND[chunk[i]!]!;
      if (depth >= 2) {
        // Inside an element: strings and brackets; at the element's top level also `,` and `:`, to tell keys
        // from values and find the `trace_name` key exactly.
        if (kind === ORDINARY || kind === SPACE_KIND) {
          i++;
        } else if (kind === QUOTE_KIND) {
          // The string, inline (this is where most bytes are).
          const from = ++i;
          let escapeAt = -1;
          for (;;) {
            if (i >= len) {
              this.inString = true;
              // A backslash as the chunk's last byte escapes the first byte of the next one.
              this.escaped = i > len;
              // A top-level key or trace_name value cut by the chunk's end: decide conservatively.
              if (depth === 2 && (keyNext || nameValueNext)) mustParse = true;
              break;
            }
            const c = chunk[i]!;
            if (c === QUOTE) {
              if (depth === 2) {
                if (keyNext) {
                  keyNext = false;
                  // A key with an escape may spell trace_name (`trace\u005fname`): parse such an element.
                  if (escapeAt >= from) mustParse = true;
                  else if (i - from === TRACE_NAME.length && isTraceName(chunk, from)) nameValueNext = true;
                } else if (nameValueNext) {
                  nameValueNext = false;
                  if (!mustParse && this.auditedName(chunk, from, i, escapeAt)) mustParse = true;
                }
              }
              i++;
              break;
            }
            if (c === BACKSLASH) {
              escapeAt = i;
              i += 2;
            } else i++;
          }
        } else if (kind >= COMMA_KIND) {
          if (depth === 2) {
            if (kind === COMMA_KIND) {
              keyNext = true;
              nameValueNext = false;
            } else keyNext = false;
          }
          i++;
        } else if (kind <= OPEN_BRACKET_KIND) {
          // An object or array value: not a string, so not an audited trace_name.
          if (depth === 2) nameValueNext = false;
          stack.push(kind);
          depth++;
          i++;
        } else {
          const open = stack.pop();
          if (open !== kind - 2) {
            throw new ParseError(
              "JSON",
              `malformed JSON: mismatched ${String.fromCharCode(chunk[i]!)} in element ${this.elements}`,
            );
          }
          depth--;
          i++;
          if (depth === 1) {
            this.depth = depth;
            this.finishElement(chunk, start, i, mustParse);
            start = -1;
            this.afterElement = true;
          }
        }
        continue;
      }
      i++;
      if (kind === SPACE_KIND) continue;
      if (depth === 0) {
        if (kind !== OPEN_BRACKET_KIND) {
          throw new ParseError(
            this.closed ? "JSON" : "SHAPE",
            this.closed
              ? "malformed JSON: content after the end of the array"
              : "content is not a JSON array",
          );
        }
        // A second array after the first (concatenated files or gzip members): its traces are read all the
        // same, so that nothing hidden behind the first array goes unaudited, and the file fails at the end.
        if (this.closed) this.arrays++;
        this.closed = false;
        this.afterElement = false;
        depth = 1;
      } else if (kind === CLOSE_BRACKET_KIND) {
        depth = 0;
        this.closed = true;
      } else if (kind === COMMA_KIND) {
        if (!this.afterElement)
          throw new ParseError("JSON", `malformed JSON: unexpected , before element ${this.elements}`);
        this.afterElement = false;
      } else if (kind === OPEN_BRACE_KIND) {
        if (this.afterElement)
          throw new ParseError("JSON", `malformed JSON: missing , before element ${this.elements}`);
        stack.push(kind);
        depth = 2;
        start = i - 1;
        keyNext = true;
        nameValueNext = false;
        mustParse = this.names === undefined;
      } else if (kind === OPEN_BRACKET_KIND || kind === QUOTE_KIND || kind === ORDINARY) {
        // Not an object, so not a trace, yet an element of the array: handed over whole to be named and
        // skipped, so that one bad element never costs the traces after it.
        if (this.afterElement)
          throw new ParseError("JSON", `malformed JSON: missing , before element ${this.elements}`);
        start = i - 1;
        mustParse = true;
        if (kind === OPEN_BRACKET_KIND) {
          stack.push(kind);
          depth = 2;
          keyNext = false;
          nameValueNext = false;
          continue;
        }
        i = kind === QUOTE_KIND ? this.skipString(chunk, i) : skipBare(chunk, i);
        if (kind === QUOTE_KIND ? this.inString : i >= len) {
          this.inBareElement = kind === ORDINARY;
          break;
        }
        this.depth = depth;
        this.finishElement(chunk, start, i, true);
        start = -1;
        this.afterElement = true;
      } else {
        throw new ParseError(
          "JSON",
          `malformed JSON: unexpected ${String.fromCharCode(chunk[i - 1]!)} before element ${this.elements}`,
        );
      }
    }
    this.depth = depth;
    this.keyNext = keyNext;
    this.nameValueNext = nameValueNext;
    this.mustParseElement = mustParse;
    this.keepPiece(chunk, start);
  }

  /** Keeps the bytes of an element that the chunk's end cut (from `start`; -1 when there is none). */
  private keepPiece(chunk: Buffer, start: number): void {
    if (start === -1) return;
    const piece = start === 0 ? chunk : chunk.subarray(start);
    if (this.oversized) {
      this.oversizedBytes += piece.length;
      return;
    }
    this.pieces.push(piece);
    this.pieceBytes += piece.length;
    // A trace is kilobytes. An element this large is kept no longer (memory stays bounded): it is skipped,
    // counted and reported, and the elements after it are read as usual.
    if (this.pieceBytes > MAX_ELEMENT_BYTES) {
      this.pieces = [];
      this.oversizedBytes = this.pieceBytes;
      this.pieceBytes = 0;
      this.oversized = true;
    }
  }

  /**
   * Skips string content from `i` (just after the opening quote); returns the index after the closing quote, or
   * the chunk's length with `inString` (and `escaped`, after a trailing backslash) set for the next chunk.
   */
  private skipString(chunk: Buffer, i: number): number {
    const len = chunk.length;
    while (i < len) {
      const c = chunk[i]!;
      if (c === QUOTE) {
        this.inString = false;
        return i + 1;
      }
      i += c === BACKSLASH ? 2 : 1;
    }
    this.inString = true;
    // A backslash as the chunk's last byte escapes the first byte of the next one.
    this.escaped = i > len;
    return len;
  }

  /** The content ended: throws when the array is not complete. */
  end(): void {
    if (this.wasm) {
      const state = this.wasm.state;
      this.closed = state[S_CLOSED] !== 0;
      this.arrays = state[S_ARRAYS]!;
      this.depth = state[S_DEPTH]!;
      this.inString = state[S_IN_STRING] !== 0;
      this.wasm.release();
    }
    if (this.closed && this.arrays > 0) {
      throw new ParseError(
        "JSON",
        `malformed JSON: ${this.arrays + 1} arrays one after another (their ${this.elements} traces were all read)`,
      );
    }
    if (!this.closed) {
      throw new ParseError(
        "JSON",
        this.depth === 0 && this.elements === 0 && !this.inString
          ? "the object is empty: no JSON content"
          : "malformed JSON: unexpected end of content (truncated)",
      );
    }
  }

  /** Whether a `trace_name` value (string bytes `from` to `end`) may be an audited name. */
  private auditedName(chunk: Buffer, from: number, end: number, escapeAt: number): boolean {
    if (escapeAt >= from) return true;
    for (let k = from; k < end; k++) {
      // Non-ASCII: Unicode case folding can turn such a value into an audited name of another byte length (the
      // Kelvin sign, three bytes, lower-cases to k): leave it to the full check.
      if (chunk[k]! >= 0x80) return true;
    }
    if (!this.lengths.has(end - from)) return false;
    return this.asciiNames.has(chunk.toString("latin1", from, end).toLowerCase());
  }

  private finishElement(chunk: Buffer, start: number, end: number, mustParse: boolean): void {
    const index = this.elements++;
    if (!this.oversized && this.pieces.length > 0 && this.pieceBytes + end > MAX_ELEMENT_BYTES) {
      // Over the cap with its last bytes: the same as one that outgrew it earlier.
      this.pieces = [];
      this.oversizedBytes = this.pieceBytes;
      this.pieceBytes = 0;
      this.oversized = true;
    }
    if (this.oversized) {
      // Started in an earlier window (it is larger than one): what this window holds of it is its end.
      this.oversized = false;
      const size = this.oversizedBytes + end;
      this.oversizedBytes = 0;
      this.onOversized?.(index, this.base + end - size, size);
      return this.onElement(index, undefined);
    }
    this.pieceBytes = 0;
    if (!mustParse) {
      // Not parsed: no Buffer object is made for the ~97% of elements that are not audited.
      if (this.pieces.length > 0) this.pieces = [];
      return this.onElement(index, undefined);
    }
    if (this.pieces.length === 0) return this.onElement(index, chunk.subarray(start, end));
    this.pieces.push(chunk.subarray(0, end));
    const bytes = Buffer.concat(this.pieces);
    this.pieces = [];
    this.onElement(index, bytes);
  }
}

/** Which walk a splitter uses: `wasm` (the default, where the platform has WebAssembly SIMD) or `js`. */
export type SplitterEngine = "wasm" | "js";
const DEFAULT_ENGINE: SplitterEngine = "wasm";
const NO_NAMES: ReadonlySet<string> = new Set();
// The prefilter's ASCII names and their lengths, by prefilter: a run's files share one set.
const preparedNames = new WeakMap<
  ReadonlySet<string>,
  { ascii: ReadonlySet<string>; lengths: ReadonlySet<number> }
>();

// The module's memory layout (traceScanner.wat): state slots (i32), then tables, records, stack and window.
const S_POS = 0;
const S_DEPTH = 1;
const S_IN_STRING = 2;
const S_CLOSED = 4;
const S_ARRAYS = 5;
const S_AFTER_ELEMENT = 6;
const S_KEY_NEXT = 7;
const S_NAME_VALUE_NEXT = 8;
const S_MUST_PARSE = 9;
const S_PARSE_ALL = 10;
const S_START = 11;
const S_RECORDS = 12;
const S_NAME_COUNT = 14;
const S_LEN = 15;
const TABLES_AT = 1024;
const TABLES_BYTES = 8192;
const NAMES_BYTES = 4096;
const LENGTH_LIMIT = 4096;
const RECORDS_AT = 16384;
const STACK_AT = 262144;
/** Brackets one element may nest in the WebAssembly walk (a trace nests a handful). */
const MAX_NESTING = 1048576;
const DATA_AT = 1310720;
const WINDOW = 1024 * 1024;

/** What this file uses of the WebAssembly global (the Node types do not declare it as a value). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

/**
 * The WebAssembly module's instance, one a thread, shared by every splitter of the thread: a splitter loads its
 * state into the module's memory for a window and takes it back after. Pushes never interleave (each one runs
 * to its end synchronously), so one instance serves any number of files in flight.
 */
class WasmScanner {
  private static shared: WasmScanner | null | undefined;

  readonly memory: Uint8Array;
  readonly state: Int32Array;
  readonly records: Int32Array;
  /** The walk whose state and stack the memory holds. */
  owner: WasmWalk | undefined;
  /** The name tables the memory holds. */
  tables: Uint8Array | undefined;

  private constructor(
    readonly scan: () => number,
    buffer: ArrayBuffer,
  ) {
    this.memory = new Uint8Array(buffer);
    this.state = new Int32Array(buffer, 0, 16);
    this.records = new Int32Array(buffer, RECORDS_AT, 3 * 16384);
  }

  /** The thread's instance; undefined where WebAssembly or its SIMD instructions are missing. */
  static get(): WasmScanner | undefined {
    if (WasmScanner.shared === undefined) {
      WasmScanner.shared = null;
      try {
        const bytes = Buffer.from(TRACE_SCANNER_WASM_BASE64, "base64");
        const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
        if (api?.validate(bytes)) {
          const exports = new api.Instance(new api.Module(bytes)).exports as {
            scan: () => number;
            memory: { buffer: ArrayBuffer };
          };
          WasmScanner.shared = new WasmScanner(exports.scan, exports.memory.buffer);
        }
      } catch {
        // No WebAssembly here (or no SIMD): the JavaScript walk does the same work.
      }
    }
    return WasmScanner.shared ?? undefined;
  }
}

// Name tables by prefilter: one build for all the files of a run.
const tableCache = new WeakMap<ReadonlySet<string>, Uint8Array | null>();

/**
 * The audited names as the module reads them: a flag per byte length, then each name as [length, bytes].
 * Null when they do not fit (a name over 255 bytes, or 4 KB of names): the JavaScript walk handles those.
 */
function nameTables(names: ReadonlySet<string>): Uint8Array | null {
  const tables = new Uint8Array(TABLES_BYTES);
  let at = LENGTH_LIMIT;
  for (const name of names) {
    if (name.length > 255 || at + 1 + name.length > LENGTH_LIMIT + NAMES_BYTES) return null;
    tables[name.length] = 1;
    tables[at] = name.length;
    tables.set(Buffer.from(name, "latin1"), at + 1);
    at += 1 + name.length;
  }
  return tables;
}

/** One splitter's state for the WebAssembly walk, kept here between windows. */
class WasmWalk {
  /** The state slots, as the module last left them. */
  readonly state = new Int32Array(16);
  /** Open brackets (depth - 1 of them) while another walk has the module; made when first needed. */
  private stack: Uint8Array | undefined;

  private constructor(
    private readonly scanner: WasmScanner,
    private readonly tables: Uint8Array,
    nameCount: number,
    parseAll: boolean,
  ) {
    this.state[S_START] = -1;
    this.state[S_PARSE_ALL] = parseAll ? 1 : 0;
    this.state[S_NAME_COUNT] = nameCount;
  }

  /** `names` keys the table cache (a run's prefilter is one set); `asciiNames` are those the tables hold. */
  static create(
    names: ReadonlySet<string>,
    asciiNames: ReadonlySet<string>,
    parseAll: boolean,
  ): WasmWalk | undefined {
    const scanner = WasmScanner.get();
    if (!scanner) return undefined;
    let tables = tableCache.get(names);
    if (tables === undefined) {
      tables = nameTables(asciiNames);
      tableCache.set(names, tables);
    }
    return tables ? new WasmWalk(scanner, tables, asciiNames.size, parseAll) : undefined;
  }

  /** Puts this walk's state, tables and stack in the module's memory, and the window after them. */
  load(start: number, window: Buffer): WasmScanner {
    const scanner = this.scanner;
    if (scanner.owner !== this) {
      scanner.owner?.saveStack();
      if (scanner.tables !== this.tables) {
        scanner.memory.set(this.tables, TABLES_AT);
        scanner.tables = this.tables;
      }
      const open = Math.max(0, this.state[S_DEPTH]! - 1);
      if (this.stack && open > 0) scanner.memory.set(this.stack.subarray(0, open), STACK_AT);
      scanner.owner = this;
    }
    this.state[S_POS] = 0;
    this.state[S_LEN] = window.length;
    this.state[S_RECORDS] = 0;
    this.state[S_START] = start;
    scanner.state.set(this.state);
    scanner.memory.set(window, DATA_AT);
    return scanner;
  }

  /** Takes the state back from the module's memory after a window. */
  save(): void {
    this.state.set(this.scanner.state);
  }

  /** Copies the open brackets out of the module's memory, before another walk takes it. */
  saveStack(): void {
    const open = Math.max(0, this.state[S_DEPTH]! - 1);
    if (open === 0) return;
    if (!this.stack || open > this.stack.length)
      this.stack = new Uint8Array(Math.max(open, 64, (this.stack?.length ?? 0) * 2));
    this.stack.set(this.scanner.memory.subarray(STACK_AT, STACK_AT + open));
  }

  /** The open brackets' kinds, outermost first, from the module's memory (this walk must hold it). */
  openBrackets(): Uint8Array {
    const open = Math.max(0, this.state[S_DEPTH]! - 1);
    return this.scanner.memory.slice(STACK_AT, STACK_AT + open);
  }

  /** The splitter is done: the module's memory need not keep this walk's stack. */
  release(): void {
    if (this.scanner.owner === this) this.scanner.owner = undefined;
  }
}

/** The end of a bare value's bytes (a number, a literal, or garbage JSON.parse will name) from `i`. */
function skipBare(chunk: Buffer, i: number): number {
  while (i < chunk.length && KIND[chunk[i]!] === ORDINARY) i++;
  return i;
}
