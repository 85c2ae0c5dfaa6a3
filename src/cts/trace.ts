/**
 * Trace normalisation (reference §2). CTS files, API exports and trigger events spell the same trace differently:
 * `user` as a JSON string or an object, `code` as a number or a string, `time` in milliseconds or seconds.
 */

/** The operator of a trace. */
export interface TraceUser {
  name: string;
  id: string;
  domain: string;
  domainId: string;
}

/** A trace in one shape, whatever its spelling on the wire. `raw` keeps every field, unknown ones included. */
export interface Trace {
  traceId: string;
  traceName: string;
  serviceType: string;
  resourceType: string;
  traceRating: string;
  sourceIp: string;
  /** Epoch milliseconds (`time`, else `record_time`); undefined when neither is usable. */
  time: number | undefined;
  code: string;
  user: TraceUser;
  raw: Record<string, unknown>;
}

function str(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

/** Epoch ms from a number or numeric string (seconds when below 1e12), or an ISO-8601 string. */
export function toEpochMs(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && value.trim() !== "") {
    const trimmed = value.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) n = Number(trimmed);
    else {
      const parsed = Date.parse(trimmed);
      return Number.isNaN(parsed) ? undefined : parsed;
    }
  }
  if (n === undefined || !Number.isFinite(n) || n <= 0) return undefined;
  return n < 1e12 ? Math.round(n * 1000) : Math.round(n);
}

function parseUser(value: unknown): TraceUser {
  let obj: unknown = value;
  if (typeof value === "string") {
    try {
      obj = JSON.parse(value);
    } catch {
      // Not JSON: some fixtures carry a bare name. Keep it as the name rather than lose it.
      return { name: value, id: "", domain: "", domainId: "" };
    }
  }
  if (obj === null || typeof obj !== "object") return { name: str(obj), id: "", domain: "", domainId: "" };
  const u = obj as Record<string, unknown>;
  const domain = u.domain && typeof u.domain === "object" ? (u.domain as Record<string, unknown>) : {};
  return {
    name: str(u.name) || str(u.user_name),
    id: str(u.id) || str(u.principal_id),
    domain: str(domain.name),
    domainId: str(domain.id) || str(u.account_id),
  };
}

/** Normalises one raw trace object. Never throws; missing fields become empty strings. */
export function normaliseTrace(raw: Record<string, unknown>): Trace {
  return {
    traceId: str(raw.trace_id),
    traceName: str(raw.trace_name),
    serviceType: str(raw.service_type),
    resourceType: str(raw.resource_type),
    traceRating: str(raw.trace_rating),
    sourceIp: str(raw.source_ip).trim(),
    time: toEpochMs(raw.time) ?? toEpochMs(raw.record_time),
    code: str(raw.code),
    user: parseUser(raw.user),
    raw,
  };
}
