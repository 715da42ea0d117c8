// The Tidings client runtime. Hand-written, kept in the Tidings repository (codegen/ts/runtime.ts),
// type-checked and tested there, and copied verbatim next to the generated modules, so an app
// needs no package beyond what was generated. Zero dependencies; browsers and Node >= 20.

// ── JSON and checks used by generated guards ──────────────────────────────────────────────────

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A payload check: `null` when `v` fits, else a message naming the path at fault. */
export type Guard = (v: unknown, path: string) => string | null;

/** Payload checks by wire name. */
export type Guards = Readonly<Record<string, Guard>>;

declare const unknownBrand: unique symbol;

/**
 * A value of an open enum that this version does not declare: a string as received. It can be
 * read and passed on, not written from a literal (senders write the values they know).
 */
export type UnknownValue = string & { readonly [unknownBrand]: true };

/**
 * A variant of an open union that this version does not declare: the object as received, with
 * its tag (`K`) holding the variant's name. Narrow with the union's `isKnown…` guard first.
 */
export type UnknownVariant<K extends string> = { readonly [P in K]: UnknownValue } & {
  readonly [unknownBrand]: true;
};

/** `{ type: K; data: Map[K] }` for every key of `Map`: a discriminated union of events. */
export type EventUnion<Map> = { [K in keyof Map & string]: { type: K; data: Map[K] } }[keyof Map & string];

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

/** @internal */ export function missing(p: string): string {
  return `${p}: required, but absent`;
}

/**
 * @internal The value of `o`'s own property `k`, or `undefined`: a payload field is never read
 * from the prototype chain (`constructor`, `toString`).
 */
export function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

/** @internal */ export function obj(v: unknown, p: string): Record<string, unknown> | string {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : `${p}: expected an object, found ${describe(v)}`;
}

function lengthCheck(n: number, p: string, min: number | undefined, max: number | undefined, unit: string): string | null {
  if (min !== undefined && n < min) return `${p}: at least ${min} ${unit} required, found ${n}`;
  if (max !== undefined && n > max) return `${p}: at most ${max} ${unit} allowed, found ${n}`;
  return null;
}

// A lone surrogate (half of a UTF-16 pair): JSON text that is not Unicode, which the Rust
// decoder (serde_json) refuses.
const LONE_SURROGATE = /\p{Cs}/u;

/** @internal */ export function str(v: unknown, p: string, min?: number, max?: number): string | null {
  if (typeof v !== "string") return `${p}: expected a string, found ${describe(v)}`;
  if (LONE_SURROGATE.test(v)) return `${p}: not Unicode text (a lone surrogate)`;
  return min === undefined && max === undefined ? null : lengthCheck([...v].length, p, min, max, "characters");
}

// The formats of docs/schema.md, the same patterns as the exported JSON Schema's (a test holds
// them equal to tidings::format's): a hyphenated UUID, and an RFC 3339 date-time that is
// calendar-exact (the day exists in its month and year), seconds 00-59, `T`/`Z` either case.
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const RFC3339 =
  /^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/;

/** @internal */ export function uuid(v: unknown, p: string): string | null {
  return typeof v === "string" && UUID.test(v) ? null : `${p}: expected a UUID, found ${describe(v)}`;
}

/** @internal */ export function timestamp(v: unknown, p: string): string | null {
  return typeof v === "string" && RFC3339.test(v) ? null : `${p}: expected an RFC 3339 timestamp, found ${describe(v)}`;
}

/** @internal */ export function bool(v: unknown, p: string): string | null {
  return typeof v === "boolean" ? null : `${p}: expected a boolean, found ${describe(v)}`;
}

/** @internal */ export function num(v: unknown, p: string, min?: number, max?: number): string | null {
  if (typeof v !== "number" || !Number.isFinite(v)) return `${p}: expected a number, found ${describe(v)}`;
  if (min !== undefined && v < min) return `${p}: must be at least ${min}, found ${v}`;
  if (max !== undefined && v > max) return `${p}: must be at most ${max}, found ${v}`;
  return null;
}

/** @internal */ export function int(v: unknown, p: string, min?: number, max?: number): string | null {
  if (typeof v !== "number" || !Number.isInteger(v)) return `${p}: expected an integer, found ${describe(v)}`;
  return num(v, p, min, max);
}

/** @internal */ export function list(v: unknown, p: string, item: Guard, min?: number, max?: number): string | null {
  if (!Array.isArray(v)) return `${p}: expected an array, found ${describe(v)}`;
  const e = lengthCheck(v.length, p, min, max, "items");
  if (e !== null) return e;
  for (let i = 0; i < v.length; i++) {
    const found = item(v[i], `${p}[${i}]`);
    if (found !== null) return found;
  }
  return null;
}

/** @internal */ export function map(v: unknown, p: string, item: Guard, min?: number, max?: number): string | null {
  const o = obj(v, p);
  if (typeof o === "string") return o;
  const keys = Object.keys(o);
  const e = lengthCheck(keys.length, p, min, max, "entries");
  if (e !== null) return e;
  for (const k of keys) {
    if (LONE_SURROGATE.test(k)) return `${p}: a key that is not Unicode text (a lone surrogate)`;
    const found = item(o[k], `${p}[${JSON.stringify(k)}]`);
    if (found !== null) return found;
  }
  return null;
}

/** @internal */ export function oneOf(v: unknown, p: string, values: readonly string[]): string | null {
  return typeof v === "string" && values.includes(v)
    ? null
    : `${p}: expected one of ${values.map((x) => JSON.stringify(x)).join(", ")}, found ${describe(v)}`;
}

/** @internal */ export function badTag(tag: unknown, p: string, tags: readonly string[]): string {
  return `${p}: expected one of ${tags.map((x) => JSON.stringify(x)).join(", ")}, found ${describe(tag)}`;
}

// ── errors ────────────────────────────────────────────────────────────────────────────────────

/**
 * Codes of errors raised on the client side; server error frames carry the codes of
 * docs/protocol.md (`invalid_payload`, `forbidden`, an application's own …).
 */
export type ClientErrorCode =
  | "timeout" // a request got no answer in time
  | "offline_queue_full" // sent while offline, past the queue's bound
  | "closed" // the client was closed
  | "invalid_frame" // a server frame failed its check; the handler was not called
  | "handler_threw" // an event handler threw; the other handlers still ran
  | "disconnected" // the connection dropped after the request was sent: it may or may not have been handled
  | "invalid_token" // getToken gave something that is not a string
  | "token_failed" // getToken threw (or rejected); the client retries with backoff
  | "protocol"; // the server sent something this client does not understand

/** An error of a request, a check, or a handler. `code` is stable; match on it. */
export class TidingsError extends Error {
  readonly code: string;
  readonly field: string | undefined;
  readonly event: string | undefined;
  override readonly cause: unknown;

  constructor(code: string, message: string, details: { field?: string | undefined; event?: string | undefined; cause?: unknown } = {}) {
    super(message);
    this.name = "TidingsError";
    this.code = code;
    this.field = details.field;
    this.event = details.event;
    this.cause = details.cause;
  }
}

// ── the client ────────────────────────────────────────────────────────────────────────────────

/** The part of the WebSocket API the client uses: the browser's, Node 22's, or the `ws` package. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Reconnection: exponential backoff with full jitter, capped, reset after a stable connection. */
export interface ReconnectOptions {
  /** First delay ceiling, in ms. Default 500. */
  initialDelayMs?: number;
  /** Largest delay ceiling, in ms. Default 30 000. */
  maxDelayMs?: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
  /** A connection open this long resets the backoff. Default 5 000. */
  stableAfterMs?: number;
}

/** Options of `createClient`. */
export interface ClientOptions {
  /** The server's WebSocket URL, e.g. `wss://example.com/ws`. */
  url: string;
  /**
   * Other servers of the same system (nodes behind one backplane): each reconnect tries the next
   * URL in turn, so a client whose server died resumes its stream on another.
   */
  fallbackUrls?: string[];
  /** A fixed token. */
  token?: string;
  /** Called before every connection attempt, for a fresh token. */
  getToken?: () => string | Promise<string>;
  /** The WebSocket constructor; defaults to `globalThis.WebSocket` (browsers, Node >= 22). */
  WebSocket?: WebSocketCtor;
  /** Payload checks by wire name (the generated `guards`). */
  guards?: Guards;
  /** Check server frames before handlers see them. Default true. */
  validate?: boolean;
  /** Reconnection; `false` to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /** Default timeout of `request`, in ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Frames kept while offline; past it `send` throws `offline_queue_full`. Default 100. */
  offlineQueueLimit?: number;
  /** Connect at once (default) or wait for `connect()`. */
  autoConnect?: boolean;
  /**
   * How long a socket may take to open, in ms; past it the attempt is abandoned (a `timeout`
   * error is reported) and the client reconnects with backoff. Default 10 000.
   */
  connectTimeoutMs?: number;
  /**
   * How long the server may take to send `$connected` once the socket is open, in ms; past it,
   * likewise. Default 10 000.
   */
  handshakeTimeoutMs?: number;
  /**
   * Renew the credentials before they expire (`expires_at` of `$connected`): `getToken`, then
   * `$auth`, at 70–80 % of their remaining life, without reconnecting. Default true when
   * `getToken` is given.
   */
  refreshBeforeExpiry?: boolean;
  /**
   * Keeps the resume position (`{ user, tenant, epoch, seq }`) across page reloads: pass
   * `sessionStorage` (one position per tab), or any object with the same `getItem`/`setItem`/
   * `removeItem`. Without it the position lives in memory and a reload starts over.
   */
  storage?: PositionStorage;
  /** The key of the position in `storage`. Default `"tidings.position"`. */
  storageKey?: string;
  /**
   * Logs state changes, attempts and every frame in and out, for development: `true` for
   * `console.debug`, or a function of your own. Off by default. Tokens are never logged.
   */
  debug?: boolean | ((message: string, detail?: unknown) => void);
}

/** Where the resume position is kept across reloads: the Web Storage API's subset. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The connection's state. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** What the server said in `$connected`. */
export interface SessionInfo {
  session: string;
  user: string;
  roles: string[];
  tenant: string | null;
  /** When the credentials expire (RFC 3339), if they do. */
  expiresAt: string | null;
}

