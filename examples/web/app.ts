// The demo page: a ticket board, an operation progress bar and a chat room, all driven by the
// TypeScript that build.rs generated from the schemas (./generated). Bundled by esbuild into
// dist/app.js and served by the example server.
import {
  chat,
  createClient,
  demo,
  Module,
  onOperation,
  onRefresh,
  refreshOnComplete,
  tenant,
  ticket,
  notification,
  type TidingsError,
} from "./generated/index.js";
import { CHAT, me, nameOf, roles, tenantName, wsUrl } from "./shared.js";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing`);
  return el as T;
};

$("who").textContent = `${me} · ${tenantName}${roles ? ` · ${roles}` : ""}`;
const client = createClient({ url: wsUrl, reconnect: { initialDelayMs: 300, maxDelayMs: 5000 } });

client.onState((state) => {
  const el = $("state");
  el.textContent = state;
  el.dataset["state"] = state;
});

function log(text: string, cls = ""): void {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("log").prepend(li);
}
client.onError((e: TidingsError) => log(`${e.code}: ${e.message}`, "error"));
client.onResync((info) => log(`resync needed (${info.reason}); a real app refetches here`));

// ── ticket board ──
const tickets = new Map<string, ticket.Ticket>();
function render(): void {
  const ul = $("tickets");
  ul.replaceChildren(
    ...[...tickets.values()].reverse().map((t) => {
      const li = document.createElement("li");
      li.dataset["ticket"] = t.id;
      li.textContent = t.title;
      const status = document.createElement("span");
      status.className = "status";
      status.textContent = t.status;
      li.append(status, ` — by ${nameOf(t.created_by)}${t.assignee_id ? `, for ${nameOf(t.assignee_id)}` : ""}`);
      return li;
    }),
  );
}
client.registerHandlers({
  [ticket.TICKET_CREATED]: (data) => {
    tickets.set(data.ticket.id, data.ticket);
    render();
  },
  [ticket.TICKET_STATUS_CHANGED]: (data) => {
    tickets.set(data.ticket.id, data.ticket);
    render();
  },
  [ticket.TICKET_DELETED]: (data) => {
    tickets.delete(data.ticket_id);
    render();
  },
});
$("ticket-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const title = $<HTMLInputElement>("ticket-title").value;
  const assignee = $<HTMLInputElement>("ticket-assignee").value.trim();
  client
    .request(demo.DEMO_OPEN_TICKET, { title, assignee: assignee === "" ? null : assignee })
    .then((t) => {
      tickets.set(t.id, t);
      render();
      $<HTMLInputElement>("ticket-title").value = "";
    })
    .catch((e: TidingsError) => log(`could not open the ticket: ${e.message}`, "error"));
});

// ── operation progress: the framework-neutral helper (also reports operations that began
// before the page opened) and the refresh bus fed by completed operations' refresh_tables ──
onOperation(client, (u) => {
  $<HTMLProgressElement>("progress").value = u.percentage;
  $("operation-stage").textContent =
    u.phase === "complete"
      ? `${u.operation_type}: complete${u.message ? ` — ${u.message}` : ""}`
      : u.phase === "failed"
        ? `${u.operation_type}: failed (${u.error?.code ?? "?"})`
        : `${u.operation_type}: ${u.stage ?? ""} (${u.percentage}%)`;
});
refreshOnComplete(client);
onRefresh("tickets", () => log("tickets table refreshed: an operation that changed it completed"));
$("operation-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void client.request(demo.DEMO_START_OPERATION, { operation_type: "export_csv", steps: 5, step_ms: 150 });
});

// ── announcements and notifications ──
client.on(tenant.TENANT_ANNOUNCEMENT, (a) => log(`Announcement: ${a.title} (from ${nameOf(a.published_by)})`));
client.on(tenant.TENANT_PLATFORM_ALERT, (a) => log(`Alert: ${a.message}`));
client.on(notification.NOTIFICATION_RECEIVED, (n) => log(`Notification: ${n.notification.title}`));
$("announce-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const title = $<HTMLInputElement>("announce-title").value;
  void client.request(demo.DEMO_ANNOUNCE, { title, body: "" }).then(() => {
    $<HTMLInputElement>("announce-title").value = "";
  });
});

// ── chat, organised as a feature module: it subscribes on connect and is released on disconnect ──
class ChatRoom extends Module {
  readonly name = "chat-room";
  private typingTimer: ReturnType<typeof setTimeout> | undefined;

  protected override onConnect(): void {
    void this.client.join(chat.rooms.chat({ chat_id: CHAT })).catch((e: TidingsError) => log(`join refused: ${e.code}`, "error"));
    this.on(chat.CHAT_MESSAGE, ({ message }) => {
      const li = document.createElement("li");
      const text = message.body.type === "text" ? message.body.text : `[${message.body.type}]`;
      li.textContent = `${nameOf(message.sender_id)}: ${text}`;
      $("messages").append(li);
    });
    this.on(chat.CHAT_TYPING, (t) => {
      $("typing").textContent = t.is_typing ? `${nameOf(t.user_id)} is typing…` : "";
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => ($("typing").textContent = ""), 3000);
    });
  }
}
client.use(new ChatRoom());
$("chat-text").addEventListener("input", () => {
  client.send(chat.CHAT_SET_TYPING, { chat_id: CHAT, is_typing: true });
});
$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>("chat-text");
  void client
    .request(chat.CHAT_SEND_MESSAGE, { chat_id: CHAT, body: { type: "text", text: input.value } })
    .then(() => (input.value = ""));
});
