import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { attemptKey } from "../detect/WindowedRules.js";

/**
 * What a unit's replay record says of the unit's login attempts without holding them parsed: how many distinct
 * ones with a time, their time range, and a signature of their keys. A replay hands the windows a
 * {@link StoredAttempts}; when the attempts the ledger kept for the unit's objects are exactly these (same count,
 * same keys), the windows take those they read anyway and the record's copy is never parsed (it was a third of a
 * rerun's parsing). Otherwise, or when in doubt, `load()` parses it.
 */
export interface AttemptsSummary {
  /** Distinct attempts (by {@link attemptKey}) with a finite time. */
  n: number;
  /** Oldest and newest time (epoch ms); 0 when `n` is 0. */
  lo: number;
  hi: number;
  /** Two 32-bit sums of two hashes of each distinct key, as 16 hex digits: independent of order. */
  sig: string;
}

/** A replayed unit's attempts: the summary, and the record's copy, parsed on demand. */
export interface StoredAttempts extends AttemptsSummary {
  load(): LoginAttempt[];
}

/** Whether `attempts` is a replay's {@link StoredAttempts} rather than attempts in hand. */
export function isStoredAttempts(
  attempts: readonly LoginAttempt[] | StoredAttempts,
): attempts is StoredAttempts {
  return !Array.isArray(attempts);
}

/**
 * FNV-1a over a key's UTF-16 code units, from one of two offsets. Written here: a signature of thousands of keys a
 * unit must cost less than parsing them (node:crypto's call per key costs more); an accidental match of two
 * different sets needs both 32-bit sums and the count to agree.
 */
function fnv(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const SEED_A = 0x811c9dc5;
const SEED_B = 0x050c5d1f;

/** Count, time range and signature of the distinct attempts with a time, of `attempts` (any order). */
export function summarizeAttempts(attempts: Iterable<LoginAttempt>): AttemptsSummary {
  const seen = new Set<string>();
  let lo = Infinity;
  let hi = -Infinity;
  let a = 0;
  let b = 0;
  for (const attempt of attempts) {
    if (!Number.isFinite(attempt.time)) continue; // no window holds it, nor does the ledger keep it
    const key = attemptKey(attempt);
    if (seen.has(key)) continue;
    seen.add(key);
    if (attempt.time < lo) lo = attempt.time;
    if (attempt.time > hi) hi = attempt.time;
    a = (a + fnv(key, SEED_A)) >>> 0;
    b = (b + fnv(key, SEED_B)) >>> 0;
  }
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  return seen.size === 0
    ? { n: 0, lo: 0, hi: 0, sig: hex(0) + hex(0) }
    : { n: seen.size, lo, hi, sig: hex(a) + hex(b) };
}

/**
 * The attempts among `kept` (read from the ledger) that came from `objects` within the summary's time range, when
 * they are exactly the summarised ones; else undefined (the caller parses the record's copy).
 */
export function matchKept(
  summary: AttemptsSummary,
  kept: Iterable<LoginAttempt>,
  objects: ReadonlySet<string>,
): LoginAttempt[] | undefined {
  const mine: LoginAttempt[] = [];
  for (const a of kept)
    if (objects.has(a.object) && a.time >= summary.lo && a.time <= summary.hi) mine.push(a);
  const found = summarizeAttempts(mine);
  return found.n === summary.n && found.sig === summary.sig ? mine : undefined;
}
