import { setFlagsFromString } from "node:v8";

/** V8's heap growing factor for the command line, as `1 + HEAP_GROWING_PERCENT / 100`. */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Bounds how far V8 lets the heap grow past what survived its last full collection, for the command line: a batch
 * job whose memory is bounded per run (DESIGN "Performance": 256 MB at a million objects). V8 otherwise lets the
 * old generation grow to about four times the survivors before collecting it again. A scan's survivors are small
 * (tens of MB), but every unit promotes its short-lived objects (a day's records, slots, listing) a unit at a time,
 * so most of a run's peak was garbage waiting for that collection. Measured on the 1,000,000-object json scan (peak
 * RSS, wall time): by default 242 to 255 MB and 42 to 45 s; with a factor of 2, 190 MB and 48 s; with 1.3, 173 MB
 * and 48 s, but a first run with a ledger (a larger heap to mark) took 73 s against 54 s by default and 60 s with
 * 2. The factor of 2 keeps a quarter of the memory for about a tenth of the time (the extra marking runs
 * concurrently, on the other core). V8 reads the factor at each collection, so setting it as the process starts
 * takes effect. A setting of the user's own (`node --heap-growing-percent=…`, or in NODE_OPTIONS) is kept.
 *
 * @returns the flag set, or undefined when the user's own stands
 */
export function boundHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
  set: (flags: string) => void = setFlagsFromString,
): string | undefined {
  if ([...execArgv, nodeOptions].some((a) => /heap[-_]growing[-_]percent/.test(a))) return undefined;
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  set(flag);
  return flag;
}
