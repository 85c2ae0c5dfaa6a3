/**
 * The HTML report as a person opens it: the built command line scans the sample bucket (plus a planted modified
 * file) with `--format html`, and a real headless Chromium (Debian's `chromium`, driven by playwright-core) loads
 * the page. It must load nothing from anywhere, log no error, show every alert address and every chain, show the
 * modified file as modified, and print. A screenshot and a PDF are kept in test-artifacts/.
 *
 * Without a Chromium the browser tests skip and say so; the page is still generated and checked as text.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseObjectKey } from "../../src/cts/objectKey.js";
import { chainOfTraceKey } from "../../src/integrity/DigestChains.js";
import { chainLabel } from "../../src/report/integrityCalendar.js";
import type { Report } from "../../src/report/types.js";
import { root, runCli } from "../support/cli.js";
import { tempDir } from "../support/harness.js";

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
].filter((p): p is string => !!p);
const executablePath = CANDIDATES.find((p) => existsSync(p));
const NO_BROWSER =
  `no Chromium found (looked for ${CANDIDATES.join(", ")}): install it (apt-get install -y chromium) ` +
  "or set CHROMIUM_PATH to run the browser test of the HTML report";

const artifacts = path.join(root, "test-artifacts");
const planted =
  "CloudTraces/ap-southeast-1/2024/07/19/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-19T00-44-12Z_9b01a7d419eb6579.json.gz";
const HOSTILE_USER = `<img src=x onerror=alert(1)>"mallory'`;
const PLANTED_IP = "203.0.113.250";

/** The sample bucket with one IAM trace file changed after its digest was signed: a login slipped in. */
function tamperedBucket(): string {
  const dir = tempDir();
  cpSync(path.join(root, "fixtures", "sample-bucket"), dir, { recursive: true });
  const file = path.join(dir, planted);
  const traces = JSON.parse(gunzipSync(readFileSync(file)).toString("utf8")) as Array<
    Record<string, unknown>
  >;
  const login = traces.find((t) => t.trace_name === "login")!;
  traces.push({
    ...login,
    trace_id: "0badc0de-0000-1000-a000-000000000001",
    source_ip: PLANTED_IP,
    time: Number(login.time) + 60_000,
    user: JSON.stringify({ name: HOSTILE_USER, id: "x", domain: { name: "acme", id: "y" } }),
  });
  writeFileSync(file, gzipSync(Buffer.from(JSON.stringify(traces))));
  return dir;
}

function scanArgs(dir: string, format: "html" | "json"): string[] {
  return [
    "scan",
    dir,
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
    "--allow-file",
    path.join(root, "fixtures", "sample-allowlist.txt"),
    "--format",
    format,
    "--notify",
    "none",
  ];
}

/** Every chain of a report: of its digests and gaps, and of its trace files. */
function chainsOf(report: Report): string[] {
  const chains = new Set<string>();
  for (const d of report.digests) if (d.chain) chains.add(d.chain);
  for (const g of report.gaps) if (g.chain) chains.add(g.chain);
  for (const f of report.files) {
    const key = parseObjectKey(f.object);
    if (key.kind === "trace") chains.add(chainOfTraceKey(key));
  }
  return [...chains].sort();
}

