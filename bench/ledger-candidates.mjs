// Measures the embedded databases the local ledger could use, on the ledger's own workload: object outcomes
// (~600 bytes of JSON each) written per unit in one durable transaction of ~3,000, then a unit's 3,000 keys looked up,
// the file's size, the peak RSS, and the time a fresh process takes to reopen the ledger and read one unit.
//
//   node bench/ledger-candidates.mjs [objects=1000000] [perUnit=3000]
//   npx -y node@22 bench/ledger-candidates.mjs       (adds node:sqlite, which exists from Node 22.5)
//
// Candidates not installed are skipped: lmdb is the project's dependency; better-sqlite3 is installed only to
// compare (`npm install --no-save better-sqlite3@^12`; it builds from source here). Install time is not measured
// here (it depends on the npm cache); it was measured with `time npm install ...` (see the README).
// Each candidate runs in its own child processes so that peak RSS and reopen times are its own.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);

function outcome(unit, i, at) {
  const object = `${unit}/trace_${String(i).padStart(6, "0")}_ecs_2025-06-01T10-${String(i % 60).padStart(2, "0")}.json.gz`;
  return {
    fingerprint: `"${(i * 2654435761).toString(16).padStart(32, "0")}"`,
    rules: "rules-3f9a1c2b7d4e5f60",
    record: {
      object,
      kind: "trace",
      status: "scanned",
      traces: 40 + (i % 17),
      matched: i % 5,
      integrity: "valid",
      error: "",
      bytes: 5000 + i,
      md5: (i * 40503).toString(16).padStart(32, "0"),
      digest: `${unit}/digest/CloudTrace_Digest_2025-06-01T10-00-00Z.json.gz`,
    },
    alerts: [],
    matchedTimes: [1748772000000 + i, null, 1748772060000 + i],
    hashes: { sha256: (i * 97).toString(16).padStart(64, "0") },
    at,
  };
}
const unitName = (u) =>
  `CloudTraces/cn-north-4/2025/${String(1 + (u % 12)).padStart(2, "0")}/${String(u).padStart(4, "0")}`;
const keyOf = (unit, i) => `${unit}/trace_${String(i).padStart(6, "0")}.json.gz`;

const candidates = {
  lmdb: {
    available: () => canResolve("lmdb"),
    async open(file) {
      const { open } = await import("lmdb");
      const env = open({ path: file, noSubdir: true, maxDbs: 4 });
      const objects = env.openDB({ name: "objects", encoding: "msgpack" });
      const expiry = env.openDB({ name: "expiry" });
      return {
        async putUnit(unit, rows) {
          // As src/state/LocalLedger.ts writes a unit: one transaction, then flushed to disk before returning.
          await objects.transaction(() => {
            for (const [key, o] of rows) {
              objects.put([unit, key], o);
              expiry.put([Date.parse(o.at), "o", unit, key], true);
            }
          });
          await env.flushed;
        },
        getUnit(unit, keys) {
          const out = new Map();
          for (const key of keys) {
            const v = objects.get([unit, key]);
            if (v !== undefined) out.set(key, v);
          }
          return out;
        },
        async close() {
          await env.close();
        },
      };
    },
  },
  "better-sqlite3": {
    available: () => canResolve("better-sqlite3"),
    async open(file) {
      const Database = (await import("better-sqlite3")).default;
      return sqliteLedger(new Database(file));
    },
  },
  "node:sqlite": {
    available: () => {
      const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
      return major > 22 || (major === 22 && minor >= 5);
    },
    async open(file) {
      const { DatabaseSync } = await import("node:sqlite");
      return sqliteLedger(new DatabaseSync(file), true);
    },
  },
};

