// Relays peer-protocol frames between an accepted WebSocket and a new one to `target`: a relay that
// reads every frame, as a flooded proxy or a man in the middle would.
import { WebSocket } from "ws";

export function relayFrames(down: WebSocket, target: string, tls: boolean): void {
  down.on("error", () => {});
  const up = new WebSocket(`${tls ? "wss" : "ws"}://${target}`, {
    perMessageDeflate: false,
    rejectUnauthorized: false,
  });
  up.on("error", () => {});
  const early: string[] = [];
  down.on("message", (d) =>
    up.readyState === WebSocket.OPEN ? up.send(d.toString()) : early.push(d.toString()),
  );
  up.on("open", () => early.splice(0).forEach((m) => up.send(m)));
  up.on("message", (d) => down.send(d.toString()));
  up.on("close", () => down.terminate());
  down.on("close", () => up.terminate());
}
