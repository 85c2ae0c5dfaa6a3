import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseObjectKey } from "../../src/cts/objectKey.js";
import type { SourceObject } from "../../src/sources/types.js";
import { chainedFingerprint } from "../../src/engine/unitFingerprint.js";
import type { Unit } from "../../src/engine/units.js";

const series = "CloudTraces/ap-southeast-1";

function unitOf(objects: SourceObject[]): Unit {
  return {
    id: `${series}/2024-01-01`,
    series,
    objects: objects.map((object) => ({ object, key: parseObjectKey(object.key) })),
  };
}

function objects(n: number): SourceObject[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `${series}/2024/01/01/system/IAM/acct_CloudTrace_ap-southeast-1_2024-01-01T00-00-00Z_${i.toString(16).padStart(16, "0")}.json.gz`,
    size: 300 + i,
    ...(i % 3 === 0
      ? { etag: `"${i.toString(16).padStart(32, "0")}"` }
      : { lastModified: new Date(1e12 + i) }),
    ...(i % 7 === 0 ? { explicit: true } : {}),
    ...(i % 11 === 0 ? { unreadable: "dangling symbolic link" } : {}),
  }));
}

/** The fingerprint as first written: one hash update a listed object (the independent reference). */
function reference(options: string, previous: string, tokens: readonly string[], unit: Unit): string {
  const hash = createHash("sha256").update(options).update("\n").update(previous);
  hash.update(`\n${JSON.stringify(tokens)}\n`);
  for (const { object: o } of unit.objects)
    hash.update(
      `${o.key}\0${o.etag ?? `${o.size}:${o.lastModified?.getTime() ?? ""}`}\0${o.explicit ? 1 : 0}\0${o.unreadable ?? ""}\n`,
    );
  return hash.digest("hex");
}

describe("chainedFingerprint", () => {
  it.each([0, 1, 3, 600, 5000])("hashes %i listed objects exactly as an update an object did", (n) => {
    const unit = unitOf(objects(n));
    expect(chainedFingerprint("opts", "prev", ["whole"], unit)).toBe(
      reference("opts", "prev", ["whole"], unit),
    );
  });

  it("hashes any sizes, times, tags and flags exactly as an update an object did", () => {
    const number = fc.oneof(
      fc.constantFrom(0, 9, 10, 99, 100, Number.MAX_SAFE_INTEGER, -1, 1.5, NaN, 1e21, 2 ** 60),
      fc.nat(),
      fc.double(),
    );
    const listed = fc.array(
      fc.record(
        {
          key: fc.string({ unit: "grapheme" }),
          size: number,
          etag: fc.string(),
          lastModified: number.map((n) => new Date(n)),
          explicit: fc.boolean(),
          unreadable: fc.string(),
        },
        { requiredKeys: ["key", "size"] },
      ),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(listed, (objects) => {
        const unit = unitOf(objects as SourceObject[]);
        expect(chainedFingerprint("o", "p", [], unit)).toBe(reference("o", "p", [], unit));
      }),
      { numRuns: 1000 },
    );
  });

  it("reads a null tag or reason as none, as the line did", () => {
    const listed = objects(4).map((o) => ({ ...o, etag: null, unreadable: null }) as unknown as SourceObject);
    const unit = unitOf(listed);
    expect(chainedFingerprint("o", "p", [], unit)).toBe(reference("o", "p", [], unit));
  });

  it("hashes keys of any length and characters exactly as an update an object did", () => {
    const listed = objects(3000).map((o, i) =>
      i % 500 === 7
        ? { ...o, key: `${o.key}/${"长".repeat(i === 7 ? 30_000 : 8000)}` }
        : i % 3 === 1
          ? { ...o, key: `${o.key}-é😀` }
          : o,
    );
    const unit = unitOf(listed);
    expect(chainedFingerprint("opts", "prev", ["whole"], unit)).toBe(
      reference("opts", "prev", ["whole"], unit),
    );
  });

  it.each([
    ["an ETag", (o: SourceObject) => ({ ...o, etag: '"changed"' })],
    ["a size", (o: SourceObject) => ({ ...o, size: o.size + 1 })],
    ["a key", (o: SourceObject) => ({ ...o, key: `${o.key}x` })],
  ])("changes when %s of one object in a large unit changes", (_what, change) => {
    const listed = objects(5000);
    const before = chainedFingerprint("opts", "prev", ["whole"], unitOf(listed));
    listed[4321] = change(listed[4321]!);
    expect(chainedFingerprint("opts", "prev", ["whole"], unitOf(listed))).not.toBe(before);
  });
});
