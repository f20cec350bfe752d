// Runs the admin-only `inventory` action with the network's admin credential.
//   node dist/things/admin.js http://127.0.0.1:8080/.well-known/wot --credential-file .flowchain/admin-token
import { consume, fail, print, readArgs, readCredential } from "./consumer.js";

const args = readArgs(
  "admin.js <TD URL> --credential-file FILE (or FLOWCHAIN_CREDENTIAL_FILE, FLOWCHAIN_ADMIN_TOKEN, --token T)",
  { token: { type: "string" } },
);
const token =
  (await readCredential(args.flags)) ??
  (args.flags.token as string | undefined) ??
  process.env.FLOWCHAIN_ADMIN_TOKEN;
if (!token) fail("the admin credential is required: --credential-file FILE (.flowchain/admin-token)");

const { thing, close } = await consume(args.url, { token });
try {
  const out = await thing.invokeAction("inventory");
  print({ inventory: await out?.value() });
} catch (err) {
  fail(`inventory refused: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await close();
}
