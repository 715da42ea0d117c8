// The client runtime against a scripted fake socket, with mocked timers: backoff with full
// jitter and its reset, heartbeat timeout, resume, de-duplication and ordering, offline queue.
import { test, mock, beforeEach, afterEach } from "node:test";
import * as assert from "node:assert/strict";

import {
  bearerSubprotocol,
  createClient,
  Module,
  onOperation,
  holdRoom,
  operationsOf,
  onRefresh,
  refresh,
  type RoomView,
  refreshOnComplete,
  type OperationUpdate,
  ticket,
  type Client,
  type PositionStorage,
  type WebSocketCtor,
} from "../generated/index.js";
import { FakeSocket } from "./socket.js";

/** The subprotocols a socket was opened with. */
const protocolsOf = (s: FakeSocket): string[] => (s.protocols === undefined ? [] : ([] as string[]).concat(s.protocols));

const latest = (): FakeSocket => {
  const s = FakeSocket.all[FakeSocket.all.length - 1];
  if (s === undefined) throw new Error("no socket yet");
  return s;
};

function created(seq: number, title = `t${seq}`): Record<string, unknown> {
  return {
    type: "ticket:created",
    seq,
    id: `e${seq}`,
    ts: "2026-11-22T00:00:00.000Z",
    data: {
      ticket: {
        id: "0f8fad5b-d9cb-469f-a165-70867728950e",
        tenant_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
        title,
        status: "open",
        created_by: "0f8fad5b-d9cb-469f-a165-70867728950e",
        participant_ids: [],
        created_at: "2026-11-22T00:00:00Z",
        updated_at: "2026-11-22T00:00:00Z",
      },
      actor_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    },
  };
}

let client: Client;

beforeEach(() => {
  FakeSocket.all = [];
  mock.timers.enable({ apis: ["setTimeout"] });
});

afterEach(() => {
  client?.close();
  mock.timers.reset();
  mock.restoreAll();
});

function make(options: Parameters<typeof createClient>[0] | object = {}): Client {
  client = createClient({ url: "ws://test/ws", token: "tok", WebSocket: FakeSocket as unknown as WebSocketCtor, ...options });
  return client;
}

