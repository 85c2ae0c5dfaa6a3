/**
 * Object-key parsing for CTS trace and digest files (reference §1.1 and §3.2).
 *
 * Keys are recognised by the file name (`_CloudTrace_` / `_CloudTrace-Digest_`), never by folder alone; the folder
 * layout is read tolerantly: unpadded month/day, a missing service folder, a missing region or tracker segment
 * (both occur in the documentation's examples), a leading folder before `CloudTraces/`.
 */

/** What an object is to cts-audit. */
export type ObjectKind = "trace" | "digest" | "other";

/** The parts of a CTS object key. Fields the key does not carry are empty strings. */
export interface CtsObjectKey {
  kind: ObjectKind;
  key: string;
  /** Region folder, e.g. `ap-southeast-1`. */
  region: string;
  /** Day folder as `YYYY-MM-DD` (zero-padded whatever the key's spelling). */
  day: string;
  /** Tracker folder, `system` for the management tracker. */
  tracker: string;
  /** Service folder (`IAM`, `ECS`, ...); empty when the tracker does not sort by service. */
  service: string;
  /** The user-defined file prefix. */
  filePrefix: string;
  /** When CTS uploaded the file, from the name (UTC). */
  uploadTime: Date | undefined;
  /** `.json.gz` in the name. Content is still sniffed: the name is not trusted. */
  gzipName: boolean;
  /**
   * For digests: the chain the digest belongs to (one per region, tracker and service folder, across days),
   * e.g. `CloudTraces/ap-southeast-1/system/Digest/IAM`.
   */
  chain: string;
  /** For `other`: why the key is not a CTS trace or digest file. */
  reason: string;
}

const TIME = String.raw`\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z`;
// The region part may hold a stray `/` (the documentation's own examples do), hence `.*?` and not `[^/]*?`.
const TRACE_TAIL = String.raw`(?:([A-Za-z0-9._-]{0,64})_)?CloudTrace_(.*?)_(${TIME})_([0-9A-Fa-f]+)\.json(\.gz)?$`;
const DIGEST_TAIL = String.raw`(?:([A-Za-z0-9._-]{0,64})_)?CloudTrace-Digest_(.*?)_(${TIME})\.json(\.gz)?$`;
const TRACE_NAME = new RegExp(String.raw`(?:^|/)${TRACE_TAIL}`);
const DIGEST_NAME = new RegExp(String.raw`(?:^|/)${DIGEST_TAIL}`);
// The same patterns tried at one position only (sticky): see nameMatch.
const TRACE_AT = new RegExp(TRACE_TAIL, "y");
const DIGEST_AT = new RegExp(DIGEST_TAIL, "y");

/**
 * `full.exec(key)`, the same match and captures, found faster. A key's name starts after the last `/` before the
 * first `marker` (a file prefix holds no `/`), and the pattern is tried there first: a match there is the leftmost
 * one, since any earlier start would need the marker before that `/`. Otherwise (a prefix the pattern does not
 * take) the search is the full pattern's. Trying every position of a hundred-character key was half a second of a
 * million-object rerun.
 */
function nameMatch(key: string, marker: string, at: RegExp, full: RegExp): RegExpExecArray | null {
  const first = key.indexOf(marker);
  if (first < 0) return null;
  at.lastIndex = key.lastIndexOf("/", first) + 1;
  return at.exec(key) ?? full.exec(key);
}

const CTS_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})[-:](\d{2})[-:](\d{2})(?:\.\d+)?Z$/;