let browser: Browser | undefined;
beforeAll(async () => {
  // CI installs Chromium (.ci/run) and asks for it: there a missing browser fails instead of skipping silently.
  if (!executablePath && process.env.CTS_AUDIT_REQUIRE_BROWSER === "1")
    throw new Error(`CTS_AUDIT_REQUIRE_BROWSER=1 but ${NO_BROWSER}`);
  if (!executablePath) {
    process.stderr.write(`\n*** SKIPPED the HTML report browser test: ${NO_BROWSER}\n\n`);
    return;
  }
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

interface Opened {
  requests: string[];
  errors: string[];
}

/** Opens a page file with scripts off, as a mail client or ticket viewer would, recording requests and errors. */
async function open(file: string, shot: string) {
  const context = await browser!.newContext({
    javaScriptEnabled: false,
    viewport: { width: 1240, height: 900 },
  });
  const page = await context.newPage();
  const seen: Opened = { requests: [], errors: [] };
  const url = `file://${file}`;
  page.on("request", (r) => {
    if (r.url() !== url) seen.requests.push(r.url());
  });
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") seen.errors.push(m.text());
  });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("requestfailed", (r) => seen.errors.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: "load" });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${shot}.png`), fullPage: true });
  return { context, page, seen };
}

describe("the HTML report in a real browser", () => {
  let page: { file: string; text: string; report: Report; code: number } | undefined;

  beforeAll(async () => {
    const dir = tamperedBucket();
    const html = await runCli(scanArgs(dir, "html"), {});
    const json = await runCli(scanArgs(dir, "json"), {});
    const file = path.join(tempDir(), "report.html");
    writeFileSync(file, html.stdout);
    page = { file, text: html.stdout, report: JSON.parse(json.stdout) as Report, code: html.code };
  }, 60_000);

  it("the command line writes one page; the planted file is modified in the json report too", () => {
    const { text, report, code } = page!;
    expect(code).toBe(report.exitCode);
    expect(text.startsWith("<!doctype html>")).toBe(true);
    expect(text.trimEnd().endsWith("</html>")).toBe(true);
    expect(report.files.find((f) => f.object === planted)?.integrity).toBe("modified");
    expect(report.alerts.some((a) => a.sourceIp === PLANTED_IP && a.integrity === "modified")).toBe(true);
  });

  it("opens with no request, no error; every alert address and chain is there; the modified file is modified", async (ctx) => {
    if (!browser) return ctx.skip(NO_BROWSER);
    const { report, file } = page!;
    const { context, page: p, seen } = await open(file, "html-report-tampered");
    try {
      expect(seen.requests).toEqual([]);
      expect(seen.errors).toEqual([]);
      expect(await p.locator("script, img, iframe, object, embed, link").count()).toBe(0);

      const tableText = await p.locator("#alert-table tbody tr").allInnerTexts();
      expect(tableText).toHaveLength(report.alerts.length);
      const laneKeys = await p
        .locator("svg.timeline")
        .first()
        .locator("g.lane")
        .evaluateAll((gs) => gs.map((g) => g.getAttribute("data-key")));
      for (const a of report.alerts) {
        expect(tableText.some((row) => row.includes(a.sourceIp))).toBe(true);
        expect(laneKeys).toContain(a.sourceIp);
      }

      const chains = chainsOf(report);
      expect(chains.length).toBeGreaterThanOrEqual(2);
      for (const chain of chains) {
        const section = p.locator(`section.chain[data-chain="${chain}"]`);
        await expect(section.count()).resolves.toBe(1);
        expect(await section.locator("h3").innerText()).toContain(chainLabel(chain));
      }

      // The planted file: its hour is a modified cell naming it, its finding row and its alert say modified.
      const name = planted.slice(planted.lastIndexOf("/") + 1);
      const cellTitles = await p
        .locator('g.cell[data-verdict="modified"] > title')
        .evaluateAll((ts) => ts.map((t) => t.textContent ?? ""));
      expect(cellTitles.filter((t) => t.includes(`modified: ${name}`))).toHaveLength(1);
      expect(
        await p.locator('g.cell[data-verdict="modified"]').first().locator("rect").getAttribute("fill"),
      ).toBe("#b00020");
      const finding = p.locator('#findings tr[data-verdict="modified"]', { hasText: name });
      expect(await finding.count()).toBe(1);
      const plantedRow = p.locator("#alert-table tbody tr", { hasText: PLANTED_IP });
      expect(await plantedRow.locator('[data-verdict="modified"]').innerText()).toBe("modified");
      // The hostile user name is text the browser shows as written, not markup it ran.
      expect(await plantedRow.innerText()).toContain(HOSTILE_USER);

      expect(await p.locator("#exit-code").innerText()).toBe(String(report.exitCode));
      for (const source of report.sources) expect(await p.locator("#summary").innerText()).toContain(source);

      // Printable: the print layout renders to a PDF of a few pages.
      await p.emulateMedia({ media: "print" });
      const pdf = await p.pdf({ path: path.join(artifacts, "html-report-tampered.pdf"), landscape: true });
      expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
      expect(seen.requests).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("the README's page: the sample bucket as committed (screenshot in test-artifacts, docs/ on request)", async (ctx) => {
    if (!browser) return ctx.skip(NO_BROWSER);
    const result = await runCli(scanArgs(path.join(root, "fixtures", "sample-bucket"), "html"), {});
    const file = path.join(tempDir(), "sample.html");
    writeFileSync(file, result.stdout);
    const { context, page: p, seen } = await open(file, "html-report-sample");
    try {
      expect(seen.requests).toEqual([]);
      expect(seen.errors).toEqual([]);
      // The sample has three chains: IAM, ECS and CTS (the tamper traces).
      expect(await p.locator("section.chain").count()).toBe(3);
      // UPDATE_DOCS_SCREENSHOT=1 refreshes the README's image from this very page.
      if (process.env.UPDATE_DOCS_SCREENSHOT === "1")
        await p.screenshot({ path: path.join(root, "docs", "html-report.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
