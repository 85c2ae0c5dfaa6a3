import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { ConfigError } from "./errors.js";

const FIX =
  'give the RSA public key CTS signs with: a PEM file ("-----BEGIN PUBLIC KEY-----") or base64 SPKI';

/**
 * Reads the digest public key of `--public-key` or `CTS_AUDIT_PUBLIC_KEY` (`origin` names which): a PEM file,
 * a DER file, PEM text, or base64 SubjectPublicKeyInfo. Anything else is a ConfigError naming the origin and the
 * fix: a private key (Node derives the public half of one without a word, which would hide a leaked secret), a
 * certificate, bytes that are no key, a key that is not RSA. Messages never repeat the material.
 */
export function readPublicKey(spec: string, origin: string): KeyObject {
  const trimmed = spec.trim();
  const looksInline = trimmed.includes("-----BEGIN") || /^[A-Za-z0-9+/=_\s-]{64,}$/.test(trimmed);
  let material: Buffer;
  if (!looksInline || (!trimmed.includes("\n") && trimmed.length < 4096 && existsSync(trimmed))) {
    try {
      material = readFileSync(trimmed);
    } catch (err) {
      // A short value that is no file: naming it helps with a mistyped path and reveals no key.
      throw new ConfigError([`${origin}: cannot read public key file ${trimmed.slice(0, 200)}: ${FIX}`], {
        cause: err,
      });
    }
  } else material = Buffer.from(trimmed, "utf8");

  const key = parse(material, origin);
  if (key.asymmetricKeyType !== "rsa") {
    throw new ConfigError([
      `${origin}: this is an ${key.asymmetricKeyType ?? "unknown"} public key, and CTS signs digests with RSA: ${FIX}`,
    ]);
  }
  return key;
}

function parse(material: Buffer, origin: string): KeyObject {
  const text = material.toString("utf8");
  const labels = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
  if (labels.some((l) => l.includes("PRIVATE KEY"))) throw privateKey(origin);
  if (labels.some((l) => l.includes("CERTIFICATE"))) throw certificate(origin);
  if (labels.length > 0) {
    if (!labels.every((l) => l === "PUBLIC KEY" || l === "RSA PUBLIC KEY")) {
      throw new ConfigError([`${origin}: the PEM holds ${labels.join(", ")}, not a public key: ${FIX}`]);
    }
    try {
      return createPublicKey(text);
    } catch (err) {
      throw new ConfigError([`${origin}: the PEM public key cannot be read: ${FIX}`], { cause: err });
    }
  }
  const base64 = text.replace(/\s+/g, "");
  const der = /^[A-Za-z0-9+/]+={0,2}$/.test(base64) ? Buffer.from(base64, "base64") : material;
  return parseDer(der, origin);
}

function parseDer(der: Buffer, origin: string): KeyObject {
  // Private first: createPublicKey derives a public key from private DER as it does from PEM.
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      createPrivateKey({ key: der, format: "der", type });
    } catch {
      continue;
    }
    throw privateKey(origin);
  }
  for (const type of ["spki", "pkcs1"] as const) {
    try {
      return createPublicKey({ key: der, format: "der", type });
    } catch {
      // Try the next encoding; what it is instead is worked out below.
    }
  }
  try {
    new X509Certificate(der);
  } catch {
    throw new ConfigError([`${origin}: not a public key (neither PEM nor base64 or DER SPKI): ${FIX}`]);
  }
  throw certificate(origin);
}

const privateKey = (origin: string) =>
  new ConfigError([
    `${origin}: this is a private key; give the public key instead (openssl pkey -in private.pem -pubout) and keep the private key secret`,
  ]);

const certificate = (origin: string) =>
  new ConfigError([
    `${origin}: this is a certificate, not a public key; give its public key (openssl x509 -in cert.pem -pubkey -noout)`,
  ]);
