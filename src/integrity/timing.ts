/**
 * When CTS's digests are due. CTS writes one digest an hour per chain: "A digest file contains the names and hash
 * values of the trace files transferred to an OBS bucket an hour ago"
 * (https://support.huaweicloud.com/intl/en-us/usermanual-cts/cts_03_0014.html), and it writes one even for an hour
 * without traces ("CTS will still send a digest file even if no operations have occurred in your account within the
 * one-hour time period", https://support.huaweicloud.com/intl/en-us/usermanual-cts/cts_03_0020.html).
 */
export const DIGEST_PERIOD_MS = 60 * 60 * 1000;

/**
 * How long after the end of its hour a digest may still be on its way. Trace files are transferred once a cycle,
 * "usually several minutes" ("CTS periodically sends trace files to OBS buckets ... based on services and transfer
 * cycle": https://support.huaweicloud.com/intl/en-us/ae-ad-1-usermanual-cts/cts_02_0003.html; the tracker guide's
 * example cycle is 12:00:00 to 12:05:00, reference §1 [S2]), and the digest names
 * the time it was sent, which in the documented example equals its `digest_end_time` (cts_03_0018): CTS sends it as
 * its hour ends. Three transfer cycles of slack covers a late cycle, a slow upload and clocks a few minutes apart;
 * more would leave a truncated chain undetected for longer, and every hour of slack is an hour in which a deleted
 * digest passes as "not yet due".
 */
export const DELIVERY_DELAY_MS = 15 * 60 * 1000;

// A digest's hour and its neighbour's may not meet to the second; a hole under this is not a gap.
export const GAP_TOLERANCE_MS = 5 * 60 * 1000;

/**
 * When the digest listing a file uploaded at `upload` is due: the end of the digest hour that holds it plus the
 * delivery delay. `chainEnd` is the end of a digest of its chain (the chain's phase: CTS's hours need not start on
 * the clock hour); without one, the latest end any one-hour digest holding it can have.
 */
export function digestDueAt(upload: number, chainEnd: number | undefined): number {
  if (chainEnd === undefined || upload < chainEnd) return upload + DIGEST_PERIOD_MS + DELIVERY_DELAY_MS;
  const hours = Math.max(1, Math.ceil((upload - chainEnd) / DIGEST_PERIOD_MS));
  return chainEnd + hours * DIGEST_PERIOD_MS + DELIVERY_DELAY_MS;
}

/**
 * A stretch with no digest, one piece per digest that should have covered it: each missing digest is its own gap
 * (aws-cli's validate-logs reports consecutive missing digests as one, its issue 7054).
 */
export function hourlyPieces(from: number, to: number): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  if (to - from <= GAP_TOLERANCE_MS) return out;
  for (let start = from; start < to; start += DIGEST_PERIOD_MS) {
    const end = Math.min(to, start + DIGEST_PERIOD_MS);
    // A sliver left over from digests that do not meet to the second belongs to the piece before it.
    if (to - end <= GAP_TOLERANCE_MS) {
      out.push({ from: start, to });
      break;
    }
    out.push({ from: start, to: end });
  }
  return out;
}
