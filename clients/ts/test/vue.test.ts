// The Vue adapter: the plugin, the module registry and each composable, mounted with real Vue (in
// happy-dom) on the fake client an app tests with — and a plugin that owns its client.
import "./dom.js";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createApp, defineComponent, h, nextTick, ref, type Component } from "vue";

import { createFakeClient, demo, Module, operationsOf, refresh, ticket, TidingsError, type ModuleFailure, type WebSocketCtor } from "../generated/index.js";
import {
  createTidings,
  useConnectionState,
  useOperation,
  useOperations,
  useRoom,
  useTableRefresh,
  useTidingsClient,
  useTidingsEvent,
  useTidingsEvents,
  useTidingsRequest,
  type TidingsPluginOptions,
} from "../generated/vue.js";
import { complete, failed, progress, TICKET } from "./fixtures.js";
import { FakeSocket } from "./socket.js";

/** Mounts `root` in an app that uses the plugin made of `config`. */
function mount(root: Component, config: TidingsPluginOptions) {
  const el = document.createElement("div");
  document.body.append(el);
  const plugin = createTidings(config);
  const app = createApp(root);
  app.use(plugin);
  app.mount(el);
  return { plugin, app, text: () => el.textContent ?? "" };
}

/** Lets promises settle and Vue re-render. */
const settle = async () => {
  await new Promise<void>((r) => setTimeout(r, 0));
  await nextTick();
};

test("the plugin provides the client (inject and this.$tidings); outside it useTidingsClient throws", async () => {
  const fake = createFakeClient();
  let injected: unknown = null;
  const Root = defineComponent({
    setup() {
      injected = useTidingsClient();
    },
    render() {
      return h("span", this.$tidings === fake ? "global" : "missing");
    },
  });
  const m = mount(Root, { client: fake });
  assert.equal(injected, fake);
  assert.equal(m.text(), "global");
  m.app.unmount();
  assert.equal(fake.state, "idle", "a client the app owns is not closed by the plugin");
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    const app = createApp(defineComponent({ setup: () => void useTidingsClient(), render: () => null }));
    let error: unknown = null;
    app.config.errorHandler = (e) => {
      error = e;
    };
    app.mount(document.createElement("div"));
    assert.match(String(error), /install the plugin first/);
  } finally {
    console.warn = warn;
  }
});

test("useTidingsEvent / useTidingsEvents handle events until the component is unmounted", async () => {
  const fake = createFakeClient();
  const calls: string[] = [];
  const Root = defineComponent(() => {
    useTidingsEvent(ticket.TICKET_CREATED, (d) => calls.push(`one ${d.ticket.title}`));
    useTidingsEvents({ [ticket.TICKET_CREATED]: (d) => calls.push(`map ${d.ticket.status}`) });
    return () => null;
  });
  const m = mount(Root, { client: fake });
  fake.push(ticket.TICKET_CREATED, TICKET);
  m.app.unmount();
  fake.push(ticket.TICKET_CREATED, TICKET);
  assert.deepEqual(calls, ["one Broken chair", "map open"]);
});

test("useConnectionState is a ref of the state, each reconnect attempt and catching up", async () => {
  const fake = createFakeClient({ session: { user: "alice" } });
  const Root = defineComponent(() => {
    const c = useConnectionState();
    return () => h("span", `${c.value.state}/${c.value.reconnectAttempt}/${c.value.caughtUp ? "caught-up" : "syncing"}/${c.value.session?.user ?? "-"}`);
  });
  const m = mount(Root, { client: fake });
  assert.equal(m.text(), "idle/0/syncing/-");
  fake.setState("open");
  await nextTick();
  assert.equal(m.text(), "open/0/caught-up/alice");
  fake.setState("reconnecting");
  await nextTick();
  assert.equal(m.text(), "reconnecting/1/syncing/-");
  fake.setState("reconnecting");
  await nextTick();
  assert.equal(m.text(), "reconnecting/2/syncing/-");
  m.app.unmount();
});

