import { MAX_ELEMENT_BYTES } from "./TraceArraySplitter.js";

/**
 * The key of what an element too large to read is replaced with: counted as a trace, never handed out. A NUL in
 * a key: no trace has one.
 */
export const SKIPPED_KEY = "\u0000skipped";
const PLACEHOLDER = Buffer.from(JSON.stringify({ [SKIPPED_KEY]: true }));

/** Whether a parsed value is the stand-in of a skipped element. */
export function isSkipped(value: unknown): boolean {
  return value !== null && typeof value === "object" && Object.hasOwn(value, SKIPPED_KEY);
}

/**
 * Bounds the elements of JSON content on its way to stream-json (the shapes the splitter does not read:
 * `{"traces": [...]}`, `{"cts": {...}}`, one object, NDJSON), whose assembler builds each element whole in memory:
 * a 300 MB trace took 521 MB. Each object or array that starts at `elementDepth` (1 for top-level values, 3 for
 * the elements of `{"traces": [...]}`) is held until it ends, at most `max` bytes; a larger one is dropped as its
 * bytes pass, replaced by a stand-in (see isSkipped), and reported to `onOversized` with its content offset and size.
 *
 * Written by hand: stream-json has no size limit per value. It tracks strings (with escapes, across chunks) and
 * brackets only; validating the JSON is left to the parser after it. Tests check it against a full parse.
 */
export async function* boundElements(
  content: AsyncIterable<Buffer>,
  elementDepth: number,
  onOversized: (index: number, offset: number, bytes: number) => void,
  max = MAX_ELEMENT_BYTES,
): AsyncGenerator<Buffer> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let inElement = false;
  let skipping = false;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let elementOffset = 0;
  let index = 0;
  let offset = 0;
  for await (const chunk of content) {
    const out: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (depth === elementDepth - 1 && !inElement) {
          out.push(chunk.subarray(from, i));
          from = i;
          inElement = true;
          elementOffset = offset + i;
        }
        depth++;
      } else if ((c === 0x7d || c === 0x5d) && depth > 0) {
        depth--;
        if (inElement && depth === elementDepth - 1) {
          const piece = chunk.subarray(from, i + 1);
          if (skipping || heldBytes + piece.length > max) {
            onOversized(index, elementOffset, heldBytes + piece.length);
            out.push(PLACEHOLDER);
          } else out.push(...held, piece);
          held = [];
          heldBytes = 0;
          inElement = false;
          skipping = false;
          index++;
          from = i + 1;
        }
      }
    }
    offset += chunk.length;
    const rest = chunk.subarray(from);
    if (inElement) {
      heldBytes += rest.length;
      if (!skipping) {
        held.push(rest);
        if (heldBytes > max) {
          held = [];
          skipping = true;
        }
      }
    } else out.push(rest);
    for (const piece of out) if (piece.length > 0) yield piece;
  }
  // Content that ends inside an element: what was held goes to the parser, which says it is truncated.
  for (const piece of held) yield piece;
}
