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
  TidingsError,
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
       * The options of the client the plugin creates and owns; it connects at `app.use` unless
       * `autoConnect: false` (connect on login with `tidings.connect()`); `app.unmount()` closes it.
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
  const client = config.client ?? createClient(config.options);
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
      app.onUnmount(() => {
        registry.detach();
        if (owned) client.close();
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
  const client = inject(TidingsKey, null);
  if (client === null) throw new Error("useTidingsClient: install the plugin first (app.use(createTidings(…)))");
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
  readonly result: Readonly<ShallowRef<ReplyOf<Replies, K> | undefined>>;
  /** Why the latest request failed (`TidingsError.code`). */
  readonly error: Readonly<ShallowRef<TidingsError | undefined>>;
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
  const pending = shallowRef(false);
  const result = shallowRef<Reply | undefined>(undefined);
  const error = shallowRef<TidingsError | undefined>(undefined);
  let latest = 0;
  let disposed = false;
  onScopeDispose(() => {
    disposed = true;
  });
  const sendAsync = (data: ClientEvents[K]): Promise<Reply> => {
    const call = ++latest;
    const current = () => !disposed && call === latest;
    pending.value = true;
    error.value = undefined;
    let sent: Promise<Reply>;
    try {
      sent = client.request(event, data, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    } catch (e) {
      sent = Promise.reject(e);
    }
    return sent.then(
      (reply) => {
        if (current()) {
          result.value = reply;
          pending.value = false;
        }
        return reply;
      },
      (e: unknown) => {
        const failure = e instanceof TidingsError ? e : new TidingsError("protocol", String(e), { cause: e });
        if (current()) {
          error.value = failure;
          pending.value = false;
        }
        throw failure;
      },
    );
  };
  return {
    pending: shallowReadonly(pending),
    result: shallowReadonly(result),
    error: shallowReadonly(error),
    send: (data) => {
      sendAsync(data).catch(() => undefined);
    },
    sendAsync,
    reset: () => {
      latest++;
      pending.value = false;
      result.value = undefined;
      error.value = undefined;
    },
  };
}

/** Where `useRoom`'s join is. */
export interface RoomState {
  /** `idle` without a room; `joining`; `joined` once the server agreed; `failed` if it refused. */
  readonly status: Readonly<Ref<"idle" | "joining" | "joined" | "failed">>;
  /** Why the join failed (`forbidden`, `too_many_rooms`, …). */
  readonly error: Readonly<ShallowRef<TidingsError | undefined>>;
}

/**
 * Joins `room` (a string, a ref or a getter; `null` for none) until the component is disposed;
 * when it changes, leaves the old room and joins the new one. The client rejoins after every
 * reconnect.
 */
export function useRoom(room: MaybeRefOrGetter<string | null>): RoomState {
  const client = useTidingsClient();
  const status = shallowRef<"idle" | "joining" | "joined" | "failed">("idle");
  const error = shallowRef<TidingsError | undefined>(undefined);
  let current: string | null = null;
  const leave = () => {
    if (current !== null) client.leave(current).catch(() => undefined);
    current = null;
  };
  watch(
    () => toValue(room),
    (next) => {
      leave();
      error.value = undefined;
      if (next === null) {
        status.value = "idle";
        return;
      }
      current = next;
      status.value = "joining";
      client.join(next).then(
        () => {
          if (current === next) status.value = "joined";
        },
        (e: unknown) => {
          if (current !== next) return;
          status.value = "failed";
          error.value = e instanceof TidingsError ? e : new TidingsError("protocol", String(e), { cause: e });
        },
      );
    },
    { immediate: true },
  );
  onScopeDispose(leave);
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
 * Calls `reload` whenever `table` is refreshed: when an operation of the user completes with
 * `table` in its `refresh_tables`, and when anything on the page calls `refresh(table)`.
 */
export function useTableRefresh(table: string, reload: () => void): void {
  const client = useTidingsClient();
  onScopeDispose(refreshOnComplete(client));
  onScopeDispose(onRefresh(table, reload));
}
