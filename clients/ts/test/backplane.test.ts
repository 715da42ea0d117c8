// Two example servers on one Redis (a redis-server started here on a free loopback port): a
// user's tabs on either node share one delivery stream, and a tab whose node stops resumes on
// the other without losing an event.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import WebSocket from "ws";

import { createClient, demo, notification, type Client, type WebSocketCtor } from "../generated/index.js";
import { eventually, startServer, type RunningServer } from "./server.js";

let redis: ChildProcess;
let redisUrl: string;
let one: RunningServer;
let two: RunningServer;
const clients: Client[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

before(async () => {
  const port = await freePort();
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  redis.once("error", (e) => {
    throw new Error(`cannot start redis-server (the README's test command installs it): ${e.message}`);
  });
  const deadline = Date.now() + 5_000;
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error("redis-server did not listen");
    await new Promise((r) => setTimeout(r, 20));
  }
  redisUrl = `redis://127.0.0.1:${port}/`;
  one = await startServer("127.0.0.1:0", ["--redis", redisUrl]);
  two = await startServer("127.0.0.1:0", ["--redis", redisUrl]);
});

after(async () => {
  for (const c of clients) c.close();
  await one.stop();
  await two.stop();
  redis.kill("SIGKILL");
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
