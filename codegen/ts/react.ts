// The Tidings React adapter. Hand-written, kept in the Tidings repository (codegen/ts/react.ts)
// and copied next to the generated modules by `tidings generate --ts --ts-react`.
// Needs React >= 18 (`useSyncExternalStore`); written without JSX so it stays a `.ts` file.
import * as React from "react";

import { createClient, type Client, type ClientEvents, type Replies, type ServerEvents } from "./index.js";
import {
  RequestCell,
  holdRoom,
  onRefresh,
  operationsOf,
  refreshOnComplete,
  type ClientOptions,
  type ConnectionView,
  type EventMeta,
  type HandlerMap,
  type OperationUpdate,
  type ReplyOf,
  type RequestState,
  type RoomView,
} from "./runtime.js";

export type { RequestState } from "./runtime.js";

/** The client the hooks below use: set by `TidingsProvider` (or by your own `Provider`). */
export const TidingsContext = React.createContext<Client | null>(null);
TidingsContext.displayName = "Tidings";

/**
 * Props of `TidingsProvider`: either a `client` you own (created with `createClient`, or a fake
 * one in tests), or the `options` of a client the provider owns.
 */
export type TidingsProviderProps = { children?: React.ReactNode } & (
  | { client: Client; options?: undefined; enabled?: undefined }
  | {
      /**
       * The options of the client the provider creates (once, on mount; `autoConnect` is
       * ignored). `token` and `getToken` are read anew at every connection attempt, so they may
       * change between renders (a token from your login state).
       */
      options: ClientOptions;
      /**
       * Whether the user is logged in: the client connects when this becomes true and closes when
       * it becomes false (a logout: the socket closes, rooms and the resume position are
       * forgotten, and the next `true` starts clean, maybe as another user). Default true.
       */
      enabled?: boolean;
      client?: undefined;
    }
);

/**
 * Makes a client available to the hooks below. Given `client`, it only provides it. Given
 * `options`, it owns the client's lifecycle: creates it on mount (the options are read then;
 * later changes other than `token`/`getToken` are ignored — give the provider a `key` to start
 * over with new options), connects while `enabled`, closes it when `enabled` turns false (a
 * logout: rooms and the resume position are forgotten) and on unmount (the position is kept).
 * A new token only takes effect at the next connection: to switch users, turn `enabled` off
 * and on again (a logout, then a login).
 */
export function TidingsProvider(props: TidingsProviderProps): React.ReactElement {
  if (props.client !== undefined) {
    // The operations list follows from the start (a toast list mounted later shows what ended).
    operationsOf(props.client);
    return React.createElement(TidingsContext.Provider, { value: props.client }, props.children);
  }
  return React.createElement(OwningProvider, { options: props.options, enabled: props.enabled ?? true }, props.children);
}

/** `useLayoutEffect` in a browser; on a server (where it does nothing but warn) `useEffect`. */
const useBeforeChildrenEffect = typeof document === "undefined" ? React.useEffect : React.useLayoutEffect;

function OwningProvider(props: { options: ClientOptions; enabled: boolean; children?: React.ReactNode }): React.ReactElement {
  const latest = React.useRef(props.options);
  latest.current = props.options;
  const [client] = React.useState(() => {
    const { token: _token, getToken: _getToken, ...rest } = props.options;
    // The latest render's credentials, at every attempt (none: connect without a token).
    const getToken = (): string | Promise<string> => {
      const now = latest.current;
      return now.getToken !== undefined ? now.getToken() : (now.token ?? "");
    };
    const client = createClient({ ...rest, getToken, autoConnect: false });
    // The operations list follows from the start (a toast list mounted later shows what ended).
    operationsOf(client);
    return client;
  });
  const { enabled } = props;
  const closing = React.useRef<ReturnType<typeof setTimeout> | null>(null);
  // A layout effect: it runs before the (passive) effects of the children, so that a child's
  // `useRoom` after a login finds the client connecting, not still closed.
  useBeforeChildrenEffect(() => {
    // Mounted again right after an unmount (React's StrictMode does it in development): the
    // same client goes on; nothing was closed.
    if (closing.current !== null) clearTimeout(closing.current);
    closing.current = null;
    if (enabled) client.connect();
    else if (client.state !== "idle" && client.state !== "closed") client.close();
  }, [client, enabled]);
  // Unmounted: closed — without forgetting the resume position (an unmount is not a logout), so
  // a provider mounted later with the same `storage` resumes. Deferred, for the case above.
  React.useEffect(
    () => () => {
      closing.current = setTimeout(() => {
        closing.current = null;
        client.close({ forget: false });
      }, 0);
    },
    [client],
  );
  return React.createElement(TidingsContext.Provider, { value: client }, props.children);
}

