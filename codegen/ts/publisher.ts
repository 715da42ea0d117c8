// The typed publisher for `tidings serve`'s HTTP API (docs/serve.md, "Publishing"). Generated
// with `tidings generate --ts DIR --ts-publisher`. It is for the app's backend, in Node 18+ or
// any runtime with `fetch`. Never ship it to a browser: it holds an API key.
//
//   const publisher = createPublisher({ url: "http://127.0.0.1:8080", apiKey: process.env.TIDINGS_API_KEY! });
//   await publisher.publish(ticket.TICKET_CREATED, { ticket, actor_id: user.id });
//
// `data` is typed by the event's payload type. The server checks it against the same contract
// and routes it by the event's declared recipient rules.
import type { ServerEvents } from "./index.js";

/** Where the server is, and the API key. */
export interface PublisherOptions {
  /** The server's base URL, such as `http://127.0.0.1:8080`. */
  url: string;
  /** One of the server's API keys (`TIDINGS_API_KEYS`). */
  apiKey: string;
  /** A request is aborted after this long, in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** What a publish did. */
export interface Published {
  /** The event's id, as its frame carries it. */
  id: string;
  /** The connections it was queued to, or `null` through a Redis backplane. */
  connections: number | null;
}

/** One event of a batch: its name and its payload. */
export type PublishEvent = {
  [K in keyof ServerEvents & string]: { event: K; data: ServerEvents[K] };
}[keyof ServerEvents & string];

/** Options of one publish. */
export interface PublishOptions {
  /**
   * Makes a retry safe: a retry with the same key and payload publishes nothing and gets the
   * first answer again (1–255 visible ASCII characters, such as `ticket-created-42`).
   */
  idempotencyKey?: string;
}

/**
 * A refusal of the server, or a publish that did not reach it. `code` is the server's
 * (`constraint_violated`, `unknown_event`, …; docs/serve.md lists them), or `unavailable`
 * when the server could not be reached or answered no JSON, and `timeout`.
 */
export class PublishError extends Error {
  /** The HTTP status, or 0 when there was no answer. */
  readonly status: number;
  /** Why: the server's error code. */
  readonly code: string;
  /** The payload field at fault, when the payload broke the contract (`ticket.title`). */
  readonly path: string | undefined;
  /** In a batch, the position of the event refused. */
  readonly index: number | undefined;
  /** In a batch that failed part-way, the events published before the failure. */
  readonly results: Published[] | undefined;

  constructor(status: number, code: string, message: string, extra: { path?: string; index?: number; results?: Published[] } = {}) {
    super(message);
    this.name = "PublishError";
    this.status = status;
    this.code = code;
    this.path = extra.path;
    this.index = extra.index;
    this.results = extra.results;
  }
}

/** Publishes events to a `tidings serve`. */
export interface Publisher {
  /** Publishes one event. Rejects with a {@link PublishError}. */
  publish<K extends keyof ServerEvents & string>(event: K, data: ServerEvents[K], options?: PublishOptions): Promise<Published>;
  /**
   * Publishes several events in order, in one request. Every event is checked before any is
   * published: a batch with one bad event publishes none. Rejects with a {@link PublishError}.
   */
  publishBatch(events: readonly PublishEvent[], options?: PublishOptions): Promise<Published[]>;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function publishedOf(v: unknown): Published | undefined {
  const r = record(v);
  if (r === undefined || typeof r["id"] !== "string") return undefined;
  const connections = r["connections"];
  if (connections !== null && typeof connections !== "number") return undefined;
  return { id: r["id"], connections };
}

function publishedList(v: unknown): Published[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Published[] = [];
  for (const item of v) {
    const p = publishedOf(item);
    if (p === undefined) return undefined;
    out.push(p);
  }
  return out;
}

/** A publisher of `options.url`'s `POST /api/publish`. */
export function createPublisher(options: PublisherOptions): Publisher {
  const endpoint = `${options.url.replace(/\/+$/, "")}/api/publish`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? globalThis.fetch;

  async function post(body: unknown, publishOptions: PublishOptions | undefined): Promise<unknown> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.apiKey}`,
      "content-type": "application/json",
    };
    if (publishOptions?.idempotencyKey !== undefined) headers["idempotency-key"] = publishOptions.idempotencyKey;
    let response: Response;
    try {
      response = await doFetch(endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
      throw new PublishError(0, timedOut ? "timeout" : "unavailable", `${endpoint}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      throw new PublishError(response.status, "unavailable", `${endpoint} answered ${response.status} without JSON`);
    }
    if (!response.ok) {
      const error = record(record(json)?.["error"]);
      const code = typeof error?.["code"] === "string" ? error["code"] : "unavailable";
      const message = typeof error?.["message"] === "string" ? error["message"] : `${endpoint} answered ${response.status}`;
      const extra: { path?: string; index?: number; results?: Published[] } = {};
      if (typeof error?.["path"] === "string") extra.path = error["path"];
      if (typeof error?.["index"] === "number") extra.index = error["index"];
      const results = publishedList(record(json)?.["results"]);
      if (results !== undefined) extra.results = results;
      throw new PublishError(response.status, code, message, extra);
    }
    return json;
  }

  return {
    async publish(event, data, publishOptions) {
      const answer = publishedOf(await post({ event, data }, publishOptions));
      if (answer === undefined) throw new PublishError(200, "unavailable", `${endpoint} answered an unexpected body`);
      return answer;
    },
    async publishBatch(events, publishOptions) {
      const answer = publishedList(record(await post({ events }, publishOptions))?.["results"]);
      if (answer === undefined) throw new PublishError(200, "unavailable", `${endpoint} answered an unexpected body`);
      return answer;
    },
  };
}
