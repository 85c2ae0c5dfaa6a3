import { safeLine } from "../safeText.js";

// Hand-written: five replacements, the set every HTML escaper uses (text and quoted attribute values alike); a
// dependency would be larger than the function. test/report/escapeHtml.test.ts checks it against the `he` decoder
// and the browser test against Chromium's own parser.
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes `&<>"'` so that text is inert both as HTML/SVG text and inside a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/**
 * Text from a trace, a bucket or a server (user names, addresses, object keys, errors), ready for the page:
 * secrets redacted, control characters escaped (a bidi override cannot reorder a line), then HTML-escaped.
 */
export function html(text: string | number | undefined | null): string {
  if (text === undefined || text === null) return "";
  return escapeHtml(safeLine(String(text)));
}