/** Lets the client's `async open()` run past its `await`. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test("the token travels as a subprotocol next to tidings.v1", async () => {
  make();
  await settle();
  assert.deepEqual(latest().protocols, ["tidings.v1", "tidings.bearer.tok"]);
});

test("reconnect delays grow exponentially with full jitter, are capped, and reset after a stable connection", async () => {
  mock.method(Math, "random", () => 0.999);
  make({ reconnect: { initialDelayMs: 100, maxDelayMs: 350, factor: 2, stableAfterMs: 1_000 } });
  await settle();
  const waits: number[] = [];
  async function measure(): Promise<void> {
    const before = FakeSocket.all.length;
    latest().drop();
    let waited = 0;
    while (FakeSocket.all.length === before) {
      mock.timers.tick(1);
      waited++;
      await settle();
      if (waited > 10_000) throw new Error("never reconnected");
    }
    waits.push(waited);
  }
  await measure(); // attempt 0: ceiling 100
  await measure(); // attempt 1: 200
  await measure(); // attempt 2: 400 → capped at 350
  assert.deepEqual(waits, [100, 200, 350]);
  assert.equal(client.state, "reconnecting");
  latest().accept();
  mock.timers.tick(1_000); // stable: the backoff resets
  await measure();
  assert.equal(waits[3], 100);

  mock.method(Math, "random", () => 0);
  await measure();
  assert.equal(waits[4], 1, "full jitter: the delay may be anything from 0 up to the ceiling");
});

test("silence past the heartbeat interval plus timeout closes the socket and reconnects", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept("e1", 0, { interval_ms: 100, timeout_ms: 50 });
  mock.timers.tick(140);
  latest().frame({ type: "$ping" });
  assert.deepEqual(latest().sent.at(-1), { type: "$pong" }, "pings are answered");
  mock.timers.tick(149);
  assert.equal(latest().closedWith, undefined);
  mock.timers.tick(1);
  assert.equal(latest().closedWith, 4000);
  assert.equal(client.state, "reconnecting");
});

test("durable events are processed once and in order; a reconnect resumes from the last one", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const titles: string[] = [];
  client.on(ticket.TICKET_CREATED, (d, meta) => titles.push(`${d.ticket.title}@${meta.seq}`));
  latest().accept("e1", 4);
  assert.ok(!protocolsOf(latest()).some((p) => p.startsWith("tidings.resume.")), "the first connection starts fresh");
  for (const seq of [4, 5, 6, 6, 5, 7]) latest().frame(created(seq));
  assert.deepEqual(titles, ["t5@5", "t6@6", "t7@7"], "already-seen sequence numbers are dropped");

  latest().drop();
  mock.timers.tick(10);
  await settle();
  // The reconnect names the position in the handshake; the server replays before live events.
  assert.ok(protocolsOf(latest()).includes("tidings.resume.e1.7"), protocolsOf(latest()).join());
  latest().accept("e1", 9);
  for (const seq of [7, 8, 9]) latest().frame(created(seq));
  latest().frame({ type: "$pending_complete", epoch: "e1", seq: 9, replayed: 2 });
  assert.deepEqual(titles, ["t5@5", "t6@6", "t7@7", "t8@8", "t9@9"]);

  // A skipped number is never handed to a handler: the client reconnects and resumes.
  const errors: string[] = [];
  client.onError((e) => errors.push(e.message));
  latest().frame(created(11));
  assert.deepEqual(titles, ["t5@5", "t6@6", "t7@7", "t8@8", "t9@9"]);
  assert.equal(latest().closedWith, 4000);
  assert.match(errors[0] ?? "", /gap in the delivery stream after 9/);
  mock.timers.tick(1_000);
  await settle();
  assert.ok(protocolsOf(latest()).includes("tidings.resume.e1.9"), protocolsOf(latest()).join());
});

test("a lost stream is surfaced as a resync, never as a silent gap", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const resyncs: string[] = [];
  client.onResync((r) => resyncs.push(`${r.reason}:${r.epoch}:${r.seq}`));
  latest().accept("e1", 0);
  latest().frame(created(1));
  latest().drop();
  mock.timers.tick(10);
  await settle();
  latest().accept("e2", 3);
  latest().frame({ type: "$resync_required", epoch: "e2", seq: 3, reason: "new epoch" });
  assert.deepEqual(resyncs, ["new epoch:e2:3"]);
  const titles: string[] = [];
  client.on(ticket.TICKET_CREATED, (d) => titles.push(d.ticket.title));
  latest().frame(created(3, "old"));
  latest().frame(created(4, "new"));
  assert.deepEqual(titles, ["new"]);
});

test("an event numbered again in a new epoch is handed over once (by id)", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const titles: string[] = [];
  client.on(ticket.TICKET_CREATED, (d, meta) => titles.push(`${d.ticket.title}@${meta.seq}`));
  latest().accept("e1", 0);
  latest().frame({ ...created(1, "a"), id: "ev-a" });
  latest().frame({ ...created(2, "b"), id: "ev-b" });
  // The store lost its data with "ev-b" in flight: the new epoch numbers it again.
  latest().frame({ type: "$resync_required", epoch: "e2", seq: 0, reason: "the stream was restarted (new epoch)" });
  latest().frame({ ...created(1, "b again"), id: "ev-b" });
  latest().frame({ ...created(2, "c"), id: "ev-c" });
  assert.deepEqual(titles, ["a@1", "b@2", "c@2"], "the repeated id is dropped, its number still counts");
});

test("frames sent while offline go out in order once connected; invalid frames are reported", async () => {
  make();
  await settle();
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  client.send("chat:setTyping" as never, { chat_id: "a", is_typing: true } as never);
  client.send("chat:setTyping" as never, { chat_id: "b", is_typing: false } as never);
  latest().accept();
  assert.deepEqual(
    latest().sent.map((f) => (f["data"] as { chat_id: string }).chat_id),
    ["a", "b"],
  );
  const seen: string[] = [];
  client.on(ticket.TICKET_CREATED, (d) => seen.push(d.ticket.title));
  latest().frame({ ...created(1), data: { ticket: { title: 7 } } });
  assert.deepEqual(seen, []);
  assert.deepEqual(errors, ["invalid_frame"]);
});

// ── issue #20: the client in real apps ──

const typing = (chat: string): [never, never] => ["chat:setTyping" as never, { chat_id: chat, is_typing: true } as never];
const chatsSent = (s: FakeSocket): string[] =>
  s.sent.filter((f) => f["type"] === "chat:setTyping").map((f) => (f["data"] as { chat_id: string }).chat_id);

test("everything queued before `open` goes out before what an `open` listener sends", async () => {
  make();
  await settle();
  client.send(...typing("A"));
  client.onState((s) => {
    if (s === "open") client.send(...typing("B"));
  });
  latest().accept();
  assert.deepEqual(chatsSent(latest()), ["A", "B"]);
});

test("a socket that never opens, and one that never says $connected, are given up and retried", async () => {
  make({ connectTimeoutMs: 1_000, handshakeTimeoutMs: 2_000, reconnect: { initialDelayMs: 10 } });
  await settle();
  const errors: string[] = [];
  client.onError((e) => errors.push(`${e.code}: ${e.message}`));
  const first = latest();
  mock.timers.tick(999);
  assert.equal(first.closedWith, undefined);
  mock.timers.tick(1);
  assert.equal(first.closedWith, 4000, "the connect timeout");
  assert.equal(client.state, "reconnecting");
  mock.timers.tick(10);
  await settle();
  const second = latest();
  assert.notEqual(second, first, "a new attempt");
  second.open();
  mock.timers.tick(1_999);
  assert.equal(second.closedWith, undefined);
  mock.timers.tick(1);
  assert.equal(second.closedWith, 4000, "the handshake timeout");
  assert.match(errors[0] ?? "", /^timeout: the socket did not open within 1000 ms/);
  assert.match(errors[1] ?? "", /^timeout: no \$connected within 2000 ms/);
  mock.timers.tick(20);
  await settle();
  latest().accept();
  assert.equal(client.state, "open");
  mock.timers.tick(60_000);
  assert.equal(latest().closedWith, undefined, "the timeouts end with $connected");
});

test("any token connects: opaque tokens are carried base64url-encoded; a non-string token is a clear error", async () => {
  const tchar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  for (const [token, carried] of [
    ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln", "tidings.bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln"],
    ["dGVzdA==", "tidings.bearer64.ZEdWemRBPT0"],
    ["a/b+c", "tidings.bearer64.YS9iK2M"],
    ["Bearer x y", "tidings.bearer64.QmVhcmVyIHggeQ"],
    ["clé€", "tidings.bearer64.Y2zDqeKCrA"],
  ] as const) {
    assert.equal(bearerSubprotocol(token), carried, token);
    assert.match(carried, tchar, `${token} is sent as a valid subprotocol`);
    make({ token });
    await settle();
    assert.deepEqual(latest().protocols, ["tidings.v1", carried]);
    client.close();
  }
  const errors: string[] = [];
  make({ token: undefined, getToken: () => 42 as unknown as string, reconnect: { initialDelayMs: 10 } });
  client.onError((e) => errors.push(e.code));
  const before = FakeSocket.all.length;
  await settle();
  mock.timers.tick(60_000);
  await settle();
  assert.deepEqual(errors, ["invalid_token"]);
  assert.equal(client.state, "closed");
  assert.equal(FakeSocket.all.length, before, "no socket, no retry loop");
});

test("after close(), connect() as another user starts clean: no resume, no rooms of the previous user", async () => {
  let token = "alice";
  make({ token: undefined, getToken: () => token, reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept("e1", 0);
  const joining = client.join("chat:alice-only");
  latest().frame({ type: "$reply", cid: 1, data: { room: "chat:alice-only", member: true, changed: true } });
  await joining;
  latest().frame(created(1));
  assert.deepEqual([...client.rooms], ["chat:alice-only"]);
  client.close(); // logout
  token = "bob";
  client.connect(); // login
  await settle();
  assert.deepEqual(latest().protocols, ["tidings.v1", "tidings.bearer.bob"], "no resume position offered");
  const resyncs: unknown[] = [];
  client.onResync((i) => resyncs.push(i));
  latest().accept("e9", 0, undefined, { user: "u2" });
  assert.deepEqual(latest().sent.filter((f) => f["type"] === "$join"), [], "alice's rooms are not rejoined");
  assert.deepEqual([...client.rooms], []);
  assert.deepEqual(resyncs, []);
});

test("a reconnect that turns out to be another identity drops the rooms and the foreign position quietly", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept("e1", 0);
  const joining = client.join("chat:1");
  latest().frame({ type: "$reply", cid: 1, data: {} });
  await joining;
  latest().frame(created(1));
  latest().drop();
  mock.timers.tick(10);
  await settle();
  assert.ok(protocolsOf(latest()).includes("tidings.resume.e1.1"));
  const resyncs: unknown[] = [];
  client.onResync((i) => resyncs.push(i));
  // The token now belongs to someone else (the app switched users without close()).
  latest().accept("e7", 4, undefined, { user: "someone-else" });
  latest().frame({ type: "$resync_required", reason: "unknown epoch", epoch: "e7", seq: 4 });
  assert.deepEqual(latest().sent.filter((f) => f["type"] === "$join"), []);
  assert.deepEqual(resyncs, [], "a position of another user is no news to this one");
  assert.equal(client.caughtUp, true);
});

test("credentials are renewed ahead of their expiry without reconnecting; a refusal is reported", async () => {
  mock.method(Math, "random", () => 0);
  let n = 0;
  make({ token: undefined, getToken: () => `token-${++n}`, reconnect: { initialDelayMs: 10 } });
  await settle();
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  const expires = new Date(Date.now() + 100_000).toISOString();
  latest().accept("e1", 0, undefined, { expires_at: expires });
  assert.equal(client.session?.expiresAt, expires);
  mock.timers.tick(69_000);
  await settle();
  assert.deepEqual(latest().sent.filter((f) => f["type"] === "$auth"), []);
  mock.timers.tick(1_500); // 70 % of the remaining life (jitter 0)
  await settle();
  const auth = latest().sent.find((f) => f["type"] === "$auth");
  assert.equal(auth?.["token"], "token-2");
  const later = new Date(Date.now() + 50_000).toISOString();
  latest().frame({ type: "$reply", cid: auth?.["cid"], data: { expires_at: later } });
  await settle();
  assert.equal(client.session?.expiresAt, later);
  mock.timers.tick(35_500);
  await settle();
  const second = latest().sent.filter((f) => f["type"] === "$auth").at(-1);
  assert.equal(second?.["token"], "token-3", "renewed again from the new expiry");
  latest().frame({ type: "$error", cid: second?.["cid"], code: "auth_failed", message: "revoked" });
  await settle();
  assert.deepEqual(errors, ["auth_failed"]);
  assert.equal(FakeSocket.all.length, 1, "never reconnected to renew");
});

test("caught up: at once on a fresh connection, after the replay on a reconnect", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const caught: number[] = [];
  client.onCaughtUp((i) => caught.push(i.replayed));
  latest().accept("e1", 0);
  assert.equal(client.caughtUp, true);
  latest().frame(created(1));
  latest().drop();
  mock.timers.tick(10);
  await settle();
  assert.equal(client.caughtUp, false, "syncing…");
  latest().accept("e1", 1);
  assert.equal(client.caughtUp, false, "the replay has not ended");
  latest().frame(created(2));
  latest().frame({ type: "$pending_complete", epoch: "e1", seq: 2, replayed: 1 });
  assert.equal(client.caughtUp, true);
  assert.deepEqual(caught, [0, 1]);
});

test("with a storage, a reload resumes where the previous page left off", async () => {
  const store = new Map<string, string>();
  const storage: PositionStorage = {
    getItem: (k) => store.get(k) ?? null,
    setItem: (k, v) => void store.set(k, v),
    removeItem: (k) => void store.delete(k),
  };
  make({ storage });
  await settle();
  latest().accept("e1", 0);
  latest().frame(created(1));
  latest().frame(created(2));
  assert.deepEqual(JSON.parse(store.get("tidings.position") ?? "null"), { user: "u1", tenant: "t1", epoch: "e1", seq: 2 });
  // The page reloads: a new client on the same storage.
  const reloaded = createClient({ url: "ws://test/ws", token: "tok", WebSocket: FakeSocket as unknown as WebSocketCtor, storage });
  await settle();
  assert.deepEqual(protocolsOf(latest()), ["tidings.v1", "tidings.bearer.tok", "tidings.resume.e1.2"]);
  const titles: string[] = [];
  reloaded.on(ticket.TICKET_CREATED, (d) => titles.push(d.ticket.title));
  latest().accept("e1", 2);
  latest().frame(created(2)); // already processed before the reload
  latest().frame(created(3));
  assert.deepEqual(titles, ["t3"]);
  reloaded.close();
  assert.equal(store.get("tidings.position"), undefined, "close() forgets it (a logout)");
  store.set("tidings.position", "{not json");
  const broken = createClient({ url: "ws://test/ws", token: "tok", WebSocket: FakeSocket as unknown as WebSocketCtor, storage });
  await settle();
  assert.deepEqual(protocolsOf(latest()), ["tidings.v1", "tidings.bearer.tok"], "an unreadable position is ignored");
  broken.close();
});

test("a request in flight when the connection drops rejects at once; one queued offline waits", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept();
  const inFlight = client.request("chat:sendMessage" as never, { chat_id: "c" } as never);
  assert.deepEqual(client.pendingRequests, [{ cid: 1, event: "chat:sendMessage", sent: true }]);
  latest().drop();
  await assert.rejects(inFlight, { code: "disconnected" });
  const queued = client.request("chat:sendMessage" as never, { chat_id: "d" } as never);
  assert.deepEqual(client.pendingRequests, [{ cid: 2, event: "chat:sendMessage", sent: false }]);
  mock.timers.tick(10);
  await settle();
  latest().accept();
  const sent = latest().sent.find((f) => f["cid"] === 2);
  assert.ok(sent !== undefined, "sent once connected");
  latest().frame({ type: "$reply", cid: 2, data: { ok: true } });
  assert.deepEqual(await queued, { ok: true });
  assert.deepEqual(client.pendingRequests, []);
});

test("a module whose onConnect throws is reported, whether attached before or after the connection opens", async () => {
  class Broken extends Module {
    readonly name = "broken";
    protected override onConnect(): void {
      throw new Error("boom");
    }
  }
  make();
  await settle();
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  client.use(new Broken());
  latest().accept();
  assert.doesNotThrow(() => client.use(new Broken()));
  assert.deepEqual(errors, ["handler_threw", "handler_threw"]);
});

test("debug logs states and frames, never a token; read-only views of rooms and the reconnect attempt", async () => {
  const lines: string[] = [];
  make({ token: "s3cr3t/token", debug: (m: string, d?: unknown) => lines.push(`${m} ${JSON.stringify(d) ?? ""}`), reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept();
  void client.refreshToken("an0ther-s3cr3t").catch(() => undefined);
  latest().frame(created(1));
  latest().drop();
  assert.equal(client.reconnectAttempt, 1);
  const text = lines.join("\n");
  assert.match(text, /state open/);
  assert.match(text, /send .*\$auth/);
  assert.match(text, /receive .*ticket:created/);
  assert.doesNotMatch(text, /s3cr3t/);
  mock.timers.tick(10);
  await settle();
  latest().accept();
  const rooms = client.rooms as Set<string>;
  rooms.add("not-really");
  assert.deepEqual([...client.rooms], [], "a copy: the client's own set is untouched");
});

// ── the second stranger's findings (#20) ──

test("what an onCaughtUp listener sends on a fresh connection goes out at once", async () => {
  make();
  await settle();
  client.onCaughtUp(() => client.send(...typing("C")));
  latest().accept();
  assert.deepEqual(chatsSent(latest()), ["C"]);
});

test("a dead peer (a close nobody answers) is given up at once on silence, and on a gap", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept("e1", 0, { interval_ms: 100, timeout_ms: 50 });
  latest().deaf = true;
  mock.timers.tick(150);
  assert.equal(latest().closedWith, 4000);
  assert.equal(client.state, "reconnecting", "not waiting for a close handshake");
  mock.timers.tick(10);
  await settle();
  latest().accept("e1", 0);
  latest().deaf = true;
  latest().frame(created(2)); // a gap after 0
  assert.equal(client.state, "reconnecting");
});

test("a logout while the previous user's token is being fetched cannot connect that user", async () => {
  let user = "alice";
  let calls = 0;
  make({
    token: undefined,
    getToken: () => {
      const who = user;
      const wait = calls++ === 0 ? 300 : 50;
      return new Promise<string>((resolve) => setTimeout(() => resolve(who), wait));
    },
  });
  await settle();
  mock.timers.tick(20);
  client.close();
  user = "bob";
  client.connect();
  assert.equal(client.state, "connecting");
  assert.equal(client.reconnectAttempt, 0);
  mock.timers.tick(400);
  await settle();
  const tokens = FakeSocket.all.map((sock) => protocolsOf(sock).find((p) => p.startsWith("tidings.bearer.")));
  assert.deepEqual(tokens, ["tidings.bearer.bob"], "alice's late token opened nothing");
});

test("connect() while waiting out a backoff tries at once, with one socket", async () => {
  make({ reconnect: { initialDelayMs: 60_000 } });
  await settle();
  latest().accept();
  latest().drop();
  assert.equal(client.state, "reconnecting");
  const before = FakeSocket.all.length;
  client.connect();
  client.connect();
  await settle();
  assert.equal(FakeSocket.all.length, before + 1);
  mock.timers.tick(60_000);
  await settle();
  assert.equal(FakeSocket.all.length, before + 1, "the backoff's timer was cleared");
});

test("expiry already past on this clock does not loop renewals", async () => {
  make({ token: undefined, getToken: () => "t" });
  await settle();
  latest().accept("e1", 0, undefined, { expires_at: new Date(Date.now() - 1_000).toISOString() });
  mock.timers.tick(10_000);
  await settle();
  assert.deepEqual(latest().sent.filter((f) => f["type"] === "$auth"), []);
});

test("a stored position the handshake cannot carry is dropped, and said", async () => {
  for (const bad of [
    { user: "u1", tenant: null, epoch: "", seq: 3 },
    { user: "u1", tenant: null, epoch: "e1", seq: -1 },
    { user: "u1", tenant: null, epoch: "a b", seq: 1 },
    { user: "u1", tenant: null, epoch: "e.1", seq: 1 },
  ]) {
    const store = new Map([["tidings.position", JSON.stringify(bad)]]);
    const errors: string[] = [];
    const c = createClient({
      url: "ws://test/ws",
      token: "tok",
      WebSocket: FakeSocket as unknown as WebSocketCtor,
      autoConnect: false,
      storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v), removeItem: (k) => void store.delete(k) },
    });
    c.onError((e) => errors.push(e.code));
    c.connect();
    await settle();
    assert.deepEqual(protocolsOf(latest()), ["tidings.v1", "tidings.bearer.tok"], JSON.stringify(bad));
    c.close();
  }
});

test("a module whose onDisconnect throws is reported, and the client still reconnects", async () => {
  class Fragile extends Module {
    readonly name = "fragile";
    protected override onDisconnect(): void {
      throw new Error("boom");
    }
  }
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  client.use(new Fragile());
  latest().accept();
  const before = FakeSocket.all.length;
  latest().drop();
  assert.deepEqual(errors, ["handler_threw"]);
  mock.timers.tick(10);
  await settle();
  assert.equal(FakeSocket.all.length, before + 1);
});

test("getToken that throws is retried; one that never answers is bounded by the connect timeout", async () => {
  let n = 0;
  make({
    token: undefined,
    autoConnect: false,
    connectTimeoutMs: 1_000,
    reconnect: { initialDelayMs: 10 },
    getToken: () => {
      n++;
      if (n === 1) throw new Error("token service down");
      if (n === 2) return new Promise<string>(() => undefined);
      return "t3";
    },
  });
  const errors: string[] = [];
  client.onError((e) => errors.push(e.code));
  client.connect();
  await settle();
  mock.timers.tick(10);
  await settle();
  mock.timers.tick(1_000);
  await settle();
  mock.timers.tick(20);
  await settle();
  assert.deepEqual(errors, ["token_failed", "timeout"]);
  assert.deepEqual(protocolsOf(latest()), ["tidings.v1", "tidings.bearer.t3"]);
});

// ── #21: the operations UI helper and the refresh bus ──

const op = (type: string, data: Record<string, unknown>, seq: number): Record<string, unknown> => ({
  type,
  seq,
  id: `op${seq}`,
  ts: "2026-12-01T00:00:00Z",
  data: { operation_type: "export_csv", user_id: "u1", ...data },
});

test("onOperation reports start, progress, completion with its tables, and failure; refresh reaches onRefresh", async () => {
  make();
  await settle();
  const seen: OperationUpdate[] = [];
  const stop = onOperation(client, (u) => seen.push(u));
  const stopRefresh = refreshOnComplete(client);
  const refreshed: string[] = [];
  const offTickets = onRefresh("tickets", () => refreshed.push("tickets"));
  onRefresh("reports", () => refreshed.push("reports"));
  latest().accept();
  // Both helpers asked for the running operations on open; there are none.
  for (const ask of latest().sent.filter((f) => f["type"] === "$operations")) {
    latest().frame({ type: "$reply", cid: ask["cid"], data: { operations: [] } });
  }
  await settle();
  latest().frame(op("operation:progress", { operation_id: "export-42", stage: "started", percentage: 0 }, 1));
  latest().frame(op("operation:progress", { operation_id: "export-42", stage: "rows", percentage: 40, message: "40 of 100" }, 2));
  latest().frame(op("operation:complete", { operation_id: "export-42", result: { url: "/x.csv" }, refresh_tables: ["tickets", "reports"] }, 3));
  latest().frame(op("operation:progress", { operation_id: "import-7", stage: "started", percentage: 10 }, 4));
  latest().frame(op("operation:error", { operation_id: "import-7", error: { code: "abandoned", message: "gone", retryable: true } }, 5));
  assert.deepEqual(
    seen.map((u) => `${u.operation_id} ${u.phase} ${u.percentage}`),
    ["export-42 started 0", "export-42 progress 40", "export-42 complete 100", "import-7 started 10", "import-7 failed 10"],
  );
  assert.equal(seen[1]?.message, "40 of 100");
  assert.deepEqual(seen[2]?.refresh_tables, ["tickets", "reports"]);
  assert.deepEqual(seen[2]?.result, { url: "/x.csv" });
  assert.deepEqual(seen[4]?.error, { code: "abandoned", message: "gone", retryable: true });
  assert.deepEqual(refreshed, ["tickets", "reports"]);
  refresh("tickets"); // from anywhere in the page
  offTickets();
  refresh("tickets");
  assert.deepEqual(refreshed, ["tickets", "reports", "tickets"]);
  stop();
  stopRefresh();
});

test("onOperation reports what ran before the page opened, and what ended while away", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const seen: string[] = [];
  onOperation(client, (u) => seen.push(`${u.operation_id} ${u.phase} ${u.percentage}`));
  latest().accept();
  const ask = latest().sent.find((f) => f["type"] === "$operations");
  latest().frame({
    type: "$reply",
    cid: ask?.["cid"],
    data: {
      operations: [
        { operation_id: "old-1", operation_type: "export_csv", state: "running", stage: "rows", percentage: 60, seq: 9, ts: "t" },
        { operation_id: "old-2", operation_type: "export_csv", state: "complete", percentage: 100, seq: 8, ts: "t" },
      ],
    },
  });
  await settle();
  assert.deepEqual(seen, ["old-1 started 60"], "a finished one it never followed is not news");
  latest().drop();
  mock.timers.tick(10);
  await settle();
  latest().accept();
  const again = latest().sent.find((f) => f["type"] === "$operations");
  latest().frame({
    type: "$reply",
    cid: again?.["cid"],
    data: { operations: [{ operation_id: "old-1", operation_type: "export_csv", state: "complete", percentage: 100, refresh_tables: ["t1"], seq: 12, ts: "t" }] },
  });
  await settle();
  assert.deepEqual(seen, ["old-1 started 60", "old-1 complete 100"], "it ended while the client was away");
});

/** Answers the socket's latest request frame of `type` (a `$join`, `$operations` …) with `data`. */
function answer(socket: FakeSocket, type: string, data: unknown = null): void {
  const ask = [...socket.sent].reverse().find((f) => f["type"] === type);
  assert.ok(ask !== undefined, `a ${type} was sent`);
  socket.frame({ type: "$reply", cid: ask["cid"], data });
}

