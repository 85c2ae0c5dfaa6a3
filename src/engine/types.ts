import type { KeyObject } from "node:crypto";
import type { AllowList } from "../detect/AllowList.js";

/** How strictly integrity is checked: `require` makes violations exit 3. */
export type VerifyMode = "off" | "warn" | "require";

/**
 * What the engine needs to know about a run, validated. The command line (`config.ts`) and the function
 * (`handler.ts`) each build it their own way; the engine never reads argv or the environment.
 */
export interface EngineOptions {
  command: "scan" | "verify";
  /** The global allowlist. */
  allowList: AllowList;
  /** Trace names to audit, case-insensitive. */
  events: string[];
  /** The window on trace times (and, with a grace, on upload times). */
  since: Date | undefined;
  until: Date | undefined;
  verify: VerifyMode;
  /** CTS's digest public key. */
  publicKey: KeyObject;
  /** Objects in flight. */
  concurrency: number;
  /** Build the digest, send nothing, write no state. */
  dryRun: boolean;
  /** Decompressed bytes one object may expand to before it fails (decompression-bomb guard). */
  maxDecompressedBytes: number;
}
