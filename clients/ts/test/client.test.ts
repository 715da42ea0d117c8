// The generated client against the real Rust example server: every recipient kind, replies and
// errors, handler isolation, invalid frames, rooms, modules, and reconnecting after the server
// restarts.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import WebSocket from "ws";

import {
  chat,
  createClient,
  demo,
  Module,
  notification,
  operation,
  tenant,
  ticket,
  TidingsError,
  type Client,
  type ClientOptions,
  type ServerEvents,
  type WebSocketCtor,
} from "../generated/index.js";
import { eventually, startServer, type RunningServer } from "./server.js";

let server: RunningServer;
const clients: Client[] = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

async function connect(query: string, options: Partial<ClientOptions> = {}, url = server.ws): Promise<Client> {
  const client = createClient({ url: `${url}?${query}`, WebSocket: WebSocket as unknown as WebSocketCtor, ...options });
  clients.push(client);
  await eventually(() => client.state === "open", 5_000, `${query} open`);
  return client;
}

function collect<K extends keyof ServerEvents & string>(client: Client, event: K): Array<ServerEvents[K]> {
  const seen: Array<ServerEvents[K]> = [];
  client.on(event, (data) => seen.push(data));
  return seen;
}

const CHAT = "00000000-0000-4000-8000-000000000007";

test("each recipient kind reaches exactly its connections", async () => {
  const alice = await connect("user=alice&tenant=acme");
  const bob = await connect("user=bob&tenant=acme");
  const admin = await connect("user=carol&tenant=acme&roles=admin,platform_admin");
  const dave = await connect("user=dave&tenant=acme");
  const erin = await connect("user=erin&tenant=globex&roles=admin,platform_admin");

  const created = new Map([alice, bob, admin, dave, erin].map((c) => [c, collect(c, ticket.TICKET_CREATED)]));
  // alice opens a ticket for bob with dave participating: assignee (user), participants
  // (users), tenant admins (role), never the actor.
  const t = await alice.request(demo.DEMO_OPEN_TICKET, { title: "Broken chair", assignee: "bob", participants: ["dave"] });
  assert.equal(t.title, "Broken chair");
  assert.equal(t.status, "open");
  await eventually(() => created.get(bob)?.length === 1 && created.get(admin)?.length === 1 && created.get(dave)?.length === 1);
  assert.equal(created.get(alice)?.length, 0, "the actor");
  assert.equal(created.get(erin)?.length, 0, "another tenant's admin");
  assert.equal(created.get(bob)?.[0]?.ticket.id, t.id);

  // Tenant-wide announcement; platform-wide role.
  const announced = [alice, erin].map((c) => collect(c, tenant.TENANT_ANNOUNCEMENT));
  const alerts = [admin, erin, bob].map((c) => collect(c, tenant.TENANT_PLATFORM_ALERT));
  await bob.request(demo.DEMO_ANNOUNCE, { title: "Fire drill", body: "at 3" });
  await bob.request(demo.DEMO_RAISE_ALERT, { message: "disk full" });
  await eventually(() => announced[0]?.length === 1 && alerts[0]?.length === 1 && alerts[1]?.length === 1);
  assert.equal(announced[1]?.length, 0, "globex does not hear acme's announcement");
  assert.equal(alerts[2]?.length, 0, "not a platform admin");

  // One user, by name.
  const notes = collect(dave, notification.NOTIFICATION_RECEIVED);
  await alice.request(demo.DEMO_NOTIFY, { user: "dave", title: "Hi dave" });
  await eventually(() => notes.length === 1);
  assert.equal(notes[0]?.notification.title, "Hi dave");

  // A room of the tenant.
  await alice.join(`chat:${CHAT}`);
  await bob.join(`chat:${CHAT}`);
  await erin.join(`chat:${CHAT}`);
  const roomAlice = collect(alice, chat.CHAT_MESSAGE);
  const roomErin = collect(erin, chat.CHAT_MESSAGE);
  const stored = await bob.request(chat.CHAT_SEND_MESSAGE, { chat_id: CHAT, body: { type: "text", text: "hello" } });
  assert.equal(stored.sender_id.length, 36);
  await eventually(() => roomAlice.length === 1);
  assert.deepEqual(roomAlice[0]?.message.body, { type: "text", text: "hello" });
  await alice.request(demo.DEMO_NOTIFY, { user: "erin", title: "sync point" });
  assert.equal(roomErin.length, 0, "same room name, other tenant");
});

