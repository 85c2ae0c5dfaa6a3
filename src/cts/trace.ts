/**
 * Trace normalisation (reference §2). CTS files, API exports and trigger events spell the same trace differently:
 * `user` as a JSON string or an object, `code` as a number or a string, `time` in milliseconds or seconds.
 */

/** The operator of a trace. Read-only: traces of one user share one (frozen) object. */
export interface TraceUser {
  readonly name: string;
  readonly id: string;
  readonly domain: string;
  readonly domainId: string;
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

/**
 * Characters kept of a normalised text field. Trace fields are short (an address, a name, an id); a field of
 * megabytes is an attack on the report and the digest, not data: its start is kept, marked as cut.
 */
export const MAX_FIELD_CHARS = 1024;

/** A field as text: strings, numbers and booleans as written; anything else (objects, arrays, null) empty. */
function str(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else return "";
  return text.length > MAX_FIELD_CHARS ? `${text.slice(0, MAX_FIELD_CHARS)}…(${text.length} chars)` : text;
}

/**
 * A field of a parsed object, only when the object itself has it: an inherited `constructor` or `toString`, or a
 * value behind a `__proto__` key, is not a field of the trace.
 */
export function field(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === "object" && Object.hasOwn(obj, key)
    ? (obj as Record<string, unknown>)[key]
    : undefined;
}

/** Largest epoch milliseconds a JavaScript Date holds (±100,000,000 days): past it, toISOString throws. */
const MAX_DATE_MS = 8.64e15;

/** Epoch ms from a number or numeric string (seconds when below 1e12), or an ISO-8601 string. */
export function toEpochMs(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && value.trim() !== "") {
    const trimmed = value.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) n = Number(trimmed);
    else {
      const parsed = Date.parse(trimmed);
      return Number.isNaN(parsed) || parsed <= 0 ? undefined : parsed;
    }
  }
  if (n === undefined || !Number.isFinite(n) || n <= 0) return undefined;
  const ms = n < 1e12 ? Math.round(n * 1000) : Math.round(n);
  // A time no date can hold is no time: the trace is kept, with its time unknown.
  return ms <= MAX_DATE_MS ? ms : undefined;
}

// `user` is a JSON text CTS writes the same way for every trace of one user: a file of 100,000 traces has a few
// hundred distinct ones. Parsing each once (a bounded memo, emptied when full) takes JSON.parse off the path of
// alert-heavy files. The users handed out are frozen: one object is shared by every trace of that user.
const USER_MEMO_ENTRIES = 1024;
const USER_MEMO_MAX_CHARS = 1024;
const userMemo = new Map<string, TraceUser>();

function parseUser(value: unknown): TraceUser {
  if (typeof value !== "string" || value.length > USER_MEMO_MAX_CHARS) return readUser(value);
  let user = userMemo.get(value);
  if (user === undefined) {
    if (userMemo.size >= USER_MEMO_ENTRIES) userMemo.clear();
    user = Object.freeze(readUser(value));
    userMemo.set(value, user);
  }
  return user;
}

function readUser(value: unknown): TraceUser {
  let obj: unknown = value;
  if (typeof value === "string") {
    try {
      obj = JSON.parse(value);
    } catch {
      // Not JSON: some fixtures carry a bare name. Keep it as the name rather than lose it.
      return { name: str(value), id: "", domain: "", domainId: "" };
    }
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj))
    return { name: str(obj), id: "", domain: "", domainId: "" };
  const domain = field(obj, "domain");
  return {
    name: str(field(obj, "name")) || str(field(obj, "user_name")),
    id: str(field(obj, "id")) || str(field(obj, "principal_id")),
    domain: str(field(domain, "name")),
    domainId: str(field(domain, "id")) || str(field(obj, "account_id")),
  };
}

/**
 * Normalises one raw trace object. Never throws, whatever a field holds (any JSON value, any size, keys such as
 * `__proto__`): a field of the wrong type becomes empty, a time no date can hold becomes undefined, and one bad
 * field never costs the trace (nor another one) its other fields.
 */
export function normaliseTrace(raw: Record<string, unknown>): Trace {
  return {
    traceId: str(field(raw, "trace_id")),
    traceName: str(field(raw, "trace_name")),
    serviceType: str(field(raw, "service_type")),
    resourceType: str(field(raw, "resource_type")),
    traceRating: str(field(raw, "trace_rating")),
    sourceIp: str(field(raw, "source_ip")).trim(),
    time: toEpochMs(field(raw, "time")) ?? toEpochMs(field(raw, "record_time")),
    code: str(field(raw, "code")),
    user: parseUser(field(raw, "user")),
    raw,
  };
}
