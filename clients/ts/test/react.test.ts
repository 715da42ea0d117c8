// The React adapter's hooks, each rendered with real react-dom (in happy-dom) on the fake client
// an app tests with — and the provider that owns a client, on a scripted socket.
import "./dom.js";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as React from "react";
import { act } from "react";
import { createRoot } from "react-dom/client";

import { chat, createFakeClient, demo, operationsOf, refresh, ticket, TidingsError, type WebSocketCtor } from "../generated/index.js";
import {
  TidingsContext,
  TidingsProvider,
  useConnectionState,
  useOperation,
  useOperations,
  useRoom,
  useTableRefresh,
  useTidingsClient,
  useTidingsEvent,
  useTidingsEvents,
  useTidingsRequest,
  withTidings,
  type WithTidingsProps,
} from "../generated/react.js";
import { complete, failed, progress, TICKET } from "./fixtures.js";
import { FakeSocket } from "./socket.js";

const h = React.createElement;

/** Renders `element` into a fresh container; `rerender` and `unmount` act like React's. */
async function render(element: React.ReactElement) {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  await act(async () => root.render(element));
  return {
    text: () => container.textContent ?? "",
    rerender: (next: React.ReactElement) => act(async () => root.render(next)),
    unmount: () => act(async () => root.unmount()),
  };
}

/** Lets promises settle inside `act`. */
const settle = () => act(async () => new Promise<void>((r) => setTimeout(r, 0)));

test("the provider gives its client to the hooks; outside one useTidingsClient throws; the context is exported", async () => {
  const fake = createFakeClient();
  let seen: unknown = null;
  let viaContext: unknown = null;
  const Probe = () => {
    seen = useTidingsClient();
    viaContext = React.useContext(TidingsContext);
    return null;
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe)));
  assert.equal(seen, fake);
  assert.equal(viaContext, fake);
  await r.unmount();
  const errors: unknown[] = [];
  const Boundary = class extends React.Component<{ children: React.ReactNode }, { failed: boolean }> {
    override state = { failed: false };
    static getDerivedStateFromError() {
      return { failed: true };
    }
    override componentDidCatch(e: unknown) {
      errors.push(e);
    }
    override render() {
      return this.state.failed ? null : this.props.children;
    }
  };
  const quiet = console.error;
  console.error = () => undefined;
  try {
    await render(h(Boundary, null, h(Probe)));
  } finally {
    console.error = quiet;
  }
  assert.match(String(errors[0]), /inside <TidingsProvider>/);
});

test("useTidingsEvent calls the latest handler while mounted, and nothing after unmount", async () => {
  const fake = createFakeClient();
  const calls: string[] = [];
  const Probe = (props: { tag: string }) => {
    useTidingsEvent(ticket.TICKET_CREATED, (d) => calls.push(`${props.tag}:${d.ticket.title}`));
    return null;
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe, { tag: "first" })));
  await act(async () => fake.push(ticket.TICKET_CREATED, TICKET));
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { tag: "second" })));
  await act(async () => fake.push(ticket.TICKET_CREATED, TICKET));
  await r.unmount();
  fake.push(ticket.TICKET_CREATED, TICKET);
  assert.deepEqual(calls, ["first:Broken chair", "second:Broken chair"]);
});

test("useTidingsEvents handles several events, and follows a changed set of events", async () => {
  const fake = createFakeClient();
  const calls: string[] = [];
  const Probe = (props: { typing: boolean }) => {
    useTidingsEvents({
      [ticket.TICKET_CREATED]: (d) => calls.push(`created ${d.ticket.title}`),
      ...(props.typing ? { [chat.CHAT_TYPING]: (t: chat.Typing) => calls.push(`typing ${t.is_typing}`) } : {}),
    });
    return null;
  };
  const typing: chat.Typing = { chat_id: TICKET.actor_id, tenant_id: TICKET.actor_id, user_id: TICKET.actor_id, is_typing: true };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe, { typing: false })));
  fake.push(chat.CHAT_TYPING, typing);
  fake.push(ticket.TICKET_CREATED, TICKET);
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { typing: true })));
  fake.push(chat.CHAT_TYPING, typing);
  fake.push(ticket.TICKET_CREATED, TICKET);
  await r.unmount();
  fake.push(chat.CHAT_TYPING, typing);
  assert.deepEqual(calls, ["created Broken chair", "typing true", "created Broken chair"]);
});