test("presence events: the room hears, typed, who opens the chat and who leaves it", async () => {
  const ROOM = "00000000-0000-4000-8000-000000000019";
  const watcher = await connect("user=watcher&tenant=acme");
  await watcher.join(`chat:${ROOM}`);
  const joined = collect(watcher, chat.CHAT_MEMBER_JOINED);
  const left = collect(watcher, chat.CHAT_MEMBER_LEFT);
  const tab1 = await connect("user=henry&tenant=acme");
  const tab2 = await connect("user=henry&tenant=acme");
  const own = collect(tab1, chat.CHAT_MEMBER_JOINED);
  await tab1.join(`chat:${ROOM}`);
  await eventually(() => joined.length === 1, 5_000, "henry's join announced");
  const henry = joined[0]?.user_id;
  assert.equal(joined[0]?.chat_id, ROOM);
  assert.equal(henry?.length, 36, "the user id, as the server knows it");
  // A second tab of a present user is no news; the last one closing is.
  await tab2.join(`chat:${ROOM}`);
  await tab2.leave(`chat:${ROOM}`);
  tab1.close();
  await eventually(() => left.length === 1, 5_000, "henry's leave announced");
  assert.equal(joined.length, 1);
  assert.equal(left[0]?.user_id, henry);
  assert.equal(own.length, 0, "`except = user_id`: henry is not told he joined");
});

test("durable events carry their order; an operation's progress is monotonic and ends complete", async () => {
  const grace = await connect("user=grace&tenant=acme");
  const seqs: number[] = [];
  const percentages: number[] = [];
  grace.on(operation.OPERATION_PROGRESS, (p, meta) => {
    percentages.push(p.percentage);
    if (meta.seq !== undefined) seqs.push(meta.seq);
  });
  const done = collect(grace, operation.OPERATION_COMPLETE);
  const started = await grace.request(demo.DEMO_START_OPERATION, { operation_type: "export", steps: 5, step_ms: 10 });
  await eventually(() => done.length === 1);
  assert.equal(done[0]?.operation_id, started.operation_id);
  assert.deepEqual(percentages, [0, 20, 40, 60, 80, 100]);
  // A page opened now asks for the state of the user's operations.
  const late = await connect("user=grace&tenant=acme");
  const states = await late.operations();
  const mine = states.find((s) => s.operation_id === started.operation_id);
  assert.equal(mine?.state, "complete");
  assert.equal(mine?.percentage, 100);
  assert.deepEqual(mine?.refresh_tables, ["tickets"]);

  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(seqs).size, seqs.length);

  // The app's own id (its job's), not a UUID: the client's guards take it like any other.
  const own = collect(grace, operation.OPERATION_COMPLETE);
  const job = await grace.request(demo.DEMO_START_OPERATION, { operation_type: "export", steps: 1, step_ms: 0, id: "export-42" });
  assert.equal(job.operation_id, "export-42");
  await eventually(() => own.some((o) => o.operation_id === "export-42"));
  assert.equal((await late.operations()).find((s) => s.operation_id === "export-42")?.state, "complete");
  await assert.rejects(
    grace.request(demo.DEMO_START_OPERATION, { operation_type: "export", id: "line\nbreak" }),
    { code: "invalid_payload", field: "id" },
  );
});

test("requests reject with typed errors; timeouts; the session stays usable", async () => {
  const c = await connect("user=henry&tenant=acme");
  await assert.rejects(c.request(demo.DEMO_OPEN_TICKET, { title: "" }), (e: unknown) => {
    assert.ok(e instanceof TidingsError);
    assert.equal(e.code, "constraint_violated");
    assert.equal(e.field, "title");
    return true;
  });
  await assert.rejects(c.request(chat.CHAT_SEND_MESSAGE, { chat_id: CHAT, body: { type: "text", text: "x" } }), {
    code: "forbidden",
  });
  await assert.rejects(c.join("secret-room"), { code: "forbidden" });
  await assert.rejects(c.refreshToken("a token the demo cannot check"), { code: "auth_failed" });
  const t = await c.request(demo.DEMO_OPEN_TICKET, { title: "still works" });
  assert.equal(t.title, "still works");

  // Nobody listens on this port: requests wait in the offline queue and time out.
  const offline = createClient({
    url: "ws://127.0.0.1:9/ws",
    WebSocket: WebSocket as unknown as WebSocketCtor,
    reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
    offlineQueueLimit: 2,
  });
  clients.push(offline);
  await assert.rejects(offline.request(demo.DEMO_ANNOUNCE, { title: "x", body: "" }, { timeoutMs: 100 }), { code: "timeout" });
  offline.send(chat.CHAT_SET_TYPING, { chat_id: CHAT, is_typing: true });
  offline.send(chat.CHAT_SET_TYPING, { chat_id: CHAT, is_typing: false });
  assert.throws(() => offline.send(chat.CHAT_SET_TYPING, { chat_id: CHAT, is_typing: true }), { code: "offline_queue_full" });
});

