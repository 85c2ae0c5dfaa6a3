import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseObjectKey } from "../../src/cts/objectKey.js";
import type { Alert } from "../../src/detect/types.js";
import { TimeWindow } from "../../src/detect/TimeWindow.js";
import { restoreFiles, windowedBy } from "../../src/engine/replayedSlots.js";
import { countFiles, RunTally } from "../../src/engine/RunTally.js";
import type { Slot } from "../../src/engine/scanObject.js";
import { lazyCarry } from "../../src/engine/replayedSlots.js";
import type { SeriesCarry } from "../../src/engine/types.js";
import { encodeUnit, RECORDS_LINE, type UnitBody } from "../../src/engine/unitBody.js";
import { storedCarry } from "../../src/engine/storedCarry.js";
import { expandRecord } from "../../src/engine/keyRefs.js";
import type { Unit } from "../../src/engine/units.js";
import type { DigestRecord, FileRecord } from "../../src/report/types.js";

const day = "CloudTraces/ap-southeast-1/2024/01/02/system";
const trace = (d: string, i: number) =>
  `${d}/IAM/a_CloudTrace_ap-southeast-1_2024-01-02T0${i}-00-00Z_000000000000000${i}.json.gz`;
const digest = (d: string, h: number) =>
  `${d}/Digest/IAM/a_CloudTrace-Digest_ap-southeast-1_2024-01-02T0${h}-00-00Z.json.gz`;
const own = [trace(day, 1), trace(day, 2), digest(day, 2)];
/** A file held from the unit before: its key (and its digest's) are not in this unit's listing. */
const held = trace("CloudTraces/ap-southeast-1/2024/01/01/system", 9);

const unit: Unit = {
  id: "CloudTraces/ap-southeast-1/2024-01-02",
  series: "CloudTraces/ap-southeast-1",
  objects: own.map((key) => ({ object: { key, size: 1 }, key: parseObjectKey(key) })),
};

const record = (object: string, extra: Partial<FileRecord> = {}): FileRecord => ({
  object,
  kind: "trace",
  status: "scanned",
  traces: 2,
  integrity: "valid",
  error: "",
  bytes: 370,
  md5: "0".repeat(32),
  matched: 1,
  ...extra,
});
const alert = (object: string) => ({ traceId: "t", object, rule: "ip-not-allowed" }) as unknown as Alert;
const slot = (r: FileRecord, alerts: Alert[]): Slot =>
  ({ record: r, allAlerts: alerts, matchedTimes: [1], attempts: [], alerts: [] }) as unknown as Slot;

describe("a unit's replay body keeps listed keys as their index in the listing", () => {
  const files = [
    slot(record(own[0]!, { digest: own[2]! }), [alert(own[0]!)]),
    slot(record(own[1]!, { digest: digest("elsewhere", 3) }), []),
    slot(record(held, { integrity: "unlisted", reason: "held", digest: own[2]! }), [alert(held)]),
  ];
  const digests: DigestRecord[] = [{ object: own[2]!, status: "valid", chain: "c", files: 2 }];
  const missing = [record(trace(day, 5), { integrity: "missing", status: "failed" })];
  const encoded = encodeUnit(unit, { digests, gaps: [], files, missing }, [], undefined, 0, false);
  const lines = encoded.split("\n");
  const output = JSON.parse(lines[1]!) as UnitBody["output"];
  const restore = (window: TimeWindow, asText = true) =>
    restoreFiles(output.files, lines, RECORDS_LINE, unit, window, windowedBy(window), asText);

  it("stores listed keys as numbers and others as they are", () => {
    for (const key of own) expect(encoded).not.toContain(key);
    expect(encoded).toContain(held);
    expect(encoded).toContain(digest("elsewhere", 3));
    expect(lines).toHaveLength(RECORDS_LINE + files.length);
  });

  it("restores the same records, alerts and digests, fields in the same order, parsed when a window cuts", () => {
    const { files: restored, replayed } = restore(new TimeWindow(new Date(1000), undefined));
    expect(replayed).toBeUndefined();
    const after = JSON.stringify({
      files: restored.map((s) => [s.record, s.allAlerts]),
      digests: output.digests.map((d) => expandRecord(d, unit)),
      missing: output.missing,
    });
    // The window holds none of the files' matched times (1 ms after the epoch): each record counts them again.
    const cut = JSON.stringify({
      files: files.map((s) => [{ ...s.record, matched: 0 }, s.allAlerts]),
      digests,
      missing,
    });
    expect(after).toBe(cut);
  });

  it("gives each record's text unparsed when no window cuts, with what the run counts of the files", () => {
    const { files: restored, replayed } = restore(new TimeWindow(undefined, undefined));
    expect(restored).toEqual([]);
    const r = replayed!;
    expect(r.size).toBe(files.length);
    for (const [i, s] of files.entries()) {
      expect(r.text(i)).toBe(JSON.stringify(s.record));
      expect(JSON.stringify(r.record(i))).toBe(JSON.stringify(s.record));
      expect(r.object(i)).toBe(s.record.object);
      expect(r.integrity(i)).toBe(s.record.integrity);
      expect(JSON.stringify(r.alerts(i) ?? [])).toBe(JSON.stringify(s.allAlerts));
    }
    const counted = countFiles(files.map((s) => s.record));
    expect(r.counts).toEqual(counted.counts);
    expect(r.findings).toEqual(counted.findings);
    expect(r.findings.map((f) => f.object)).toEqual([held]);
  });

  it("parses every record when the report is not given records as text", () => {
    const { files: restored, replayed } = restore(new TimeWindow(undefined, undefined), false);
    expect(replayed).toBeUndefined();
    expect(restored.map((s) => JSON.stringify(s.record))).toEqual(files.map((s) => JSON.stringify(s.record)));
  });

  it("counts a replayed unit's files into the run as its records would be", () => {
    const oneByOne = new RunTally();
    for (const s of files) oneByOne.file(s.record);
    const replayed = new RunTally();
    const r = restore(new TimeWindow(undefined, undefined)).replayed!;
    replayed.addFiles(r.counts, r.findings);
    expect(replayed.summary).toEqual(oneByOne.summary);
    expect(replayed.findings).toEqual(oneByOne.findings);
  });

  it("leaves the run's own records untouched (they take their verdicts after they are stored)", () => {
    expect(files[0]!.record.object).toBe(own[0]);
    expect(files[0]!.allAlerts[0]!.object).toBe(own[0]);
  });
});