test("useConnectionState re-renders on the state, each reconnect attempt and catching up", async () => {
  const fake = createFakeClient({ session: { user: "alice" } });
  const Probe = () => {
    const c = useConnectionState();
    return h("span", null, `${c.state}/${c.reconnectAttempt}/${c.caughtUp ? "caught-up" : "syncing"}/${c.session?.user ?? "-"}`);
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe)));
  assert.equal(r.text(), "idle/0/syncing/-");
  await act(async () => fake.setState("open"));
  assert.equal(r.text(), "open/0/caught-up/alice");
  await act(async () => fake.setState("reconnecting"));
  assert.equal(r.text(), "reconnecting/1/syncing/-");
  await act(async () => fake.setState("reconnecting"));
  assert.equal(r.text(), "reconnecting/2/syncing/-", "a new attempt in the same state re-renders");
  await act(async () => fake.setState("open"));
  assert.equal(r.text(), "open/0/caught-up/alice");
  await r.unmount();
});

test("useTidingsRequest: pending, then the typed result or the error; only the latest request counts", async () => {
  const fake = createFakeClient();
  const answers: Array<(title: string) => void> = [];
  fake.answer(demo.DEMO_OPEN_TICKET, (data) => {
    if (data.title === "") throw new TidingsError("constraint_violated", "title: too short");
    return new Promise((resolve) => answers.push((title) => resolve({ ...TICKET.ticket, title: `${title} (${data.title})` })));
  });
  let api: ReturnType<typeof useTidingsRequest<typeof demo.DEMO_OPEN_TICKET>> | null = null;
  const Probe = () => {
    api = useTidingsRequest(demo.DEMO_OPEN_TICKET);
    return h("span", null, `${api.pending ? "pending" : "idle"}|${api.result?.title ?? "-"}|${api.error?.code ?? "-"}`);
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe)));
  assert.equal(r.text(), "idle|-|-");
  await act(async () => api!.send({ title: "first", assignee: null }));
  assert.equal(r.text(), "pending|-|-");
  await act(async () => api!.send({ title: "second", assignee: null }));
  await act(async () => answers[1]!("answered"));
  await settle();
  assert.equal(r.text(), "idle|answered (second)|-");
  // The answer to the earlier request arrives late: it changes nothing.
  await act(async () => answers[0]!("late"));
  await settle();
  assert.equal(r.text(), "idle|answered (second)|-");
  // A refusal lands in `error`; sendAsync rejects with it too.
  await act(async () => {
    await assert.rejects(api!.sendAsync({ title: "", assignee: null }), (e: unknown) => e instanceof TidingsError && e.code === "constraint_violated");
  });
  assert.equal(r.text(), "idle|answered (second)|constraint_violated");
  await act(async () => api!.reset());
  assert.equal(r.text(), "idle|-|-");
  assert.deepEqual(
    fake.sent.map((s) => s.event),
    [demo.DEMO_OPEN_TICKET, demo.DEMO_OPEN_TICKET, demo.DEMO_OPEN_TICKET],
  );
  await r.unmount();
});

test("useRoom joins on mount, leaves on unmount, and moves when the room changes", async () => {
  const fake = createFakeClient();
  fake.setState("open");
  const Probe = (props: { room: string | null }) => h("span", null, useRoom(props.room).status);
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe, { room: "chat:1" })));
  await settle();
  assert.equal(r.text(), "joined");
  assert.deepEqual([...fake.rooms], ["chat:1"]);
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { room: "chat:2" })));
  await settle();
  assert.deepEqual([...fake.rooms], ["chat:2"]);
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { room: null })));
  await settle();
  assert.equal(r.text(), "idle");
  assert.deepEqual([...fake.rooms], []);
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { room: "chat:3" })));
  await settle();
  await r.unmount();
  await settle();
  assert.deepEqual([...fake.rooms], [], "left on unmount");
  // A refused join is `failed`, with the error.
  const refusing = createFakeClient();
  refusing.setState("open");
  refusing.join = () => Promise.reject(new TidingsError("forbidden", "not a member"));
  const Failing = () => {
    const room = useRoom("chat:9");
    return h("span", null, `${room.status} ${room.error?.code ?? ""}`);
  };
  const f = await render(h(TidingsProvider, { client: refusing }, h(Failing)));
  await settle();
  assert.equal(f.text(), "failed forbidden");
  await f.unmount();
});

