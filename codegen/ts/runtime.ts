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
}

/** The connection's state. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** What the server said in `$connected`. */
export interface SessionInfo {
  session: string;
  user: string;
  roles: string[];
  tenant: string | null;
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
  /** Calls `listener` on every state change; returns an unsubscribe. */
  onState(listener: (state: ConnectionState) => void): () => void;
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
  /** Closes for good: no reconnect; pending requests reject with `closed`. */
  close(): void;
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
}

const OPEN = 1;
/** How many ids of durable events a client remembers, to hand an event over once even when the
 * server numbers it again in a new epoch (the Rust client has the same bound). */
const RECENT_IDS = 1024;

/** Creates a client; generated code wraps this with the system's types and guards. */
export function createTidingsClient<S, C, R>(options: ClientOptions): TidingsClient<S, C, R> {
  return new Client<S, C, R>(options);
}

class Client<S, C, R> implements TidingsClient<S, C, R> {
  state: ConnectionState = "idle";
  session: SessionInfo | null = null;

  private readonly options: ClientOptions;
  private readonly ctor: WebSocketCtor;
  private ws: WebSocketLike | null = null;
  private readonly handlers = new Map<string, Set<(data: never, meta: EventMeta) => void>>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private readonly resyncListeners = new Set<(i: ResyncInfo) => void>();
  private readonly errorListeners = new Set<(e: TidingsError) => void>();
  private readonly modules = new Set<RealtimeModule<S, C, R>>();
  private readonly pending = new Map<number, Pending>();
  private readonly rooms = new Set<string>();
  private outbox: string[] = [];
  private nextCid = 1;
  private attempt = 0;
  private closedByUser = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private heartbeatMs = 0;
  // The delivery stream: the epoch and the last sequence number processed.
  private epoch: string | null = null;
  private lastSeq = 0;
  // The ids of the last RECENT_IDS durable events handed over (a Set keeps insertion order):
  // an event numbered again in a new epoch (in flight when the server's store lost its data)
  // is not handed over twice.
  private recentIds = new Set<string>();
  // Which URL the next connection tries (with fallbackUrls).
  private turn = 0;

  constructor(options: ClientOptions) {
    this.options = options;
    const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (ctor === undefined) {
      throw new TidingsError("protocol", "no WebSocket implementation: pass `WebSocket` (e.g. from the `ws` package on Node < 22)");
    }
    this.ctor = ctor;
    if (options.autoConnect !== false) this.connect();
  }

