// Two example servers on one Redis (a redis-server started here on a free loopback port): a
// user's tabs on either node share one delivery stream, and a tab whose node stops resumes on
// the other without losing an event.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import WebSocket from "ws";

import { createClient, demo, notification, type Client, type WebSocketCtor } from "../generated/index.js";
import { eventually, startRedis, startServer, type RunningServer } from "./server.js";

let redisStop: () => void;
let redisUrl: string;
let one: RunningServer;
let two: RunningServer;
const clients: Client[] = [];

before(async () => {
  ({ url: redisUrl, stop: redisStop } = await startRedis());
  one = await startServer("127.0.0.1:0", ["--redis", redisUrl]);
  two = await startServer("127.0.0.1:0", ["--redis", redisUrl]);
});

after(async () => {
  for (const c of clients) c.close();
  await one.stop();
  await two.stop();
  redisStop();
});

async function connect(url: string, query: string, fallback: string[] = []): Promise<Client> {
  const client = createClient({
    url: `${url}?${query}`,
    fallbackUrls: fallback.map((u) => `${u}?${query}`),
    WebSocket: WebSocket as unknown as WebSocketCtor,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  clients.push(client);
  // Until the node's backplane is up, it refuses sessions with 1013 and the client retries.
  await eventually(() => client.state === "open", 10_000, `${query} open`);
  return client;
}

test("a user's tabs on two nodes share one stream; a tab whose node stops resumes on the other", async () => {
  const onOne = await connect(one.ws, "user=kim&tenant=acme", [two.ws]);
  const onTwo = await connect(two.ws, "user=kim&tenant=acme");
  const resyncs: string[] = [];
  onOne.onResync((r) => resyncs.push(r.reason));
  const seen = (c: Client) => {
    const got: Array<[string, number | undefined]> = [];
    c.on(notification.NOTIFICATION_RECEIVED, (n, meta) => got.push([n.notification.title, meta.seq]));
    return got;
  };
  const [a, b] = [seen(onOne), seen(onTwo)];

  // Emitted on node one, numbered once in Redis, delivered on both nodes.
  for (const title of ["n1", "n2", "n3"]) await onOne.request(demo.DEMO_NOTIFY, { user: "kim", title });
  await eventually(() => a.length === 3 && b.length === 3, 5_000, "three notifications on both tabs");
  assert.deepEqual(a, b, "the same events with the same numbers on both nodes");
  const first = a[0]?.[1] ?? 0;
  assert.deepEqual(a.map((x) => x[1]), [first, first + 1, first + 2]);

  // Node one stops; events keep coming through node two while the tab is away.
  await one.stop();
  for (const title of ["n4", "n5", "n6"]) await onTwo.request(demo.DEMO_NOTIFY, { user: "kim", title });
  await eventually(() => a.length === 6 && b.length === 6, 10_000, "the tab on the stopped node catches up on node two");
  assert.deepEqual(a.map((x) => x[0]), ["n1", "n2", "n3", "n4", "n5", "n6"]);
  assert.deepEqual(a, b);
  assert.deepEqual(resyncs, [], "resumed from Redis, not resynced");
});
