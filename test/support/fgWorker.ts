/**
 * One FunctionGraph invocation in a child process (started by fgServer.ts): the event from FG_EVENT, the context's
 * temporary credentials and project from the environment, as the runtime's context would give them.
 */
import { handler } from "../../src/handler.js";

const event = JSON.parse(process.env.FG_EVENT ?? "{}") as unknown;
const result = await handler(event, {
  getSecurityAccessKey: () => process.env.FG_AK ?? "",
  getSecuritySecretKey: () => process.env.FG_SK ?? "",
  getSecurityToken: () => process.env.FG_TOKEN ?? "",
  getProjectID: () => process.env.FG_PROJECT ?? "",
  getRemainingTimeInMilliSeconds: () => 600_000,
  getUserData: (key: string) => process.env[key],
});
process.exitCode = result.ok ? 0 : 1;
