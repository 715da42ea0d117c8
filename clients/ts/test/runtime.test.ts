// The client runtime against a scripted fake socket, with mocked timers: backoff with full
// jitter and its reset, heartbeat timeout, resume, de-duplication and ordering, offline queue.
import { test, mock, beforeEach, afterEach } from "node:test";
import * as assert from "node:assert/strict";

import { createClient, ticket, type Client, type WebSocketCtor, type WebSocketLike } from "../generated/index.js";

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: number | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1000;
    this.drop(code ?? 1000);
  }

  /** The server accepts: the socket opens and `$connected` arrives. */
  accept(epoch = "e1", seq = 0, heartbeat = { interval_ms: 25_000, timeout_ms: 60_000 }): void {
    this.readyState = 1;
    this.onopen?.({});
    this.frame({ type: "$connected", session: "1", user: "u1", roles: [], tenant: "t1", resume: { epoch, seq }, heartbeat });
  }

  frame(v: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(v) });
  }

  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

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
