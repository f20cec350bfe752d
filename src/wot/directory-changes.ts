// Turns the ring's changing membership into the directory's notifications (WoT Discovery
// notification API): `thing_created` when a member's TD appears, `thing_updated` when it changes,
// `thing_deleted` when it goes.
// Listing the ring asks every member, so it is done only while someone listens, on each local
// membership change and at a steady pace for changes further round the ring.
import { EventEmitter } from "node:events";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import type { TD } from "./http-directory.js";

export const THING_CREATED = "thing_created";
export const THING_UPDATED = "thing_updated";
export const THING_DELETED = "thing_deleted";
export const DIRECTORY_EVENT_TYPES = [THING_CREATED, THING_UPDATED, THING_DELETED] as const;

export interface DirectoryChangesOptions {
  list(): Promise<TD[]>;
  /** True while a client listens. */
  watched(): boolean;
  /** Emits "members" when the ring around this node changes. */
  node: EventEmitter;
  log: Logger;
  intervalMs?: number;
}

/** Emits each type with `{ id }`, the partial TD the spec sends. */
export class DirectoryChanges extends EventEmitter {
  /** Each member's TD as JSON, by id. */
  private known: Map<string, string> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onMembers = () => this.check();

  constructor(private readonly o: DirectoryChangesOptions) {
    super();
    this.timer = setInterval(() => this.check(), o.intervalMs ?? 2000);
    this.timer.unref();
    o.node.on("members", this.onMembers);
  }

  stop(): void {
    clearInterval(this.timer);
    this.o.node.off("members", this.onMembers);
  }

  /** Compares the ring with what was last seen; a check asked for while one runs runs after it. */
  check(): void {
    if (!this.o.watched()) {
      // Nobody listens: forget, so a later listener is not told of changes from before it came.
      this.known = undefined;
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.compare()
      .catch((err: unknown) => this.o.log.debug("directory check failed", { err: errorText(err) }))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.check();
        }
      });
  }

  private async compare(): Promise<void> {
    const now = new Map((await this.o.list()).map((td) => [String(td.id), JSON.stringify(td)]));
    const before = this.known;
    this.known = now;
    if (before === undefined) return;
    for (const [id, json] of now) {
      const was = before.get(id);
      if (was === undefined) this.emit(THING_CREATED, { id });
      else if (was !== json) this.emit(THING_UPDATED, { id });
    }
    for (const id of before.keys()) if (!now.has(id)) this.emit(THING_DELETED, { id });
  }
}
