import { generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifySignature } from "../../src/integrity/signature.js";
import { testKeys } from "../support/harness.js";

describe("verifySignature (remembered per key, message and signature)", () => {
  it("answers as crypto.verify does, the first time and when asked again, for good and tampered signatures", () => {
    const { privateKey, publicKey } = testKeys();
    const cases: Array<[string, string]> = [];
    for (let i = 0; i < 40; i++) {
      const message = `2024-07-19T0${i % 10}-00-00Zdigest-${i}md5${i}`;
      const good = sign("sha256", Buffer.from(message), privateKey).toString("hex");
      const flipped = (good.slice(0, 10) + (good[10] === "0" ? "1" : "0") + good.slice(11)) as string;
      cases.push([message, good], [message, flipped], [`${message}x`, good]);
    }
    for (let round = 0; round < 2; round++) {
      for (const [message, signature] of cases) {
        const expected = verify("sha256", Buffer.from(message), publicKey, Buffer.from(signature, "hex"));
        expect(verifySignature(message, signature, publicKey)).toBe(expected);
      }
    }
    expect(cases.filter(([m, s]) => verifySignature(m, s, publicKey))).toHaveLength(40);
  });

  it("never answers for one key with what another key verified", () => {
    const { privateKey, publicKey } = testKeys();
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const message = "2024-07-19T01-00-00Zdigestmd5";
    const good = sign("sha256", Buffer.from(message), privateKey).toString("hex");
    expect(verifySignature(message, good, publicKey)).toBe(true);
    expect(verifySignature(message, good, otherKey)).toBe(false);
    expect(verifySignature(message, good, publicKey)).toBe(true);
  });
});
