import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseObjectKey, type CtsObjectKey } from "../../src/cts/objectKey.js";
import { units, type Unit } from "../../src/engine/units.js";
import type { SourceObject } from "../../src/sources/types.js";

/** units() as first written: every key's unit built from its parsed parts (the reference for the memoised one). */
function referenceUnits(objects: readonly SourceObject[], maxObjects: number): Unit[] {
  const unitOf = (key: CtsObjectKey) => {
    if (key.kind === "other" || key.day === "") return undefined;
    const at = key.key.indexOf("CloudTraces/");
    const lead = at >= 0 ? key.key.slice(0, at) : "";
    const series = `${lead}CloudTraces/${key.region}`;
    return { id: `${series}/${key.day}`, series };
  };
  const out: Unit[] = [];
  let current: Unit | undefined;
  let named = false;
  for (const object of objects) {
    const key = parseObjectKey(object.key);
    const u = unitOf(key);
    if (current && u !== undefined && named && u.id !== current.id) {
      out.push(current);
      current = undefined;
    }
    if (!current) {
      const dir = object.key.includes("/") ? object.key.slice(0, object.key.lastIndexOf("/")) : "";
      current = { id: u?.id ?? dir, series: u?.series ?? dir, objects: [] };
      named = u !== undefined;
    } else if (u && !named) {
      current.id = u.id;
      current.series = u.series;
      named = true;
    }
    current.objects.push({ object, key });
    if (current.objects.length >= maxObjects) {
      out.push(current);
      current = undefined;
    }
  }
  if (current) out.push(current);
  return out;
}

async function collect(objects: readonly SourceObject[]): Promise<Unit[]> {
  async function* pages() {
    for (let i = 0; i < objects.length; i += 7) yield objects.slice(i, i + 7);
  }
  const out: Unit[] = [];
  for await (const u of units(pages())) out.push(u);
  return out;
}

const lead = fc.constantFrom("", "acct/", "x/CloudTraces/", "Cloud", "a/b/");
const region = fc.constantFrom("ap-southeast-1", "cn-north-4", "eu/west");
const day = fc.constantFrom("2024/01/01", "2024/01/02", "2024/1/3", "2024/01");
const name = fc.constantFrom(
  (r: string) => `p_CloudTrace_${r}_2024-01-01T00-05-00Z_00000000000000a1.json.gz`,
  (r: string) => `p_CloudTrace-Digest_${r}_2024-01-01T01-00-00Z.json.gz`,
  () => "notes.txt",
  () => "p_CloudTrace_bad.json.gz",
);
const key = fc
  .tuple(lead, region, day, fc.constantFrom("system/IAM", "system/Digest/IAM", "system"), name)
  .map(([l, r, d, folder, n]) => `${l}CloudTraces/${r}/${d}/${folder}/${n(r)}`);
const otherKey = fc.constantFrom("readme.md", "a/b/c.txt", "CloudTraces/");

describe("units", () => {
  it("groups any listing exactly as building each key's unit from its parts does", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ arbitrary: key, weight: 9 }, otherKey), { maxLength: 60 }),
        async (keys) => {
          const objects = [...keys].sort().map((k) => ({ key: k, size: 1 }));
          const got = await collect(objects);
          const want = referenceUnits(objects, 50_000);
          expect(got.map((u) => [u.id, u.series, u.objects.map((o) => o.object.key)])).toEqual(
            want.map((u) => [u.id, u.series, u.objects.map((o) => o.object.key)]),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
