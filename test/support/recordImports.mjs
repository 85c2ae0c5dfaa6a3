// Preloaded with `node --import` by test/cli.startup.test.ts: records every module the process resolves, and
// prints the bare package names on stderr at exit (`IMPORTED a,b,c`).
import { register } from "node:module";

const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on("message", (specifier) => seen.add(specifier));
port1.unref();
register(
  `data:text/javascript,${encodeURIComponent(`
    let port;
    export function initialize(data) { port = data.port; }
    export async function resolve(specifier, context, next) {
      if (!specifier.startsWith(".") && !specifier.startsWith("/") && !specifier.includes(":")) port.postMessage(specifier);
      return next(specifier, context);
    }
  `)}`,
  { data: { port: port2 }, transferList: [port2] },
);
process.on("exit", () => process.stderr.write(`IMPORTED ${[...seen].sort().join(",")}\n`));
