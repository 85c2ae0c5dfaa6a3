import { createHash } from "node:crypto";
import type { ObjectSource } from "../sources/types.js";
import { UPLOAD_GRACE_MS } from "./plan.js";
import type { EngineOptions } from "./types.js";
import { FORMAT } from "./unitBody.js";
import type { Unit } from "./units.js";

/**
 * The parts of a unit's chained fingerprint (UnitReplay): what of the run's options changes a unit's outcome, how
 * the window bears on it, and its listing chained to the listings before it in its series.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The options that change a unit's records: a replay record made under others is not replayed. */
export function optionsToken(options: EngineOptions, rulesId: string, source: ObjectSource): string {
  const key = options.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  return JSON.stringify([
    FORMAT,
    rulesId,
    options.command,
    options.verify,
    sha256(key),
    source.name,
    source.bucket ?? null,
    source.partial === true,
    options.maxDecompressedBytes,
  ]);
}

/**
 * How the window bears on the unit: `whole` when it holds every upload time the unit's chains look at (its own,
 * two days back for the previous unit's digests, a day on for late links), else the window itself.
 */
export function windowToken(options: EngineOptions, first: number, last: number): string {
  const { since, until } = options;
  if (!since && !until) return "whole";
  if (first === Infinity) return "whole";
  const covered =
    (!since || since.getTime() <= first - 2 * DAY_MS) &&
    (!until || until.getTime() >= last + DAY_MS + 2 * UPLOAD_GRACE_MS);
  return covered ? "whole" : `${since?.toISOString() ?? ""}/${until?.toISOString() ?? ""}`;
}

/** The unit's fingerprint: the options, the series' fingerprint before it, the window tokens, its listing. */
export function chainedFingerprint(
  options: string,
  previous: string,
  tokens: readonly string[],
  unit: Unit,
): string {
  const hash = createHash("sha256").update(options).update("\n").update(previous);
  hash.update(`\n${JSON.stringify(tokens)}\n`);
  // The same bytes as an update an object, in updates of many objects: a call into the hash costs more than the
  // hashing of a line (a rerun fingerprints every object of the run). Each line's parts are encoded into one reused
  // buffer: joined as a string first, a rerun of a million objects made 400 MB of garbage here.
  let used = 0;
  for (const { object: o } of unit.objects) {
    // At most 3 bytes a UTF-16 unit, 20 a number: a line that may not fit goes after what is there.
    const most = (o.key.length + (o.etag?.length ?? 0) + (o.unreadable?.length ?? 0)) * 3 + 64;
    if (used + most > LINES.length) {
      hash.update(LINES.subarray(0, used));
      used = 0;
      if (most > LINES.length) {
        hash.update(fingerprintLine(o));
        continue;
      }
    }
    // `?? undefined`: as the line's `??` read them, a null tag or reason is none.
    const etag = o.etag ?? undefined;
    const unreadable = o.unreadable ?? undefined;
    used += LINES.write(o.key, used);
    LINES[used++] = 0;
    if (etag !== undefined) used += LINES.write(etag, used);
    else {
      used = writeNumber(o.size, used);
      LINES[used++] = COLON;
      const t = o.lastModified?.getTime();
      if (t !== undefined) used = writeNumber(t, used);
    }
    LINES[used++] = 0;
    LINES[used++] = o.explicit ? ONE : ZERO;
    LINES[used++] = 0;
    if (unreadable !== undefined) used += LINES.write(unreadable, used);
    LINES[used++] = NEWLINE;
  }
  return hash.update(LINES.subarray(0, used)).digest("hex");
}

/** An object's line of a fingerprint, as a string (what chainedFingerprint encodes part by part). */
function fingerprintLine(o: Unit["objects"][number]["object"]): string {
  return `${o.key}\0${o.etag ?? `${o.size}:${o.lastModified?.getTime() ?? ""}`}\0${o.explicit ? 1 : 0}\0${o.unreadable ?? ""}\n`;
}

const ZERO = 48;
const ONE = 49;
const COLON = 58;
const NEWLINE = 10;

/** Writes `n` as `${n}` would, at `at` in LINES: digit by digit when a safe integer (String(n) allocated). */
function writeNumber(n: number, at: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return at + LINES.write(String(n), at);
  if (n === 0) {
    LINES[at] = ZERO;
    return at + 1;
  }
  let digits = 0;
  for (let v = n; v > 0; v = Math.floor(v / 10)) digits++;
  let v = n;
  for (let i = at + digits - 1; i >= at; i--) {
    LINES[i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

/** The buffer chainedFingerprint encodes lines into (synchronously: one user at a time). */
const LINES = Buffer.allocUnsafe(1 << 16);

/** The oldest and newest upload time of a unit's objects (Infinity and -Infinity when none has one). */
export function uploadRange(unit: Unit): [number, number] {
  let first = Infinity;
  let last = -Infinity;
  for (const { key } of unit.objects) {
    const t = key.uploadTime?.getTime();
    if (t === undefined || Number.isNaN(t)) continue;
    if (t < first) first = t;
    if (t > last) last = t;
  }
  return [first, last];
}
