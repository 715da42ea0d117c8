// The Tidings React adapter. Hand-written, kept in the Tidings repository (codegen/ts/react.ts)
// and copied next to the generated modules by `tidings generate --ts --ts-react`.
// Needs React >= 18 (`useSyncExternalStore`); written without JSX so it stays a `.ts` file.
import * as React from "react";

import type { Client, ServerEvents } from "./index.js";
import type { ConnectionState, EventMeta } from "./runtime.js";

const TidingsContext = React.createContext<Client | null>(null);

/** Makes `client` available to the hooks below. */
export function TidingsProvider(props: { client: Client; children?: React.ReactNode }): React.ReactElement {
  return React.createElement(TidingsContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest `TidingsProvider`. */
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

/** The connection's state, re-rendering on every change. */
export function useConnectionState(): ConnectionState {
  const client = useTidingsClient();
  return React.useSyncExternalStore(
    (notify) => client.onState(() => notify()),
    () => client.state,
    () => client.state,
  );
}