/** The two-digit number at `at` in `text`, or -1 when those are not two ASCII digits. */
function digits2(text: string, at: number): number {
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Whether the character at `at` separates a time's hours, minutes and seconds: `-` (file names) or `:`. */
function isTimeSep(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  return c === 45 || c === 58;
}

/** Parses `2017-03-28T02-09-17Z` (CTS's file-name and digest time format) to a Date. */
export function parseCtsTime(text: string): Date | undefined {
  // Every key of a listing has one: the 20-character form is read by position, without a regular expression and
  // the array of captures it allocates (2% of a small-file scan). Anything else takes the general pattern.
  let y: number, mo: number, d: number, h: number, mi: number, s: number;
  if (text.length === 20) {
    const hi = digits2(text, 0);
    const lo = digits2(text, 2);
    y = hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
    mo = digits2(text, 5);
    d = digits2(text, 8);
    h = digits2(text, 11);
    mi = digits2(text, 14);
    s = digits2(text, 17);
    if (
      y < 0 ||
      mo < 0 ||
      d < 0 ||
      h < 0 ||
      mi < 0 ||
      s < 0 ||
      text.charCodeAt(4) !== 45 ||
      text.charCodeAt(7) !== 45 ||
      text.charCodeAt(10) !== 84 /* T */ ||
      !isTimeSep(text, 13) ||
      !isTimeSep(text, 16) ||
      text.charCodeAt(19) !== 90 /* Z */
    )
      return undefined;
  } else {
    const m = CTS_TIME.exec(text);
    if (!m) return undefined;
    [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  }
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls month 13 or hour 99 over into the next unit; a CTS time never does.
  if (
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    mi > 59 ||
    s > 59
  ) {
    return undefined;
  }
  return date;
}

function pad2(text: string): string {
  return text.length === 1 ? `0${text}` : text;
}

/**
 * The match of a CTS digest or trace file name in `key` (tried in that order), with the captures `parseObjectKey`
 * reads: file prefix, region part, time, then the trace's hex id and/or `.gz`; undefined for another key.
 */
export function matchCtsName(key: string): { kind: "digest" | "trace"; match: RegExpExecArray } | undefined {
  const digest = nameMatch(key, "CloudTrace-Digest_", DIGEST_AT, DIGEST_NAME);
  if (digest) return { kind: "digest", match: digest };
  const trace = nameMatch(key, "CloudTrace_", TRACE_AT, TRACE_NAME);
  return trace ? { kind: "trace", match: trace } : undefined;
}

/** Parses an object key relative to the bucket root. Never throws: unknown keys are `other` with a reason. */
export function parseObjectKey(key: string): CtsObjectKey {
  const named = matchCtsName(key);
  if (!named)
    return other(key, "not a CTS trace or digest file name (no _CloudTrace_ or _CloudTrace-Digest_)");
  const { kind, match } = named;
  const digest = kind === "digest";
  const uploadTime = parseCtsTime(match[3]!);
  if (!uploadTime) return other(key, `invalid time ${match[3]} in the file name`);
  const parsed = folderOf(key, match.index + (match[0].startsWith("/") ? 1 : 0), kind);
  return {
    kind,
    key,
    region: parsed.region,
    day: parsed.day,
    tracker: parsed.tracker,
    service: parsed.service,
    filePrefix: match[1] ?? "",
    uploadTime,
    gzipName: (digest ? match[4] : match[5]) !== undefined,
    chain: parsed.chain,
    reason: "",
  };
}

function other(key: string, reason: string): CtsObjectKey {
  return {
    kind: "other",
    key,
    region: "",
    day: "",
    tracker: "",
    service: "",
    filePrefix: "",
    uploadTime: undefined,
    gzipName: false,
    chain: "",
    reason,
  };
}

type FolderParts = Pick<CtsObjectKey, "region" | "day" | "tracker" | "service" | "chain">;

// Thousands of files share a few folders (one a day and service): each folder is parsed once. Bounded, so that a
// listing of millions of keys over years of folders does not keep them all.
const folderCache = new Map<string, FolderParts>();
const FOLDER_CACHE_SIZE = 4096;
// A listing is sorted: the next key is nearly always in the folder of the one before, which a comparison finds
// without cutting the folder out of the key and hashing it.
let last: { folder: string; kind: ObjectKind; parts: FolderParts } | undefined;

/** The parts of `key`'s folder, the first `end` characters of it. */
function folderOf(key: string, end: number, kind: ObjectKind): FolderParts {
  if (last && last.kind === kind && last.folder.length === end && key.startsWith(last.folder))
    return last.parts;
  const folder = key.slice(0, end);
  const id = kind === "digest" ? `d${folder}` : `t${folder}`;
  let parts = folderCache.get(id);
  if (!parts) {
    if (folderCache.size >= FOLDER_CACHE_SIZE) folderCache.clear();
    parts = parseFolder(folder, kind);
    folderCache.set(id, parts);
  }
  last = { folder, kind, parts };
  return parts;
}

function parseFolder(folder: string, kind: ObjectKind): FolderParts {
  const segments = folder.split("/").filter((s) => s !== "");
  const root = segments.lastIndexOf("CloudTraces");
  const lead = root >= 0 ? segments.slice(0, root + 1).join("/") : "";
  let rest = root >= 0 ? segments.slice(root + 1) : segments;
  let region = "";
  if (rest[0] !== undefined && !/^\d{4}$/.test(rest[0])) {
    region = rest[0];
    rest = rest.slice(1);
  }
  let day = "";
  if (
    rest.length >= 3 &&
    /^\d{4}$/.test(rest[0]!) &&
    /^\d{1,2}$/.test(rest[1]!) &&
    /^\d{1,2}$/.test(rest[2]!)
  ) {
    day = `${rest[0]}-${pad2(rest[1]!)}-${pad2(rest[2]!)}`;
    rest = rest.slice(3);
  }
  let tracker = "";
  let service = "";
  if (kind === "digest") {
    const d = rest.indexOf("Digest");
    if (d >= 0) {
      tracker = rest.slice(0, d).join("/");
      service = rest.slice(d + 1).join("/");
    } else {
      tracker = rest[0] ?? "";
      service = rest.slice(1).join("/");
    }
  } else {
    tracker = rest[0] ?? "";
    service = rest.slice(1).join("/");
  }
  const chain =
    kind === "digest"
      ? [lead || "CloudTraces", region, tracker, "Digest", service].filter((s) => s !== "").join("/")
      : "";
  return { region, day, tracker, service, chain };
}