test("a room left before its join was answered is not rejoined after a reconnect", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  latest().accept();
  const joining = client.join("chat:a");
  const leaving = client.leave("chat:a");
  answer(latest(), "$join");
  answer(latest(), "$leave");
  await Promise.all([joining, leaving]);
  assert.deepEqual([...client.rooms], [], "the leave decides");
  // Joined again later: it counts.
  const again = client.join("chat:a");
  answer(latest(), "$join");
  await again;
  assert.deepEqual([...client.rooms], ["chat:a"]);
  latest().drop();
  mock.timers.tick(10);
  await settle();
  latest().accept();
  assert.deepEqual(
    latest().sent.filter((f) => f["type"] === "$join").map((f) => f["room"]),
    ["chat:a"],
    "rejoined once after the reconnect",
  );
});

test("holdRoom: holders share one membership; a join cut off by a drop, and a logout, are joined again at the next connection", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const seen: string[] = [];
  const record = (who: string) => (v: RoomView) => seen.push(`${who} ${v.status}`);
  const releaseA = holdRoom(client, "chat:1", record("a"));
  const releaseB = holdRoom(client, "chat:1", record("b"));
  latest().accept();
  assert.equal(latest().sent.filter((f) => f["type"] === "$join").length, 1, "one join for two holders");
  // The socket drops before the join is answered: not a failure, joined on the next connection.
  latest().drop();
  await settle();
  mock.timers.tick(10);
  await settle();
  latest().accept();
  answer(latest(), "$join");
  await settle();
  assert.deepEqual(seen, ["a joining", "b joining", "a joined", "b joined"]);
  // One holder lets go: the other still holds the room.
  releaseA();
  await settle();
  assert.equal(latest().sent.filter((f) => f["type"] === "$leave").length, 0);
  assert.deepEqual([...client.rooms], ["chat:1"]);
  // A logout: joining (waiting for the next login), then joined again.
  client.close();
  assert.deepEqual(seen.slice(4), ["b joining"]);
  client.connect();
  await settle();
  latest().accept();
  answer(latest(), "$join");
  await settle();
  assert.deepEqual(seen.slice(4), ["b joining", "b joined"]);
  // A refusal is a failure, with the server's error.
  const refused: RoomView[] = [];
  const releaseC = holdRoom(client, "chat:secret", (v) => refused.push(v));
  const ask = [...latest().sent].reverse().find((f) => f["type"] === "$join");
  latest().frame({ type: "$error", cid: ask?.["cid"], code: "forbidden", message: "not a member" });
  await settle();
  assert.equal(refused[refused.length - 1]?.status, "failed");
  assert.equal(refused[refused.length - 1]?.error?.code, "forbidden");
  releaseC();
  releaseB();
  await settle();
  assert.deepEqual(
    latest().sent.filter((f) => f["type"] === "$leave").map((f) => f["room"]),
    ["chat:secret", "chat:1"],
    "the last holder's release leaves",
  );
});