test("useTidingsRequest: pending, then the typed result or the error; only the latest request counts", async () => {
  const fake = createFakeClient();
  const answers: Array<(title: string) => void> = [];
  fake.answer(demo.DEMO_OPEN_TICKET, (data) => {
    if (data.title === "") throw new TidingsError("constraint_violated", "title: too short");
    return new Promise((resolve) => answers.push((title) => resolve({ ...TICKET.ticket, title: `${title} (${data.title})` })));
  });
  let api: ReturnType<typeof useTidingsRequest<typeof demo.DEMO_OPEN_TICKET>> | null = null;
  const Root = defineComponent(() => {
    const r = useTidingsRequest(demo.DEMO_OPEN_TICKET);
    api = r;
    return () => h("span", `${r.pending.value ? "pending" : "idle"}|${r.result.value?.title ?? "-"}|${r.error.value?.code ?? "-"}`);
  });
  const m = mount(Root, { client: fake });
  api!.send({ title: "first", assignee: null });
  await nextTick();
  assert.equal(m.text(), "pending|-|-");
  api!.send({ title: "second", assignee: null });
  await settle();
  answers[1]!("answered");
  await settle();
  assert.equal(m.text(), "idle|answered (second)|-");
  answers[0]!("late");
  await settle();
  assert.equal(m.text(), "idle|answered (second)|-", "an earlier answer changes nothing");
  await assert.rejects(api!.sendAsync({ title: "", assignee: null }), (e: unknown) => e instanceof TidingsError && e.code === "constraint_violated");
  await nextTick();
  assert.equal(m.text(), "idle|answered (second)|constraint_violated");
  api!.reset();
  await nextTick();
  assert.equal(m.text(), "idle|-|-");
  m.app.unmount();
});

test("useRoom joins, follows a ref to another room, and leaves on unmount", async () => {
  const fake = createFakeClient();
  fake.setState("open");
  const room = ref<string | null>("chat:1");
  const Root = defineComponent(() => {
    const r = useRoom(room);
    return () => h("span", r.status.value);
  });
  const m = mount(Root, { client: fake });
  await settle();
  assert.equal(m.text(), "joined");
  assert.deepEqual([...fake.rooms], ["chat:1"]);
  room.value = "chat:2";
  await settle();
  assert.deepEqual([...fake.rooms], ["chat:2"]);
  room.value = null;
  await settle();
  assert.equal(m.text(), "idle");
  assert.deepEqual([...fake.rooms], []);
  room.value = "chat:3";
  await settle();
  m.app.unmount();
  await settle();
  assert.deepEqual([...fake.rooms], [], "left on unmount");
  const refusing = createFakeClient();
  refusing.setState("open");
  refusing.join = () => Promise.reject(new TidingsError("forbidden", "not a member"));
  const Failing = defineComponent(() => {
    const r = useRoom("chat:9");
    return () => h("span", `${r.status.value} ${r.error.value?.code ?? ""}`);
  });
  const f = mount(Failing, { client: refusing });
  await settle();
  assert.equal(f.text(), "failed forbidden");
  f.app.unmount();
});

test("useOperations / useOperation: running before the page opened, progress, completion, failure, dismissal", async () => {
  const fake = createFakeClient();
  fake.setOperations([{ operation_id: "old", operation_type: "import", state: "running", percentage: 30, seq: 1, ts: "2026-12-01T00:00:00Z" }]);
  const Root = defineComponent(() => {
    const list = useOperations();
    const one = useOperation("new");
    return () =>
      h("div", [
        ...list.value.map((op) => h("li", `${op.operation_id} ${op.phase} ${op.percentage}`)),
        h("p", one.value === undefined ? "none" : `${one.value.phase} ${one.value.percentage}`),
      ]);
  });
  const m = mount(Root, { client: fake });
  fake.setState("open");
  await settle();
  assert.equal(m.text(), "old started 30none");
  fake.push("operation:progress", progress("new", 10));
  await nextTick();
  assert.equal(m.text(), "old started 30new started 10started 10");
  fake.push("operation:error", failed("old"));
  fake.push("operation:complete", complete("new", ["tickets"]));
  await nextTick();
  assert.equal(m.text(), "old failed 30new complete 100complete 100");
  operationsOf(fake).dismiss("new");
  await nextTick();
  assert.equal(m.text(), "old failed 30none");
  m.app.unmount();
});

test("useTableRefresh reloads on a completed operation's refresh_tables (once however many) and on refresh(table)", async () => {
  const fake = createFakeClient();
  const reloads: string[] = [];
  const table = (name: string, t: string) =>
    defineComponent(() => {
      useTableRefresh(t, () => reloads.push(name));
      return () => null;
    });
  const [A, B, U] = [table("tickets-a", "tickets"), table("tickets-b", "tickets"), table("users", "users")];
  const Root = defineComponent(() => () => h("div", [h(A), h(B), h(U)]));
  const m = mount(Root, { client: fake });
  fake.setState("open");
  fake.push("operation:complete", complete("op", ["tickets"]));
  assert.deepEqual(reloads, ["tickets-a", "tickets-b"]);
  refresh("users");
  assert.deepEqual(reloads, ["tickets-a", "tickets-b", "users"]);
  m.app.unmount();
  fake.push("operation:complete", complete("op2", ["tickets", "users"]));
  assert.deepEqual(reloads, ["tickets-a", "tickets-b", "users"], "nothing after unmount");
});

