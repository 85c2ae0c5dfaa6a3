/**
 * Scale rows of `npm run bench` (DESIGN "Performance", scale): a replay of 1,000,000 small objects against a
 * 100,000-object run, in every report format, with and without the ledger, and a rerun that reuses the ledger.
 * Each run is the built command line in its own process (bench/measure.mjs), its report written to a file.
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import path from "node:path";
import { scaleCorpus } from "./scaleCorpus.js";

export type Row = [string, string, string, string];

interface Measured {
  seconds: number;
  maxRssMb: number;
  /** Peaks of anonymous and of file-backed resident memory (sampled). */
  anonMb: number;
  fileMb: number;
  summary: {
    objects: number;
    traceFiles: number;
    alerts: number;
    failed: number;
    reused: number;
    skipped: number;
  };
}

/** Runs one scan; its report goes to a file (a million-object JSON report is hundreds of MB). */
function measure(root: string, work: string, args: string[]): Measured {
  const out = path.join(work, "scale-report.out");
  const fd = openSync(out, "w");
  const r = spawnSync(process.execPath, ["bench/measure.mjs", ...args], {
    cwd: root,
    stdio: ["ignore", fd, "pipe"],
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  closeSync(fd);
  if (r.status !== 0)
    throw new Error(`scale run ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const m = JSON.parse(/MEASURE (.*)/.exec(r.stderr)![1]!) as Omit<Measured, "summary">;
  // The summary: json has it near the top, ndjson on the last line, text in its first line.
  const head = Buffer.alloc(64 * 1024);
  const rfd = openSync(out, "r");
  const n = readSync(rfd, head, 0, head.length, 0);
  closeSync(rfd);
  const text = head.subarray(0, n).toString("utf8");
  let summary: Measured["summary"];
  if (args.includes("ndjson")) {
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    summary = JSON.parse(lines[lines.length - 1]!) as Measured["summary"];
  } else if (args.includes("json")) {
    summary = JSON.parse(/"summary": (\{[\s\S]*?\n {2}\})/.exec(text)![1]!) as Measured["summary"];
  } else {
    const first = /(\d+) objects .*?, (\d+) alerts.*?, (\d+) failed, (\d+) skipped/.exec(text)!;
    summary = {
      objects: +first[1]!,
      traceFiles: 0,
      alerts: +first[2]!,
      failed: +first[3]!,
      skipped: +first[4]!,
      reused: 0,
    };
  }
  rmSync(out, { force: true });
  if (summary.failed > 0) throw new Error(`scale run ${args.join(" ")} failed objects`);
  return { ...m, summary };
}

/** The scale rows and verdicts; the corpora are cached under `cacheDir`. */
export function scaleBench(
  root: string,
  work: string,
  cacheDir: string,
): { rows: Row[]; verdicts: Array<[string, boolean]> } {
  const keyPem = readFileSync(path.join(root, "fixtures", "keys", "test-private.pem"), "utf8");
  const big = Number(process.env.BENCH_SCALE_OBJECTS ?? 1_000_000);
  const small = Math.round(big / 10);
  console.error(`cts-audit bench: scale corpora (${small} and ${big} objects, cached in ${cacheDir}) ...`);
  const dirSmall = scaleCorpus(path.join(cacheDir, `scale-${small}`), small, keyPem);
  const dirBig = scaleCorpus(path.join(cacheDir, `scale-${big}`), big, keyPem);
  const common = (dir: string, format: string) => [
    "scan",
    dir,
    "--format",
    format,
    "--notify",
    "none",
    "--allow",
    "192.0.2.0/24",
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
  ];
  const rows: Row[] = [];
  const verdicts: Array<[string, boolean]> = [];
  const perObject = (m: Measured) => (m.seconds / m.summary.objects) * 1e6;
  const row = (name: string, m: Measured, note = "") =>
    rows.push([
      name,
      `${m.seconds.toFixed(1)} s, ${perObject(m).toFixed(1)} µs/object`,
      `${m.maxRssMb.toFixed(0)} MB`,
      note || `${m.summary.objects} objects, ${m.summary.alerts} alerts`,
    ]);

  // Once, unmeasured: the first read of a million files from a cold page cache would be charged to one format.
  measure(root, work, common(dirBig, "text"));
  measure(root, work, common(dirSmall, "text"));
  // Twice too, the faster kept: the million-object json run it is compared with is the faster of two.
  const base = [
    measure(root, work, common(dirSmall, "json")),
    measure(root, work, common(dirSmall, "json")),
  ].reduce((a, b) => (b.seconds < a.seconds ? b : a));
  row(`${small} objects, json`, base);
  const byFormat: Array<[string, Measured]> = [];
  for (const format of ["json", "ndjson", "text"]) {
    const m = measure(root, work, common(dirBig, format));
    byFormat.push([format, m]);
  }

  // The timed comparisons (time per object, the ledger's cost, the rerun's speed-up) divide one run's time by
  // another's, and a run of a million files on this machine varies by up to a fifth from one run to the next (its
  // opens and reads of a million files, most of all: measured, docs/benchmarks.md "Scale"). So the json run, the
  // first run with a ledger and its rerun are each made twice, interleaved, and each ratio takes the faster of each
  // pair: the run least disturbed. Memory verdicts take the larger of each pair.
  const pass = (n: number) => {
    const ledger = path.join(work, `scale-ledger-${n}`);
    const plain = n === 0 ? byFormat[0]![1] : measure(root, work, common(dirBig, "json"));
    const first = measure(root, work, [...common(dirBig, "json"), "--state", ledger]);
    const rerun = measure(root, work, [...common(dirBig, "json"), "--state", ledger]);
    rmSync(ledger, { recursive: true, force: true });
    rmSync(`${ledger}-lock`, { force: true });
    return { plain, first, rerun };
  };
  const passes = [pass(0), pass(1)];
  const faster = (pick: (p: (typeof passes)[number]) => Measured) =>
    passes.map(pick).reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const larger = (pick: (p: (typeof passes)[number]) => Measured) =>
    passes.map(pick).reduce((a, b) => (b.maxRssMb > a.maxRssMb ? b : a));
  const both = (pick: (p: (typeof passes)[number]) => Measured) =>
    `runs: ${passes.map((p) => `${pick(p).seconds.toFixed(1)} s`).join(", ")}`;

  const bigJson = faster((p) => p.plain);
  const jsonPeak = larger((p) => p.plain);
  for (const [format, m] of byFormat) {
    const shown = format === "json" ? bigJson : m;
    row(
      `${big} objects, ${format}`,
      shown,
      format === "json"
        ? `${shown.summary.objects} objects, ${shown.summary.alerts} alerts; ${both((p) => p.plain)}`
        : "",
    );
    const peak = format === "json" ? jsonPeak : m;
    verdicts.push([
      `${big} objects, ${format}: peak RSS <= 256 MB (${peak.maxRssMb.toFixed(0)} MB)`,
      peak.maxRssMb <= 256,
    ]);
  }
  const ratio = perObject(bigJson) / perObject(base);
  verdicts.push([`time per object within 1.2x of the ${small} run (${ratio.toFixed(2)}x)`, ratio <= 1.2]);

  const first = faster((p) => p.first);
  const rerun = faster((p) => p.rerun);
  const floor = spawnSync(process.execPath, ["bench/floor-rerun.mjs", dirBig], {
    cwd: root,
    encoding: "utf8",
  });
  const floorSeconds = (JSON.parse(floor.stdout) as { seconds: number }).seconds;
  row(`${big} objects, json, new ledger`, first, `${both((p) => p.first)}`);
  row(
    `${big} objects, json, rerun on the ledger`,
    rerun,
    `${rerun.summary.reused} reused; ${both((p) => p.rerun)}`,
  );
  for (const [name, m] of [
    ["new ledger", larger((p) => p.first)],
    ["rerun", larger((p) => p.rerun)],
  ] as const)
    verdicts.push([
      `${big} objects, ${name}: peak anonymous memory <= 256 MB (${m.anonMb.toFixed(0)} MB; ${m.maxRssMb.toFixed(0)} MB RSS with the database's mapped pages)`,
      m.anonMb <= 256,
    ]);
  const cost = first.seconds / bigJson.seconds;
  verdicts.push([`the ledger costs at most 1.3x (${cost.toFixed(2)}x)`, cost <= 1.3]);
  const speedup = first.seconds / rerun.seconds;
  verdicts.push([`a rerun is at least 5x faster (${speedup.toFixed(1)}x)`, speedup >= 5]);
  rows.push([
    `${big} objects: list with stat, one record each`,
    `${floorSeconds.toFixed(1)} s, ${((floorSeconds / big) * 1e6).toFixed(1)} µs/object`,
    "",
    `a rerun's floor: at most ${(first.seconds / floorSeconds).toFixed(1)}x faster than the first run`,
  ]);
  // Digest files are read again on every run (small, and they carry the chain): every trace file is reused.
  verdicts.push([
    `the rerun reuses every trace file (${passes.map((p) => `${p.rerun.summary.reused} of ${p.rerun.summary.traceFiles}`).join(", ")})`,
    passes.every((p) => p.rerun.summary.reused === p.rerun.summary.traceFiles),
  ]);
  return { rows, verdicts };
}