test("onOperation after a logout and a login reports a still-running operation as started again", async () => {
  make();
  await settle();
  const seen: string[] = [];
  onOperation(client, (u) => seen.push(`${u.operation_id} ${u.phase}`));
  const running = { operations: [{ operation_id: "op", operation_type: "export_csv", state: "running", percentage: 40, seq: 3, ts: "t" }] };
  latest().accept();
  answer(latest(), "$operations", running);
  await settle();
  client.close();
  client.connect();
  await settle();
  latest().accept();
  answer(latest(), "$operations", running);
  await settle();
  assert.deepEqual(seen, ["op started", "op started"]);
});

test("without a WebSocket implementation a client can be created unconnected (server-side rendering); connect() says what is missing", () => {
  const global = globalThis as { WebSocket?: unknown };
  const saved = global.WebSocket;
  delete global.WebSocket;
  try {
    const idle = createClient({ url: "ws://test/ws", autoConnect: false });
    assert.equal(idle.state, "idle");
    assert.throws(() => idle.connect(), /no WebSocket implementation/);
    assert.throws(() => createClient({ url: "ws://test/ws" }), /no WebSocket implementation/);
  } finally {
    if (saved !== undefined) global.WebSocket = saved;
  }
});

test("close({ forget: false }) keeps the rooms and the resume position: the next connection resumes", async () => {
  const stored = new Map<string, string>();
  const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v), removeItem: (k: string) => void stored.delete(k) };
  make({ storage });
  await settle();
  latest().accept("e7", 0);
  latest().frame(created(1));
  const joined = client.join("chat:1");
  answer(latest(), "$join");
  await joined;
  client.close({ forget: false });
  assert.ok(stored.size > 0, "the stored position is kept");
  client.connect();
  await settle();
  assert.ok(protocolsOf(latest()).includes("tidings.resume.e7.1"), "resumes where it stopped");
  latest().accept("e7", 1);
  assert.ok(latest().sent.some((f) => f["type"] === "$join" && f["room"] === "chat:1"), "rejoins its rooms");
  client.close();
  assert.equal(stored.size, 0, "a plain close (a logout) forgets");
});

