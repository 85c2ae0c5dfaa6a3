import { describe, expect, it } from "vitest";
import { countFiles, RunTally } from "../../src/engine/RunTally.js";
import type { FileRecord } from "../../src/report/types.js";

const modified = (i: number): FileRecord => ({
  object: `CloudTraces/r/2024/01/01/system/IAM/a_CloudTrace_r_2024-01-01T00-00-00Z_${i}.json.gz`,
  kind: "trace",
  status: "scanned",
  traces: 1,
  matched: 1,
  integrity: "modified",
  error: "",
  reason: "hash differs",
});

describe("RunTally.addFiles", () => {
  it("adds a unit's counts and findings as file() would, however many findings (no stack overflow)", () => {
    const records = Array.from({ length: 200_000 }, (_, i) => modified(i));
    const { counts, findings } = countFiles(records);
    const added = new RunTally();
    added.addFiles(counts, findings);
    const oneByOne = new RunTally();
    for (const r of records) oneByOne.file(r);
    expect(added.summary).toEqual(oneByOne.summary);
    expect(added.findings).toHaveLength(200_000);
    expect(added.findings).toEqual(oneByOne.findings);
  });
});