/**
 * The client of the nearest `TidingsProvider`.
 * @throws Error outside a `TidingsProvider`.
 */
export function useTidingsClient(): Client {
  const client = React.useContext(TidingsContext);
  if (client === null) throw new Error("useTidingsClient must be used inside <TidingsProvider>");
  return client;
}

/**
 * Handles an event while the component is mounted. The latest `handler` is always the one
 * called, so it may close over state without resubscribing.
 */
export function useTidingsEvent<K extends keyof ServerEvents & string>(
  event: K,
  handler: (data: ServerEvents[K], meta: EventMeta) => void,
): void {
  const client = useTidingsClient();
  const latest = React.useRef(handler);
  latest.current = handler;
  React.useEffect(() => client.on(event, (data, meta) => latest.current(data, meta)), [client, event]);
}

/**
 * Handles several events while the component is mounted (`{ "ticket:created": (t) => …, … }`).
 * The latest handlers are called; it subscribes again only when the set of events changes.
 */
export function useTidingsEvents(handlers: HandlerMap<ServerEvents>): void {
  const client = useTidingsClient();
  const latest = React.useRef(handlers);
  latest.current = handlers;
  const events = (Object.keys(handlers) as Array<keyof ServerEvents & string>)
    .filter((k) => handlers[k] !== undefined)
    .sort()
    .join("\n");
  React.useEffect(() => {
    const map: Record<string, (data: never, meta: EventMeta) => void> = {};
    for (const event of events === "" ? [] : events.split("\n")) {
      map[event] = (data, meta) => (latest.current as Record<string, ((d: never, m: EventMeta) => void) | undefined>)[event]?.(data, meta);
    }
    return client.registerHandlers(map as HandlerMap<ServerEvents>);
  }, [client, events]);
}

/**
 * The connection as one object — `state`, `reconnectAttempt` (1, 2, … while reconnecting),
 * `caughtUp`, `session` — re-rendering whenever any of them changes.
 */
export function useConnectionState(): ConnectionView {
  const client = useTidingsClient();
  const subscribe = React.useCallback((notify: () => void) => client.onConnectionChange(() => notify()), [client]);
  const read = React.useCallback(() => client.connection, [client]);
  return React.useSyncExternalStore(subscribe, read, read);
}

/** `useTidingsRequest`'s state and the functions that send. */
export interface TidingsRequest<K extends keyof ClientEvents & string> extends RequestState<ReplyOf<Replies, K>> {
  /** Sends the request; the outcome lands in `pending`/`result`/`error` (it never throws or rejects). */
  send(data: ClientEvents[K]): void;
  /** Sends the request and also returns the reply (rejects with a `TidingsError`). */
  sendAsync(data: ClientEvents[K]): Promise<ReplyOf<Replies, K>>;
  /** Back to no result and no error. */
  reset(): void;
}

/**
 * A typed request (a `to_server` event with a reply) as component state: `pending` while it is
 * on its way, then `result` or `error`. Only the latest request counts: the answer to an earlier
 * one, or one arriving after unmount, changes nothing.
 */
