// The demo in Vue 3, with the adapter `tidings generate --ts-vue` writes (../generated/vue.ts),
// in plain TypeScript (render functions, no single-file components): the plugin owning the
// client (login/logout), the module registry (feature modules initialized on connect, cleaned up
// on disconnect; one that fails to load is skipped and reported), the connection as a ref, a
// typed request, a room, live operations and a table refreshed when an operation completes.
// Bundled by esbuild into ../dist/vue.js; served by the example server at /vue.
import { createApp, defineComponent, h, ref, shallowRef, type VNode } from "vue";

import { Module, chat, demo, operationsOf, tenant, ticket, type ModuleReport } from "../generated/index.js";
import {
  createTidings,
  useConnectionState,
  useOperations,
  useRoom,
  useTableRefresh,
  useTidingsClient,
  useTidingsEvent,
  useTidingsEvents,
  useTidingsRequest,
} from "../generated/vue.js";
import { CHAT, STYLE, me, nameOf, roles, tenantName, wsUrl } from "../shared.js";

/** A feature module: the tenant's announcements, listened to while connected. */
const announcements = ref<string[]>([]);
class Announcements extends Module {
  readonly name = "announcements";
  protected override onConnect(): void {
    this.on(tenant.TENANT_ANNOUNCEMENT, (a) => announcements.value.unshift(a.title));
  }
}

const tidings = createTidings({
  options: { url: wsUrl, reconnect: { initialDelayMs: 300, maxDelayMs: 5000 } },
  modules: [
    new Announcements(),
    // A module whose chunk fails to load (a deploy removed it, the network failed): skipped and reported.
    { name: "reports", load: () => Promise.reject(new Error("chunk reports.js failed to load")) },
  ],
  // Shown on the page (below); the default reports to console.error.
  onModuleFailure: (f) => console.warn(`module ${f.name} skipped`, f.error),
});
const moduleReport = shallowRef<ModuleReport | null>(null);
void tidings.modules.then((r) => (moduleReport.value = r));

const Connection = defineComponent(() => {
  const connection = useConnectionState();
  return () => {
    const { state, reconnectAttempt, caughtUp } = connection.value;
    return h("span", { class: "state", id: "state", "data-state": state, "data-attempt": reconnectAttempt }, [
      state,
      state === "reconnecting" ? ` (attempt ${reconnectAttempt})` : "",
      state === "open" && !caughtUp ? " · syncing…" : "",
    ]);
  };
});

const Tickets = defineComponent(() => {
  const rows = ref<ticket.Ticket[]>([]);
  const reloads = ref(0);
  const title = ref("");
  const open = useTidingsRequest(demo.DEMO_OPEN_TICKET);
  useTidingsEvent(ticket.TICKET_CREATED, ({ ticket: t }) => {
    rows.value = [t, ...rows.value.filter((x) => x.id !== t.id)];
  });
  // A real app refetches the table from its API here.
  useTableRefresh("tickets", () => reloads.value++);
  return () => {
    const error = open.error.value;
    const result = open.result.value;
    return h("section", [
      h("h2", "Tickets"),
      h("form", { onSubmit: (e: Event) => (e.preventDefault(), open.send({ title: title.value, assignee: null })) }, [
        h("input", { id: "ticket-title", value: title.value, placeholder: "title", onInput: (e: Event) => (title.value = (e.target as HTMLInputElement).value) }),
        h("button", { id: "open-ticket" }, "Open"),
      ]),
      h(
        "p",
        { id: "request", class: error ? "error" : "muted" },
        open.pending.value ? "pending…" : error ? `${error.code}: ${error.message}` : result ? `opened #${result.id.slice(0, 8)}` : "no request yet",
      ),
      h("p", { id: "tickets-reloaded", class: "muted" }, `table reloaded ${reloads.value} ${reloads.value === 1 ? "time" : "times"}`),
      h(
        "ul",
        { id: "tickets" },
        rows.value.map((t) => h("li", { key: t.id }, [t.title, " ", h("span", { class: "muted" }, `by ${nameOf(t.created_by)}`)])),
      ),
    ]);
  };
});