describe("a unit's stored carry keeps listed keys as their index in the listing", () => {
  const logFile = (object: string) => ({ bucket: "b", object, hashValue: "ab", hashAlgorithm: "md5" });
  const heldSlot = (key: string, integrity: FileRecord["integrity"]) =>
    ({
      object: { key, size: 370, lastModified: new Date(1_700_000_000_000) },
      key: parseObjectKey(key),
      record: record(key, { integrity, digest: own[2]! }),
      allAlerts: [alert(key)],
      matchedTimes: [1],
      attempts: [],
      alerts: [],
      hashes: { md5: "0".repeat(32) },
    }) as unknown as Slot;
  const carry: SeriesCarry = {
    reads: [
      {
        key: parseObjectKey(own[2]!),
        md5: "1".repeat(32),
        digest: {
          projectId: "p",
          startTime: new Date(1_704_157_200_000),
          endTime: new Date(1_704_160_800_000),
          endTimeText: "2024-01-02T02:00:00Z",
          bucket: "b",
          object: own[2]!,
          signatureAlgorithm: "SHA256withRSA",
          previous: { bucket: "b", object: own[2]!, hashValue: "ef", hashAlgorithm: "md5", signature: "01" },
          logFiles: [logFile(own[0]!), logFile(held)],
        },
        problem: undefined,
        readFailed: false,
        metadataSignature: "cd",
      },
    ],
    heldFiles: [heldSlot(own[1]!, "pending"), heldSlot(held, "unlisted")],
    heldDigests: [
      {
        slot: heldSlot(own[2]!, "unverified"),
        record: { object: own[2]!, status: "unanchored", chain: "c" } as DigestRecord,
      },
    ],
    recentKeys: new Set([own[0]!, held]),
    written: new Set(["gap:c:1"]),
  } as unknown as SeriesCarry;
  const text = JSON.stringify(storedCarry(carry, unit));

  it("stores listed keys as numbers and others as they are", () => {
    for (const key of own) expect(text).not.toContain(key);
    expect(text).toContain(held);
  });

  it("restores every key where it was", () => {
    const restored = lazyCarry(text, unit, () => undefined);
    expect(
      restored.reads.map((r) => [
        r.key.key,
        r.digest?.object,
        r.digest?.previous?.object,
        r.digest?.logFiles.map((f) => f.object),
      ]),
    ).toEqual([[own[2], own[2], own[2], [own[0], held]]]);
    expect(
      restored.heldFiles.map((s) => [s.object.key, s.record.object, s.record.digest, s.allAlerts[0]?.object]),
    ).toEqual([
      [own[1], own[1], own[2], own[1]],
      [held, held, own[2], held],
    ]);
    expect(restored.heldDigests.map((d) => [d.slot.object.key, d.record.object])).toEqual([[own[2], own[2]]]);
    expect([...restored.recentKeys]).toEqual([own[0], held]);
    expect([...restored.written]).toEqual(["gap:c:1"]);
  });
});

describe("a replayed unit's record texts, for any keys", () => {
  const key = fc.oneof(
    fc.string({ unit: "grapheme", minLength: 1 }),
    fc.string({ unit: fc.constantFrom("a", "/", '"', "\\", "\n", "\u0001", "\u2028", "\ud800", "é") }),
  );
  it("are JSON.stringify of the records stored, quoted plainly or escaped", () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { minLength: 1, maxLength: 6 }), (keys) => {
        const u: Unit = {
          id: "u",
          series: "s",
          objects: keys.map((k) => ({ object: { key: k, size: 1 }, key: parseObjectKey(k) })),
        };
        const files = keys.map((k, i) => slot(record(k, { digest: keys[(i + 1) % keys.length]! }), []));
        const lines = encodeUnit(
          u,
          { digests: [], gaps: [], files, missing: [] },
          [],
          undefined,
          0,
          false,
        ).split("\n");
        const output = JSON.parse(lines[1]!) as UnitBody["output"];
        const window = new TimeWindow(undefined, undefined);
        const { replayed } = restoreFiles(
          output.files,
          lines,
          RECORDS_LINE,
          u,
          window,
          windowedBy(window),
          true,
        );
        expect(files.map((_, i) => replayed!.text(i))).toEqual(files.map((s) => JSON.stringify(s.record)));
      }),
      { numRuns: 500 },
    );
  });
});
