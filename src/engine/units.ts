import { parseObjectKey, type CtsObjectKey } from "../cts/objectKey.js";
import type { SourceObject } from "../sources/types.js";

/** One listed object with its parsed key. */
export interface ListedObject {
  object: SourceObject;
  key: CtsObjectKey;
}

/**
 * A unit of work (DESIGN "Architecture"): the objects of one region and one UTC day folder, all its chains.
 * Units are what a run holds in memory at once, what the ledger writes in one transaction, and what a fanned-out
 * backfill shards by.
 */
export interface Unit {
  /** `<lead>CloudTraces/<region>/<yyyy-mm-dd>`, or the folder of objects that are not CTS files. */
  id: string;
  /** `<lead>CloudTraces/<region>`: units of one series carry digest chains across midnight. */
  series: string;
  objects: ListedObject[];
}

// A day folder of an organisation with every service is tens of thousands of objects; a unit beyond this is
// cut, so that memory stays bounded whatever a bucket holds. The cut is safe: the carry across units treats the
// next part like the next day (files waiting for a digest are held over).
const MAX_UNIT_OBJECTS = 50_000;

function unitOf(key: CtsObjectKey): { id: string; series: string } | undefined {
  if (key.kind === "other" || key.day === "") return undefined;
  const at = key.key.indexOf("CloudTraces/");
  const lead = at >= 0 ? key.key.slice(0, at) : "";
  const series = `${lead}CloudTraces/${key.region}`;
  return { id: `${series}/${key.day}`, series };
}

/**
 * Groups a sorted, streamed listing into units. A CTS key starts a new unit when its region-day differs from the
 * current one; objects that are not CTS files join the unit they are listed in (they are only skipped). Only the
 * current unit's entries are held.
 */
export async function* units(pages: AsyncIterable<readonly SourceObject[]>): AsyncGenerator<Unit> {
  let current: Unit | undefined;
  // Whether the current unit is named after a CTS key (else after the folder of the objects it started with).
  let named = false;
  // The unit of the key before: the next key of the same region-day under the same lead has the same one (most of
  // a listing), without building its names again.
  let last: { id: string; series: string; region: string; day: string; prefix: string } | undefined;
  for await (const page of pages) {
    for (const object of page) {
      const key = parseObjectKey(object.key);
      let u: { id: string; series: string } | undefined;
      // Same prefix up to the region: the same first "CloudTraces/", hence the same lead.
      if (
        last &&
        key.day === last.day &&
        key.region === last.region &&
        key.kind !== "other" &&
        key.key.startsWith(last.prefix)
      )
        u = last;
      else {
        u = unitOf(key);
        last = u && { ...u, region: key.region, day: key.day, prefix: `${u.series}/` };
      }
      if (current && u !== undefined && named && u.id !== current.id) {
        yield current;
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
      if (current.objects.length >= MAX_UNIT_OBJECTS) {
        yield current;
        current = undefined;
      }
    }
  }
  if (current) yield current;
}
