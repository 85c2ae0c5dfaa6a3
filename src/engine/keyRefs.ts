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

const ZERO = 48;
const NINE = 57;

/**
 * Where, in a record's JSON text, the top-level `name` that {@link compactRecord} made a number stands: the
 * number's start, end and value. Why a textual search is exact: `JSON.stringify` escapes every `"` inside a string,
 * so `{"name":` or `,"name":` can only be a key (a quote after `{` or `,` opens a key or an array's string, and only
 * a key is followed by `:`); a record's only object value (`oversized`) has no such key, so the first match is the
 * record's own. Undefined: no such key, or its value is not a number (a key not in the listing).
 */
function refSpan(text: string, name: string): [number, number, number] | undefined {
  const needle = `"${name}":`;
  let at = text.startsWith(`{${needle}`) ? 1 : text.indexOf(`,${needle}`) + 1;
  if (at <= 0) return undefined;
  at += needle.length;
  let end = at;
  let value = 0;
  for (let c = text.charCodeAt(end); c >= ZERO && c <= NINE; c = text.charCodeAt(++end))
    value = value * 10 + c - ZERO;
  return end === at ? undefined : [at, end, value];
}

/**
 * `JSON.stringify(expandRecord(JSON.parse(text), unit))`, without parsing: `text` is `JSON.stringify` of a
 * {@link compactRecord} (a file's, whose `digest` may be a ref too). Written by hand: parsing a replayed record to
 * write it again was a third of a rerun. `quoted` gives a ref's key as JSON (a unit's digest key serves a dozen
 * files: its caller keeps them).
 */
export function expandRecordText(
  text: string,
  unit: Unit,
  quoted: (ref: number) => string = (n) => JSON.stringify(deref(n, unit)),
): string {
  const o = refSpan(text, "object");
  const d = refSpan(text, "digest");
  if (!o && !d) return text;
  // One concatenation of pieces of the text (splicing twice made the first result flat again to search it).
  const [first, second] = !o ? [d!, undefined] : !d ? [o, undefined] : o[0] < d[0] ? [o, d] : [d, o];
  const head = `${text.slice(0, first[0])}${quoted(first[2])}`;
  if (!second) return `${head}${text.slice(first[1])}`;
  return `${head}${text.slice(first[1], second[0])}${quoted(second[2])}${text.slice(second[1])}`;
}