/** A request sent and not yet answered. */
export interface PendingRequest {
  cid: number;
  event: string;
  /** Whether it has gone out on the socket (else it waits in the offline queue). */
  sent: boolean;
}

/** The end of a replay: the client has every event it missed. */
export interface CaughtUpInfo {
  /** How many events the server replayed (0 on a fresh connection). */
  replayed: number;
}

/** Facts about a delivered event beside its payload. */
export interface EventMeta {
  /** The event's wire name. */
  type: string;
  /** Unique per emitted event. */
  id: string;
  /** When the server emitted it (RFC 3339). */
  ts: string;
  /** Its number in the user's stream (durable events only). */
  seq: number | undefined;
}

/** Why the app must refetch state: events were missed and cannot be replayed. */
export interface ResyncInfo {
  reason: string;
  epoch: string;
  seq: number;
}

/**
 * A long-running operation of the user, as the server folds it from the user's stream history
 * (the generic `operation:*` events): see `operations()`.
 */
export interface OperationState {
  operation_id: string;
  operation_type: string;
  state: "running" | "complete" | "failed";
  stage?: string;
  percentage: number;
  message?: string;
  result?: unknown;
  refresh_tables?: string[];
  error?: { code: string; message: string; retryable: boolean };
  /** The stream position of the operation's last event. */
  seq: number;
  ts: string;
}

/**
 * The connection as a UI shows it, in one object: a new object on every change of any of its
 * fields, the same object between changes (so it can be compared by identity, as React's
 * `useSyncExternalStore` and Vue's `shallowRef` do).
 */
export interface ConnectionView {
  readonly state: ConnectionState;
  /** As `TidingsClient.reconnectAttempt`: 1, 2, … while reconnecting; 0 once stable. */
  readonly reconnectAttempt: number;
  /** As `TidingsClient.caughtUp`. */
  readonly caughtUp: boolean;
  /** As `TidingsClient.session`. */
  readonly session: SessionInfo | null;
}

/** Holds a client's `ConnectionView` and tells listeners when it changes. */
class ViewCell {
  current: ConnectionView;
  private readonly listeners = new Set<(view: ConnectionView) => void>();
  private readonly read: () => ConnectionView;
  private readonly report: (error: TidingsError) => void;

  constructor(read: () => ConnectionView, report: (error: TidingsError) => void) {
    this.read = read;
    this.report = report;
    this.current = read();
  }

  listen(listener: (view: ConnectionView) => void): () => void {
    return listen(this.listeners, listener);
  }

  /** Reads the client again; a new view, and the listeners told, if anything changed. */
  refresh(): void {
    const next = this.read();
    const now = this.current;
    if (next.state === now.state && next.reconnectAttempt === now.reconnectAttempt && next.caughtUp === now.caughtUp && next.session === now.session) return;
    this.current = Object.freeze(next);
    for (const l of [...this.listeners]) {
      try {
        l(next);
      } catch (e) {
        this.report(new TidingsError("handler_threw", "a connection listener threw", { cause: e }));
      }
    }
  }
}

/** The reply type of client event `K`: declared in `R`, else `null` (an acknowledgement). */
export type ReplyOf<R, K> = K extends keyof R ? R[K] : null;

/** Handlers for several events at once. */
export type HandlerMap<S> = { [K in keyof S & string]?: (data: S[K], meta: EventMeta) => void };

/** A typed client. `S`: events the server sends; `C`: events clients send; `R`: replies. */
export interface TidingsClient<S, C, R> {
  /** The connection's state now. */
  readonly state: ConnectionState;
  /** The session, while connected. */
  readonly session: SessionInfo | null;
  /** The rooms joined (rejoined after each reconnect), as a copy. */
  readonly rooms: ReadonlySet<string>;
  /**
   * The number of the last reconnect attempt: 0 before any, back to 0 once a connection has
   * stayed open `stableAfterMs` (5 s), and after `close()`.
   */
  readonly reconnectAttempt: number;
  /** The requests not yet answered. */
  readonly pendingRequests: readonly PendingRequest[];
  /**
   * Whether the client has every event it missed: false from a drop until the server's
   * replay ends (`$pending_complete`, or `$resync_required`). Show "syncing…" while false.
   */
  readonly caughtUp: boolean;
  /** Calls `listener` when a replay ends (and on every connection that needed none). */
  onCaughtUp(listener: (info: CaughtUpInfo) => void): () => void;
  /** Calls `listener` on every state change; returns an unsubscribe. */
  onState(listener: (state: ConnectionState) => void): () => void;
  /** The state, reconnect attempt, caught-up flag and session now, as one object (see `ConnectionView`). */
  readonly connection: ConnectionView;
  /**
   * Calls `listener` whenever `connection` changes — the state, and also each new reconnect
   * attempt while the state stays `reconnecting`, and catching up; returns an unsubscribe.
   */
  onConnectionChange(listener: (view: ConnectionView) => void): () => void;
  /** Handles an event; returns an unsubscribe. A handler that throws does not stop the others. */
  on<K extends keyof S & string>(event: K, handler: (data: S[K], meta: EventMeta) => void): () => void;
  /** Handles several events; returns one function that unregisters them all. */
  registerHandlers(handlers: HandlerMap<S>): () => void;
  /** Sends an event; queued while offline (throws `offline_queue_full` past the bound). */
  send<K extends keyof C & string>(event: K, data: C[K]): void;
  /** Sends an event and resolves with the server's typed reply, or rejects with a `TidingsError`. */
  request<K extends keyof C & string>(event: K, data: C[K], options?: { timeoutMs?: number }): Promise<ReplyOf<R, K>>;
  /** Joins a room (the server's policy decides); rejoined after every reconnect. */
  join(room: string): Promise<void>;
  /** Leaves a room. */
  leave(room: string): Promise<void>;
  /** Sends a fresh token without reconnecting. */
  refreshToken(token: string): Promise<void>;
  /** The state of the user's operations (for a page that opens mid-operation). */
  operations(): Promise<OperationState[]>;
  /** Called when missed events cannot be replayed: refetch state. */
  onResync(listener: (info: ResyncInfo) => void): () => void;
  /** Called for invalid frames, throwing handlers and server errors without a request. */
  onError(listener: (error: TidingsError) => void): () => void;
  /** Attaches a feature module; returns a function that detaches it. */
  use(module: RealtimeModule<S, C, R>): () => void;
  /** Connects (when created with `autoConnect: false`, or after `close`). */
  connect(): void;
  /**
   * Closes for good: no reconnect; pending requests reject with `closed`. It also ends the
   * identity: the rooms and the resume position are forgotten (also in `storage`), so a later
   * `connect()` — as another user after a logout, say — starts clean. With `{ forget: false }`
   * (a page or component going away, not a logout) the rooms and the position are kept, so a
   * later `connect()`, or a client reading the same `storage`, resumes where this one stopped.
   */
  close(options?: { forget?: boolean }): void;
}

/**
 * A feature module: an app's realtime code for one feature. Subscriptions made with `this.on`
 * inside `onConnect` are released automatically when the connection drops or the module is
 * detached; `onConnect` runs again after every reconnect.
 */
export abstract class RealtimeModule<S, C, R> {
  /** A name for logs. */
  abstract readonly name: string;
  private attached: TidingsClient<S, C, R> | null = null;
  private subscriptions: Array<() => void> = [];

  /** The client, while attached. */
  protected get client(): TidingsClient<S, C, R> {
    if (this.attached === null) throw new TidingsError("closed", `module ${this.name} is not attached to a client`);
    return this.attached;
  }

  /** Runs when the connection opens (every time). */
  protected onConnect(): void {}

  /** Runs when the connection drops, and when the module is detached. */
  protected onDisconnect(): void {}

  /** Handles an event until the connection drops or the module is detached. */
  protected on<K extends keyof S & string>(event: K, handler: (data: S[K], meta: EventMeta) => void): void {
    this.subscriptions.push(this.client.on(event, handler));
  }

  /** @internal */ _attach(client: TidingsClient<S, C, R>): void {
    this.attached = client;
  }

  /** @internal */ _connected(): void {
    this.onConnect();
  }

  /** @internal */ _disconnected(): void {
    const subs = this.subscriptions;
    this.subscriptions = [];
    for (const unsubscribe of subs) unsubscribe();
    this.onDisconnect();
  }

  /** @internal */ _detach(): void {
    this.attached = null;
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: TidingsError) => void;
  timer: ReturnType<typeof setTimeout>;
  event: string;
  /** Gone out on the socket (else waiting in the offline queue). */
  sent: boolean;
}

/** A frame waiting for the connection, with the request it belongs to. */
interface Queued {
  text: string;
  cid: number | undefined;
}

/** What the resume position in storage holds. */
interface StoredPosition {
  user: string;
  tenant: string | null;
  epoch: string;
  seq: number;
}

