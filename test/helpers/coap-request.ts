// One CoAP request with the `coap` package (a real UDP client), resolved with code and payload.
import * as coap from "coap";

export interface CoapReply {
  code: string;
  text: string;
  /** The Max-Age option, when the reply carries one. */
  maxAge?: number;
  /** The Content-Format option, as node-coap names it (`application/json`). */
  contentFormat?: string;
}

export function coapRequest(href: string, method: "GET" | "POST", body?: unknown): Promise<CoapReply> {
  const url = new URL(href);
  return new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: url.hostname,
      port: Number(url.port),
      pathname: decodeURIComponent(url.pathname),
      query: url.search.slice(1),
      method,
    });
    if (body !== undefined) {
      req.setOption("Content-Format", "application/json");
      req.write(typeof body === "string" ? body : JSON.stringify(body));
    }
    req.on("response", (res: coap.IncomingMessage) =>
      resolve({
        code: res.code,
        text: res.payload.toString("utf8"),
        maxAge: res.headers["Max-Age"] as number | undefined,
        contentFormat: res.headers["Content-Format"] as string | undefined,
      }),
    );
    req.on("error", reject);
    req.end();
  });
}