  // ── subscriptions ──

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onResync(listener: (info: ResyncInfo) => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  onError(listener: (error: TidingsError) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  on<K extends keyof S & string>(event: K, handler: (data: S[K], meta: EventMeta) => void): () => void {
    let set = this.handlers.get(event);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(event, set);
    }
    const h = handler as (data: never, meta: EventMeta) => void;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  registerHandlers(handlers: HandlerMap<S>): () => void {
    const offs: Array<() => void> = [];
    for (const event of Object.keys(handlers) as Array<keyof S & string>) {
      const h = handlers[event];
      if (h !== undefined) offs.push(this.on(event, h));
    }
    return () => {
      for (const off of offs) off();
    };
  }

  use(module: RealtimeModule<S, C, R>): () => void {
    this.modules.add(module);
    module._attach(this);
    if (this.state === "open") module._connected();
    return () => {
      if (!this.modules.delete(module)) return;
      module._disconnected();
      module._detach();
    };
  }

  // ── sending ──

  send<K extends keyof C & string>(event: K, data: C[K]): void {
    this.transmit(JSON.stringify({ type: event, data }));
  }

  request<K extends keyof C & string>(event: K, data: C[K], options: { timeoutMs?: number } = {}): Promise<ReplyOf<R, K>> {
    return this.call(event, { type: event, data }, options.timeoutMs) as Promise<ReplyOf<R, K>>;
  }

  async join(room: string): Promise<void> {
    await this.call("$join", { type: "$join", room });
    this.rooms.add(room);
  }

  async leave(room: string): Promise<void> {
    this.rooms.delete(room);
    await this.call("$leave", { type: "$leave", room });
  }

  async refreshToken(token: string): Promise<void> {
    await this.call("$auth", { type: "$auth", token });
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
        const queued = this.outbox.indexOf(text);
        if (queued >= 0) this.outbox.splice(queued, 1);
        reject(new TidingsError("timeout", `no answer to ${event} within ${ms} ms`, { event }));
      }, ms);
      this.pending.set(cid, { resolve, reject, timer, event });
      try {
        this.transmit(text);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(cid);
        reject(e as TidingsError);
      }
    });
  }

  private transmit(text: string): void {
    if (this.state === "closed") throw new TidingsError("closed", "the client is closed");
    if (this.ws !== null && this.ws.readyState === OPEN && this.state === "open") {
      this.ws.send(text);
      return;
    }
    const limit = this.options.offlineQueueLimit ?? 100;
    if (this.outbox.length >= limit) {
      throw new TidingsError("offline_queue_full", `offline: ${limit} frames are already waiting to be sent`);
    }
    this.outbox.push(text);
  }

  // ── connection ──

  connect(): void {
    if (this.state === "connecting" || this.state === "open") return;
    this.closedByUser = false;
    void this.open();
  }

  close(): void {
    this.closedByUser = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onclose = null;
      ws.close(1000, "client closed");
    }
    this.dropped();
    this.outbox = [];
    for (const [cid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TidingsError("closed", `the client closed before ${p.event} was answered`, { event: p.event }));
      this.pending.delete(cid);
    }
    this.setState("closed");
  }

  private async open(): Promise<void> {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token = this.options.token;
    if (this.options.getToken !== undefined) {
      try {
        token = await this.options.getToken();
      } catch (e) {
        this.report(new TidingsError("protocol", "getToken failed", { cause: e }));
        this.scheduleReconnect();
        return;
      }
    }
    if (this.closedByUser) return;
    const protocols = ["tidings.v1"];
    if (token !== undefined && token !== "") protocols.push(`tidings.bearer.${token}`);
    // A reconnect resumes the delivery stream where it left off: the server replays what was
    // missed before any live event, then sends $pending_complete (or $resync_required).
    if (this.epoch !== null) protocols.push(`tidings.resume.${this.epoch}.${this.lastSeq}`);
    const urls = [this.options.url, ...(this.options.fallbackUrls ?? [])];
    const url = urls[this.turn++ % urls.length] ?? this.options.url;
    let ws: WebSocketLike;
    try {
      ws = new this.ctor(url, protocols);
    } catch (e) {
      this.report(new TidingsError("protocol", `cannot open ${url}`, { cause: e }));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onerror = () => {
      // A close event follows; reconnection is handled there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dropped();
      if (this.closedByUser || this.options.reconnect === false) {
        this.setState("closed");
        return;
      }
      if (ev.code === 4010) {
        this.report(new TidingsError("protocol", "too many connections for this user; reconnecting later"));
      }
      this.scheduleReconnect();
    };
  }

  private dropped(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    if (this.stableTimer !== null) clearTimeout(this.stableTimer);
    this.watchdog = null;
    this.stableTimer = null;
    const wasOpen = this.session !== null;
    this.session = null;
    if (wasOpen) for (const m of this.modules) m._disconnected();
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect === false ? undefined : this.options.reconnect;
    const base = r?.initialDelayMs ?? 500;
    const cap = r?.maxDelayMs ?? 30_000;
    const factor = r?.factor ?? 2;
    const ceiling = Math.min(cap, base * Math.pow(factor, this.attempt));
    const delay = Math.random() * ceiling; // full jitter
    this.attempt++;
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.stableTimer, this.watchdog]) if (t !== null) clearTimeout(t);
    this.reconnectTimer = this.stableTimer = this.watchdog = null;
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of [...this.stateListeners]) {
      try {
        l(state);
      } catch (e) {
        this.report(new TidingsError("handler_threw", "a state listener threw", { cause: e }));
      }
    }
  }

  private report(error: TidingsError): void {
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
      if (ws !== null) ws.close(4000, "heartbeat timeout");
    }, this.heartbeatMs);
  }

  // ── receiving ──

  private receive(raw: unknown): void {
    this.feedWatchdog();
    if (typeof raw !== "string") {
      this.report(new TidingsError("protocol", "a binary frame arrived; the protocol is JSON text"));
      return;
    }
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
        return this.settle(frame, true);
      case "$resync_required": {
        const info: ResyncInfo = { reason: String(frame["reason"]), epoch: String(frame["epoch"]), seq: Number(frame["seq"]) };
        this.epoch = info.epoch;
        this.lastSeq = info.seq;
        for (const l of [...this.resyncListeners]) {
          try {
            l(info);
          } catch (e) {
            this.report(new TidingsError("handler_threw", "a resync listener threw", { cause: e }));
          }
        }
        return this.settle(frame, true);
      }
      default:
        if (typeof type === "string" && !type.startsWith("$")) return this.event(type, frame);
        this.report(new TidingsError("protocol", `unknown frame type ${JSON.stringify(type)}`));
    }
  }

  private connected(frame: Record<string, unknown>): void {
    const heartbeat = frame["heartbeat"] as { interval_ms?: number; timeout_ms?: number } | undefined;
    this.heartbeatMs = (heartbeat?.interval_ms ?? 25_000) + (heartbeat?.timeout_ms ?? 60_000);
    this.feedWatchdog();
    this.session = {
      session: String(frame["session"]),
      user: String(frame["user"]),
      roles: Array.isArray(frame["roles"]) ? frame["roles"].map(String) : [],
      tenant: typeof frame["tenant"] === "string" ? frame["tenant"] : null,
    };
    const resume = frame["resume"] as { epoch?: string; seq?: number } | undefined;
    const ws = this.ws;
    if (ws === null) return;
    if (this.epoch === null) {
      // First connection: the stream starts here. (A reconnect resumed in the handshake.)
      this.epoch = resume?.epoch ?? null;
      this.lastSeq = resume?.seq ?? 0;
    }
    const stableAfter = (this.options.reconnect === false ? undefined : this.options.reconnect?.stableAfterMs) ?? 5_000;
    this.stableTimer = setTimeout(() => {
      this.attempt = 0;
    }, stableAfter);
    for (const room of this.rooms) ws.send(JSON.stringify({ type: "$join", room }));
    this.setState("open");
    const queued = this.outbox;
    this.outbox = [];
    for (const text of queued) ws.send(text);
    for (const m of this.modules) {
      try {
        m._connected();
      } catch (e) {
        this.report(new TidingsError("handler_threw", `module ${m.name} threw in onConnect`, { cause: e }));
      }
    }
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
        this.ws?.close(4000, "gap in the delivery stream");
        return;
      }
      this.lastSeq = seq;
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

function optionalField(frame: Record<string, unknown>): { field?: string } {
  return typeof frame["field"] === "string" ? { field: frame["field"] } : {};
}