test("the module registry: modules initialized on connect and cleaned up on disconnect; one that fails to load is skipped and reported", async () => {
  const fake = createFakeClient();
  const log: string[] = [];
  class Tickets extends Module {
    readonly name = "tickets";
    protected override onConnect(): void {
      log.push("tickets up");
      this.on(ticket.TICKET_CREATED, (d) => log.push(`tickets saw ${d.ticket.title}`));
    }
    protected override onDisconnect(): void {
      log.push("tickets down");
    }
  }
  class Chat extends Module {
    readonly name = "chat";
    protected override onConnect(): void {
      log.push("chat up");
    }
  }
  const failures: ModuleFailure[] = [];
  const m = mount(
    defineComponent(() => () => null),
    {
      client: fake,
      modules: [
        { name: "chat", load: async () => ({ default: new Chat() }) },
        { name: "reports", load: () => Promise.reject(new Error("chunk failed")) },
        { name: "empty", load: async () => ({}) as never },
        new Tickets(),
        { name: "chat again", load: () => new Chat() },
      ],
      onModuleFailure: (f) => failures.push(f),
    },
  );
  const report = await m.plugin.modules;
  assert.deepEqual(report.loaded, ["chat", "tickets"], "in the order of the entries");
  assert.deepEqual(
    report.failed.map((f) => `${f.name}: ${String(f.error)}`),
    ["reports: Error: chunk failed", "empty: TypeError: empty: load() gave no RealtimeModule", "chat again: Error: a module named chat is registered already"],
  );
  assert.deepEqual(failures.map((f) => f.name), ["reports", "empty", "chat again"]);
  fake.setState("open");
  fake.push(ticket.TICKET_CREATED, TICKET);
  fake.setState("reconnecting");
  fake.push(ticket.TICKET_CREATED, TICKET);
  fake.setState("open");
  assert.deepEqual(log, ["chat up", "tickets up", "tickets saw Broken chair", "tickets down", "chat up", "tickets up"]);
  m.app.unmount();
  assert.deepEqual(log.slice(6), ["tickets down"], "detached on unmount");
  fake.push(ticket.TICKET_CREATED, TICKET);
  assert.equal(log.length, 7);
});

test("a plugin given options owns its client: connects at once (or on connect()), closes on close() and app.unmount()", async () => {
  FakeSocket.all = [];
  const options = { url: "ws://example.test/ws", token: "t", WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false as const };
  const Root = defineComponent(() => {
    const c = useConnectionState();
    return () => h("span", c.value.state);
  });
  const later = mount(Root, { options: { ...options, autoConnect: false } });
  assert.equal(FakeSocket.all.length, 0, "nothing opens before connect()");
  later.plugin.connect();
  assert.equal(FakeSocket.all.length, 1);
  FakeSocket.all[0]!.accept();
  await nextTick();
  assert.equal(later.text(), "open");
  later.plugin.close();
  await nextTick();
  assert.equal(later.text(), "closed");
  assert.equal(FakeSocket.all[0]!.closedWith, 1000);
  later.app.unmount();
  const owned = mount(Root, { options });
  assert.equal(FakeSocket.all.length, 2, "connects at app.use");
  FakeSocket.all[1]!.accept();
  owned.app.unmount();
  assert.equal(FakeSocket.all[1]!.closedWith, 1000, "app.unmount() closes a client the plugin owns");
});

test("two components on one room share it; a plugin's own client opens nothing before app.use", async () => {
  const fake = createFakeClient();
  fake.setState("open");
  const show = ref(true);
  const Room = (tag: string) =>
    defineComponent(() => {
      const r = useRoom("chat:1");
      return () => h("i", `${tag}:${r.status.value} `);
    });
  const [Window, Sidebar] = [Room("window"), Room("sidebar")];
  const m = mount(
    defineComponent(() => () => h("div", [h(Window), show.value ? h(Sidebar) : null])),
    { client: fake },
  );
  await settle();
  assert.equal(m.text(), "window:joined sidebar:joined ");
  show.value = false;
  await settle();
  assert.equal(m.text(), "window:joined ");
  assert.deepEqual([...fake.rooms], ["chat:1"], "still a member");
  m.app.unmount();
  await settle();
  assert.deepEqual([...fake.rooms], []);

  FakeSocket.all = [];
  const plugin = createTidings({ options: { url: "ws://example.test/ws", token: "t", WebSocket: FakeSocket as unknown as WebSocketCtor, reconnect: false } });
  assert.equal(FakeSocket.all.length, 0, "creating the plugin opens nothing");
  const app = createApp(defineComponent(() => () => null));
  app.use(plugin);
  assert.equal(FakeSocket.all.length, 1, "app.use connects");
  plugin.client.close();
});

test("useTidingsClient outside setup says what is wrong", () => {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    assert.throws(() => useTidingsClient(), /install the plugin first/);
  } finally {
    console.warn = warn;
  }
});
