import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compactRecord, expandRecord, expandRecordText, keyIndex } from "../../src/engine/keyRefs.js";
import type { Unit } from "../../src/engine/units.js";
import type { FileRecord } from "../../src/report/types.js";

/** Text meant to trip a textual search: the key names, quotes, separators, escapes, digits, any code point. */
const tricky = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc
    .array(
      fc.constantFrom(
        '"',
        "\\",
        ",",
        "{",
        "}",
        ":",
        '"object":',
        ',"digest":',
        '{"object":7',
        "7",
        "é",
        "\u2028",
        "\n",
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join("")),
);

/** A listing of keys (any text: an object store's keys are), some of them the records'. */
const unitOf = (keys: string[]): Unit =>
  ({
    id: "u",
    series: "s",
    objects: keys.map((key) => ({ object: { key, size: 1 }, key: {} })),
  }) as unknown as Unit;

const fileRecord = fc.record(
  {
    object: tricky,
    kind: fc.constantFrom("trace", "digest", "other"),
    status: fc.constantFrom("scanned", "skipped", "failed"),
    traces: fc.nat(),
    matched: fc.nat(),
    integrity: fc.constantFrom("valid", "modified", "unlisted", "pending", "unverified"),
    error: tricky,
    reason: tricky,
    bytes: fc.nat(),
    md5: tricky,
    digest: tricky,
    oversized: fc.record({
      count: fc.nat(),
      elements: fc.array(fc.record({ index: fc.nat(), offset: fc.nat(), bytes: fc.nat() }), { maxLength: 2 }),
    }),
  },
  { requiredKeys: ["object", "kind", "status", "traces", "integrity", "error"] },
) as fc.Arbitrary<FileRecord>;

/** The record's fields in another order (a record's order is its writer's: the splice must not depend on it). */
const shuffled = (r: FileRecord, order: number[]): FileRecord => {
  const entries = Object.entries(r);
  const sorted = entries
    .map((e, i) => [e, order[i % Math.max(order.length, 1)] ?? 0] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([e]) => e);
  return Object.fromEntries(sorted) as unknown as FileRecord;
};

describe("expandRecordText", () => {
  it("gives the text of the record expandRecord gives, for any record, keys, listing and field order", () => {
    fc.assert(
      fc.property(
        fileRecord,
        fc.array(tricky, { maxLength: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(20), { maxLength: 12 }),
        (record, others, objectListed, digestListed, order) => {
          const r = shuffled(record, order);
          const keys = [...others];
          if (objectListed) keys.splice(keys.length >> 1, 0, r.object);
          if (digestListed && r.digest !== undefined) keys.push(r.digest);
          const unit = unitOf(keys);
          const compact = JSON.stringify(compactRecord(r, keyIndex(unit)));
          const parsed = JSON.stringify(expandRecord(JSON.parse(compact) as FileRecord, unit));
          expect(expandRecordText(compact, unit)).toBe(parsed);
          expect(parsed).toBe(JSON.stringify(r));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ["a key made of digits and quotes", '7","digest":3'],
    ["a key that is a compact record", '{"object":1,"digest":2}'],
    ["an empty key", ""],
  ])("puts back %s", (_name, key) => {
    const unit = unitOf(["first", key, "digest-key"]);
    const record: FileRecord = {
      object: key,
      kind: "trace",
      status: "scanned",
      traces: 1,
      integrity: "valid",
      error: ',"digest":1',
      digest: "digest-key",
    };
    const compact = JSON.stringify(compactRecord(record, keyIndex(unit)));
    expect(compact).toContain('"object":1,');
    expect(expandRecordText(compact, unit)).toBe(JSON.stringify(record));
  });
});
