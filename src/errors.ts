import { redactSecrets, safeLine } from "./safeText.js";

/**
 * The one error base class of cts-audit. `code` is stable and machine-readable; the message is for people.
 * The cause is always chained so that a report or a log can show where a failure came from.
 */
export class CtsAuditError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    // Messages are often built from what a server answered, which may echo the request's credentials: they are
    // redacted here, once, so that no holder of the error can print them.
    super(redactSecrets(message), options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A usage or configuration error: exit code 2. The message names the option and the fix. */
export class ConfigError extends CtsAuditError {
  /** Every problem found, one line each; `message` joins them. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    // Each problem is one line, safe to print as it is: a value quoted back from the command line or the
    // environment may hold a secret or a control character.
    const safe = problems.map(safeLine);
    super("CONFIG", safe.join("\n"), options);
    this.problems = safe;
  }
}

/** A source (directory, file, bucket) could not be listed or an object could not be read. */
export class SourceError extends CtsAuditError {}

/** An object's bytes are not a trace or digest file of a shape cts-audit understands. */
export class ParseError extends CtsAuditError {}

/** Sending the alert digest failed. */
export class NotifyError extends CtsAuditError {}

/**
 * A message for an unknown thrown value, with the causes chained into one line, safe to print: credentials and
 * signatures redacted, control characters (newlines included) escaped, whatever the error came from.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    // Compared in their safe form: a wrapper's message holds its cause's message already made safe.
    const message = safeLine(current instanceof Error ? current.message : String(current));
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

/** A ledger (state store) failed; `STATE_BUSY` and `STATE_UNREADABLE` are the subclasses below. */
export class LedgerError extends CtsAuditError {}

/** Another run holds the ledger's writer lock: exit 2, the message names the holder. */
export class LedgerBusyError extends LedgerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STATE_BUSY", message, options);
  }
}

/**
 * The ledger exists but cannot be read (corrupt, wrong format, unreadable): the run scans and reports but sends
 * nothing (it could repeat old alerts). The message says how to recover.
 */
export class LedgerUnreadableError extends LedgerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STATE_UNREADABLE", message, options);
  }
}
