// The conformance driver of the TypeScript client (docs/conformance.md): run by
// `tidings-conformance --driver "node clients/ts/dist/conformance/driver.js" --claims rooms,requests,renewal`.
// It connects the generated client to $TIDINGS_CONFORMANCE_URL with $TIDINGS_CONFORMANCE_TOKEN,
// acts on `conformance:do` events and reports what the client saw as `conformance:saw` events.
import WebSocket from "ws";

import { createTidingsClient, TidingsError, type WebSocketCtor } from "../generated/runtime.js";

const url = process.env["TIDINGS_CONFORMANCE_URL"];
const token = process.env["TIDINGS_CONFORMANCE_TOKEN"];
if (url === undefined || token === undefined) {
  console.error("run by tidings-conformance: TIDINGS_CONFORMANCE_URL and TIDINGS_CONFORMANCE_TOKEN are not set");
  process.exit(2);
}

type Events = Record<string, unknown>;
const client = createTidingsClient<Events, Events, Events>({
  url,
  getToken: () => token,
  WebSocket: WebSocket as unknown as WebSocketCtor,
  reconnect: { initialDelayMs: 10, maxDelayMs: 100, stableAfterMs: 1_000 },
  debug: process.env["TIDINGS_CONFORMANCE_DEBUG"] === "1",
});

const saw = (data: Record<string, unknown>): void => {
  try {
    client.send("conformance:saw", data);
  } catch (e) {
    console.error("cannot report", data, e);
  }
};

client.on("conformance:note", (data, meta) => saw({ what: "event", event: meta.type, seq: meta.seq ?? null, data }));
client.onResync((info) => saw({ what: "resync", reason: info.reason }));
client.onCaughtUp((info) => saw({ what: "caught_up", replayed: info.replayed }));
client.onError((e) => saw({ what: "error", code: e.code }));

interface Do {
  action?: string;
  id?: string;
  event?: string;
  data?: unknown;
  room?: string;
  timeout_ms?: number;
}

client.on("conformance:do", (raw) => {
  const d = raw as Do;
  const rejected = (e: unknown): void =>
    saw({ what: "rejected", id: d.id ?? null, room: d.room ?? null, code: e instanceof TidingsError ? e.code : String(e) });
  switch (d.action) {
    case "send":
      client.send(String(d.event), d.data);
      return;
    case "request":
      client
        .request(String(d.event), d.data, d.timeout_ms === undefined ? {} : { timeoutMs: d.timeout_ms })
        .then((reply) => saw({ what: "reply", id: d.id ?? null, data: reply }), rejected);
      return;
    case "join":
      client.join(String(d.room)).then(() => saw({ what: "joined", room: d.room ?? null }), rejected);
      return;
    case "leave":
      client.leave(String(d.room)).then(() => saw({ what: "left", room: d.room ?? null }), rejected);
      return;
    default:
      saw({ what: "unsupported", action: d.action ?? null });
  }
});

process.on("SIGTERM", () => {
  client.close();
  process.exit(0);
});
