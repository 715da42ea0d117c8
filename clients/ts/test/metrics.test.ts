// The example server's Prometheus endpoint: the hub's metrics, scraped over HTTP after real
// connections, frames and errors (issue #19).
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import WebSocket from "ws";

import { eventually, startServer, type RunningServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.stop();
});

/** The value of the sample `name{labels}` in a Prometheus text page, or undefined. */
function sample(page: string, name: string, labels = ""): number | undefined {
  const line = page.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://${server.addr}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return res.text();
}

test("connections, frames, errors and disconnects are exported for Prometheus", async () => {
  const ws = new WebSocket(`${server.ws}?user=metrics-user&tenant=acme`, ["tidings.v1"]);
  const frames: string[] = [];
  ws.on("message", (m) => frames.push(String(m)));
  await eventually(() => frames.some((f) => f.includes('"$connected"')), 5_000, "$connected");
  ws.send(JSON.stringify({ type: "nope:x", cid: 1 }));
  await eventually(() => frames.some((f) => f.includes('"unknown_event"')), 5_000, "the error");

  // A request a handler answers: its duration lands in a histogram with buckets.
  ws.send(JSON.stringify({ type: "demo:openTicket", cid: 2, data: { title: "metrics" } }));
  await eventually(() => frames.some((f) => f.includes('"$reply"')), 5_000, "the reply");

  let page = await scrape();
  assert.ok(
    (sample(page, "tidings_handler_duration_seconds_bucket", '{event="demo:openTicket",le="+Inf"}') ?? 0) >= 1,
    page,
  );
  assert.ok((sample(page, "tidings_connections_total") ?? 0) >= 1, page);
  assert.ok((sample(page, "tidings_connections_open") ?? 0) >= 1, page);
  assert.ok((sample(page, "tidings_frames_received_total") ?? 0) >= 1, page);
  assert.ok((sample(page, "tidings_errors_sent_total", '{code="unknown_event"}') ?? 0) >= 1, page);

  ws.close(1000);
  await eventually(() => ws.readyState === WebSocket.CLOSED, 5_000, "closed");
  const deadline = Date.now() + 5_000;
  do {
    page = await scrape();
    if ((sample(page, "tidings_disconnects_total", '{reason="client_closed"}') ?? 0) >= 1) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  assert.ok((sample(page, "tidings_disconnects_total", '{reason="client_closed"}') ?? 0) >= 1, page);
});
