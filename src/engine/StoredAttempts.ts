import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { attemptKey } from "../detect/WindowedRules.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { planObject } from "./plan.js";
import type { Slot } from "./scanObject.js";
import type { EngineOptions } from "./types.js";
import type { Unit } from "./units.js";

/**
 * What a unit's replay record says of the unit's login attempts without holding them parsed: how many distinct
 * ones with a time, their time range, and a signature of their keys. A replay hands the windows a
 * {@link StoredAttempts}; when the attempts the ledger's attempt store holds in their time range are exactly these
 * (same count, same keys), the windows take those they read anyway. Otherwise, or when in doubt, `load()` has
 * them from the objects' outcomes (the record no longer keeps a copy: it was a third of a record).
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

/**
 * A replayed unit's attempts: the summary, and a way to have them when the ledger's attempt store does not hold
 * exactly them (undefined: they cannot be had, the unit is scanned).
 */
export interface StoredAttempts extends AttemptsSummary {
  load(): Promise<LoginAttempt[] | undefined>;
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

/**
 * Count, time range and signature of the distinct attempts with a time, of `attempts` (any order). `distinct`:
 * the caller knows no key repeats (the ledger's reads are distinct), and the check is skipped.
 */
export function summarizeAttempts(attempts: Iterable<LoginAttempt>, distinct = false): AttemptsSummary {
  const seen = distinct ? undefined : new Set<string>();
  let n = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let a = 0;
  let b = 0;
  for (const attempt of attempts) {
    if (!Number.isFinite(attempt.time)) continue; // no window holds it, nor does the ledger keep it
    const key = attemptKey(attempt);
    if (seen) {
      if (seen.has(key)) continue;
      seen.add(key);
    }
    n++;
    if (attempt.time < lo) lo = attempt.time;
    if (attempt.time > hi) hi = attempt.time;
    a = (a + fnv(key, SEED_A)) >>> 0;
    b = (b + fnv(key, SEED_B)) >>> 0;
  }
  const hex = (v: number) => v.toString(16).padStart(8, "0");
  return n === 0 ? { n: 0, lo: 0, hi: 0, sig: hex(0) + hex(0) } : { n, lo, hi, sig: hex(a) + hex(b) };
}

/**
 * Whether the attempts the ledger holds in the summary's time range are exactly the summarised ones: `reads` are
 * the ledger's reads that cover that range, each distinct and none overlapping another in time. Attempts of other
 * objects in the range (a neighbouring unit's, an older content's) make it false: the caller then parses.
 */
export function keptExactly(
  summary: AttemptsSummary,
  reads: ReadonlyArray<readonly LoginAttempt[]>,
): boolean {
  const inRange = function* () {
    for (const read of reads) for (const a of read) if (a.time >= summary.lo && a.time <= summary.hi) yield a;
  };
  const found = summarizeAttempts(inRange(), true);
  return found.n === summary.n && found.sig === summary.sig;
}

/**
 * A replayed unit's login attempts from its objects' outcomes (its record keeps only their summary: the ledger has
 * them twice already, in the outcomes and in its attempt store), in listing order as a scan gives them.
 * Undefined when an object audited has no outcome (expired before the unit's record, a failed write).
 */
export async function outcomeAttempts(
  ledger: LedgerPolicy,
  options: EngineOptions,
  unit: Unit,
): Promise<LoginAttempt[] | undefined> {
  const audited = unit.objects.filter((o) => planObject(options, o.object, o.key).action === "parse");
  const found = await ledger.lookup(
    unit.id,
    audited.map((o) => ({ object: o.object }) as Slot),
  );
  const attempts: LoginAttempt[] = [];
  for (const o of audited) {
    const kept = found.get(o.object.key);
    if (!kept) return undefined;
    if (kept.attempts) attempts.push(...kept.attempts);
  }
  return attempts;
}
