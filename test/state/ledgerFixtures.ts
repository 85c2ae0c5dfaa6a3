import type { Alert } from "../../src/detect/types.js";
import type { LedgerHolder, ObjectOutcome } from "../../src/state/types.js";

/** An object outcome as the engine records it. */
export function outcomeFor(key: string, over: Partial<ObjectOutcome> = {}): ObjectOutcome {
  return {
    fingerprint: `"etag-${key}"`,
    rules: "rules-1",
    record: { object: key, kind: "trace", status: "scanned", traces: 3, integrity: "valid", error: "" },
    alerts: [],
    matchedTimes: [1_700_000_000_000, null],
    at: "2026-11-01T00:00:00.000Z",
    ...over,
  };
}

/** An alert with a trace id. */
export function alertFor(traceId: string): Alert {
  return {
    traceId,
    traceName: "login",
    user: "alice",
    userId: "u-1",
    domain: "example",
    sourceIp: "203.0.113.7",
    time: "2026-11-01T00:00:00Z",
    region: "cn-north-4",
    object: `CloudTraces/cn-north-4/2026/11/01/${traceId}.json.gz`,
    integrity: "valid",
    reason: "not-allowlisted",
  };
}

/** A holder for a run in this process. */
export function holderFor(run: string): LedgerHolder {
  return {
    run,
    pid: process.pid,
    host: "test-host",
    startedAt: "2026-11-30T00:00:00.000Z",
    command: `test ${run}`,
  };
}