test("useOperations / useOperation: operations running before the page opened, progress, completion, failure, dismissal", async () => {
  const fake = createFakeClient();
  fake.setOperations([{ operation_id: "old", operation_type: "import", state: "running", percentage: 30, seq: 1, ts: "2026-12-01T00:00:00Z" }]);
  const List = () =>
    h(
      "ul",
      null,
      useOperations().map((op) => h("li", { key: op.operation_id }, `${op.operation_id} ${op.phase} ${op.percentage}`)),
    );
  const One = () => {
    const op = useOperation("new");
    return h("p", null, op === undefined ? "none" : `${op.phase} ${op.percentage} ${op.message ?? ""}`);
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(List), h(One)));
  assert.equal(r.text(), "none");
  await act(async () => fake.setState("open"));
  await settle();
  assert.equal(r.text(), "old started 30none");
  await act(async () => fake.push("operation:progress", progress("new", 10)));
  assert.equal(r.text(), "old started 30new started 10started 10 at 10 %");
  await act(async () => fake.push("operation:progress", progress("new", 60)));
  await act(async () => fake.push("operation:error", failed("old")));
  assert.equal(r.text(), "old failed 30new progress 60progress 60 at 60 %");
  await act(async () => fake.push("operation:complete", complete("new", ["tickets"])));
  assert.equal(r.text(), "old failed 30new complete 100complete 100 ");
  await act(async () => operationsOf(fake).dismiss("new"));
  assert.equal(r.text(), "old failed 30none");
  // A logout empties the list.
  await act(async () => fake.close());
  assert.equal(r.text(), "none");
  await r.unmount();
});

test("useTableRefresh reloads on a completed operation's refresh_tables (once however many hooks) and on refresh(table)", async () => {
  const fake = createFakeClient();
  const reloads: string[] = [];
  const Table = (props: { name: string; table: string }) => {
    useTableRefresh(props.table, () => reloads.push(props.name));
    return null;
  };
  const r = await render(
    h(TidingsProvider, { client: fake }, h(Table, { name: "tickets-a", table: "tickets" }), h(Table, { name: "tickets-b", table: "tickets" }), h(Table, { name: "users", table: "users" })),
  );
  await act(async () => fake.setState("open"));
  await act(async () => fake.push("operation:progress", progress("op", 50)));
  assert.deepEqual(reloads, []);
  await act(async () => fake.push("operation:complete", complete("op", ["tickets"])));
  assert.deepEqual(reloads, ["tickets-a", "tickets-b"]);
  refresh("users");
  assert.deepEqual(reloads, ["tickets-a", "tickets-b", "users"]);
  await r.unmount();
  await act(async () => fake.push("operation:complete", complete("op2", ["tickets", "users"])));
  refresh("users");
  assert.deepEqual(reloads, ["tickets-a", "tickets-b", "users"], "nothing after unmount");
});

test("withTidings gives a class component the client and the connection, re-rendering on changes", async () => {
  const fake = createFakeClient({ session: { user: "alice" } });
  class Badge extends React.Component<WithTidingsProps & { label: string }, { created: number }> {
    override state = { created: 0 };
    private off: (() => void) | null = null;
    override componentDidMount() {
      this.off = this.props.tidings.on(ticket.TICKET_CREATED, () => this.setState((s) => ({ created: s.created + 1 })));
    }
    override componentWillUnmount() {
      this.off?.();
    }
    override render() {
      return h("span", null, `${this.props.label} ${this.props.connection.state} ${this.props.connection.session?.user ?? "-"} ${this.state.created}`);
    }
  }
  const Wrapped = withTidings(Badge);
  assert.equal(Wrapped.displayName, "withTidings(Badge)");
  const r = await render(h(TidingsProvider, { client: fake }, h(Wrapped, { label: "me:" })));
  assert.equal(r.text(), "me: idle - 0");
  await act(async () => fake.setState("open"));
  await act(async () => fake.push(ticket.TICKET_CREATED, TICKET));
  assert.equal(r.text(), "me: open alice 1");
  await r.unmount();
});

