// The explorer page's files (web/), served as they are: `/` is the page, `/explorer/<file>` its
// modules and style. Read once at start; nothing is built and nothing is fetched from elsewhere.
import { readdirSync, readFileSync } from "node:fs";

const WEB_DIR = new URL("../../../web/", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Same-origin only, except the WebSocket event forms, which are on the node's own WS port. */
export const EXPLORER_CSP =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'none'";

export interface Asset {
  type: string;
  body: Buffer;
}

export class ExplorerAssets {
  private readonly files = new Map<string, Asset>();

  constructor(dir: URL = WEB_DIR) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // A package without the page still serves the Thing.
    }
    for (const name of names) {
      const type = TYPES[name.slice(name.lastIndexOf("."))];
      if (type !== undefined) this.files.set(name, { type, body: readFileSync(new URL(name, dir)) });
    }
  }

  /** The asset at a URL path, if it is one of the page's. */
  at(pathname: string): Asset | undefined {
    if (pathname === "/" || pathname === "/index.html") return this.files.get("index.html");
    const m = /^\/explorer\/([A-Za-z0-9-]+\.(?:js|css))$/.exec(pathname);
    return m ? this.files.get(m[1]) : undefined;
  }
}