/** An epoch as the handshake carries it: subprotocol characters but the `.` separator. */
const EPOCH = /^[!#$%&'*+\-^_`|~0-9A-Za-z]+$/;

/** The characters of a subprotocol token (RFC 6455 §4.1, `token` of RFC 7230 §3.2.6). */
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The subprotocol that carries a bearer token: `tidings.bearer.<token>` when the token is made of
 * subprotocol characters (a JWT is), else `tidings.bearer64.<base64url of its UTF-8, unpadded>`
 * (an opaque token with `/`, `+`, `=` …), which the server decodes. docs/protocol.md.
 */
export function bearerSubprotocol(token: string): string {
  if (TOKEN_CHARS.test(token)) return `tidings.bearer.${token}`;
  const bytes = new TextEncoder().encode(token);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `tidings.bearer64.${btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

const OPEN = 1;
/** How many ids of durable events a client remembers, to hand an event over once even when the
 * server numbers it again in a new epoch (the Rust client has the same bound). */
const RECENT_IDS = 1024;

/** Adds `value` to the set of `key` (made on first use); returns its removal (the set dropped once empty). */
function subscribe<K, A extends unknown[]>(map: Map<K, Set<(...args: A) => void>>, key: K, fn: (...args: A) => void): () => void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  const release = listen(set, fn);
  return () => {
    release();
    if (set.size === 0 && map.get(key) === set) map.delete(key);
  };
}

/**
 * Adds `fn` to `set` as an entry of its own — the same function subscribed twice is two
 * subscriptions, and releasing one leaves the other — and returns its release.
 */
function listen<A extends unknown[]>(set: Set<(...args: A) => void>, fn: (...args: A) => void): () => void {
  const entry = (...args: A): void => fn(...args);
  set.add(entry);
  return () => void set.delete(entry);
}

/** `client.on` for every handler of `handlers`; returns one function that removes them all. */
function registerAll<S, C, R>(client: TidingsClient<S, C, R>, handlers: HandlerMap<S>): () => void {
  const offs: Array<() => void> = [];
  for (const event of Object.keys(handlers) as Array<keyof S & string>) {
    const h = handlers[event];
    if (h !== undefined) offs.push(client.on(event, h));
  }
  return () => {
    for (const off of offs) off();
  };
}

/** Creates a client; generated code wraps this with the system's types and guards. */
export function createTidingsClient<S, C, R>(options: ClientOptions): TidingsClient<S, C, R> {
  return new Client<S, C, R>(options);
}

class Client<S, C, R> implements TidingsClient<S, C, R> {
  state: ConnectionState = "idle";
  session: SessionInfo | null = null;
  caughtUp = false;

  private readonly options: ClientOptions;
  private readonly ctor: WebSocketCtor | undefined;
  private readonly log: ((message: string, detail?: unknown) => void) | null;
  private ws: WebSocketLike | null = null;
  private readonly handlers = new Map<string, Set<(data: never, meta: EventMeta) => void>>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private readonly resyncListeners = new Set<(i: ResyncInfo) => void>();
  private readonly errorListeners = new Set<(e: TidingsError) => void>();
  private readonly caughtUpListeners = new Set<(i: CaughtUpInfo) => void>();
  private readonly modules = new Set<RealtimeModule<S, C, R>>();
  private readonly pending = new Map<number, Pending>();
  private readonly joined = new Set<string>();
  // The latest join or leave asked for each room while it is on its way, by number.
  private readonly roomIntents = new Map<string, number>();
  private nextIntent = 1;
  private outbox: Queued[] = [];
  private nextCid = 1;
  private tries = 0;
  private closedByUser = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  // The connect timeout until the socket opens, then the handshake timeout until `$connected`.
  private attemptTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatMs = 0;
  // The delivery stream: the epoch and the last sequence number processed, and whose it is.
  private epoch: string | null = null;
  private lastSeq = 0;
  private identity: { user: string; tenant: string | null } | null = null;
  // The position offered on this connection belonged to another identity: the server's
  // `$resync_required` answering it is no news to this one.
  private foreignResume = false;
  // The ids of the last RECENT_IDS durable events handed over (a Set keeps insertion order):
  // an event numbered again in a new epoch (in flight when the server's store lost its data)
  // is not handed over twice.
  private recentIds = new Set<string>();
  // Which URL the next connection tries (with fallbackUrls).
  private turn = 0;
  // Bumped by close() and by each attempt: an attempt still awaiting getToken when a newer one
  // (or a close) started is abandoned when the token arrives.
  private generation = 0;
  // An attempt is under way (from getToken to the socket's end).
  private opening = false;
  private readonly view = new ViewCell(
    () => ({ state: this.state, reconnectAttempt: this.reconnectAttempt, caughtUp: this.caughtUp, session: this.session }),
    (e) => this.report(e),
  );

  constructor(options: ClientOptions) {
    this.options = options;
    // Looked up here, needed at connect(): a client created where there is none (server-side
    // rendering with `autoConnect: false`) is fine until it connects.
    this.ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    const debug = options.debug;
    this.log =
      debug === true
        ? (message, detail) => console.debug(`[tidings] ${message}`, ...(detail === undefined ? [] : [detail]))
        : typeof debug === "function"
          ? debug
          : null;
    this.restorePosition();
    if (options.autoConnect !== false) this.connect();
  }

  // ── read-only views ──

  get rooms(): ReadonlySet<string> {
    return new Set(this.joined);
  }

  get reconnectAttempt(): number {
    return this.tries;
  }

  get connection(): ConnectionView {
    return this.view.current;
  }

  onConnectionChange(listener: (view: ConnectionView) => void): () => void {
    return this.view.listen(listener);
  }

  get pendingRequests(): readonly PendingRequest[] {
    return [...this.pending].map(([cid, p]) => ({ cid, event: p.event, sent: p.sent }));
  }

  // ── subscriptions ──

  onState(listener: (state: ConnectionState) => void): () => void {
    return listen(this.stateListeners, listener);
  }

  onResync(listener: (info: ResyncInfo) => void): () => void {
    return listen(this.resyncListeners, listener);
  }

  onError(listener: (error: TidingsError) => void): () => void {
    return listen(this.errorListeners, listener);
  }

  onCaughtUp(listener: (info: CaughtUpInfo) => void): () => void {
    return listen(this.caughtUpListeners, listener);
  }

  on<K extends keyof S & string>(event: K, handler: (data: S[K], meta: EventMeta) => void): () => void {
    return subscribe(this.handlers, event, handler as (data: never, meta: EventMeta) => void);
  }

  registerHandlers(handlers: HandlerMap<S>): () => void {
    return registerAll(this, handlers);
  }

  use(module: RealtimeModule<S, C, R>): () => void {
    this.modules.add(module);
    module._attach(this);
    // As when the connection opens later: a throwing onConnect is reported, never thrown.
    if (this.state === "open") this.startModule(module);
    return () => {
      if (!this.modules.delete(module)) return;
      this.stopModule(module);
      module._detach();
    };
  }

  private startModule(m: RealtimeModule<S, C, R>): void {
    try {
      m._connected();
    } catch (e) {
      this.report(new TidingsError("handler_threw", `module ${m.name} threw in onConnect`, { cause: e }));
    }
  }

  // ── sending ──

  send<K extends keyof C & string>(event: K, data: C[K]): void {
    this.transmit(JSON.stringify({ type: event, data }), undefined);
  }

  request<K extends keyof C & string>(event: K, data: C[K], options: { timeoutMs?: number } = {}): Promise<ReplyOf<R, K>> {
    return this.call(event, { type: event, data }, options.timeoutMs) as Promise<ReplyOf<R, K>>;
  }

  async join(room: string): Promise<void> {
    const mine = this.nextIntent++;
    this.roomIntents.set(room, mine);
    try {
      await this.call("$join", { type: "$join", room });
    } catch (e) {
      if (this.roomIntents.get(room) === mine) this.roomIntents.delete(room);
      throw e;
    }
    // A leave (or another join) asked for meanwhile decides: a room left before its join was
    // answered is not rejoined after the next reconnect.
    if (this.roomIntents.get(room) !== mine) return;
    this.roomIntents.delete(room);
    this.joined.add(room);
  }

  async leave(room: string): Promise<void> {
    const mine = this.nextIntent++;
    this.roomIntents.set(room, mine);
    this.joined.delete(room);
    try {
      await this.call("$leave", { type: "$leave", room });
    } finally {
      if (this.roomIntents.get(room) === mine) this.roomIntents.delete(room);
    }
  }

  async refreshToken(token: string): Promise<void> {
    const reply = (await this.call("$auth", { type: "$auth", token })) as { expires_at?: unknown } | null;
    this.credentialsExpire(typeof reply?.expires_at === "string" ? reply.expires_at : null);
  }

  async operations(): Promise<OperationState[]> {
    const reply = (await this.call("$operations", { type: "$operations" })) as { operations?: OperationState[] } | null;
    return reply?.operations ?? [];
  }

  private call(event: string, frame: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    const cid = this.nextCid++;
    const text = JSON.stringify({ ...frame, cid });
    return new Promise<unknown>((resolve, reject) => {
      const ms = timeoutMs ?? this.options.requestTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.pending.delete(cid);
        // A request that timed out while offline is not sent later.
        this.outbox = this.outbox.filter((q) => q.cid !== cid);
        reject(new TidingsError("timeout", `no answer to ${event} within ${ms} ms`, { event }));
      }, ms);
      const pending: Pending = { resolve, reject, timer, event, sent: false };
      this.pending.set(cid, pending);
      try {
        this.transmit(text, cid);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(cid);
        reject(e as TidingsError);
      }
    });
  }

  /** Sends now when open, else queues (in order, bounded). */
  private transmit(text: string, cid: number | undefined): void {
    if (this.state === "closed") throw new TidingsError("closed", "the client is closed");
    if (this.ws !== null && this.ws.readyState === OPEN && this.state === "open") {
      this.write(this.ws, text, cid);
      return;
    }
    const limit = this.options.offlineQueueLimit ?? 100;
    if (this.outbox.length >= limit) {
      throw new TidingsError("offline_queue_full", `offline: ${limit} frames are already waiting to be sent`);
    }
    this.outbox.push({ text, cid });
  }

  private write(ws: WebSocketLike, text: string, cid: number | undefined): void {
    if (this.log !== null) this.log("send", redact(text));
    ws.send(text);
    if (cid !== undefined) {
      const p = this.pending.get(cid);
      if (p !== undefined) p.sent = true;
    }
  }

  // ── connection ──

  connect(): void {
    // One attempt at a time: while one is under way (or open), connect() changes nothing; while
    // waiting out a backoff it tries at once.
    if (this.state === "open" || this.opening) return;
    if (this.ctor === undefined) {
      throw new TidingsError("protocol", "no WebSocket implementation: pass `WebSocket` (e.g. from the `ws` package on Node < 22)");
    }
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.closedByUser = false;
    void this.open();
  }

  close(options: { forget?: boolean } = {}): void {
    this.closedByUser = true;
    this.generation++;
    this.opening = false;
    this.tries = 0;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onclose = null;
      ws.close(1000, "client closed");
    }
    for (const [cid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TidingsError("closed", `the client closed before ${p.event} was answered`, { event: p.event }));
      this.pending.delete(cid);
    }
    this.dropped();
    this.outbox = [];
    // The identity ends here: a later connect() (another user's, after a logout) starts clean.
    if (options.forget !== false) this.forgetIdentity();
    this.setState("closed");
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.opening = true;
    this.setState(this.tries === 0 ? "connecting" : "reconnecting");
    let token = this.options.token;
    if (this.options.getToken !== undefined) {
      const ms = this.options.connectTimeoutMs ?? 10_000;
      let got: unknown;
      let timer: ReturnType<typeof setTimeout> | null = null;
      try {
        // getToken is part of the attempt: bounded by the connect timeout.
        got = await Promise.race([
          Promise.resolve(this.options.getToken()),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new TidingsError("timeout", `getToken did not answer within ${ms} ms`)), ms);
          }),
        ]);
      } catch (e) {
        if (generation !== this.generation) return; // closed (or superseded) meanwhile
        this.opening = false;
        const error = e instanceof TidingsError ? e : new TidingsError("token_failed", `getToken failed: ${String(e)}`, { cause: e });
        this.report(error);
        this.scheduleReconnect();
        return;
      } finally {
        if (timer !== null) clearTimeout(timer);
      }
      // A close() (a logout), or a newer attempt, while the token was being fetched: this
      // attempt is over; its token belongs to whoever asked for it.
      if (generation !== this.generation) return;
      if (typeof got !== "string") {
        // Retrying would give the same: a mistake of the app, said once.
        this.report(new TidingsError("invalid_token", `getToken gave ${typeof got}, not a string; the client stays closed`));
        this.closedByUser = true;
        this.opening = false;
        this.setState("closed");
        return;
      }
      token = got;
    }
    if (this.closedByUser || generation !== this.generation) return;
    const protocols = ["tidings.v1"];
    if (token !== undefined && token !== "") protocols.push(bearerSubprotocol(token));
    // A reconnect resumes the delivery stream where it left off: the server replays what was
    // missed before any live event, then sends $pending_complete (or $resync_required).
    const resuming = this.epoch !== null;
    if (resuming) protocols.push(`tidings.resume.${this.epoch}.${this.lastSeq}`);
    const urls = [this.options.url, ...(this.options.fallbackUrls ?? [])];
    const url = urls[this.turn++ % urls.length] ?? this.options.url;
    this.log?.(`connecting to ${url}`, { attempt: this.tries, resume: resuming ? `${this.epoch}.${this.lastSeq}` : null });
    let ws: WebSocketLike;
    try {
      // connect() made sure there is one.
      ws = new (this.ctor as WebSocketCtor)(url, protocols);
    } catch (e) {
      this.opening = false;
      this.report(new TidingsError("protocol", `cannot open ${url}`, { cause: e }));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.caughtUp = false;
    this.armAttempt(ws, "connect", this.options.connectTimeoutMs ?? 10_000);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.log?.("socket open; waiting for $connected");
      this.armAttempt(ws, "handshake", this.options.handshakeTimeoutMs ?? 10_000);
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.receive(ev.data);
    };
    ws.onerror = () => {
      // A close event follows; reconnection is handled there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.log?.("socket closed", { code: ev.code, reason: ev.reason });
      if (ev.code === 4010) {
        this.report(new TidingsError("protocol", "too many connections for this user; reconnecting later"));
      }
      this.lost(ws);
    };
  }

  /**
   * The connection `ws` is over — closed by the server, timed out, silent, or given up on a gap:
   * its handlers are detached and the client goes on at once (reconnecting, unless closed), not
   * after a close handshake a dead peer would never answer.
   */
  private lost(ws: WebSocketLike, code?: number, reason?: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.opening = false;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (code !== undefined) {
      try {
        ws.close(code, reason);
      } catch {
        // A socket that never opened may refuse to close in some implementations.
      }
    }
    this.dropped();
    if (this.closedByUser || this.options.reconnect === false) {
      this.setState("closed");
      return;
    }
    this.scheduleReconnect();
  }

  /** Bounds one step of an attempt: past `ms`, the socket is dropped and the client retries. */
  private armAttempt(ws: WebSocketLike, step: "connect" | "handshake", ms: number): void {
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = setTimeout(() => {
      this.attemptTimer = null;
      if (this.ws !== ws) return;
      const what = step === "connect" ? "the socket did not open" : "no $connected";
      this.report(new TidingsError("timeout", `${what} within ${ms} ms; reconnecting`));
      this.lost(ws, 4000, `${step} timeout`);
    }, ms);
  }

  private dropped(): void {
    for (const t of [this.watchdog, this.stableTimer, this.attemptTimer, this.refreshTimer]) if (t !== null) clearTimeout(t);
    this.watchdog = this.stableTimer = this.attemptTimer = this.refreshTimer = null;
    const wasOpen = this.session !== null;
    this.session = null;
    // Requests that went out on this socket may or may not have been handled: said at once,
    // not at their timeout. Those still queued go out on the next connection.
    for (const [cid, p] of this.pending) {
      if (!p.sent) continue;
      clearTimeout(p.timer);
      this.pending.delete(cid);
      p.reject(new TidingsError("disconnected", `the connection dropped before ${p.event} was answered`, { event: p.event }));
    }
    this.caughtUp = false;
    if (wasOpen) for (const m of this.modules) this.stopModule(m);
  }

  private stopModule(m: RealtimeModule<S, C, R>): void {
    try {
      m._disconnected();
    } catch (e) {
      this.report(new TidingsError("handler_threw", `module ${m.name} threw in onDisconnect`, { cause: e }));
    }
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect === false ? undefined : this.options.reconnect;
    const base = r?.initialDelayMs ?? 500;
    const cap = r?.maxDelayMs ?? 30_000;
    const factor = r?.factor ?? 2;
    const ceiling = Math.min(cap, base * Math.pow(factor, this.tries));
    const delay = Math.random() * ceiling; // full jitter
    this.tries++;
    this.log?.(`reconnecting in ${Math.round(delay)} ms`, { attempt: this.tries });
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.stableTimer, this.watchdog, this.attemptTimer, this.refreshTimer]) if (t !== null) clearTimeout(t);
    this.reconnectTimer = this.stableTimer = this.watchdog = this.attemptTimer = this.refreshTimer = null;
  }

  private setState(state: ConnectionState): void {
    if (this.state !== state) {
      this.state = state;
      this.log?.(`state ${state}`);
      for (const l of [...this.stateListeners]) {
        try {
          l(state);
        } catch (e) {
          this.report(new TidingsError("handler_threw", "a state listener threw", { cause: e }));
        }
      }
    }
    // Also a new attempt in the same state, a session or caught-up flag changed with it.
    this.view.refresh();
  }

  private report(error: TidingsError): void {
    this.log?.(`error ${error.code}: ${error.message}`);
    for (const l of [...this.errorListeners]) {
      try {
        l(error);
      } catch {
        // An error listener that throws has nowhere left to report to.
      }
    }
  }

  /** Any frame is a sign of life; silence past interval + timeout means the link is dead. */
  private feedWatchdog(): void {
    if (this.heartbeatMs <= 0) return;
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      const ws = this.ws;
      if (ws === null) return;
      this.report(new TidingsError("timeout", `no frame from the server within ${this.heartbeatMs} ms; reconnecting`));
      this.lost(ws, 4000, "heartbeat timeout");
    }, this.heartbeatMs);
  }

  // ── credentials ──

  /** Schedules the renewal of credentials that expire at `expiresAt` (RFC 3339). */
  private credentialsExpire(expiresAt: string | null): void {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (this.session !== null) this.session.expiresAt = expiresAt;
    const getToken = this.options.getToken;
    if (expiresAt === null || getToken === undefined || this.options.refreshBeforeExpiry === false) return;
    const left = Date.parse(expiresAt) - Date.now();
    // Already past on this clock (a clock ahead of the server's): renewing would loop; the
    // server closes at expiry (4001) and the reconnect asks getToken anyway.
    if (!Number.isFinite(left) || left <= 0) return;
    // At 70–80 % of the remaining life: spread, so that tokens issued together are not all
    // renewed in the same second; never sooner than a second from now.
    const delay = Math.max(1_000, left * (0.7 + 0.1 * Math.random()));
    this.log?.(`credentials expire at ${expiresAt}; renewing in ${Math.round(delay)} ms`);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.renew(getToken);
    }, Math.min(delay, 2_147_483_647));
  }

  private async renew(getToken: () => string | Promise<string>): Promise<void> {
    try {
      const token: unknown = await getToken();
      if (typeof token !== "string") throw new TidingsError("invalid_token", `getToken gave ${typeof token}, not a string`);
      await this.refreshToken(token);
      this.log?.("credentials renewed");
    } catch (e) {
      // The server closes at expiry (4001) and the reconnect asks getToken again.
      const error = e instanceof TidingsError ? e : new TidingsError("auth_failed", "renewing the credentials failed", { cause: e });
      this.report(new TidingsError(error.code, `renewing the credentials failed: ${error.message}`, { cause: e }));
    }
  }

  // ── the resume position and whose it is ──

  private restorePosition(): void {
    const storage = this.options.storage;
    if (storage === undefined) return;
    let stored: StoredPosition | null = null;
    try {
      const text = storage.getItem(this.storageKey());
      const v: unknown = text === null ? null : JSON.parse(text);
      const p = v as StoredPosition | null;
      // Only a position the handshake can carry: an epoch of subprotocol characters without
      // the `.` that separates it from the sequence number, and a sequence number >= 0.
      if (
        typeof p === "object" && p !== null &&
        typeof p.user === "string" &&
        typeof p.epoch === "string" && EPOCH.test(p.epoch) &&
        Number.isSafeInteger(p.seq) && p.seq >= 0 &&
        (p.tenant === null || typeof p.tenant === "string")
      ) {
        stored = p;
      } else if (v !== null) {
        this.report(new TidingsError("protocol", "the stored resume position is not one; starting over"));
      }
    } catch (e) {
      this.report(new TidingsError("protocol", "the stored resume position cannot be read; starting over", { cause: e }));
    }
    if (stored === null) return;
    this.identity = { user: stored.user, tenant: stored.tenant };
    this.epoch = stored.epoch;
    this.lastSeq = stored.seq;
  }

  private storageKey(): string {
    return this.options.storageKey ?? "tidings.position";
  }

  private savePosition(): void {
    const storage = this.options.storage;
    if (storage === undefined || this.identity === null || this.epoch === null) return;
    const position: StoredPosition = { ...this.identity, epoch: this.epoch, seq: this.lastSeq };
    try {
      storage.setItem(this.storageKey(), JSON.stringify(position));
    } catch {
      // A full or refused storage: the position stays in memory.
    }
  }

  private forgetIdentity(): void {
    this.identity = null;
    this.epoch = null;
    this.lastSeq = 0;
    this.joined.clear();
    this.roomIntents.clear();
    this.recentIds.clear();
    try {
      this.options.storage?.removeItem(this.storageKey());
    } catch {
      // Nothing to forget.
    }
  }

  private caught(replayed: number): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.foreignResume = false;
    this.log?.(`caught up (${replayed} replayed)`);
    this.view.refresh();
    for (const l of [...this.caughtUpListeners]) {
      try {
        l({ replayed });
      } catch (e) {
        this.report(new TidingsError("handler_threw", "a caught-up listener threw", { cause: e }));
      }
    }
  }

  // ── receiving ──

  private receive(raw: unknown): void {
    this.feedWatchdog();
    if (typeof raw !== "string") {
      this.report(new TidingsError("protocol", "a binary frame arrived; the protocol is JSON text"));
      return;
    }
    if (this.log !== null && raw !== '{"type":"$ping"}') this.log("receive", raw);
    let frame: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      frame = parsed as Record<string, unknown>;
    } catch (e) {
      this.report(new TidingsError("protocol", "a frame is not a JSON object", { cause: e }));
      return;
    }
    const type = frame["type"];
    switch (type) {
      case "$connected":
        return this.connected(frame);
      case "$ping":
        this.ws?.send('{"type":"$pong"}');
        return;
      case "$pong":
        return;
      case "$reply":
        return this.settle(frame, true);
      case "$error":
        if (frame["cid"] !== undefined) return this.settle(frame, false);
        this.report(new TidingsError(String(frame["code"]), String(frame["message"]), optionalField(frame)));
        return;
      case "$pending_complete":
        this.caught(typeof frame["replayed"] === "number" ? frame["replayed"] : 0);
        return this.settle(frame, true);
      case "$resync_required": {
        const info: ResyncInfo = { reason: String(frame["reason"]), epoch: String(frame["epoch"]), seq: Number(frame["seq"]) };
        this.epoch = info.epoch;
        this.lastSeq = info.seq;
        this.savePosition();
        // A position of another identity (a stored one, after a switch of user) is no news to
        // this one: the stream simply starts here.
        if (!this.foreignResume) {
          for (const l of [...this.resyncListeners]) {
            try {
              l(info);
            } catch (e) {
              this.report(new TidingsError("handler_threw", "a resync listener threw", { cause: e }));
            }
          }
        }
        this.caught(0);
        return this.settle(frame, true);
      }
      default:
        if (typeof type === "string" && !type.startsWith("$")) return this.event(type, frame);
        this.report(new TidingsError("protocol", `unknown frame type ${JSON.stringify(type)}`));
    }
  }

  private connected(frame: Record<string, unknown>): void {
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
    const heartbeat = frame["heartbeat"] as { interval_ms?: number; timeout_ms?: number } | undefined;
    this.heartbeatMs = (heartbeat?.interval_ms ?? 25_000) + (heartbeat?.timeout_ms ?? 60_000);
    this.feedWatchdog();
    const session: SessionInfo = {
      session: String(frame["session"]),
      user: String(frame["user"]),
      roles: Array.isArray(frame["roles"]) ? frame["roles"].map(String) : [],
      tenant: typeof frame["tenant"] === "string" ? frame["tenant"] : null,
      expiresAt: typeof frame["expires_at"] === "string" ? frame["expires_at"] : null,
    };
    this.session = session;
    const resume = frame["resume"] as { epoch?: string; seq?: number } | undefined;
    const ws = this.ws;
    if (ws === null) return;
    const offered = this.epoch !== null;
    const same = this.identity !== null && this.identity.user === session.user && this.identity.tenant === session.tenant;
    if (this.identity !== null && !same) {
      // Another user (or tenant) than the position and rooms belong to: they are not this one's.
      this.log?.("a new identity: the previous rooms and position are dropped");
      this.joined.clear();
      this.recentIds.clear();
      this.foreignResume = offered;
      this.epoch = null;
    }
    this.identity = { user: session.user, tenant: session.tenant };
    if (this.epoch === null) {
      // The stream starts here (a reconnect of the same identity resumed in the handshake).
      this.epoch = resume?.epoch ?? null;
      this.lastSeq = resume?.seq ?? 0;
    }
    this.savePosition();
    const stableAfter = (this.options.reconnect === false ? undefined : this.options.reconnect?.stableAfterMs) ?? 5_000;
    this.stableTimer = setTimeout(() => {
      this.tries = 0;
      this.view.refresh();
    }, stableAfter);
    this.credentialsExpire(session.expiresAt);
    // In order: the rooms, then everything queued before the connection opened, and only then
    // `open` — so a listener's sends follow the queue.
    for (const room of this.joined) this.write(ws, JSON.stringify({ type: "$join", room }), undefined);
    const queued = this.outbox;
    this.outbox = [];
    for (const q of queued) this.write(ws, q.text, q.cid);
    this.opening = false;
    this.setState("open");
    for (const m of this.modules) this.startModule(m);
    if (!offered) this.caught(0);
  }

  private settle(frame: Record<string, unknown>, ok: boolean): void {
    const cid = frame["cid"];
    if (typeof cid !== "number") return;
    const p = this.pending.get(cid);
    if (p === undefined) return;
    this.pending.delete(cid);
    clearTimeout(p.timer);
    if (ok) {
      p.resolve(frame["type"] === "$reply" ? (frame["data"] ?? null) : frame);
    } else {
      p.reject(new TidingsError(String(frame["code"]), String(frame["message"]), { ...optionalField(frame), event: p.event }));
    }
  }

  private event(type: string, frame: Record<string, unknown>): void {
    const seq = typeof frame["seq"] === "number" ? frame["seq"] : undefined;
    if (seq !== undefined) {
      // Durable: process each sequence number once, in order.
      if (seq <= this.lastSeq) return;
      if (this.epoch !== null && seq > this.lastSeq + 1) {
        // The server never skips a number on a connection; were it to, reconnecting resumes
        // from the last one processed, so the gap is filled by replay (or a resync) instead.
        this.report(new TidingsError("protocol", `gap in the delivery stream after ${this.lastSeq} (got ${seq}); resuming`));
        if (this.ws !== null) this.lost(this.ws, 4000, "gap in the delivery stream");
        return;
      }
      this.lastSeq = seq;
      this.savePosition();
      const id = typeof frame["id"] === "string" ? frame["id"] : "";
      if (id !== "") {
        if (this.recentIds.has(id)) return;
        this.recentIds.add(id);
        if (this.recentIds.size > RECENT_IDS) {
          const oldest = this.recentIds.values().next();
          if (oldest.done !== true) this.recentIds.delete(oldest.value);
        }
      }
    }
    const data = frame["data"];
    if (this.options.validate !== false) {
      const guard = this.options.guards?.[type];
      const problem = guard === undefined ? null : guard(data, "data");
      if (problem !== null) {
        this.report(new TidingsError("invalid_frame", `${type}: ${problem}`, { event: type }));
        return;
      }
    }
    const set = this.handlers.get(type);
    if (set === undefined) return;
    const meta: EventMeta = { type, id: String(frame["id"]), ts: String(frame["ts"]), seq };
    for (const h of [...set]) {
      try {
        h(data as never, meta);
      } catch (e) {
        this.report(new TidingsError("handler_threw", `a handler of ${type} threw: ${String(e)}`, { event: type, cause: e }));
      }
    }
  }
}

/** A frame as logged: a token in it (`$auth`) is replaced. */
function redact(text: string): string {
  return text.includes('"token"') ? text.replace(/("token"\s*:\s*)"(?:[^"\\]|\\.)*"/g, '$1"<redacted>"') : text;
}

function optionalField(frame: Record<string, unknown>): { field?: string } {
  return typeof frame["field"] === "string" ? { field: frame["field"] } : {};
}

// ── operations UI: framework-neutral ──────────────────────────────────────────────────────────

/** The wire names of the generic operation events (schemas/operation.toml). */
export const OPERATION_EVENTS = {
  progress: "operation:progress",
  complete: "operation:complete",
  error: "operation:error",
} as const;

/** Where an operation is: its first event (`started`), a later one, or its end. */
export type OperationPhase = "started" | "progress" | "complete" | "failed";

/** One change of one of the user's operations, as `onOperation` reports it. */
export interface OperationUpdate {
  phase: OperationPhase;
  operation_id: string;
  operation_type: string;
  /** 0–100; 100 once complete. */
  percentage: number;
  stage?: string;
  message?: string;
  /** On `complete`: the tables whose client-side caches are now stale (see `refresh`). */
  refresh_tables: string[];
  /** On `complete`: what the operation produced. */
  result?: unknown;
  /** On `failed`: why. */
  error?: { code: string; message: string; retryable: boolean };
}

/** How many operations `onOperation` follows at once; the oldest are forgotten past it. */
const TRACKED_OPERATIONS = 1_000;

type AnyClient = TidingsClient<Record<string, unknown>, Record<string, unknown>, Record<string, unknown>>;

/** Who the client's session is (user and tenant), or null without one. */
function identityOf<S, C, R>(client: TidingsClient<S, C, R>): string | null {
  const s = client.session;
  return s === null ? null : JSON.stringify([s.user, s.tenant]);
}

/**
 * Calls `fn` for every change of the user's operations: `started` (the first event of an
 * operation), `progress`, `complete` (with `refresh_tables`) and `failed`. Operations that began
 * before the page opened, or changed while the connection was down, are reported when the
 * connection opens (from `client.operations()`): running ones as `started`, and the end of those
 * followed already. Returns a function that stops it.
 */
export function onOperation<S, C, R>(client: TidingsClient<S, C, R>, fn: (update: OperationUpdate) => void): () => void {
  const c = client as unknown as AnyClient;
  // Followed operations, by id, in the order first seen (a Map keeps insertion order).
  const followed = new Map<string, number>();
  const follow = (id: string, percentage: number): boolean => {
    const known = followed.has(id);
    followed.set(id, percentage);
    if (followed.size > TRACKED_OPERATIONS) {
      const oldest = followed.keys().next();
      if (oldest.done !== true) followed.delete(oldest.value);
    }
    return known;
  };
  const call = (u: OperationUpdate): void => {
    try {
      fn(u);
    } catch (e) {
      console.error("an onOperation callback threw", e);
    }
  };
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const base = (d: Record<string, unknown>) => {
    const stage = str(d["stage"]);
    const message = str(d["message"]);
    return {
      operation_id: String(d["operation_id"]),
      operation_type: String(d["operation_type"]),
      ...(stage === undefined ? {} : { stage }),
      ...(message === undefined ? {} : { message }),
    };
  };
  const offs = [
    c.on(OPERATION_EVENTS.progress, (data) => {
      const d = data as Record<string, unknown>;
      const percentage = typeof d["percentage"] === "number" ? d["percentage"] : 0;
      const known = follow(String(d["operation_id"]), percentage);
      call({ ...base(d), phase: known ? "progress" : "started", percentage, refresh_tables: [] });
    }),
    c.on(OPERATION_EVENTS.complete, (data) => {
      const d = data as Record<string, unknown>;
      followed.delete(String(d["operation_id"]));
      const tables = Array.isArray(d["refresh_tables"]) ? d["refresh_tables"].map(String) : [];
      call({ ...base(d), phase: "complete", percentage: 100, refresh_tables: tables, result: d["result"] });
    }),
    c.on(OPERATION_EVENTS.error, (data) => {
      const d = data as Record<string, unknown>;
      const id = String(d["operation_id"]);
      const percentage = followed.get(id) ?? 0;
      followed.delete(id);
      const e = (d["error"] ?? {}) as Record<string, unknown>;
      const error = { code: String(e["code"]), message: String(e["message"] ?? ""), retryable: e["retryable"] === true };
      call({ ...base(d), phase: "failed", percentage, refresh_tables: [], error });
    }),
  ];
  // On every connection: what is running now, and what ended while the client was away.
  const catchUp = (): void => {
    c.operations().then(
      (states) => {
        for (const s of states) {
          const tracked = followed.has(s.operation_id);
          const common = {
            operation_id: s.operation_id,
            operation_type: s.operation_type,
            ...(s.stage === undefined ? {} : { stage: s.stage }),
            ...(s.message === undefined ? {} : { message: s.message }),
          };
          if (s.state === "running" && !tracked) {
            follow(s.operation_id, s.percentage);
            call({ ...common, phase: "started", percentage: s.percentage, refresh_tables: [] });
          } else if (s.state === "complete" && tracked) {
            followed.delete(s.operation_id);
            call({ ...common, phase: "complete", percentage: 100, refresh_tables: s.refresh_tables ?? [], result: s.result });
          } else if (s.state === "failed" && tracked) {
            followed.delete(s.operation_id);
            const error = s.error ?? { code: "failed", message: "", retryable: false };
            call({ ...common, phase: "failed", percentage: s.percentage, refresh_tables: [], error });
          }
        }
      },
      () => {
        // Offline again, or a server without operations: the events still come.
      },
    );
  };
  let identity = identityOf(c);
  offs.push(
    c.onState((state) => {
      if (state === "open") {
        // Another user on this client (a token that names someone else): their operations are news.
        const now = identityOf(c);
        if (now !== identity) followed.clear();
        identity = now;
        catchUp();
      }
      // A logout: what the next connection reports (maybe as the same user) starts over.
      else if (state === "closed") followed.clear();
    }),
  );
  if (c.state === "open") catchUp();
  return () => {
    for (const off of offs) off();
  };
}

// A page-wide bus of table refreshes (the seed apps' `table-refresh:<table>`).
const refreshListeners = new Map<string, Set<() => void>>();

/** Tells every `onRefresh(table, …)` of this page that `table` is stale. Callable from anywhere. */
export function refresh(table: string): void {
  for (const fn of [...(refreshListeners.get(table) ?? [])]) {
    try {
      fn();
    } catch (e) {
      console.error(`a refresh listener of ${table} threw`, e);
    }
  }
}

/** Calls `fn` whenever `table` is refreshed; returns an unsubscribe. */
export function onRefresh(table: string, fn: () => void): () => void {
  return subscribe(refreshListeners, table, fn);
}

// The clients whose completions refresh tables, with how many callers asked for it.
const completions = new WeakMap<object, { users: number; stop: () => void }>();

/**
 * Refreshes the tables of every operation of the user that completes (`refresh_tables`), so
 * that `onRefresh` listeners (a table on screen) reload. Callers for one client share one
 * subscription: each table is refreshed once per completion however many asked. Returns a
 * function that stops it (for this caller; the last one's stop ends the subscription).
 */
export function refreshOnComplete<S, C, R>(client: TidingsClient<S, C, R>): () => void {
  let entry = completions.get(client);
  if (entry === undefined) {
    // On the client's one operations feed (`operationsOf`): no request of its own.
    const stop = listen(operationsState(client).updates, (u: OperationUpdate) => {
      if (u.phase === "complete") for (const table of u.refresh_tables) refresh(table);
    });
    entry = { users: 0, stop };
    completions.set(client, entry);
  }
  const mine = entry;
  mine.users++;
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--mine.users === 0) {
      mine.stop();
      if (completions.get(client) === mine) completions.delete(client);
    }
  };
}

// ── the operations of a client, as a list a UI renders ────────────────────────────────────────

/** How many operations `operationsOf` keeps; past it, ended ones are forgotten first, oldest first. */
const OPERATIONS_IN_VIEW = 100;

/**
 * The user's operations as a UI shows them: the latest update of each (running, complete or
 * failed), in the order they were first seen. Ended operations stay until `dismiss`ed (a toast's
 * close button) or the client closes (a logout).
 */
export interface OperationsView {
  /** The list now: a new array on every change, the same array between changes. */
  readonly operations: readonly OperationUpdate[];
  /** The latest update of one operation, if it is in the list. */
  get(operationId: string): OperationUpdate | undefined;
  /** Calls `listener` on every change of the list; returns an unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Removes an operation from the list (an ended one, usually). */
  dismiss(operationId: string): void;
}

/** One `onOperation` per client, shared: the list, and the updates as they come. */
interface Operations {
  view: OperationsView;
  updates: Set<(update: OperationUpdate) => void>;
}

const operationStates = new WeakMap<object, Operations>();

/**
 * The operations of `client`'s user, kept up to date from `onOperation` (so including those that
 * began before the page opened). One view per client, shared by every caller; it follows the
 * client from the first call for the client's lifetime (the React provider and the Vue plugin
 * call it at once, so a list mounted later still shows what ended meanwhile), and is emptied
 * when the client closes or its session becomes another user's.
 */
export function operationsOf<S, C, R>(client: TidingsClient<S, C, R>): OperationsView {
  return operationsState(client).view;
}

function operationsState<S, C, R>(client: TidingsClient<S, C, R>): Operations {
  const known = operationStates.get(client);
  if (known !== undefined) return known;
  const updates = new Set<(update: OperationUpdate) => void>();
  let list: readonly OperationUpdate[] = [];
  const listeners = new Set<() => void>();
  const set = (next: readonly OperationUpdate[]): void => {
    list = Object.freeze(next);
    for (const l of [...listeners]) {
      try {
        l();
      } catch (e) {
        console.error("an operations listener threw", e);
      }
    }
  };
  const view: OperationsView = {
    get operations() {
      return list;
    },
    get: (id) => list.find((u) => u.operation_id === id),
    subscribe: (listener) => listen(listeners, listener),
    dismiss: (id) => {
      if (list.some((u) => u.operation_id === id)) set(list.filter((u) => u.operation_id !== id));
    },
  };
  let identity = identityOf(client);
  client.onState((state) => {
    const now = identityOf(client);
    if ((state === "closed" || (state === "open" && now !== identity)) && list.length > 0) set([]);
    if (state === "open") identity = now;
  });
  onOperation(client, (update) => {
    const at = list.findIndex((u) => u.operation_id === update.operation_id);
    const next = at >= 0 ? list.map((u, i) => (i === at ? update : u)) : [...list, update];
    while (next.length > OPERATIONS_IN_VIEW) {
      const ended = next.findIndex((u) => u.phase === "complete" || u.phase === "failed");
      next.splice(ended >= 0 ? ended : 0, 1);
    }
    set(next);
    for (const l of [...updates]) {
      try {
        l(update);
      } catch (e) {
        console.error("an operations listener threw", e);
      }
    }
  });
  const state = { view, updates };
  operationStates.set(client, state);
  return state;
}

// ── rooms held by the components that show them ──────────────────────────────────────────────

/** Where a held room is: see `holdRoom`. */
export type RoomStatus = "idle" | "joining" | "joined" | "failed";

/** A held room's status, and why it failed. */
export interface RoomView {
  readonly status: RoomStatus;
  /** The server's refusal (`forbidden`, `too_many_rooms`, …) when `failed`. */
  readonly error: TidingsError | undefined;
}

interface RoomHold {
  view: RoomView;
  readonly holders: Set<(view: RoomView) => void>;
  /** Bumped by every join started and by a logout: only the latest join's answer counts. */
  generation: number;
  /** A join is on its way. */
  inFlight: boolean;
  /** The last holder let go; the leave goes out unless someone holds it again first. */
  releasing: boolean;
}

const roomHolds = new WeakMap<object, { rooms: Map<string, RoomHold>; stop: () => void }>();

const asError = (e: unknown): TidingsError => (e instanceof TidingsError ? e : new TidingsError("protocol", String(e), { cause: e }));

function setRoomView(hold: RoomHold, view: RoomView): void {
  if (hold.view.status === view.status && hold.view.error === view.error) return;
  hold.view = Object.freeze(view);
  for (const l of [...hold.holders]) {
    try {
      l(hold.view);
    } catch (e) {
      console.error("a room listener threw", e);
    }
  }
}

/** Errors after which a join is tried again when the connection (re)opens, rather than failed. */
const JOIN_RETRIED: ReadonlySet<string> = new Set(["disconnected", "closed", "timeout", "offline_queue_full"]);

function joinHeld<S, C, R>(client: TidingsClient<S, C, R>, room: string, hold: RoomHold): void {
  setRoomView(hold, { status: "joining", error: undefined });
  // Not connected (idle, connecting, reconnecting, logged out): joined when the connection
  // opens (see the state listener of holdRoom) — not queued, where it could time out.
  if (client.state !== "open") return;
  const mine = ++hold.generation;
  hold.inFlight = true;
  client.join(room).then(
    () => {
      if (mine !== hold.generation) return;
      hold.inFlight = false;
      setRoomView(hold, { status: "joined", error: undefined });
    },
    (e: unknown) => {
      if (mine !== hold.generation) return;
      hold.inFlight = false;
      const error = asError(e);
      // Cut off (a drop, a logout, no answer in time), not refused: joined again at the next open.
      if (JOIN_RETRIED.has(error.code)) return;
      setRoomView(hold, { status: "failed", error });
    },
  );
}

/**
 * Holds `room` on behalf of one holder — a component that shows it. The room is joined while
 * anyone holds it and left when the last holder lets go (a release followed at once by a new
 * hold, as React's StrictMode does, sends nothing), so two components showing one chat share
 * one membership. `listener` gets the room's status at once and on every change: `joining` until
 * the server agrees (also while not connected, or when a join was cut off by a drop or got no
 * answer: it is joined again when the connection opens), `joined` (a reconnect rejoins it, also
 * after the session became another user's), or `failed` with the server's refusal. Returns the
 * release (call it once).
 */
export function holdRoom<S, C, R>(client: TidingsClient<S, C, R>, room: string, listener: (view: RoomView) => void): () => void {
  let held = roomHolds.get(client);
  if (held === undefined) {
    const rooms = new Map<string, RoomHold>();
    const stop = client.onState((state) => {
      for (const [name, hold] of rooms) {
        if (state === "closed") {
          // A logout forgets the client's rooms: pending answers no longer count.
          hold.generation++;
          hold.inFlight = false;
          setRoomView(hold, { status: "joining", error: undefined });
        } else if (state === "open" && !hold.inFlight && !hold.releasing) {
          // Waiting to be joined; or joined, but no longer among the client's rooms (the
          // session became another user's, whose rooms these are not yet).
          const lost = hold.view.status === "joined" && !client.rooms.has(name);
          if (hold.view.status === "joining" || lost) joinHeld(client, name, hold);
        }
      }
    });
    held = { rooms, stop };
    roomHolds.set(client, held);
  }
  const state = held;
  let hold = state.rooms.get(room);
  if (hold === undefined) {
    hold = { view: { status: "joining", error: undefined }, holders: new Set(), generation: 0, inFlight: false, releasing: false };
    state.rooms.set(room, hold);
    joinHeld(client, room, hold);
  }
  const mine = hold;
  mine.releasing = false;
  // One entry per call, even for the same listener function.
  const release = listen(mine.holders, listener);
  listener(mine.view);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
    if (mine.holders.size > 0) return;
    mine.releasing = true;
    queueMicrotask(() => {
      if (!mine.releasing || mine.holders.size > 0) return;
      mine.generation++;
      state.rooms.delete(room);
      client.leave(room).catch(() => undefined);
      if (state.rooms.size === 0 && roomHolds.get(client) === state) {
        state.stop();
        roomHolds.delete(client);
      }
    });
  };
}

// ── a request as UI state ─────────────────────────────────────────────────────────────────────

/** Where a request a UI made is. */
export interface RequestState<T> {
  /** A request is on its way (the latest one). */
  readonly pending: boolean;
  /** The latest answered request's reply (kept while a newer one is pending). */
  readonly result: T | undefined;
  /** Why the latest request failed (`TidingsError.code`: `timeout`, `disconnected`, the server's code …). */
  readonly error: TidingsError | undefined;
}

/**
 * A typed request as UI state, for the framework adapters (`useTidingsRequest`): `run` sends and
 * moves `state` from pending to the result or the error. Only the latest run counts: the answer
 * to an earlier one, or to any run before `reset`, changes nothing.
 */
export class RequestCell<T> {
  /** The state now: a new object on every change. */
  state: RequestState<T> = Object.freeze({ pending: false, result: undefined, error: undefined });
  private latest = 0;
  private readonly listeners = new Set<() => void>();

  /** Calls `listener` on every change of `state`; returns an unsubscribe. */
  readonly subscribe = (listener: () => void): (() => void) => listen(this.listeners, listener);

  /** Sends with `send` (a `client.request(…)`); resolves with the reply, or rejects with a `TidingsError`. */
  run(send: () => Promise<T>): Promise<T> {
    const mine = ++this.latest;
    this.set({ ...this.state, pending: true, error: undefined });
    let sent: Promise<T>;
    try {
      sent = send();
    } catch (e) {
      sent = Promise.reject(e);
    }
    return sent.then(
      (result) => {
        if (mine === this.latest) this.set({ pending: false, result, error: undefined });
        return result;
      },
      (e: unknown) => {
        const error = asError(e);
        if (mine === this.latest) this.set({ pending: false, result: this.state.result, error });
        throw error;
      },
    );
  }

  /** Back to no request, no result and no error; answers of the runs so far no longer count. */
  reset(): void {
    this.latest++;
    if (this.state.pending || this.state.result !== undefined || this.state.error !== undefined) {
      this.set({ pending: false, result: undefined, error: undefined });
    }
  }

  private set(next: RequestState<T>): void {
    this.state = Object.freeze(next);
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        console.error("a request listener threw", e);
      }
    }
  }
}

// ── feature modules, loaded once and attached to a client ─────────────────────────────────────

/** A feature module, or how to load one (`() => import("./chat.js")` — a module's default export). */
export type ModuleEntry<S, C, R> =
  | RealtimeModule<S, C, R>
  | {
      /** A name for reports, before the module is loaded. */
      name: string;
      load: () => RealtimeModule<S, C, R> | Promise<RealtimeModule<S, C, R> | { default: RealtimeModule<S, C, R> }>;
    };

/** A module that could not be loaded, and why. */
export interface ModuleFailure {
  name: string;
  error: unknown;
}

/** What `registerModules` did: the modules attached and those skipped. */
export interface ModuleReport {
  /** The names of the modules attached, in the order of the entries. */
  loaded: string[];
  failed: ModuleFailure[];
}

/** Modules attached by `registerModules`. */
export interface ModuleRegistry {
  /** Settles once every entry is loaded or has failed; never rejects. */
  readonly ready: Promise<ModuleReport>;
  /** Detaches every module (each runs `onDisconnect`); entries still loading are not attached. */
  detach(): void;
}

/**
 * The module registry: loads every entry (side by side), then attaches the loaded modules to
 * `client` in the order of `entries` with `client.use` — each is initialized on every connect
 * (`onConnect`) and cleaned up on every disconnect (`onDisconnect`, which `RealtimeModule` also
 * runs when the module is detached). An entry that fails to load (its `load` throws or rejects,
 * or gives no `RealtimeModule`), or whose name another entry of `entries` took already, is
 * skipped and reported to `onFailure` (default `console.error`) and in `ready`; the others are
 * attached all the same. A module that throws in `onConnect` is reported by the client
 * (`onError`, `handler_threw`) and stays attached.
 */
export function registerModules<S, C, R>(
  client: TidingsClient<S, C, R>,
  entries: ReadonlyArray<ModuleEntry<S, C, R>>,
  options: { onFailure?: (failure: ModuleFailure) => void } = {},
): ModuleRegistry {
  const onFailure = options.onFailure ?? ((f: ModuleFailure) => console.error(`tidings: module ${f.name} was skipped`, f.error));
  let detached = false;
  const detachers: Array<() => void> = [];
  const loadOne = async (entry: ModuleEntry<S, C, R>): Promise<RealtimeModule<S, C, R>> => {
    if (entry instanceof RealtimeModule) return entry;
    const got = await entry.load();
    const module = got instanceof RealtimeModule ? got : (got as { default?: unknown } | null)?.default;
    if (!(module instanceof RealtimeModule)) throw new TypeError(`${entry.name}: load() gave no RealtimeModule`);
    return module as RealtimeModule<S, C, R>;
  };
  const nameOf = (entry: ModuleEntry<S, C, R>): string => entry.name;
  const ready = Promise.allSettled(entries.map(loadOne)).then((results) => {
    const report: ModuleReport = { loaded: [], failed: [] };
    const names = new Set<string>();
    results.forEach((r, i) => {
      const name = nameOf(entries[i] as ModuleEntry<S, C, R>);
      let failure: ModuleFailure | null = null;
      if (r.status === "rejected") failure = { name, error: r.reason };
      else if (names.has(r.value.name)) failure = { name, error: new Error(`a module named ${r.value.name} is registered already`) };
      if (failure !== null) {
        report.failed.push(failure);
        try {
          onFailure(failure);
        } catch (e) {
          console.error("an onFailure callback threw", e);
        }
        return;
      }
      if (r.status !== "fulfilled") return;
      names.add(r.value.name);
      report.loaded.push(r.value.name);
      if (!detached) detachers.push(client.use(r.value));
    });
    return report;
  });
  return {
    ready,
    detach: () => {
      detached = true;
      for (const d of detachers.splice(0)) d();
    },
  };
}

// ── a fake client, for an app's own tests ─────────────────────────────────────────────────────

/** A client with no socket, for testing an app: push typed server events, move the state, answer requests. */
export interface FakeClient<S, C, R> extends TidingsClient<S, C, R> {
  /** Delivers a server event to the handlers as if it had arrived (checked by the guards, as a real one would be). */
  push<K extends keyof S & string>(event: K, data: S[K], meta?: Partial<EventMeta>): void;
  /**
   * Moves the connection to `state`: state listeners and modules see it as they would a real one.
   * Each `"reconnecting"` counts one more reconnect attempt (also when already reconnecting).
   */
  setState(state: ConnectionState): void;
  /** Every event and request the app sent, in order. */
  readonly sent: ReadonlyArray<{ event: string; data: unknown }>;
  /** Answers requests of `event` with what `answer` returns (or rejects with what it throws). Unanswered requests stay pending. */
  answer<K extends keyof C & string>(event: K, answer: (data: C[K]) => ReplyOf<R, K> | Promise<ReplyOf<R, K>>): void;
  /** Reports a resync to `onResync` listeners. */
  resync(info?: Partial<ResyncInfo>): void;
  /** Reports the end of a replay to `onCaughtUp` listeners. */
  catchUp(replayed?: number): void;
  /** What `operations()` answers. */
  setOperations(states: OperationState[]): void;
}

/**
 * Creates a fake client: the whole client API, in memory. It starts `idle` (`setState("open")`
 * to connect it, which also runs modules' `onConnect`); `join`, `leave` and `refreshToken`
 * succeed at once; `request` resolves with what `answer` says for its event.
 */
export function createFakeTidingsClient<S, C, R>(options: FakeClientOptions = {}): FakeClient<S, C, R> {
  return new Fake<S, C, R>(options);
}

/** Options of a fake client. */
export interface FakeClientOptions {
  /** Payload checks by wire name (the generated `guards`; `createFakeClient` passes them). */
  guards?: Guards;
  /** The session `setState("open")` reports. */
  session?: Partial<SessionInfo>;
  /**
   * Unanswered requests reject with `timeout` after this many ms (or their own `timeoutMs`), as
   * a real client's do. Default: they wait for ever (no timer keeps a test's process alive).
   */
  requestTimeoutMs?: number;
}

class Fake<S, C, R> implements FakeClient<S, C, R> {
  state: ConnectionState = "idle";
  session: SessionInfo | null = null;
  caughtUp = false;
  reconnectAttempt = 0;
  readonly sent: Array<{ event: string; data: unknown }> = [];
  private readonly joined = new Set<string>();
  private readonly handlers = new Map<string, Set<(data: never, meta: EventMeta) => void>>();
  private readonly listeners = {
    state: new Set<(s: ConnectionState) => void>(),
    resync: new Set<(i: ResyncInfo) => void>(),
    error: new Set<(e: TidingsError) => void>(),
    caughtUp: new Set<(i: CaughtUpInfo) => void>(),
  };
  private readonly modules = new Set<RealtimeModule<S, C, R>>();
  private readonly answers = new Map<string, (data: never) => unknown>();
  private readonly waiting: Array<PendingRequest & { reject(error: TidingsError): void; timer: ReturnType<typeof setTimeout> | null }> = [];
  private readonly options: FakeClientOptions;
  private states: OperationState[] = [];
  private nextCid = 1;
  private nextId = 1;
  private readonly view = new ViewCell(
    () => ({ state: this.state, reconnectAttempt: this.reconnectAttempt, caughtUp: this.caughtUp, session: this.session }),
    (e) => this.report(e),
  );

  constructor(options: FakeClientOptions) {
    this.options = options;
  }

  get connection(): ConnectionView {
    return this.view.current;
  }

  onConnectionChange(listener: (view: ConnectionView) => void): () => void {
    return this.view.listen(listener);
  }

  get rooms(): ReadonlySet<string> {
    return new Set(this.joined);
  }

  get pendingRequests(): readonly PendingRequest[] {
    return this.waiting.map(({ cid, event, sent }) => ({ cid, event, sent }));
  }

  /** Rejects the pending requests `which` selects, as a real client does at a drop or a close. */
  private rejectPending(which: (p: PendingRequest) => boolean, error: (event: string) => TidingsError): void {
    for (const p of this.waiting.filter(which)) {
      this.waiting.splice(this.waiting.indexOf(p), 1);
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(error(p.event));
    }
  }

  private emit<T>(set: Set<(v: T) => void>, value: T, what: string): void {
    for (const l of [...set]) {
      try {
        l(value);
      } catch (e) {
        this.report(new TidingsError("handler_threw", `a ${what} listener threw`, { cause: e }));
      }
    }
  }

  private report(error: TidingsError): void {
    for (const l of [...this.listeners.error]) {
      try {
        l(error);
      } catch {
        // Nowhere left to report to.
      }
    }
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    return listen(this.listeners.state, listener);
  }

  onResync(listener: (info: ResyncInfo) => void): () => void {
    return listen(this.listeners.resync, listener);
  }

  onError(listener: (error: TidingsError) => void): () => void {
    return listen(this.listeners.error, listener);
  }

  onCaughtUp(listener: (info: CaughtUpInfo) => void): () => void {
    return listen(this.listeners.caughtUp, listener);
  }

  on<K extends keyof S & string>(event: K, handler: (data: S[K], meta: EventMeta) => void): () => void {
    return subscribe(this.handlers, event, handler as (data: never, meta: EventMeta) => void);
  }

  registerHandlers(handlers: HandlerMap<S>): () => void {
    return registerAll(this, handlers);
  }

  use(module: RealtimeModule<S, C, R>): () => void {
    this.modules.add(module);
    module._attach(this);
    if (this.state === "open") this.run(() => module._connected(), `module ${module.name} threw in onConnect`);
    return () => {
      if (!this.modules.delete(module)) return;
      this.run(() => module._disconnected(), `module ${module.name} threw in onDisconnect`);
      module._detach();
    };
  }

  private run(f: () => void, what: string): void {
    try {
      f();
    } catch (e) {
      this.report(new TidingsError("handler_threw", what, { cause: e }));
    }
  }

  send<K extends keyof C & string>(event: K, data: C[K]): void {
    if (this.state === "closed") throw new TidingsError("closed", "the client is closed");
    this.sent.push({ event, data });
  }

  request<K extends keyof C & string>(event: K, data: C[K], options: { timeoutMs?: number } = {}): Promise<ReplyOf<R, K>> {
    try {
      this.send(event, data);
    } catch (e) {
      // As a real client: a refused request is a rejected promise, not a throw.
      return Promise.reject(e);
    }
    return new Promise<ReplyOf<R, K>>((resolve, reject) => {
      const pending = { cid: this.nextCid++, event, sent: this.state === "open", reject, timer: null as ReturnType<typeof setTimeout> | null };
      this.waiting.push(pending);
      const settled = (): boolean => {
        const at = this.waiting.indexOf(pending);
        if (at < 0) return false; // rejected already (a drop, a close, the timeout)
        this.waiting.splice(at, 1);
        if (pending.timer !== null) clearTimeout(pending.timer);
        return true;
      };
      const ms = options.timeoutMs ?? this.options.requestTimeoutMs;
      if (ms !== undefined) {
        pending.timer = setTimeout(() => {
          if (settled()) reject(new TidingsError("timeout", `no answer to ${event} within ${ms} ms`, { event }));
        }, ms);
      }
      const answer = this.answers.get(event);
      if (answer === undefined) return;
      Promise.resolve()
        .then(() => answer(data as never) as ReplyOf<R, K>)
        .then(
          (reply) => settled() && resolve(reply),
          (e: unknown) => settled() && reject(e),
        );
    });
  }

  async join(room: string): Promise<void> {
    if (this.state === "closed") throw new TidingsError("closed", "the client is closed");
    this.joined.add(room);
  }

  async leave(room: string): Promise<void> {
    this.joined.delete(room);
    if (this.state === "closed") throw new TidingsError("closed", "the client is closed");
  }

  async refreshToken(): Promise<void> {}

  async operations(): Promise<OperationState[]> {
    return [...this.states];
  }

  connect(): void {
    if (this.state !== "open") this.setState("open");
  }

  close(options: { forget?: boolean } = {}): void {
    this.rejectPending(
      () => true,
      (event) => new TidingsError("closed", `the client closed before ${event} was answered`, { event }),
    );
    this.reconnectAttempt = 0;
    this.setState("closed");
    if (options.forget !== false) this.joined.clear();
  }

  push<K extends keyof S & string>(event: K, data: S[K], meta: Partial<EventMeta> = {}): void {
    const guard = this.options.guards?.[event];
    const problem = guard === undefined ? null : guard(data, "data");
    if (problem !== null) {
      this.report(new TidingsError("invalid_frame", `${event}: ${problem}`, { event }));
      return;
    }
    const full: EventMeta = { type: event, id: `fake-${this.nextId++}`, ts: new Date().toISOString(), seq: undefined, ...meta };
    for (const h of [...(this.handlers.get(event) ?? [])]) {
      try {
        h(data as never, full);
      } catch (e) {
        this.report(new TidingsError("handler_threw", `a handler of ${event} threw: ${String(e)}`, { event, cause: e }));
      }
    }
  }

  setState(state: ConnectionState): void {
    if (this.state === state) {
      // Another attempt while reconnecting, as a real client's next try.
      if (state === "reconnecting") {
        this.reconnectAttempt++;
        this.view.refresh();
      }
      return;
    }
    const wasOpen = this.state === "open";
    this.state = state;
    if (state === "open") {
      this.session = { session: "fake", user: "fake-user", roles: [], tenant: null, expiresAt: null, ...this.options.session };
      this.reconnectAttempt = 0;
      // What waited for the connection goes out on it.
      for (const p of this.waiting) p.sent = true;
    } else if (wasOpen) {
      this.session = null;
      this.caughtUp = false;
      // Requests that went out on the connection that dropped, as a real client rejects them.
      this.rejectPending(
        (p) => p.sent,
        (event) => new TidingsError("disconnected", `the connection dropped before ${event} was answered`, { event }),
      );
    }
    if (state === "reconnecting") this.reconnectAttempt++;
    this.emit(this.listeners.state, state, "state");
    this.view.refresh();
    if (state === "open") {
      for (const m of this.modules) this.run(() => m._connected(), `module ${m.name} threw in onConnect`);
      this.catchUp(0);
    } else if (wasOpen) {
      for (const m of this.modules) this.run(() => m._disconnected(), `module ${m.name} threw in onDisconnect`);
    }
  }

  answer<K extends keyof C & string>(event: K, answer: (data: C[K]) => ReplyOf<R, K> | Promise<ReplyOf<R, K>>): void {
    this.answers.set(event, answer as (data: never) => unknown);
  }

  resync(info: Partial<ResyncInfo> = {}): void {
    this.emit(this.listeners.resync, { reason: "fake resync", epoch: "fake", seq: 0, ...info }, "resync");
  }

  catchUp(replayed = 0): void {
    this.caughtUp = true;
    this.view.refresh();
    this.emit(this.listeners.caughtUp, { replayed }, "caught-up");
  }

  setOperations(states: OperationState[]): void {
    this.states = [...states];
  }
}
