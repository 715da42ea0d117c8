// The demo in React, with the adapter `tidings generate --ts-react` writes (../generated/react.ts):
// a provider that owns the client (connect on login, close on logout), the connection with its
// reconnect attempt, a typed request's pending → result, a room joined while mounted, live
// operations as toasts, a table refreshed when an operation completes, and a class component.
// Bundled by esbuild into ../dist/react.js; served by the example server at /react.
import * as React from "react";
import { createRoot } from "react-dom/client";

import { chat, demo, operationsOf, ticket, type Client, type ConnectionView } from "../generated/index.js";
import {
  TidingsProvider,
  useConnectionState,
  useOperations,
  useRoom,
  useTableRefresh,
  useTidingsClient,
  useTidingsEvent,
  useTidingsEvents,
  useTidingsRequest,
  withTidings,
} from "../generated/react.js";
import { CHAT, STYLE, me, nameOf, roles, tenantName, wsUrl } from "../shared.js";

function Connection(): React.ReactElement {
  const { state, reconnectAttempt, caughtUp } = useConnectionState();
  return (
    <span className="state" id="state" data-state={state} data-attempt={reconnectAttempt}>
      {state}
      {state === "reconnecting" ? ` (attempt ${reconnectAttempt})` : ""}
      {state === "open" && !caughtUp ? " · syncing…" : ""}
    </span>
  );
}

function Tickets(): React.ReactElement {
  const [rows, setRows] = React.useState<ticket.Ticket[]>([]);
  const [reloads, setReloads] = React.useState(0);
  const [title, setTitle] = React.useState("");
  const open = useTidingsRequest(demo.DEMO_OPEN_TICKET);
  useTidingsEvent(ticket.TICKET_CREATED, ({ ticket: t }) => setRows((r) => [t, ...r.filter((x) => x.id !== t.id)]));
  // A real app refetches the table from its API here.
  useTableRefresh("tickets", () => setReloads((n) => n + 1));
  return (
    <section>
      <h2>Tickets</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          open.send({ title, assignee: null });
        }}
      >
        <input id="ticket-title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="title" />
        <button id="open-ticket">Open</button>
      </form>
      <p id="request" className={open.error ? "error" : "muted"}>
        {open.pending ? "pending…" : open.error ? `${open.error.code}: ${open.error.message}` : open.result ? `opened #${open.result.id.slice(0, 8)}` : "no request yet"}
      </p>
      <p id="tickets-reloaded" className="muted">
        table reloaded {reloads} {reloads === 1 ? "time" : "times"}
      </p>
      <ul id="tickets">
        {rows.map((t) => (
          <li key={t.id}>
            {t.title} <span className="muted">by {nameOf(t.created_by)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Operations(): React.ReactElement {
  const client = useTidingsClient();
  const operations = useOperations();
  const start = useTidingsRequest(demo.DEMO_START_OPERATION);
  return (
    <section>
      <h2>Operations</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          start.send({ operation_type: "export_csv", steps: 5, step_ms: 150 });
        }}
      >
        <button id="start-operation">Export tickets</button>
      </form>
      <ul id="operations">
        {operations.map((op) => (
          <li key={op.operation_id} className="toast" data-phase={op.phase}>
            <span>{op.operation_type}</span>
            <progress max={100} value={op.percentage} />
            <span>
              {op.percentage}% {op.phase === "complete" ? "done" : op.phase === "failed" ? `failed: ${op.error?.message ?? ""}` : (op.message ?? "")}
            </span>
            {op.phase === "complete" || op.phase === "failed" ? (
              <button className="dismiss" onClick={() => operationsOf(client).dismiss(op.operation_id)}>
                ×
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Chat(): React.ReactElement {
  const room = useRoom(chat.rooms.chat({ chat_id: CHAT }));
  const [messages, setMessages] = React.useState<string[]>([]);
  const [typing, setTyping] = React.useState<string | null>(null);
  const [text, setText] = React.useState("");
  const post = useTidingsRequest(chat.CHAT_SEND_MESSAGE);
  useTidingsEvents({
    [chat.CHAT_MESSAGE]: ({ message }) => {
      const body = message.body.type === "text" ? message.body.text : `[${message.body.type}]`;
      setMessages((m) => [...m, `${nameOf(message.sender_id)}: ${body}`]);
    },
    [chat.CHAT_TYPING]: (t) => setTyping(t.is_typing ? nameOf(t.user_id) : null),
  });
  return (
    <section>
      <h2>
        Chat <span id="room" className="muted" data-status={room.status}>{room.status}</span>
      </h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          post.send({ chat_id: CHAT, body: { type: "text", text } });
          setText("");
        }}
      >
        <input id="chat-text" value={text} onChange={(e) => setText(e.target.value)} />
        <button id="send">Send</button>
      </form>
      <p id="typing" className="muted">{typing === null ? "" : `${typing} is typing…`}</p>
      <ul id="messages">
        {messages.map((m, i) => (
          <li key={i}>{m}</li>
        ))}
      </ul>
    </section>
  );
}

/** A class component, as older code bases have them: the client and connection come as props. */
class LegacyBadge extends React.Component<{ tidings: Client; connection: ConnectionView; label: string }, { announcements: number }> {
  override state = { announcements: 0 };
  private off: (() => void) | null = null;

  override componentDidMount(): void {
    this.off = this.props.tidings.on("tenant:announcement", () => this.setState((s) => ({ announcements: s.announcements + 1 })));
  }

  override componentWillUnmount(): void {
    this.off?.();
  }

  override render(): React.ReactNode {
    const { connection, label } = this.props;
    return (
      <span id="legacy" className="muted">
        {label}: {connection.session ? nameOf(connection.session.user) : "nobody"} · {connection.state} · {this.state.announcements} announcements
      </span>
    );
  }
}
const Badge = withTidings(LegacyBadge);

function App(): React.ReactElement {
  const [loggedIn, setLoggedIn] = React.useState(true);
  return (
    <TidingsProvider options={{ url: wsUrl, reconnect: { initialDelayMs: 300, maxDelayMs: 5000 } }} enabled={loggedIn}>
      <header>
        <h1>Tidings · React</h1>
        <span className="muted">
          {me} · {tenantName}
          {roles ? ` · ${roles}` : ""}
        </span>
        <Connection />
        <Badge label="class component" />
        <button id={loggedIn ? "logout" : "login"} onClick={() => setLoggedIn(!loggedIn)}>
          {loggedIn ? "Log out" : "Log in"}
        </button>
      </header>
      {loggedIn ? (
        <main>
          <Tickets />
          <Operations />
          <Chat />
        </main>
      ) : (
        <p className="muted">Logged out: the socket is closed.</p>
      )}
    </TidingsProvider>
  );
}

const style = document.createElement("style");
style.textContent = STYLE;
document.head.append(style);
const root = document.getElementById("root");
if (root === null) throw new Error("#root is missing");
createRoot(root).render(
  <React.StrictMode>
    <App />
  </React.StrictMode>,
);
