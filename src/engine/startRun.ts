import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { AuditRules } from "../detect/AuditRules.js";
import { CollectingWriter } from "../report/CollectingWriter.js";
import type { ReportHeader, ReportWriter } from "../report/types.js";
import { LedgerPolicy } from "./LedgerPolicy.js";
import { RunTally } from "./RunTally.js";
import type { EngineOptions, RunDeps } from "./types.js";

/** What a run (or a fan-out reducer) starts with: its rules, writer, tally, errors, opened ledger and header. */
export interface StartedRun {
  clock: () => Date;
  startedAt: Date;
  rules: AuditRules;
  collector: CollectingWriter | undefined;
  writer: ReportWriter;
  tally: RunTally;
  errors: string[];
  /** Records a run error (once) and warns. */
  failed: (message: string) => void;
  ledger: LedgerPolicy;
  header: ReportHeader;
}

/**
 * The start of a run, shared by `run()` and the fan-out reducer: the rules (their id keys the ledger's reuse), the
 * report writer (a collecting one when none is given), and the ledger opened under a holder that names the run
 * (`command`, for a person who has to wait for it). Throws only what `LedgerPolicy.open` throws (another run holds
 * the ledger); the caller closes the ledger in its `finally`.
 */
export async function startRun(
  options: EngineOptions,
  deps: Pick<RunDeps, "clock" | "report" | "warn" | "ledger" | "ledgerWaitMs">,
  sources: string[],
  command: string,
): Promise<StartedRun> {
  const clock = deps.clock ?? (() => new Date());
  const startedAt = clock();
  const rules = new AuditRules(options.events, options.allowList, options.rules);
  const collector = deps.report ? undefined : new CollectingWriter();
  const errors: string[] = [];
  const failed = (message: string) => {
    if (!errors.includes(message)) errors.push(message);
    deps.warn?.(message);
  };
  const ledger = new LedgerPolicy(deps.ledger, rules.id, !options.dryRun, failed, clock);
  await ledger.open(
    { run: randomUUID(), pid: process.pid, host: hostname(), startedAt: startedAt.toISOString(), command },
    deps.ledgerWaitMs,
  );
  const header: ReportHeader = {
    version: 1,
    command: options.command,
    sources,
    startedAt: startedAt.toISOString(),
    window: { since: options.since?.toISOString(), until: options.until?.toISOString() },
    verify: options.verify,
    ...(options.geo ? { geoData: options.geo.data } : {}),
  };
  return {
    clock,
    startedAt,
    rules,
    collector,
    writer: deps.report ?? collector!,
    tally: new RunTally(),
    errors,
    failed,
    ledger,
    header,
  };
}
