// The Thing's own TLS certificate and key (`--tls-cert`/`--tls-key`, PEM): checked before anything
// starts, so a wrong file fails the start with a message naming the flag instead of a TLS library
// error after the node has opened its data directory.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import { InputError } from "../util/errors.js";

export interface ServerTlsFiles {
  /** PEM certificate (a chain may follow the leaf). */
  certFile: string;
  /** PEM private key of that certificate, unencrypted. */
  keyFile: string;
}

export interface CheckedServerTls {
  cert: X509Certificate;
  /** What will not stop the node but will stop clients: expired, or not naming the host. */
  warnings: string[];
}

/** Reads and checks both files; throws InputError naming the flag of the file at fault. */
export function checkServerTls(files: ServerTlsFiles, host: string, now = new Date()): CheckedServerTls {
  const certPem = readPem(files.certFile, "--tls-cert");
  const keyPem = readPem(files.keyFile, "--tls-key");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new InputError("bad_tls", `--tls-cert ${files.certFile} holds no PEM certificate`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    const encrypted = /passphrase/i.test((err as Error).message);
    throw new InputError(
      "bad_tls",
      encrypted
        ? `--tls-key ${files.keyFile} is encrypted; give an unencrypted PEM key (e.g. openssl pkey -in KEY -out PLAIN)`
        : `--tls-key ${files.keyFile} holds no PEM private key`,
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new InputError(
      "bad_tls",
      `--tls-key ${files.keyFile} is not the private key of the certificate in --tls-cert ${files.certFile}`,
    );
  }
  try {
    // What the servers will do with them: anything else OpenSSL refuses is found here too.
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new InputError(
      "bad_tls",
      `--tls-cert ${files.certFile} / --tls-key ${files.keyFile}: ${(err as Error).message}`,
    );
  }
  const warnings: string[] = [];
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    warnings.push(
      `the certificate in --tls-cert is valid from ${cert.validFrom} to ${cert.validTo} only: clients will refuse it`,
    );
  }
  const named = isIP(host) === 0 ? cert.checkHost(host) : cert.checkIP(host);
  if (named === undefined) {
    warnings.push(
      `the certificate in --tls-cert does not name ${host} (--host) in its subjectAltName: clients will refuse it`,
    );
  }
  return { cert, warnings };
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "it is a directory",
};

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const why = READ_ERRORS[code] ?? (err as Error).message;
    throw new InputError("bad_tls", `${flag} ${file} cannot be read: ${why}`);
  }
}
