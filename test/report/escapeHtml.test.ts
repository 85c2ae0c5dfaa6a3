/**
 * The hand-written HTML escaper against an independent decoder (`he`, a spec-complete HTML entity decoder): any
 * string escapes to text with no markup character and decodes back to itself.
 */
import fc from "fast-check";
import he from "he";
import { describe, expect, it } from "vitest";
import { escapeHtml, html } from "../../src/report/escapeHtml.js";

describe("escapeHtml", () => {
  it("any text: no markup character survives, and an HTML decoder gives the text back", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom(..."<>&\"'=/ ;#x") })),
        (text) => {
          const out = escapeHtml(text);
          expect(out).not.toMatch(/[<>"']/);
          // Every & starts an entity: a raw "&lt" in the text cannot become "<".
          expect(out).not.toMatch(/&(?!(amp|lt|gt|quot|#39);)/);
          expect(he.decode(out)).toBe(text);
          expect(he.decode(out, { isAttributeValue: true })).toBe(text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ["<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"],
    [`" onmouseover="x`, "&quot; onmouseover=&quot;x"],
    ["a&lt;b", "a&amp;lt;b"],
    ["it's", "it&#39;s"],
  ])("%j -> %j", (text, escaped) => {
    expect(escapeHtml(text)).toBe(escaped);
  });

  it("html(): redacts secrets and escapes control characters before the markup", () => {
    // A header's value runs to the end of its line: what follows the line break is escaped, not redacted.
    expect(html("x-obs-security-token: abcdefgh12345678\n\u202e<b>\n")).toBe(
      "x-obs-security-token: [REDACTED]\\n\\u202e&lt;b&gt;\\n",
    );
    expect(html(undefined)).toBe("");
    expect(html(42)).toBe("42");
  });
});