export function useTidingsRequest<K extends keyof ClientEvents & string>(event: K, options: { timeoutMs?: number } = {}): TidingsRequest<K> {
  const client = useTidingsClient();
  type Reply = ReplyOf<Replies, K>;
  // One cell per client and event: answers to another event's requests never land here.
  const cell = React.useMemo(() => new RequestCell<Reply>(), [client, event]);
  // Unmounted, or another event: what is still on its way no longer counts.
  React.useEffect(() => () => cell.reset(), [cell]);
  const state = React.useSyncExternalStore(cell.subscribe, () => cell.state, () => cell.state);
  const timeoutMs = options.timeoutMs;
  const sendAsync = React.useCallback(
    (data: ClientEvents[K]): Promise<Reply> => cell.run(() => client.request(event, data, timeoutMs === undefined ? {} : { timeoutMs })),
    [cell, client, event, timeoutMs],
  );
  const send = React.useCallback(
    (data: ClientEvents[K]): void => {
      sendAsync(data).catch(() => undefined);
    },
    [sendAsync],
  );
  const reset = React.useCallback(() => cell.reset(), [cell]);
  return { ...state, send, sendAsync, reset };
}

const IDLE_ROOM: RoomView = Object.freeze({ status: "idle", error: undefined });
const JOINING_ROOM: RoomView = Object.freeze({ status: "joining", error: undefined });

/**
 * Holds `room` while the component is mounted (see `holdRoom`): joined while any component holds
 * it, left when the last one unmounts or moves to another room; `null` holds nothing. The status
 * is `idle` (no room), `joining` (also while logged out or after a join was cut off: joined
 * again when the connection opens), `joined`, or `failed` with the server's refusal in `error`.
 */
export function useRoom(room: string | null): RoomView {
  const client = useTidingsClient();
  // The view with the room and client it belongs to: a render after `room` changed shows the new
  // room as joining, never the previous room's status.
  const [held, setHeld] = React.useState<{ client: Client; room: string; view: RoomView } | null>(null);
  React.useEffect(() => {
    if (room === null) return;
    return holdRoom(client, room, (view) => setHeld({ client, room, view }));
  }, [client, room]);
  if (room === null) return IDLE_ROOM;
  return held !== null && held.room === room && held.client === client ? held.view : JOINING_ROOM;
}

/**
 * The user's operations — running, and ended ones until dismissed with
 * `operationsOf(client).dismiss(id)` — including those started before the page opened; see
 * `operationsOf`. Re-renders on every change.
 */
export function useOperations(): readonly OperationUpdate[] {
  const view = operationsOf(useTidingsClient());
  return React.useSyncExternalStore(view.subscribe, () => view.operations, () => view.operations);
}

/** One operation's latest update (`undefined` until it is seen, and after it is dismissed). */
export function useOperation(operationId: string): OperationUpdate | undefined {
  const view = operationsOf(useTidingsClient());
  const read = () => view.get(operationId);
  return React.useSyncExternalStore(view.subscribe, read, read);
}

/**
 * Calls `reload` whenever `table` is refreshed: when an operation of the user completes with
 * `table` in its `refresh_tables`, and when anything on the page calls `refresh(table)`. The
 * latest `reload` is called.
 */
export function useTableRefresh(table: string, reload: () => void): void {
  const client = useTidingsClient();
  const latest = React.useRef(reload);
  latest.current = reload;
  React.useEffect(() => refreshOnComplete(client), [client]);
  React.useEffect(() => onRefresh(table, () => latest.current()), [table]);
}

/** The props `withTidings` gives a component. */
export interface WithTidingsProps {
  /** The client of the nearest `TidingsProvider`. */
  tidings: Client;
  /** The connection (as `useConnectionState`); the component re-renders when it changes. */
  connection: ConnectionView;
}

/**
 * For class components: a component that renders `Component` with `tidings` (the client) and
 * `connection` props added. Subscribe in `componentDidMount` (`this.props.tidings.on(…)`) and
 * unsubscribe in `componentWillUnmount`.
 */
export function withTidings<P extends WithTidingsProps>(Component: React.ComponentType<P>): React.FunctionComponent<Omit<P, keyof WithTidingsProps>> {
  const Wrapped = (props: Omit<P, keyof WithTidingsProps>): React.ReactElement => {
    const tidings = useTidingsClient();
    const connection = useConnectionState();
    return React.createElement(Component, { ...props, tidings, connection } as P & React.Attributes);
  };
  Wrapped.displayName = `withTidings(${Component.displayName || Component.name || "Component"})`;
  return Wrapped;
}
