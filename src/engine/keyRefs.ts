import type { Unit } from "./units.js";

/** How a unit's replay body (unitBody.ts) stores the keys of the unit's listing. */

/**
 * Where a listed object's key stands in a body: its index in the unit's listing. A replay happens only when the
 * unit is listed exactly as when it was stored (its fingerprint chains the listing), so the index names the same
 * key. A key is most of a record's text (an object's and its digest's: two thirds of a body), and parsing a body
 * is most of a replay.
 */
export type KeyRef = string | number;

/** The listing's keys by position, to store keys as {@link KeyRef}s. */
export function keyIndex(unit: Unit): Map<string, number> {
  const index = new Map<string, number>();
  unit.objects.forEach((o, i) => index.set(o.object.key, i));
  return index;
}

export const ref = (key: string, index: ReadonlyMap<string, number>): KeyRef => index.get(key) ?? key;
export const deref = (key: KeyRef, unit: Unit): string =>
  typeof key === "number" ? (unit.objects[key]?.object.key ?? "") : key;

/** A record with its keys (`object`, and a file's `digest`) as {@link KeyRef}s, its fields in their order. */
export function compactRecord<T extends { object: string; digest?: string }>(
  r: T,
  index: ReadonlyMap<string, number>,
): T {
  // A spread then the two keys: their places stay (an existing key is overwritten where it is), and V8 clones the
  // record's shape where copying field by field built it again (a million records: a tenth of a second and their
  // garbage).
  const object = typeof r.object === "string" ? ref(r.object, index) : r.object;
  if (typeof r.digest !== "string") return { ...r, object } as T;
  return { ...r, object, digest: ref(r.digest, index) } as T;
}

/** Puts back, in place, what {@link compactRecord} replaced (the field order stays: the same report text). */
export function expandRecord<T extends { object: string; digest?: string }>(r: T, unit: Unit): T {
  const loose = r as unknown as { object: KeyRef; digest?: KeyRef };
  if (typeof loose.object === "number") r.object = deref(loose.object, unit);
  if (typeof loose.digest === "number") r.digest = deref(loose.digest, unit);
  return r;
}

/**
 * An alert or attempt as a body keeps it: its `object` (the file's own key, in every one) as a {@link KeyRef}.
 */
export function compactItem<T extends { object: string }>(item: T, index: ReadonlyMap<string, number>): T {
  const i = index.get(item.object);
  return i === undefined ? item : { ...item, object: i };
}

/** Puts back, in place, what {@link compactItem} replaced. */
export function expandItem<T extends { object: string }>(item: T, unit: Unit): T {
  const loose = item as unknown as { object: KeyRef };
  if (typeof loose.object === "number") item.object = deref(loose.object, unit);
  return item;
}
