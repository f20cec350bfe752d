// What a device says about itself (paper 5.4 and 4.1): battery, bandwidth and signal set its
// reliability, hence the difficulty of its next block; an invalid condition retires the block in use.
import type { Ledger } from "../ledger/ledger.js";
import { InputError } from "../util/errors.js";
import type { ReportInput, ReportResult } from "./api.js";
import { LAPTOP_DEFAULTS, parseResources, reliability, type Resources } from "./reliability.js";

export const CONDITIONS = ["low_battery", "out_of_disk", "out_of_memory", "network_loss"];

/** Coins and resources: the two inputs of reliability, read by the miner whenever it sets a target. */
export class Standing {
  coins = 0;
  resources: Resources = { ...LAPTOP_DEFAULTS };

  reliability(): number {
    return reliability(this.coins, this.resources);
  }
}

export class DeviceReport {
  constructor(private readonly c: { ledger: Ledger; standing: Standing }) {}

  async report(input: ReportInput): Promise<ReportResult> {
    if (typeof input !== "object" || input === null)
      throw new InputError("bad_report", "report takes an object");
    const { condition, detail, ...resources } = input;
    if (condition !== undefined && (typeof condition !== "string" || !CONDITIONS.includes(condition))) {
      throw new InputError("bad_condition", `condition must be one of ${CONDITIONS.join(", ")}`);
    }
    if (detail !== undefined && typeof detail !== "string")
      throw new InputError("bad_condition", "detail must be a string");
    // Validate everything before changing anything.
    const next = parseResources(resources, this.c.standing.resources);
    this.c.standing.resources = next;
    let invalidated: string | null = null;
    if (condition) {
      invalidated = this.c.ledger.validBlock()?.hash ?? null;
      await this.condition({ kind: condition, detail });
    }
    return { resources: { ...next }, reliability: this.c.standing.reliability(), invalidated };
  }

  async condition(c: { kind: string; detail?: string }): Promise<void> {
    await this.c.ledger.invalidate(c.detail ? `${c.kind}: ${c.detail}` : c.kind);
  }
}
