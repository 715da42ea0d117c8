// The Tidings Vue adapter. Hand-written, kept in the Tidings repository (codegen/ts/vue.ts) and
// copied next to the generated modules by `tidings generate --ts --ts-vue`.
// Needs Vue >= 3.5 (`app.onUnmount`); plain TypeScript, no single-file components.
import {
  computed,
  inject,
  onScopeDispose,
  shallowReadonly,
  shallowRef,
  toValue,
  watch,
  type App,
  type ComputedRef,
  type InjectionKey,
  type MaybeRefOrGetter,
  type Ref,
  type ShallowRef,
} from "vue";

import { createClient, type Client, type ClientEvents, type Replies, type ServerEvents } from "./index.js";
import {
  RequestCell,
  TidingsError,
  holdRoom,
  onRefresh,
  operationsOf,
  refreshOnComplete,
  registerModules,
  type ClientOptions,
  type ConnectionView,
  type EventMeta,
  type HandlerMap,
  type ModuleEntry,
  type ModuleFailure,
  type ModuleReport,
  type OperationUpdate,
  type ReplyOf,
  type RoomStatus,
} from "./runtime.js";

/** Where the plugin provides the client (`inject(TidingsKey)`). */
export const TidingsKey: InjectionKey<Client> = Symbol("tidings");

declare module "vue" {
  interface ComponentCustomProperties {
    /** The Tidings client, for the Options API (`this.$tidings`). */
    $tidings: Client;
  }
}

/** The options of `createTidings`. */
export type TidingsPluginOptions = {
  /**
   * Feature modules registered once, at `app.use`: each is initialized on every connect and
   * cleaned up on every disconnect; one that fails to load is skipped and reported
   * (`onModuleFailure`, and `tidings.modules`). See `registerModules`.
   */
  modules?: ReadonlyArray<ModuleEntry<ServerEvents, ClientEvents, Replies>>;
  /** Called for each module skipped. Default `console.error`. */
  onModuleFailure?: (failure: ModuleFailure) => void;
} & (
  | { client: Client; options?: undefined }
  | {
      /**
       * The options of the client the plugin creates and owns; it connects at `app.use` in a
       * browser unless `autoConnect: false` (connect on login with `tidings.connect()`), never
       * during server-side rendering; `app.unmount()` closes it (keeping the resume position: an
       * unmount is not a logout — `tidings.close()` is).
       */
      options: ClientOptions;
      client?: undefined;
    }
);

/** The plugin: `app.use(tidings)`; also the handle for login and logout. */
export interface TidingsPlugin {
  install(app: App): void;
  /** The client the plugin provides. */
  readonly client: Client;
  /**
   * What the module registry did: settles once `app.use` has run and every module is loaded or
   * skipped (never rejects; without modules, both lists are empty).
   */
  readonly modules: Promise<ModuleReport>;
  /** Connects (a login). */
  connect(): void;
  /** Closes (a logout): the socket closes, rooms and the resume position are forgotten. */
  close(): void;
}

/**
 * Creates the Vue plugin: `app.use(createTidings({ options: { url, getToken } }))` provides the
 * client to every component (`useTidingsClient()`, `this.$tidings`) and registers the modules.
 */
export function createTidings(config: TidingsPluginOptions): TidingsPlugin {
  const owned = config.client === undefined;
  // Created unconnected: the socket opens at `app.use` (or at `connect()`), not on import.
  const client = config.client ?? createClient({ ...config.options, autoConnect: false });
  let installed: (report: Promise<ModuleReport>) => void = () => undefined;
  const modules = new Promise<ModuleReport>((resolve) => (installed = resolve));
  return {
    client,
    modules,
    install(app: App): void {
      app.provide(TidingsKey, client);
      app.config.globalProperties.$tidings = client;
      const registry = registerModules(client, config.modules ?? [], config.onModuleFailure === undefined ? {} : { onFailure: config.onModuleFailure });
      installed(registry.ready);
      // The operations list follows from the start (a toast list mounted later shows what ended).
      operationsOf(client);
      // Not while rendering on a server (no document): the browser's app connects.
      if (owned && config.options?.autoConnect !== false && typeof document !== "undefined") client.connect();
      app.onUnmount(() => {
        registry.detach();
        // Not a logout: the resume position is kept (a remounted app with the same storage resumes).
        if (owned) client.close({ forget: false });
      });
    },
    connect: () => client.connect(),
    close: () => client.close(),
  };
}

/**
 * The client the plugin provides.
 * @throws Error outside an app that uses the plugin (or outside `setup`).
 */
export function useTidingsClient(): Client {
  // `inject` gives undefined outside setup (and the default, null, where nothing was provided).
  const client = inject(TidingsKey, null);
  if (client === null || client === undefined) throw new Error("useTidingsClient: install the plugin first (app.use(createTidings(…)))");
  return client;
}

/** Handles an event until the component (or effect scope) is disposed. */
export function useTidingsEvent<K extends keyof ServerEvents & string>(
  event: K,
  handler: (data: ServerEvents[K], meta: EventMeta) => void,
): void {
  onScopeDispose(useTidingsClient().on(event, handler));
}

/** Handles several events until the component (or effect scope) is disposed. */
export function useTidingsEvents(handlers: HandlerMap<ServerEvents>): void {
  onScopeDispose(useTidingsClient().registerHandlers(handlers));
}