test("a handler that throws does not stop the others; invalid frames never reach handlers", async () => {
  const c = await connect("user=ivan&tenant=acme");
  const errors: TidingsError[] = [];
  c.onError((e) => errors.push(e));
  const reached: number[] = [];
  const off = c.registerHandlers({
    [operation.OPERATION_PROGRESS]: () => {
      reached.push(1);
      throw new Error("boom");
    },
  });
  c.on(operation.OPERATION_PROGRESS, () => reached.push(2));
  // Two progress events: 0 % when started, then 100 %.
  await c.request(demo.DEMO_START_OPERATION, { operation_type: "x", steps: 1, step_ms: 0 });
  await eventually(() => reached.length === 4);
  assert.deepEqual(reached, [1, 2, 1, 2]);
  assert.equal(errors[0]?.code, "handler_threw");
  off();

  // The server sends a progress of 150%: the guard refuses it and reports it.
  await c.request(demo.DEMO_SEND_MALFORMED, {});
  await eventually(() => errors.some((e) => e.code === "invalid_frame"));
  const invalid = errors.find((e) => e.code === "invalid_frame");
  assert.match(invalid?.message ?? "", /data\.percentage: must be at most 100, found 150/);
  assert.deepEqual(reached, [1, 2, 1, 2], "no handler saw the malformed frame");
});

test("feature modules subscribe on connect and are released on detach", async () => {
  const c = await connect("user=judy&tenant=acme");
  const seen: string[] = [];
  class Notifications extends Module {
    readonly name = "notifications";
    connects = 0;
    protected override onConnect(): void {
      this.connects++;
      this.on(notification.NOTIFICATION_RECEIVED, (n) => seen.push(n.notification.title));
    }
  }
  const m = new Notifications();
  const detach = c.use(m);
  assert.equal(m.connects, 1, "attached to an open client: onConnect runs at once");
  await c.request(demo.DEMO_NOTIFY, { user: "judy", title: "one" });
  await eventually(() => seen.length === 1);
  detach();
  await c.request(demo.DEMO_NOTIFY, { user: "judy", title: "two" });
  await c.request(demo.DEMO_NOTIFY, { user: "judy", title: "sync" });
  assert.deepEqual(seen, ["one"]);
});

test("after the server restarts, the client reconnects, rejoins, and is told to resync", async () => {
  const mine = await startServer();
  const c = await connect("user=kim&tenant=acme", { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }, mine.ws);
  await c.join(`chat:${CHAT}`);
  const states: string[] = [];
  c.onState((s) => states.push(s));
  const resyncs: string[] = [];
  c.onResync((r) => resyncs.push(r.reason));
  const caught: number[] = [];
  c.onCaughtUp((i) => caught.push(i.replayed));

  await mine.stop();
  await eventually(() => c.state === "reconnecting", 5_000, "reconnecting");
  assert.equal(c.caughtUp, false, "syncing… while away");
  const again = await startServer(mine.addr);
  try {
    await eventually(() => c.state === "open", 10_000, "reopened");
    await eventually(() => resyncs.length === 1, 5_000, "resync");
    await eventually(() => c.caughtUp && caught.length >= 1, 5_000, "caught up after the resync");
    assert.match(resyncs[0] ?? "", /new epoch/);
    assert.ok(states.includes("reconnecting"));
    // The room was rejoined: a message to it arrives.
    const other = await connect("user=lee&tenant=acme", {}, again.ws);
    await other.join(`chat:${CHAT}`);
    const got = collect(c, chat.CHAT_MESSAGE);
    await other.request(chat.CHAT_SEND_MESSAGE, { chat_id: CHAT, body: { type: "text", text: "welcome back" } });
    await eventually(() => got.length === 1, 5_000, "message after reconnect");
  } finally {
    c.close();
    await again.stop();
  }
});
