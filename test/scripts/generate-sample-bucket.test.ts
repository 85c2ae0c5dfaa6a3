import { listObjects } from "../../src/sources/types.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sampleBucket } from "../../scripts/generate-sample-bucket.js";
import { gunzipSync } from "node:zlib";
import { normaliseTrace } from "../../src/cts/trace.js";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { DEFAULT_RULES } from "../../src/detect/RulesConfig.js";
import type { Unit } from "../../src/engine/units.js";
import { WindowCarry } from "../../src/engine/WindowCarry.js";
import { LocalSource } from "../../src/sources/LocalSource.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("npm run fixtures", () => {
  it("regenerates the committed sample bucket byte for byte, metadata included", async () => {
    const built = sampleBucket();
    const committed = await LocalSource.open(path.join(root, "fixtures", "sample-bucket"));
    const keys: string[] = [];
    for await (const o of listObjects(committed)) keys.push(o.key);
    expect(keys.sort()).toEqual([...built.objects.keys()].sort());
    for (const key of keys) {
      expect(
        readFileSync(path.join(root, "fixtures", "sample-bucket", ...key.split("/"))).equals(
          built.objects.get(key)!,
        ),
      ).toBe(true);
      expect(await committed.metadata(key)).toEqual(built.metadata.get(key) ?? {});
    }
  });
});

describe("the sample bucket's windowed patterns (issue 14)", () => {
  /**
   * A test-only stand-in for rules-A's LoginAttempt producer: the sample's IAM logins and failed logins as
   * attempts, by day unit in listing order, so that the windows run as the engine runs them.
   */
  function attemptsByUnit(): Array<[Unit, LoginAttempt[]]> {
    const built = sampleBucket();
    const units = new Map<string, LoginAttempt[]>();
    for (const key of [...built.objects.keys()].sort()) {
      if (!/\/IAM\/cts_CloudTrace_/.test(key)) continue;
      const unit = key.split("/").slice(0, 5).join("/");
      const list = units.get(unit) ?? [];
      for (const raw of JSON.parse(gunzipSync(built.objects.get(key)!).toString()) as Array<
        Record<string, unknown>
      >) {
        const t = normaliseTrace(raw);
        const name = t.traceName.toLowerCase();
        if ((name !== "login" && name !== "loginfailed") || t.time === undefined) continue;
        list.push({
          time: t.time,
          traceId: t.traceId,
          traceName: t.traceName,
          outcome: name === "login" ? "success" : "failure",
          user: t.user.name,
          userKey: `${t.user.domain}/${t.user.id || t.user.name}`.toLowerCase(),
          domain: t.user.domain,
          sourceIp: t.sourceIp,
          object: key,
          region: "ap-southeast-1",
        });
      }
      units.set(unit, list);
    }
    return [...units].map(([id, list]) => {
      const [, , region, y, m, d] = ["", ...id.split("/")];
      return [
        { id: `CloudTraces/${region}/${y}-${m}-${d}`, series: `CloudTraces/${region}`, objects: [] },
        list,
      ];
    });
  }

  it("gives one alert of each windowed rule, windows across files and midnight", async () => {
    const units = attemptsByUnit();
    expect(units.map(([u]) => u.id)).toEqual([
      "CloudTraces/ap-southeast-1/2024-07-18",
      "CloudTraces/ap-southeast-1/2024-07-19",
    ]);
    const carry = new WindowCarry(DEFAULT_RULES.rules, undefined);
    for (const [unit, attempts] of units) await carry.settle(unit, attempts);
    const alerts = carry.finishAll();
    expect(alerts.map((a) => [a.rule, a.user, a.sourceIp]).sort()).toEqual([
      ["brute-force", "frank", "192.0.2.10"],
      ["failures-then-success", "judy", "2001:db8:cafe::12"],
      ["password-spray", "ivan", "198.51.100.7"],
    ]);
  });
});