test("holdRoom waits for the connection instead of queueing a join that could time out; a join without an answer is tried again", async () => {
  make({ autoConnect: false, requestTimeoutMs: 1_000, reconnect: { initialDelayMs: 10 } });
  const seen: string[] = [];
  const release = holdRoom(client, "chat:1", (v) => seen.push(v.status));
  mock.timers.tick(5_000);
  await settle();
  assert.deepEqual(seen, ["joining"], "no timeout while not connected");
  client.connect();
  await settle();
  latest().accept();
  // The server does not answer: the join times out, and is tried again at the next connection.
  mock.timers.tick(1_000);
  await settle();
  assert.deepEqual(seen, ["joining"]);
  latest().drop();
  mock.timers.tick(10);
  await settle();
  latest().accept();
  answer(latest(), "$join");
  await settle();
  assert.deepEqual(seen, ["joining", "joined"]);
  release();
});

test("a session that becomes another user's: held rooms are joined again, the operations list and followed operations start over", async () => {
  make({ reconnect: { initialDelayMs: 10 } });
  await settle();
  const seen: string[] = [];
  const release = holdRoom(client, "chat:1", (v) => seen.push(v.status));
  const updates: string[] = [];
  onOperation(client, (u) => updates.push(`${u.operation_id} ${u.phase}`));
  const view = operationsOf(client);
  latest().accept();
  answer(latest(), "$join");
  const running = { operations: [{ operation_id: "op", operation_type: "export_csv", state: "running", percentage: 40, seq: 3, ts: "t" }] };
  for (const f of latest().sent.filter((f) => f["type"] === "$operations")) latest().frame({ type: "$reply", cid: f["cid"], data: running });
  await settle();
  assert.deepEqual(seen, ["joining", "joined"]);
  assert.equal(view.operations.length, 1);
  // The next connection is bob's (a token that names someone else).
  latest().drop();
  mock.timers.tick(10);
  await settle();
  latest().open();
  latest().frame({ type: "$connected", session: "2", user: "bob", roles: [], tenant: "t1", resume: { epoch: "e9", seq: 0 }, heartbeat: { interval_ms: 25_000, timeout_ms: 60_000 } });
  assert.equal(view.operations.length, 0, "alice's operations are not bob's");
  assert.ok(
    latest().sent.some((f) => f["type"] === "$join" && f["room"] === "chat:1" && f["cid"] !== undefined),
    "the held room is joined again for bob",
  );
  for (const f of latest().sent.filter((f) => f["type"] === "$operations")) latest().frame({ type: "$reply", cid: f["cid"], data: running });
  await settle();
  assert.deepEqual(updates, ["op started", "op started"], "reported anew for the new user");
  release();
});

test("one function subscribed twice is two subscriptions: releasing one leaves the other", () => {
  make();
  const calls: string[] = [];
  const fn = (): void => void calls.push("state");
  const offA = client.onState(fn);
  client.onState(fn);
  offA();
  client.close();
  assert.deepEqual(calls, ["state"]);
  const table = (): void => void calls.push("refresh");
  const offB = onRefresh("t", table);
  onRefresh("t", table);
  offB();
  refresh("t");
  assert.deepEqual(calls, ["state", "refresh"]);
});
