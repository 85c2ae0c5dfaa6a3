import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { root, runCli } from "../support/cli.js";
import { tempDir } from "../support/harness.js";

// The built command (`npm test` builds first): allowlist warnings reach stderr, bad entries are exit 2.
const keyArgs = ["--public-key", path.join(root, "fixtures", "keys", "test-public.pem")];

describe("cts-audit allowlist entries", () => {
  it("warns on stderr about entries with host bits set, and still runs", async () => {
    const dir = tempDir();
    const file = path.join(dir, "allow.txt");
    writeFileSync(file, "# offices\n192.0.2.0/24\n10.0.0.1/8\n");
    const r = await runCli(["scan", dir, "--allow-file", file, "--allow", "2001:db8::1/32", ...keyArgs], {});
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `cts-audit: warning: --allow-file ${file}:3: 10.0.0.1/8 has host bits set; it allows all of 10.0.0.0/8: write 10.0.0.0/8 or 10.0.0.1/32\n`,
    );
    expect(r.stderr).toContain(
      "cts-audit: warning: --allow: 2001:db8::1/32 has host bits set; it allows all of 2001:db8::/32: write 2001:db8::/32 or 2001:db8::1/128\n",
    );
    expect(r.stderr).not.toContain("192.0.2.0/24");
  });

  it("is a usage error naming every entry that is not an address or CIDR", async () => {
    const dir = tempDir();
    const r = await runCli(
      [
        "scan",
        dir,
        "--allow",
        "fe80::1%eth0,::ffff:010.0.0.1,10.0.0.0/08,::ffff:10.0.0.0/8,10.0.0.0/8",
        ...keyArgs,
      ],
      {},
    );
    expect(r.code).toBe(2);
    for (const bad of ["fe80::1%eth0", "::ffff:010.0.0.1", "10.0.0.0/08", "::ffff:10.0.0.0/8"]) {
      expect(r.stderr).toContain(`cts-audit: error: --allow: invalid allowlist entry "${bad}"`);
    }
    expect(r.stderr).not.toContain('"10.0.0.0/8"');
  });
});
