// Runs the admin-only `inventory` action with the network's admin token.
//   FLOWCHAIN_ADMIN_TOKEN=... node dist/things/admin.js http://127.0.0.1:8080/.well-known/wot [--token T]
import { consume, fail, print, readArgs } from "./consumer.js";

const args = readArgs("admin.js <TD URL> [--token T] (or FLOWCHAIN_ADMIN_TOKEN)", {
  token: { type: "string" },
});
const token = (args.flags.token as string | undefined) ?? process.env.FLOWCHAIN_ADMIN_TOKEN;
if (!token) fail("the admin token is required: --token or FLOWCHAIN_ADMIN_TOKEN");

const { thing, close } = await consume(args.url, { token });
try {
  const out = await thing.invokeAction("inventory");
  print({ inventory: await out?.value() });
} catch (err) {
  fail(`inventory refused: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await close();
}
