// Removed members. The admin signs a revocation naming a member's id; every node checks it with
// the admin public key it already trusts, keeps it (revoked.json) and passes it on, so it spreads
// through the ring from any member it reaches. A removed member's connections are closed and
// refused, its records are refused (branch-proofs.ts), and inventories leave it out.
import { readFile, writeFile } from "node:fs/promises";
import { z } from "zod";
import { Identity } from "../ledger/identity.js";
import { revocation, type Revocation } from "./protocol/shapes.js";

export type { Revocation };

/** Revocations kept; far more members than a ring of this kind ever removes. */
const MAX_REVOCATIONS = 10_000;

// A distinct domain: a revocation signature is no other kind of admin signature, and vice versa.
const signedText = (r: Omit<Revocation, "signature">) =>
  `flowchain/revoke/v1\n${r.network}.${r.member}.${r.at}`;

export function createRevocation(admin: Identity, network: string, member: string): Revocation {
  const body = { network, member, at: Date.now() };
  return { ...body, signature: admin.sign(signedText(body)) };
}

export function verifyRevocation(
  r: Revocation,
  expected: { networkId: string; adminPublicKey: string },
): boolean {
  return (
    r.network === expected.networkId && Identity.verify(expected.adminPublicKey, signedText(r), r.signature)
  );
}

export class Revocations {
  private readonly byMember = new Map<string, Revocation>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly expected: { networkId: string; adminPublicKey: string },
  ) {}

  /** Reads revoked.json; entries that do not verify (an edited file) are dropped. */
  async load(): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.file, "utf8"));
    } catch {
      return;
    }
    const list = z.array(revocation).safeParse(raw);
    for (const r of list.success ? list.data : []) {
      if (verifyRevocation(r, this.expected)) this.byMember.set(r.member, r);
    }
  }

  has(id: string): boolean {
    return this.byMember.has(id);
  }

  list(): Revocation[] {
    return [...this.byMember.values()];
  }

  /** Keeps a verified revocation; true when it is new here. */
  async add(r: Revocation): Promise<boolean> {
    if (this.byMember.has(r.member) || this.byMember.size >= MAX_REVOCATIONS) return false;
    this.byMember.set(r.member, r);
    const text = JSON.stringify(this.list(), null, 1) + "\n";
    this.writing = this.writing.then(() => writeFile(this.file, text, { mode: 0o600 }));
    await this.writing;
    return true;
  }
}