function sqliteLedger(db, nodeSqlite = false) {
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec(
    "CREATE TABLE IF NOT EXISTS objects (unit TEXT NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL, outcome TEXT NOT NULL, PRIMARY KEY (unit, key)) WITHOUT ROWID; CREATE INDEX IF NOT EXISTS objects_at ON objects(at);",
  );
  const put = db.prepare("INSERT OR REPLACE INTO objects (unit, key, at, outcome) VALUES (?, ?, ?, ?)");
  const get = db.prepare("SELECT outcome FROM objects WHERE unit = ? AND key = ?");
  return {
    async putUnit(unit, rows) {
      db.exec("BEGIN IMMEDIATE");
      try {
        for (const [key, o] of rows) put.run(unit, key, Date.parse(o.at), JSON.stringify(o));
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    },
    getUnit(unit, keys) {
      const out = new Map();
      for (const key of keys) {
        const row = get.get(unit, key);
        if (row) out.set(key, JSON.parse(row.outcome));
      }
      return out;
    },
    async close() {
      if (!nodeSqlite) db.pragma("wal_checkpoint(TRUNCATE)");
      else db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
}

function canResolve(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

function dirBytes(dir) {
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

async function child(name, phase, file, objects, perUnit) {
  const c = candidates[name];
  const units = Math.ceil(objects / perUnit);
  const t0 = performance.now();
  const db = await c.open(file);
  const opened = performance.now() - t0;
  const result = { opened };
  // Peak anonymous (heap, buffers) and file-backed (the database mapped in) resident memory, sampled.
  let anonMB = 0;
  let fileMB = 0;
  const sample = async () => {
    const status = await readFile("/proc/self/status", "utf8").catch(() => "");
    anonMB = Math.max(anonMB, Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    fileMB = Math.max(fileMB, Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  };
  const sampler = setInterval(sample, 100);
  const at = new Date().toISOString();
  if (phase === "write") {
    const tw = performance.now();
    let bytes = 0;
    for (let u = 0; u < units; u++) {
      const unit = unitName(u);
      const rows = [];
      for (let i = 0; i < perUnit && u * perUnit + i < objects; i++) {
        const o = outcome(unit, i, at);
        if (u === 0 && i === 0) bytes = JSON.stringify(o).length;
        rows.push([keyOf(unit, i), o]);
      }
      await db.putUnit(unit, rows);
    }
    result.writeMs = performance.now() - tw;
    result.jsonBytes = bytes;
    const lookups = [];
    for (let s = 0; s < 20; s++) {
      const u = (s * 7919) % units;
      const unit = unitName(u);
      const keys = Array.from({ length: perUnit }, (_, i) => keyOf(unit, i));
      const tl = performance.now();
      const got = db.getUnit(unit, keys);
      lookups.push(performance.now() - tl);
      if (got.size !== Math.min(perUnit, objects - u * perUnit))
        throw new Error(`${name}: unit ${unit} lost objects`);
    }
    lookups.sort((a, b) => a - b);
    result.lookupMedianMs = lookups[10];
  } else {
    const unit = unitName(units - 1);
    const keys = Array.from({ length: perUnit }, (_, i) => keyOf(unit, i));
    const tl = performance.now();
    db.getUnit(unit, keys);
    result.firstUnitMs = performance.now() - tl;
    result.reopenMs = opened + result.firstUnitMs;
  }
  const tc = performance.now();
  await db.close();
  result.closeMs = performance.now() - tc;
  result.peakRssMB = process.resourceUsage().maxRSS / 1024;
  clearInterval(sampler);
  await sample();
  result.anonMB = anonMB;
  result.fileMB = fileMB;
  process.stdout.write(JSON.stringify(result));
}

async function main() {
  const objects = Number(process.argv[2] ?? 1_000_000);
  const perUnit = Number(process.argv[3] ?? 3000);
  console.log(`node ${process.version}; ${objects} objects in units of ${perUnit}`);
  for (const [name, c] of Object.entries(candidates)) {
    if (!c.available()) {
      console.log(`${name}: not installed here, skipped`);
      continue;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "ledger-bench-"));
    const file = path.join(dir, "ledger.db");
    try {
      const run = (phase) => {
        const r = spawnSync(
          process.execPath,
          [self, "--child", name, phase, file, String(objects), String(perUnit)],
          {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            maxBuffer: 1 << 20,
          },
        );
        if (r.status !== 0)
          throw new Error(
            `${phase} exited ${r.status ?? r.signal}: ${r.stderr.split("\n").find((l) => /NODE_MODULE_VERSION/.test(l)) ?? r.stderr.split("\n").find((l) => /Error/.test(l)) ?? r.stderr.trim().slice(0, 200)}`,
          );
        return JSON.parse(r.stdout);
      };
      const w = run("write");
      const size = dirBytes(dir);
      const r = run("reopen");
      const f = (n) => n.toFixed(1);
      console.log(
        `${name}: write ${f(w.writeMs / 1000)} s (${f((w.writeMs * 1000) / objects)} us/object, ${w.jsonBytes} B JSON each), ` +
          `lookup of ${perUnit} keys ${f(w.lookupMedianMs)} ms (median of 20), files ${f(size / 1e6)} MB, ` +
          `peak RSS ${f(w.peakRssMB)} MB writing (sampled peaks: ${f(w.anonMB)} MB anonymous, ${f(w.fileMB)} MB file-backed) / ${f(r.peakRssMB)} MB reopening, reopen + one unit ${f(r.reopenMs)} ms`,
      );
    } catch (err) {
      console.log(`${name}: failed: ${err.message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === "--child") {
  const [, , , name, phase, file, objects, perUnit] = process.argv;
  await child(name, phase, file, Number(objects), Number(perUnit));
} else {
  await main();
}
