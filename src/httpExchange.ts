import http from "node:http";
import https from "node:https";
import { safeLine } from "./safeText.js";

/** An HTTP answer, its body read whole (the small JSON bodies of SMN and FunctionGraph). */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP exchange with a deadline: the whole exchange, body included, within `timeoutMs`, or the request and its
 * socket are destroyed. Node's http, not fetch: the signed `Host` header must go out as signed. No keep-alive: a
 * run publishes (or invokes) a few times, and a pooled socket is one more thing that could outlive it.
 */
export function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  /** Who answers, for the timeout's message (`SMN endpoint`). */
  service: string,
): Promise<RawResponse> {
  const lib = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    let response: http.IncomingMessage | undefined;
    const giveUp = () => {
      const err = Object.assign(
        new Error(`no answer from ${service} ${safeLine(url.origin)} within ${timeoutMs / 1000} s`),
        { code: "ETIMEDOUT" },
      );
      // The response first, so that this error rather than a bare "aborted" is what fails the exchange.
      response?.destroy(err);
      req.destroy(err);
    };
    const deadline = setTimeout(giveUp, timeoutMs);
    const fail = (err: unknown) => {
      clearTimeout(deadline);
      reject(err);
    };
    const req = lib.request(url, { method, headers, timeout: timeoutMs, agent: false }, (res) => {
      response = res;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(deadline);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
      res.on("error", fail);
    });
    req.on("timeout", giveUp);
    req.on("error", fail);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