test("a provider given options owns the client: connects while enabled with the latest token, closes on logout and unmount", async () => {
  FakeSocket.all = [];
  const options = (token: string) => ({ url: "ws://example.test/ws", token, WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false as const });
  let client: ReturnType<typeof useTidingsClient> | null = null;
  const Probe = () => {
    client = useTidingsClient();
    return h("span", null, useConnectionState().state);
  };
  // Mounted with the login, as an app's pages are: its join must find the client connecting.
  const Room = () => h("b", null, ` room ${useRoom("chat:1").status}`);
  const app = (token: string, enabled: boolean) => h(TidingsProvider, { options: options(token), enabled }, h(Probe), enabled ? h(Room) : null);
  const r = await render(app("token-a", false));
  await settle();
  assert.equal(FakeSocket.all.length, 0, "nothing opens before login");
  assert.equal(r.text(), "idle");
  const first = client;
  await r.rerender(app("token-b", true));
  await settle();
  assert.equal(client, first, "one client for the provider's lifetime");
  assert.equal(FakeSocket.all.length, 1);
  const socket = FakeSocket.all[0]!;
  assert.deepEqual(socket.protocols, ["tidings.v1", "tidings.bearer.token-b"], "the token of the latest render");
  await act(async () => socket.accept());
  assert.match(r.text(), /^open room (joining|joined)$/);
  // Logout: the socket closes, nothing reconnects.
  await r.rerender(app("token-b", false));
  await settle();
  assert.equal(socket.closedWith, 1000);
  assert.equal(r.text(), "closed");
  assert.deepEqual([...client!.rooms], [], "the rooms are forgotten at logout");
  assert.equal(FakeSocket.all.length, 1);
  // Login again (as another user's token): a new socket.
  await r.rerender(app("token-c", true));
  await settle();
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(FakeSocket.all[1]!.protocols, ["tidings.v1", "tidings.bearer.token-c"]);
  assert.equal(r.text(), "connecting room joining", "the room of a page mounted at login waits for the connection");
  await act(async () => FakeSocket.all[1]!.accept());
  const join = FakeSocket.all[1]!.sent.find((f) => f["type"] === "$join");
  assert.ok(join !== undefined, "the room is joined on the new connection");
  await act(async () => FakeSocket.all[1]!.frame({ type: "$reply", cid: join["cid"], data: null }));
  assert.equal(r.text(), "open room joined");
  await r.unmount();
  await settle();
  assert.equal(FakeSocket.all[1]!.closedWith, 1000, "closed on unmount");
});

test("two components on one room share it: one unmounting leaves the other joined", async () => {
  const fake = createFakeClient();
  fake.setState("open");
  const Room = (props: { tag: string }) => h("i", null, `${props.tag}:${useRoom("chat:1").status} `);
  const app = (both: boolean) => h(TidingsProvider, { client: fake }, h(Room, { tag: "window" }), both ? h(Room, { tag: "sidebar" }) : null);
  const r = await render(app(true));
  await settle();
  assert.equal(r.text(), "window:joined sidebar:joined ");
  await r.rerender(app(false));
  await settle();
  assert.equal(r.text(), "window:joined ");
  assert.deepEqual([...fake.rooms], ["chat:1"], "still a member");
  await r.unmount();
  await settle();
  assert.deepEqual([...fake.rooms], []);
});

test("StrictMode: the owning provider opens one socket, resuming from storage (its simulated unmount closes nothing)", async () => {
  FakeSocket.all = [];
  const stored = new Map<string, string>([["tidings.position", JSON.stringify({ user: "u1", tenant: "t1", epoch: "e1", seq: 7 })]]);
  const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v), removeItem: (k: string) => void stored.delete(k) };
  const options = { url: "ws://example.test/ws", token: "t", storage, WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false as const };
  const Probe = () => h("span", null, useConnectionState().state);
  const r = await render(h(React.StrictMode, null, h(TidingsProvider, { options }, h(Probe))));
  await settle();
  assert.equal(FakeSocket.all.length, 1, "one socket");
  assert.ok(([] as string[]).concat(FakeSocket.all[0]!.protocols ?? []).includes("tidings.resume.e1.7"), "the stored position is offered");
  await act(async () => FakeSocket.all[0]!.accept("e1", 7));
  assert.equal(r.text(), "open");
  await r.unmount();
  await settle();
  assert.equal(FakeSocket.all[0]!.closedWith, 1000);
  assert.ok(stored.has("tidings.position"), "an unmount is not a logout: the position is kept");
});

