// Connects the Thing's observable affordances to the observe engine. node-wot hands the same
// Content stream to every listener of a form, so only one listener may read it: each observed
// affordance gets one node-wot listener (a hub), and the engine fans its notifications out.
import type { Content } from "@node-wot/core";
import type { Logger } from "../log.js";
import { errorText } from "../util/errors.js";
import { formIndex, type ThingEntry } from "./coap-forms.js";
import type { CoapObserveEngine, ObservedResource } from "./coap-observe.js";

export type ObservableKind = "property" | "event";

export interface ObserveHubsComponents {
  engine: CoapObserveEngine;
  logger: Logger;
}

interface ObserveHub {
  kind: ObservableKind;
  name: string;
  entry: ThingEntry;
  resource: ObservedResource;
  /** Index of our form when the listener was registered; unregistering must name the same one. */
  formIndex: number;
  listener: (content: Content) => void;
  /** Keeps notifications in emission order although reading a Content is asynchronous. */
  queue: Promise<void>;
  /** Registration with the ExposedThing; observers wait on it. */
  ready: Promise<void>;
}

export class ObserveHubs {
  private readonly engine: CoapObserveEngine;
  private readonly log: Logger;
  private readonly hubs = new Map<ThingEntry, Map<string, ObserveHub>>();

  constructor(components: ObserveHubsComponents) {
    this.engine = components.engine;
    this.log = components.logger;
  }

  /** The affordance's resource, once the Thing accepted our listener (its rejection is thrown). */
  async resourceFor(entry: ThingEntry, kind: ObservableKind, name: string): Promise<ObservedResource> {
    const hub = this.hubOf(entry, kind, name) ?? this.open(entry, kind, name);
    await hub.ready;
    return hub.resource;
  }

  /** The affordance's resource if anyone observes it. */
  existing(entry: ThingEntry, kind: ObservableKind, name: string): ObservedResource | undefined {
    return this.hubOf(entry, kind, name)?.resource;
  }

  closeThing(entry: ThingEntry): void {
    for (const hub of [...(this.hubs.get(entry)?.values() ?? [])]) this.close(hub);
    this.hubs.delete(entry);
  }

  closeAll(): void {
    for (const entry of [...this.hubs.keys()]) this.closeThing(entry);
  }

  private hubOf(entry: ThingEntry, kind: ObservableKind, name: string): ObserveHub | undefined {
    return this.hubs.get(entry)?.get(`${kind}/${name}`);
  }

  private open(entry: ThingEntry, kind: ObservableKind, name: string): ObserveHub {
    const id = `${kind}/${name}`;
    const hub: ObserveHub = {
      kind,
      name,
      entry,
      resource: this.engine.resource(id, () => this.close(hub), [
        entry.path,
        kind === "event" ? "events" : "properties",
        name,
      ]),
      formIndex: formIndex(entry, kind === "event" ? "event" : "observe", name),
      queue: Promise.resolve(),
      ready: Promise.resolve(),
      listener: (content) => {
        hub.queue = hub.queue.then(async () => {
          try {
            this.engine.notify(hub.resource, await content.toBuffer(), content.type);
          } catch (err) {
            this.log.warn("coap notification dropped", { resource: id, err: errorText(err) });
          }
        });
      },
    };
    const options = { formIndex: hub.formIndex };
    hub.ready =
      kind === "event"
        ? entry.thing.handleSubscribeEvent(name, hub.listener, options)
        : entry.thing.handleObserveProperty(name, hub.listener, options);
    // A failed registration (e.g. a subscribe handler that threw) must not stick: the caller
    // sees the rejection, and the next registration tries afresh.
    hub.ready.catch(() => {
      if (this.hubOf(entry, kind, name) === hub) this.hubs.get(entry)!.delete(id);
    });
    let byName = this.hubs.get(entry);
    if (byName === undefined) this.hubs.set(entry, (byName = new Map()));
    byName.set(id, hub);
    return hub;
  }

  private close(hub: ObserveHub): void {
    const { entry, kind, name } = hub;
    if (this.hubOf(entry, kind, name) !== hub) return;
    this.hubs.get(entry)!.delete(`${kind}/${name}`);
    this.engine.close(hub.resource);
    const options = { formIndex: hub.formIndex };
    // Unregistering must not throw out of a timer or packet handler (upstream 1233).
    hub.ready
      .then(() => {
        if (kind === "event") entry.thing.handleUnsubscribeEvent(name, hub.listener, options);
        else entry.thing.handleUnobserveProperty(name, hub.listener, options);
      })
      .catch((err: unknown) => this.log.debug("coap unobserve failed", { err: errorText(err) }));
  }
}
