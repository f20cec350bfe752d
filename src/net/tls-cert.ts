// A throwaway self-signed Ed25519 certificate for the peer port's TLS 1.3.
//
// The certificate authenticates nothing and nobody checks it: peers authenticate each other with
// their node keys in the handshake (handshake.ts), and that handshake signs the TLS session's
// exported keying material (RFC 8446 §7.5), so a man in the middle, who must run two TLS sessions
// with two different secrets, cannot pass a signature from one side to the other. TLS is here for
// confidentiality; Node's TLS server just cannot run without a certificate. A fresh key per process
// keeps the node key out of the TLS stack. Node has no X.509 writer, and this one certificate is
// a fixed DER template (RFC 5280 §4.1) around a public key and a signature; `X509Certificate`
// parses and verifies it in the tests.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else if (n < 0x100) len = Buffer.from([0x81, n]);
  else len = Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const ED25519 = seq(Buffer.from("06032b6570", "hex"));
const name = (cn: string) =>
  seq(tlv(0x31, seq(Buffer.from("0603550403", "hex"), tlv(0x0c, Buffer.from(cn, "utf8")))));

/** UTCTime (RFC 5280 §4.1.2.5.1: dates up to 2049). */
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const s =
    p(d.getUTCFullYear() % 100) +
    p(d.getUTCMonth() + 1) +
    p(d.getUTCDate()) +
    p(d.getUTCHours()) +
    p(d.getUTCMinutes()) +
    p(d.getUTCSeconds()) +
    "Z";
  return tlv(0x17, Buffer.from(s, "ascii"));
}

export interface TlsCredentials {
  key: string;
  cert: string;
}

const pem = (label: string, der: Buffer) =>
  `-----BEGIN ${label}-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END ${label}-----\n`;

export function selfSignedCertificate(commonName = "flowchain-peer", now = new Date()): TlsCredentials {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and minimal (no leading zero byte)
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    ED25519,
    name(commonName),
    seq(
      utcTime(new Date(now.getTime() - 3_600_000)),
      utcTime(new Date(now.getTime() + 10 * 365 * 86_400_000)),
    ),
    name(commonName),
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = sign(null, tbs, privateKey);
  const cert = seq(tbs, ED25519, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    key: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    cert: pem("CERTIFICATE", cert),
  };
}
