import type { SplitterEngine } from "./TraceArraySplitter.js";

/** Options for reading one trace file. */
export interface ReadTraceOptions {
  /** Node hash names computed over the stored (compressed) bytes, e.g. `["md5"]`. */
  hashAlgorithms: readonly string[];
  /** Decompressed bytes above which the file fails (decompression-bomb guard). */
  maxDecompressedBytes: number;
  /** Decompressed size up to which a file is buffered and parsed with JSON.parse (fast path). */
  bufferLimit: number;
  /**
   * Audited trace names, lower-case. When set, elements of a trace array whose `trace_name` cannot be one of
   * them are counted but not parsed, and `onTrace` does not see them. When unset, every trace is parsed.
   */
  prefilter?: ReadonlySet<string>;
  /** The splitter's walk: `wasm` by default where the platform has WebAssembly SIMD; tests run both. */
  splitter?: SplitterEngine;
  /** Called for every trace object (those the prefilter lets through), in file order. */
  onTrace(raw: Record<string, unknown>): void;
}

/** What reading one file produced. Failures are data: `error` is set and every count up to it stands. */
export interface ReadTraceResult {
  /** Stored bytes read (all of them, even after a parse failure, so that the hashes are whole). */
  bytes: number;
  decompressedBytes: number;
  /** Hex digests of the stored bytes by algorithm, only when every byte was read. */
  hashes: Record<string, string>;
  gzip: boolean;
  traces: number;
  /** `array`, `traces`, `cts`, `object` or `ndjson`. */
  shape: string;
  error?: { code: string; message: string };
  /**
   * Elements over the element cap (MAX_ELEMENT_BYTES), skipped unread: the elements after them were read. Set only
   * when there were any; the file then fails (`error.code` `OVERSIZED`, unless it failed otherwise first).
   */
  oversized?: OversizedElements;
  /**
   * Elements that are not traces (not a JSON object, or malformed JSON inside an element whose bounds the walk
   * found), skipped: the elements after them were read. Set only when there were any; the file then fails
   * (`error.code` `NOT_TRACE`, unless it failed otherwise first).
   */
  notTraces?: NotTraceElements;
}

/** Elements skipped as not traces: how many, and the first few by place and reason. */
export interface NotTraceElements {
  count: number;
  /** The first MAX_OVERSIZED_LISTED of them, in file order: where (`element 3`, `line 4`) and why. */
  elements: Array<{ where: string; reason: string }>;
}

/** Elements skipped for their size: how many, and the first few by place and size. */
export interface OversizedElements {
  count: number;
  /** The first MAX_OVERSIZED_LISTED of them, in file order. */
  elements: OversizedElement[];
}

/** One skipped element: its index among the file's traces, its offset in the decompressed content, its size. */
export interface OversizedElement {
  index: number;
  offset: number;
  bytes: number;
}
