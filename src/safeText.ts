/**
 * Text safety for everything that leaves the process (stderr, reports, logs, digests, saved files): credentials
 * and signatures are redacted, and control characters are escaped so that text taken from a trace or an error body
 * can neither forge a line nor drive a terminal.
 *
 * Hand-written: redaction has to know the Huawei Cloud, OBS and S3 signing formats (no library covers
 * SDK-HMAC-SHA256 or `OBS AK:sig`), and escaping has to cover U+2028/2029 and the bidi controls, which the usual
 * "strip ANSI" libraries leave alone. test/safeText.test.ts checks both against independent oracles.
 */

/** What a redacted value is replaced with. */
export const REDACTED = "[REDACTED]";

// Values shorter than this are not registered: redacting every "ab" in a text would destroy it, and a credential
// that short is no secret anyway.
const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();
// Longest first, so that a secret containing another is replaced whole.
let ordered: string[] = [];
// The registered values (and the recent request signatures) as one pattern, longest first: one pass over a text
// instead of one search per value (a run redacts thousands of alert fields with its credentials registered).
let registered: RegExp | undefined;

function rebuildRegistered(): void {
  const all = [...ordered, ...signatures].sort((a, b) => b.length - a.length);
  registered =
    all.length === 0
      ? undefined
      : new RegExp(all.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  fieldMemo.clear();
}

function variants(value: string): string[] {
  const out = new Set([value]);
  out.add(encodeURIComponent(value));
  out.add(encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  out.add(JSON.stringify(value).slice(1, -1));
  // Form encoding: a space as `+`.
  out.add(encodeURIComponent(value).replace(/%20/g, "+"));
  // An XML body escapes `&<>"'`.
  out.add(
    value
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&apos;"),
  );
  return [...out].filter((v) => v.length >= MIN_SECRET_LENGTH);
}

/**
 * Registers the run's own credential values (access key, secret key, security token): from then on
 * {@link redactSecrets} replaces them, raw or URL-, JSON- or XML-encoded, wherever they appear. Empty, undefined
 * and very short values are ignored. The entry points call this as soon as they know the credentials; the OBS and
 * SMN clients call it too, for the credentials they are given.
 */
export function registerSecrets(...values: ReadonlyArray<string | undefined | null>): void {
  let changed = false;
  for (const value of values) {
    if (typeof value !== "string" || value.trim().length < MIN_SECRET_LENGTH) continue;
    for (const v of variants(value)) {
      if (!secrets.has(v)) {
        secrets.add(v);
        changed = true;
      }
    }
    // The SDKs trim what they are given; the trimmed value is what goes on the wire.
    if (value.trim() !== value) {
      for (const v of variants(value.trim())) {
        secrets.add(v);
        changed = true;
      }
    }
  }
  if (changed) {
    ordered = [...secrets].sort((a, b) => b.length - a.length);
    rebuildRegistered();
  }
}

// The signatures of the run's own recent requests (SMN, FunctionGraph), newest last: an endpoint may echo one back
// in an error body, bare (`client sent: <hex>`), where no pattern knows it. Bounded: a warm function instance signs
// requests for as long as it lives.
const RECENT_SIGNATURES = 64;
const signatures: string[] = [];

/** Registers the signature of a request this process just signed, among the last RECENT_SIGNATURES redacted. */
export function registerRequestSignature(signature: string): void {
  if (signature.length < 16 || signatures.includes(signature)) return;
  signatures.push(signature);
  if (signatures.length > RECENT_SIGNATURES) signatures.shift();
  rebuildRegistered();
}

/** Forgets every registered secret (tests). */
export function clearRegisteredSecrets(): void {
  secrets.clear();
  ordered = [];
  signatures.length = 0;
  rebuildRegistered();
}

// The characters a header, query, JSON or XML value ends at. Quotes may come JSON-escaped (`\"`).
const VALUE = String.raw`[^\s"'<>&,;\\)}\]]+`;
// A separator between a name and its value: `=`, `:`, `%3D`, `%3A`, with quotes (JSON, possibly escaped) and spaces.
// Each run of spaces is matched by one part only: parts that could share a run would backtrack quadratically.
const SEP = String.raw`(?:\\*["']|%2[27]|\\u002[27])?\s*(?:=|:|%3[dDaA]|\\u003[dDaA])(?:\s|%20)*(?:(?:\\*["']|%2[27]|\\u002[27])\s*)?`;

// Names whose value is a credential, a token or a signature, in headers, query strings, JSON and XML: matched
// as a whole name (`ak` must not match `mask`).
const SECRET_NAMES = [
  "x-obs-security-token",
  "x-amz-security-token",
  "x-security-token",
  "security[_-]?token",
  "securitytoken",
  "x-amz-signature",
  "x-amz-credential",
  "x-obs-signature",
  "signature",
  "credential",
  "access",
  "secret",
  "accesskeyid",
  "awsaccesskeyid",
  "access[_-]?key(?:[_-]?id)?",
  "secret[_-]?access[_-]?key",
  "secret[_-]?key",
  "ak",
  "sk",
  "token",
  "password",
  "pass",
  "passwd",
  "pwd",
  "x-auth-token",
  "x-subject-token",
];
// Words that make a name a secret's when it ends with them: `access_token`, `client_secret`, `apiKey`,
// `userPassword`, `Set-Cookie`. Only at the end: `password-spray` (a rule), `tokenType` and `passwordPolicy` name
// no secret. (Not `signature`: `previous_digest_signature` is a public value.) Both branches start at a name's
// first character: a name matched from any position inside a long word would backtrack quadratically.
const SECRET_WORDS = String.raw`pass[_-]?word|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|credentials|cookie`;
const NAME = String.raw`(?<![A-Za-z0-9_-])(?:(?:${SECRET_NAMES.join("|")})|[A-Za-z0-9_-]*?(?:${SECRET_WORDS}))(?![A-Za-z0-9_-])`;

/**
 * `prefix` + REDACTED + `suffix`, unless the value is already redacted (a later pattern may see it, and a value's
 * pattern may stop before REDACTED's closing bracket).
 */
const redactValue = (m: string, prefix: string, value: string, suffix = "") =>
  value.includes(REDACTED.slice(0, -1)) ? m : `${prefix}${REDACTED}${suffix}`;

const PATTERNS: Array<[RegExp, string | ((substring: string, ...args: string[]) => string)]> = [
  // Authorization header or field, whatever its scheme: the whole value, up to the end of the line, a quote or a
  // tag. Covers `OBS AK:sig`, `AWS AK:sig`, AWS4-HMAC-SHA256 and SDK-HMAC-SHA256 (which contain `,` and `;`), and
  // a value in a list (`"authorization": ["Bearer x"]`).
  [
    new RegExp(
      String.raw`((?:proxy-)?authorization${SEP})(?!(?:\s|%20)*\[REDACTED\])(?:\[\s*\\?["']?)?[^\r\n"'<\\&]+`,
      "gi",
    ),
    (_m, prefix: string) => `${prefix}${REDACTED}`,
  ],
  // `<Name ...>value</Name>` in an XML body (S3/OBS error bodies echo headers and credentials this way).
  [
    new RegExp(
      String.raw`(<(${NAME}|authorization|signatureprovided|stringtosign|stringtosignbytes|canonicalrequest|canonicalrequestbytes)(?:\s[^<>]*)?>)[^<]*(</)`,
      "gi",
    ),
    (_m, open: string, _name: string, close: string) => `${open}${REDACTED}${close}`,
  ],
  // The schemes themselves, wherever they appear without a header name in front.
  [/\b(OBS|AWS)(\s+|%20|\+)[A-Za-z0-9]{8,}(:|%3A)[A-Za-z0-9+/%]{20,}={0,2}/gi, `$1$2${REDACTED}`],
  [/\b(AWS4-HMAC-SHA256|SDK-HMAC-SHA256|OBS4-HMAC-SHA256)(\s+|%20|\+)[^\r\n"'<\\&]+/gi, `$1$2${REDACTED}`],
  // Bearer and Basic credentials without a header name: a token, not a word of prose (it has a digit, a symbol
  // or an upper-case letter after a lower-case one).
  [
    /\b(Bearer|Basic)(\s+|%20|\+)(?=[A-Za-z]*(?:[0-9._~+/=-]|[a-z][A-Z]))[A-Za-z0-9._~+/-]{6,}={0,2}/g,
    `$1$2${REDACTED}`,
  ],
  // A signature given after a space (`Signature 95ca...`): long enough not to be a word.
  [/\b(signature)(\s+)[A-Za-z0-9+/]{20,}={0,2}/gi, `$1$2${REDACTED}`],
  // Credentials in a URL: `scheme://user:password@host`.
  [/(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)(?!\[REDACTED\]@)[^\s/?#@"'<>\\]+@/gi, `$1${REDACTED}@`],
  // A quoted value, whole, whatever it holds (spaces, commas, escaped quotes): JSON, JSON escaped inside a JSON
  // string (once or more), and single-quoted (a language's literal).
  [
    new RegExp(String.raw`("(${NAME})"\s*:\s*")((?:[^"\\]|\\.)*)(")`, "gi"),
    (m, prefix: string, _name: string, value: string, close: string) => redactValue(m, prefix, value, close),
  ],
  [
    new RegExp(String.raw`((?<!\\)(\\+)"(${NAME})\2"\s*:\s*\2")((?:(?!\2").)*)(\2")`, "gi"),
    (m, prefix: string, _slashes: string, _name: string, value: string, close: string) =>
      redactValue(m, prefix, value, close),
  ],
  [
    new RegExp(String.raw`('(${NAME})'\s*:\s*')([^']*)(')`, "gi"),
    (m, prefix: string, _name: string, value: string, close: string) => redactValue(m, prefix, value, close),
  ],
  // A list or an object as the value (`"password": ["x"]`, `password=[x]`, `"password": {"value": "x"}`).
  [
    new RegExp(String.raw`((?:\\?["'])?(${NAME})${SEP})(\[[^[\]]*\]|\{[^{}]*\})`, "gi"),
    (m, prefix: string, name: string, value: string) =>
      // Temporary credentials' object: its fields are named (access, secret, securitytoken) and redacted one by
      // one, and its expiry stays readable.
      value === REDACTED || (value.startsWith("{") && /^credentials?$/i.test(name))
        ? m
        : `${prefix}${REDACTED}`,
  ],
  // name: value in a header or a line of text, unquoted: the value runs to the end of the line (or a quote, a
  // tag, a list separator), spaces included.
  [
    new RegExp(
      String.raw`((?<![\\"'])(${NAME})[ \t]*:[ \t]*)(?![\\"'\[{])([^\s"'<>&,;][^\r\n"'<>&,;]*)`,
      "gi",
    ),
    (m, prefix: string, _name: string, value: string) => redactValue(m, prefix, value),
  ],
  // name=value, name: value, "name": "value", name%3Dvalue: headers, query parameters, JSON fields.
  [
    new RegExp(String.raw`((?:\\?["'])?(${NAME})${SEP})(?![{[])(${VALUE})`, "gi"),
    (m, prefix: string, _name: string, value: string) => redactValue(m, prefix, value),
  ],
];

/**
 * Removes credentials and signatures from text: the registered secret values (see {@link registerSecrets}) and
 * anything shaped like one (Authorization headers of every scheme, security-token headers and query parameters,
 * `Signature=`/`AccessKeyId=` query parameters, JSON and XML fields such as `"access"`, `"secret"`,
 * `"securitytoken"`), in plain, URL-encoded and JSON-escaped forms. Apply it to every text that leaves the process.
 */
export function redactSecrets(text: string): string {
  let out = text;
  if (registered) out = out.replace(registered, REDACTED);
  if (!MAY_HOLD_SECRET.test(out)) return out;
  return applyPatterns(out);
}

// Alert fields repeat (a user, a domain, an address, a user agent, thousands of times a run): each distinct short
// value is redacted once. Emptied when full, and whenever what is registered changes.
const FIELD_MEMO_ENTRIES = 4096;
const FIELD_MEMO_MAX_CHARS = 256;
const fieldMemo = new Map<string, string>();

/** {@link redactSecrets} for one field of a record (an alert's user, address, user agent), memoised. */
export function redactField(text: string): string {
  if (registered === undefined && isPlain(text)) return text;
  if (text.length > FIELD_MEMO_MAX_CHARS) return redactSecrets(text);
  let out = fieldMemo.get(text);
  if (out === undefined) {
    if (fieldMemo.size >= FIELD_MEMO_ENTRIES) fieldMemo.clear();
    out = redactSecrets(text);
    fieldMemo.set(text, out);
  }
  return out;
}

/**
 * Whether a text is only letters, digits, `.`, `_`, `-` and `/` (a user name, a UUID, an IPv4 address, a domain,
 * `domain/user`): no pattern matches such a text (each needs a separator, a tag, a space or `://`), so only a
 * registered value could be in it. A loop, not a regular expression: most alert fields are like this, and the
 * loop costs less.
 */
function isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || PLAIN[c] === 0) return false;
  }
  return true;
}
const PLAIN = new Uint8Array(128);
for (const c of "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._-/")
  PLAIN[c.charCodeAt(0)] = 1;

/** Every pattern, whatever the text holds: {@link redactSecrets} without its shortcut (its tests compare both). */
export function applyPatterns(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement as never);
  return out;
}

// What every pattern above needs somewhere in a text to match: a separator (`=`, `:`, their URL and JSON
// escapes), a tag, a URL's `@`, or a scheme's word. Most texts that leave the process (addresses, user names, user
// agents, times) have none of these and skip the patterns: alerts are redacted field by field, thousands a run.
const MAY_HOLD_SECRET = /[=:<%@]|\\u00|hmac|bearer|basic|signature/i;

// C0 controls, DEL, C1 controls, line and paragraph separators, bidi embeddings/overrides/isolates, and the other
// invisible format characters a terminal or mail client may act on (zero-width, BOM). Built from text: a regex
// literal with control characters is what the linter rightly flags elsewhere, and here it is the point.
const RANGES_BUT_NEWLINE = String.raw`\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\u061c\ufeff`;
const CONTROL = new RegExp(`[${RANGES_BUT_NEWLINE}\\u000a]`, "g");
const CONTROL_BUT_NEWLINE = new RegExp(`[${RANGES_BUT_NEWLINE}]`, "g");

const HAS_CONTROL = new RegExp(CONTROL.source);

/** Whether {@link escapeControl} would change the text (a fast test, for skipping copies). */
export function hasControl(text: string): boolean {
  return HAS_CONTROL.test(text);
}

function escapeChar(c: string): string {
  switch (c) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    default: {
      const code = c.charCodeAt(0);
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`;
    }
  }
}

/**
 * Escapes every control character of one field, newlines included, as `\n`, `\xHH` or `\uHHHH`: C0, DEL, C1,
 * U+2028/U+2029, the bidi controls U+202A–U+202E and U+2066–U+2069, U+061C, zero-width characters and the BOM.
 * The result is one line that cannot recolour a terminal. Backslashes are left as they are, so the function is
 * idempotent (escaping twice changes nothing).
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

/** Like {@link escapeControl} but keeps `\n`: for a text whose lines were built by cts-audit itself. */
export function escapeControlKeepNewlines(text: string): string {
  return text.replace(CONTROL_BUT_NEWLINE, escapeChar);
}

/** One field, safe to print: secrets redacted, then control characters escaped (newlines too). */
export function safeLine(text: string): string {
  return escapeControl(redactSecrets(text));
}

/** A multi-line text built by cts-audit, safe to print: secrets redacted, control characters but `\n` escaped. */
export function safeMultiline(text: string): string {
  return escapeControlKeepNewlines(redactSecrets(text));
}
