// A scripted WebSocket for the client's tests: the test opens, answers and drops it.
import type { WebSocketLike } from "../generated/index.js";

/** A socket the test drives; every one created is in `FakeSocket.all`. */
export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: number | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  /** A dead peer: closing starts a handshake nobody answers (no close event follows). */
  deaf = false;

  close(code?: number): void {
    this.closedWith = code ?? 1000;
    if (!this.deaf) this.drop(code ?? 1000);
  }

  /** The server accepts: the socket opens and `$connected` arrives. */
  accept(epoch = "e1", seq = 0, heartbeat = { interval_ms: 25_000, timeout_ms: 60_000 }, extra: Record<string, unknown> = {}): void {
    this.open();
    this.frame({ type: "$connected", session: "1", user: "u1", roles: [], tenant: "t1", resume: { epoch, seq }, heartbeat, ...extra });
  }

  /** The socket opens (no `$connected` yet). */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  frame(v: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(v) });
  }

  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}