test("a provider mounted without a token sends the one a later render gives; useRoom never shows the previous room's status", async () => {
  FakeSocket.all = [];
  const statuses: string[] = [];
  const Room = (props: { room: string }) => {
    const view = useRoom(props.room);
    statuses.push(`${props.room}:${view.status}`);
    return null;
  };
  const app = (token: string | undefined, room: string) =>
    h(
      TidingsProvider,
      { options: { url: "ws://example.test/ws", WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false as const, ...(token === undefined ? {} : { token }) }, enabled: token !== undefined },
      h(Room, { room }),
    );
  const r = await render(app(undefined, "chat:a"));
  await r.rerender(app("late-token", "chat:a"));
  await settle();
  assert.deepEqual(FakeSocket.all[0]!.protocols, ["tidings.v1", "tidings.bearer.late-token"]);
  const socket = FakeSocket.all[0]!;
  await act(async () => socket.accept());
  const joinA = socket.sent.find((f) => f["type"] === "$join");
  await act(async () => socket.frame({ type: "$reply", cid: joinA?.["cid"], data: null }));
  await settle();
  statuses.length = 0;
  await r.rerender(app("late-token", "chat:b"));
  await settle();
  assert.equal(statuses[0], "chat:b:joining", "the first render of the new room is not the old room's joined");
  assert.ok(!statuses.includes("chat:b:joined"), "not joined before the server says so");
  await r.unmount();
});

test("useTidingsRequest: a reply to the previous event's request does not land after the event changed", async () => {
  const fake = createFakeClient();
  let resolveFirst: (t: ticket.Ticket) => void = () => undefined;
  fake.answer(demo.DEMO_OPEN_TICKET, () => new Promise((resolve) => (resolveFirst = resolve)));
  fake.answer(demo.DEMO_CHANGE_STATUS, () => new Promise(() => undefined));
  let send: ((data: never) => void) | null = null;
  const Probe = (props: { event: typeof demo.DEMO_OPEN_TICKET | typeof demo.DEMO_CHANGE_STATUS }) => {
    const r = useTidingsRequest(props.event);
    send = r.send as (data: never) => void;
    return h("span", null, `${r.pending ? "pending" : "idle"}|${r.result === undefined ? "-" : "result"}`);
  };
  const r = await render(h(TidingsProvider, { client: fake }, h(Probe, { event: demo.DEMO_OPEN_TICKET })));
  await act(async () => send!({ title: "x", assignee: null } as never));
  assert.equal(r.text(), "pending|-");
  await r.rerender(h(TidingsProvider, { client: fake }, h(Probe, { event: demo.DEMO_CHANGE_STATUS })));
  assert.equal(r.text(), "idle|-");
  await act(async () => resolveFirst(TICKET.ticket));
  await settle();
  assert.equal(r.text(), "idle|-", "the old event's reply is dropped");
  await r.unmount();
});

test("StrictMode: a room held by a component is joined once, with no leave in between", async () => {
  FakeSocket.all = [];
  const Room = () => h("span", null, useRoom("chat:1").status);
  const options = { url: "ws://example.test/ws", token: "t", WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false as const };
  const r = await render(h(React.StrictMode, null, h(TidingsProvider, { options }, h(Room))));
  await settle();
  await act(async () => FakeSocket.all[0]!.accept());
  await settle();
  const frames = FakeSocket.all[0]!.sent.map((f) => `${String(f["type"])} ${String(f["room"] ?? "")}`).filter((f) => f.startsWith("$join") || f.startsWith("$leave"));
  assert.deepEqual(frames, ["$join chat:1"]);
  await r.unmount();
});
