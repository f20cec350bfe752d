// Wire format: one JSON object per WebSocket text message. Decoding is strict because every
// frame may come from a hostile or broken peer; a frame that fails here closes the connection.
import {
  AuthError,
  ConflictError,
  FlowchainError,
  InputError,
  NotFoundError,
  UnavailableError,
  type ErrorKind,
} from "../util/errors.js";
import { HEX64, HEX128 } from "../util/hex.js";

export interface HelloFrame {
  t: "hello";
  v: number;
  networkId: string;
  id: string;
  publicKeyHex: string;
  proof: string;
  nonce: string;
  addr: string;
  /** Present only on the listener's hello, which doubles as its transcript signature. */
  sig?: string;
}
export interface AuthFrame {
  t: "auth";
  sig: string;
}
export interface OkFrame {
  t: "ok";
}
export interface RequestFrame {
  t: "req";
  id: number;
  m: string;
  p: unknown;
}
export interface ResponseFrame {
  t: "res";
  id: number;
  r: unknown;
}
/** kind lets the caller rebuild the same error class the remote handler threw. */
export type WireErrorKind = ErrorKind | "net" | "internal";
const WIRE_ERROR_KINDS: readonly WireErrorKind[] = [
  "input",
  "auth",
  "not_found",
  "unavailable",
  "conflict",
  "net",
  "internal",
];
export interface WireError {
  code: string;
  message: string;
  kind: WireErrorKind;
}
export interface ErrorFrame {
  t: "err";
  /** null when the error is about the connection rather than one request. */
  id: number | null;
  e: WireError;
}
export type Frame = HelloFrame | AuthFrame | OkFrame | RequestFrame | ResponseFrame | ErrorFrame;

/** Errors of the transport itself: timeout, busy, closed, unknown_method, unreachable, ... */
export class NetError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "NetError";
    this.code = code;
  }
}

const MAX_METHOD_LENGTH = 128;
const MAX_CODE_LENGTH = 64;
const MAX_MESSAGE_LENGTH = 1024;
const ADDR = /^\S{1,255}:\d{1,5}$/;

const badFrame = (why: string) => new InputError("bad_frame", why);

function isRequestId(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function str(o: Record<string, unknown>, k: string, max: number, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== "string" || v.length === 0 || v.length > max || (re && !re.test(v))) {
    throw badFrame(`field ${k} is missing or malformed`);
  }
  return v;
}

export function decodeFrame(text: string): Frame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw badFrame("frame is not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badFrame("frame is not an object");
  const o = raw as Record<string, unknown>;
  switch (o.t) {
    case "hello": {
      if (o.v !== 1) throw new InputError("bad_version", "unsupported protocol version");
      const hello: HelloFrame = {
        t: "hello",
        v: 1,
        networkId: str(o, "networkId", 256),
        id: str(o, "id", 64, HEX64),
        publicKeyHex: str(o, "publicKeyHex", 64, HEX64),
        proof: str(o, "proof", 4096),
        nonce: str(o, "nonce", 64, HEX64),
        addr: str(o, "addr", 300, ADDR),
      };
      if (o.sig !== undefined) hello.sig = str(o, "sig", 128, HEX128);
      return hello;
    }
    case "auth":
      return { t: "auth", sig: str(o, "sig", 128, HEX128) };
    case "ok":
      return { t: "ok" };
    case "req":
      if (!isRequestId(o.id)) throw badFrame("request id must be a non-negative integer");
      return { t: "req", id: o.id, m: str(o, "m", MAX_METHOD_LENGTH), p: o.p ?? null };
    case "res":
      if (!isRequestId(o.id)) throw badFrame("response id must be a non-negative integer");
      return { t: "res", id: o.id, r: o.r ?? null };
    case "err": {
      if (o.id !== null && !isRequestId(o.id)) throw badFrame("error id must be an integer or null");
      const e = o.e as Record<string, unknown> | null;
      if (typeof e !== "object" || e === null) throw badFrame("error frame without e");
      const kind = WIRE_ERROR_KINDS.find((k) => k === e.kind);
      return {
        t: "err",
        id: o.id,
        e: {
          code: typeof e.code === "string" ? e.code.slice(0, MAX_CODE_LENGTH) : "remote_error",
          message: typeof e.message === "string" ? e.message.slice(0, MAX_MESSAGE_LENGTH) : "",
          kind: kind ?? "internal",
        },
      };
    }
    default:
      throw new InputError("unknown_type", "unknown frame type");
  }
}

/** What a handler's exception looks like on the wire. Unknown exceptions keep their message for debugging. */
export function toWireError(err: unknown): WireError {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, MAX_MESSAGE_LENGTH);
  if (err instanceof FlowchainError)
    return { code: err.code.slice(0, MAX_CODE_LENGTH), message, kind: err.kind };
  if (err instanceof NetError) return { code: err.code, message, kind: "net" };
  const code = (err as { code?: unknown })?.code;
  return {
    code: typeof code === "string" ? code.slice(0, MAX_CODE_LENGTH) : "internal",
    message,
    kind: "internal",
  };
}

/** The caller-side error for a remote failure: same class and code the remote handler threw. */
export function fromWireError(e: WireError): Error {
  switch (e.kind) {
    case "input":
      return new InputError(e.code, e.message);
    case "auth":
      return new AuthError(e.code, e.message);
    case "not_found":
      return new NotFoundError(e.message, e.code);
    case "unavailable":
      return new UnavailableError(e.code, e.message);
    case "conflict":
      return new ConflictError(e.code, e.message);
    default:
      return new NetError(e.code, e.message);
  }
}
