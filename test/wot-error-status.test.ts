// One error table for both protocols: every row is the same status over HTTP and CoAP.
import test from "ava";
import { AuthError, ConflictError, InputError, NotFoundError, UnavailableError } from "../src/util/errors.js";
import { fromWireError, toWireError } from "../src/net/frame.js";
import {
  ERROR_STATUS_TABLE,
  errorStatus,
  INTERNAL_MESSAGE,
  type StatusRow,
} from "../src/wot/error-status.js";

/** An error of each row's kind (and code, where the row names one). */
function errorFor(row: StatusRow): Error {
  switch (row.kind) {
    case "input":
      return new InputError("invalid_input", "bad input");
    case "auth":
      return new AuthError(row.code ?? "peer_mismatch", "who are you");
    case "not_found":
      return new NotFoundError("no such record");
    case "conflict":
      return new ConflictError("not_owner", "ask the owner");
    case "unavailable":
      return new UnavailableError("no_replicas", "try later", 7);
    case "internal":
      return new Error("secret detail of a bug");
  }
}

const rowName = (row: StatusRow): string => `${row.kind}${row.code === undefined ? "" : `/${row.code}`}`;

test("every row of the error table is the same status in HTTP and CoAP", (t) => {
  for (const row of ERROR_STATUS_TABLE) {
    t.is(row.coap, `${Math.floor(row.http / 100)}.${String(row.http % 100).padStart(2, "0")}`, rowName(row));
  }
  t.deepEqual(
    ERROR_STATUS_TABLE.map((r) => [rowName(r), r.http, r.coap]),
    [
      ["input", 400, "4.00"],
      ["auth/unauthenticated", 401, "4.01"],
      ["auth", 403, "4.03"],
      ["not_found", 404, "4.04"],
      ["conflict", 409, "4.09"],
      ["unavailable", 503, "5.03"],
      ["internal", 500, "5.00"],
    ],
  );
});

test("errors map by kind: class instances, look-alikes by name, and errors rebuilt from the peer RPC", (t) => {
  for (const row of ERROR_STATUS_TABLE) {
    const err = errorFor(row);
    const lookAlike = Object.assign(new Error(err.message), {
      name: err.name,
      code: (err as AuthError).code,
    });
    const rebuilt = fromWireError(toWireError(err));
    for (const [how, e] of [
      ["instance", err],
      ["by name", lookAlike],
      ["rebuilt", rebuilt],
    ] as const) {
      if (row.kind === "internal" && how === "rebuilt") continue; // a remote bug is a NetError
      const s = errorStatus(e);
      t.deepEqual([s.http, s.coap], [row.http, row.coap], `${rowName(row)} ${how}`);
    }
  }
  const peer = errorStatus(new AuthError("peer_mismatch", "signed by another peer"));
  t.deepEqual([peer.http, peer.coap], [403, "4.03"]);
  t.is(errorStatus(new UnavailableError("no_replicas", "later", 2.5)).retryAfterSeconds, 3);
  t.is(errorStatus(new InputError("x", "y")).retryAfterSeconds, undefined);
  t.is(errorStatus(new Error("secret")).message, INTERNAL_MESSAGE);
});
