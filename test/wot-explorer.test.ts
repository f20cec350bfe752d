// The explorer page is served by every node's HTTP server: `/` and its modules under /explorer/,
// same-origin only (CSP), nothing else from the package; the Thing's own paths are unchanged.
import test from "ava";
import { startFakeThing } from "./helpers/running-thing.js";

test("GET / serves the explorer page and its modules with a same-origin CSP; nothing else of the package", async (t) => {
  const { thing } = await startFakeThing(t);
  const origin = new URL(thing.tdUrl).origin;
  const page = await fetch(`${origin}/`);
  t.is(page.status, 200);
  t.regex(page.headers.get("content-type") ?? "", /^text\/html/);
  t.regex(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
  const html = await page.text();
  t.regex(html, /<script type="module" src="\/explorer\/app.js">/);
  for (const file of ["app.js", "proof-verify.js", "style.css"]) {
    const res = await fetch(`${origin}/explorer/${file}`);
    t.is(res.status, 200, file);
    t.is(res.headers.get("x-content-type-options"), "nosniff");
  }
  const head = await fetch(`${origin}/`, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(await head.text(), "");
  t.is((await fetch(`${origin}/`, { method: "POST" })).status, 405);
  for (const path of [
    "/explorer/../package.json",
    "/explorer/missing.js",
    "/explorer/index.html",
    "/explorer/",
  ])
    t.not((await fetch(`${origin}${path}`)).status, 200, path);
  // The Thing is still there.
  t.is((await fetch(thing.tdUrl)).status, 200);
});
