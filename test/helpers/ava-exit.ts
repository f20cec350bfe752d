// AVA 6 waits for a test worker to exit on its own; one handle left open (a node-coap agent's
// socket, a timer, a child process) keeps the worker alive until AVA's inactivity timeout, which
// fails the run with no test named (2 CI runs in 14 did). Once every test of a file has reported,
// the worker gets a grace period to exit by itself (an immediate process.exit() can abort in
// native teardown while LevelDB's threads still run), then is made to.
import { registerCompletionHandler } from "ava";

const GRACE_MS = 10_000;

registerCompletionHandler(() => {
  setTimeout(() => process.exit(), GRACE_MS).unref();
});
