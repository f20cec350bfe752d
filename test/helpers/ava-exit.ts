// AVA 6 waits for a test worker to exit on its own; one handle left open (a node-coap agent's
// socket, a timer, a child process) keeps the worker alive until AVA's inactivity timeout, which
// fails the run with no test named (2 CI runs in 14 did). Once every test of a file has reported,
// the worker exits.
import { registerCompletionHandler } from "ava";

registerCompletionHandler(() => {
  process.exit();
});