/**
 * The connection as a read-only ref of one object — `state`, `reconnectAttempt` (1, 2, … while
 * reconnecting), `caughtUp`, `session` — replaced on every change.
 */
export function useConnectionState(): Readonly<ShallowRef<ConnectionView>> {
  const client = useTidingsClient();
  const view = shallowRef(client.connection);
  onScopeDispose(client.onConnectionChange((v) => (view.value = v)));
  return shallowReadonly(view);
}

/** `useTidingsRequest`'s refs and the functions that send. */
export interface TidingsRequest<K extends keyof ClientEvents & string> {
  /** A request is on its way (the latest one). */
  readonly pending: Readonly<Ref<boolean>>;
  /** The latest answered request's reply (kept while a newer one is pending). */
  readonly result: Readonly<Ref<ReplyOf<Replies, K> | undefined>>;
  /** Why the latest request failed (`TidingsError.code`). */
  readonly error: Readonly<Ref<TidingsError | undefined>>;
  /** Sends the request; the outcome lands in the refs (it never throws or rejects). */
  send(data: ClientEvents[K]): void;
  /** Sends the request and also returns the reply (rejects with a `TidingsError`). */
  sendAsync(data: ClientEvents[K]): Promise<ReplyOf<Replies, K>>;
  /** Back to no result and no error. */
  reset(): void;
}

/**
 * A typed request as refs: `pending` while it is on its way, then `result` or `error`. Only the
 * latest request counts; answers after the component is disposed change nothing.
 */
export function useTidingsRequest<K extends keyof ClientEvents & string>(event: K, options: { timeoutMs?: number } = {}): TidingsRequest<K> {
  const client = useTidingsClient();
  type Reply = ReplyOf<Replies, K>;
  const cell = new RequestCell<Reply>();
  const state = shallowRef(cell.state);
  const off = cell.subscribe(() => (state.value = cell.state));
  // Disposed: what is still on its way no longer counts.
  onScopeDispose(() => {
    off();
    cell.reset();
  });
  const sendAsync = (data: ClientEvents[K]): Promise<Reply> =>
    cell.run(() => client.request(event, data, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }));
  return {
    pending: computed(() => state.value.pending),
    result: computed(() => state.value.result),
    error: computed(() => state.value.error),
    send: (data) => {
      sendAsync(data).catch(() => undefined);
    },
    sendAsync,
    reset: () => cell.reset(),
  };
}

/** Where `useRoom`'s room is (see `holdRoom`). */
export interface RoomState {
  /**
   * `idle` without a room; `joining` (also while logged out or after a join was cut off: joined
   * again when the connection opens); `joined`; `failed` if the server refused.
   */
  readonly status: Readonly<Ref<RoomStatus>>;
  /** Why the join failed (`forbidden`, `too_many_rooms`, …). */
  readonly error: Readonly<ShallowRef<TidingsError | undefined>>;
}

/**
 * Holds `room` (a string, a ref or a getter; `null` for none) until the component is disposed
 * (see `holdRoom`): joined while any component holds it, left when the last one lets go; when
 * `room` changes, the old one is released and the new one held.
 */
export function useRoom(room: MaybeRefOrGetter<string | null>): RoomState {
  const client = useTidingsClient();
  const status = shallowRef<RoomStatus>("idle");
  const error = shallowRef<TidingsError | undefined>(undefined);
  let release: (() => void) | null = null;
  const letGo = (): void => {
    release?.();
    release = null;
  };
  watch(
    () => toValue(room),
    (next) => {
      letGo();
      status.value = "idle";
      error.value = undefined;
      if (next === null) return;
      release = holdRoom(client, next, (view) => {
        status.value = view.status;
        error.value = view.error;
      });
    },
    { immediate: true },
  );
  onScopeDispose(letGo);
  return { status: shallowReadonly(status), error: shallowReadonly(error) };
}

/**
 * The user's operations as a read-only ref — running, and ended ones until dismissed with
 * `operationsOf(client).dismiss(id)` — including those started before the page opened.
 */
export function useOperations(): Readonly<ShallowRef<readonly OperationUpdate[]>> {
  const view = operationsOf(useTidingsClient());
  const list = shallowRef(view.operations);
  onScopeDispose(view.subscribe(() => (list.value = view.operations)));
  return shallowReadonly(list);
}

/** One operation's latest update (`undefined` until it is seen, and after it is dismissed). */
export function useOperation(operationId: MaybeRefOrGetter<string>): ComputedRef<OperationUpdate | undefined> {
  const list = useOperations();
  return computed(() => {
    const id = toValue(operationId);
    return list.value.find((u) => u.operation_id === id);
  });
}

/**
 * Calls `reload` whenever `table` (a string, a ref or a getter) is refreshed: when an operation of
 * the user completes with `table` in its `refresh_tables`, and when anything on the page calls
 * `refresh(table)`.
 */
export function useTableRefresh(table: MaybeRefOrGetter<string>, reload: () => void): void {
  const client = useTidingsClient();
  onScopeDispose(refreshOnComplete(client));
  let off: (() => void) | null = null;
  watch(
    () => toValue(table),
    (name) => {
      off?.();
      off = onRefresh(name, reload);
    },
    { immediate: true },
  );
  onScopeDispose(() => off?.());
}
