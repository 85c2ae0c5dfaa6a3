import { afterAll, beforeAll, beforeEach } from "vitest";
import { S3TestServer } from "./s3Server.js";
import { SmnTestServer, type Published } from "./smnServer.js";

/** The real local servers of a test file: s3rver (reached through esdk-obs-nodejs) and the SMN endpoint. */
export interface CloudServers {
  s3: S3TestServer;
  smn: SmnTestServer;
  /** What the SMN endpoint received during the current test. */
  published(): Published[];
}

/**
 * Starts s3rver with `buckets` and the SMN endpoint before a file's tests, hands them to `setup` (credentials,
 * topics, seeding), and stops them after the last test.
 */
export function useCloudServers(
  buckets: string[],
  setup: (servers: CloudServers) => Promise<void> | void,
): CloudServers {
  let before = 0;
  const servers = { published: () => servers.smn.published.slice(before) } as CloudServers;
  beforeAll(async () => {
    servers.s3 = await S3TestServer.start(buckets);
    servers.smn = await SmnTestServer.start();
    await setup(servers);
  }, 60_000);
  afterAll(async () => {
    await servers.s3?.stop();
    await servers.smn?.stop();
  });
  beforeEach(() => {
    before = servers.smn.published.length;
  });
  return servers;
}