const Operations = defineComponent(() => {
  const client = useTidingsClient();
  const operations = useOperations();
  const start = useTidingsRequest(demo.DEMO_START_OPERATION);
  return () =>
    h("section", [
      h("h2", "Operations"),
      h("form", { onSubmit: (e: Event) => (e.preventDefault(), start.send({ operation_type: "export_csv", steps: 5, step_ms: 150 })) }, [
        h("button", { id: "start-operation" }, "Export tickets"),
      ]),
      h(
        "ul",
        { id: "operations" },
        operations.value.map((op): VNode => {
          const ended = op.phase === "complete" || op.phase === "failed";
          const text = op.phase === "complete" ? "done" : op.phase === "failed" ? `failed: ${op.error?.message ?? ""}` : (op.message ?? "");
          return h("li", { key: op.operation_id, class: "toast", "data-phase": op.phase }, [
            h("span", op.operation_type),
            h("progress", { max: 100, value: op.percentage }),
            h("span", `${op.percentage}% ${text}`),
            ended ? h("button", { class: "dismiss", onClick: () => operationsOf(client).dismiss(op.operation_id) }, "×") : null,
          ]);
        }),
      ),
    ]);
});

const Chat = defineComponent(() => {
  const room = useRoom(chat.rooms.chat({ chat_id: CHAT }));
  const messages = ref<string[]>([]);
  const typing = ref<string | null>(null);
  const text = ref("");
  const post = useTidingsRequest(chat.CHAT_SEND_MESSAGE);
  useTidingsEvents({
    [chat.CHAT_MESSAGE]: ({ message }) => {
      const body = message.body.type === "text" ? message.body.text : `[${message.body.type}]`;
      messages.value.push(`${nameOf(message.sender_id)}: ${body}`);
    },
    [chat.CHAT_TYPING]: (t) => (typing.value = t.is_typing ? nameOf(t.user_id) : null),
  });
  return () =>
    h("section", [
      h("h2", ["Chat ", h("span", { id: "room", class: "muted", "data-status": room.status.value }, room.status.value)]),
      h(
        "form",
        {
          onSubmit: (e: Event) => {
            e.preventDefault();
            post.send({ chat_id: CHAT, body: { type: "text", text: text.value } });
            text.value = "";
          },
        },
        [
          h("input", { id: "chat-text", value: text.value, onInput: (e: Event) => (text.value = (e.target as HTMLInputElement).value) }),
          h("button", { id: "send" }, "Send"),
        ],
      ),
      h("p", { id: "typing", class: "muted" }, typing.value === null ? "" : `${typing.value} is typing…`),
      h(
        "ul",
        { id: "messages" },
        messages.value.map((m, i) => h("li", { key: i }, m)),
      ),
    ]);
});

const Modules = defineComponent(() => () => {
  const r = moduleReport.value;
  return h("p", { id: "modules", class: "muted" }, [
    r === null ? "loading modules…" : `modules: ${r.loaded.join(", ")}; skipped: ${r.failed.map((f) => `${f.name} (${f.error instanceof Error ? f.error.message : String(f.error)})`).join(", ")}`,
    " · announcements: ",
    h("span", { id: "announcements" }, announcements.value.join(" · ") || "none"),
  ]);
});

const App = defineComponent(() => {
  const loggedIn = ref(true);
  const toggle = (): void => {
    loggedIn.value = !loggedIn.value;
    if (loggedIn.value) tidings.connect();
    else tidings.close();
  };
  return () =>
    h("div", [
      h("header", [
        h("h1", "Tidings · Vue"),
        h("span", { class: "muted" }, `${me} · ${tenantName}${roles ? ` · ${roles}` : ""}`),
        h(Connection),
        h("button", { id: loggedIn.value ? "logout" : "login", onClick: toggle }, loggedIn.value ? "Log out" : "Log in"),
      ]),
      h(Modules),
      loggedIn.value ? h("main", [h(Tickets), h(Operations), h(Chat)]) : h("p", { class: "muted" }, "Logged out: the socket is closed."),
    ]);
});

const style = document.createElement("style");
style.textContent = STYLE;
document.head.append(style);
createApp(App).use(tidings).mount("#root");
