// The Node peers of the fan-out benchmark (runtime/benches/fanout.rs): a `ws` broadcast server and
// a Socket.IO v4 server, driven over stdin exactly like the Rust servers of that benchmark.
//
//   node --expose-gc server.mjs ws|socketio
//
// Prints `port N`, then answers one line per command:
//   rss                          → `rss BYTES` (after a full GC)
//   fanout COUNT PAD ephemeral   → `queued NS` once COUNT events with PAD bytes of padding have
//                                  been handed to every connection (each frame encoded once);
//                                  NS: how long that took
//   latency RATE SECONDS         → `done` after RATE events per second to the connection of user
//                                  `lat`, each carrying its send time in ns
// Connections: `/?user=ID` (ws: any path; Socket.IO: its own `/socket.io/` path, WebSocket
// transport only, no per-message compression — as the Rust servers).
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';
import { Server } from 'socket.io';

const kind = process.argv[2];
// CLOCK_MONOTONIC in ns, as the Rust client reads it (performance.timeOrigin is off by µs).
const nowNs = () => Number(process.hrtime.bigint());
const tick = (n, pad) => ({ n, sent_ns: nowNs(), pad });
const userOf = (url) => new URL(url, 'http://localhost').searchParams.get('user') ?? '';

let fanout;
let toLatencyUser;
let port;

if (kind === 'ws') {
  const clients = new Set();
  let latency = null;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((resolve) => wss.on('listening', resolve));
  port = wss.address().port;
  wss.on('connection', (ws, req) => {
    ws._socket.setNoDelay(true);
    if (userOf(req.url) === 'lat') latency = ws;
    else clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => {});
    ws.send('{"type":"$connected"}');
  });
  const frame = (n, pad) => Buffer.from(JSON.stringify({
    type: 'bench:tick', id: String(n), ts: '2026-01-01T00:00:00.000Z', data: tick(n, pad),
  }));
  fanout = (count, pad) => {
    for (let n = 0; n < count; n++) {
      const data = frame(n, pad); // encoded once, the same buffer sent to everyone
      for (const ws of clients) ws.send(data, { binary: false });
    }
  };
  toLatencyUser = (n) => latency?.send(frame(n, ''), { binary: false });
} else if (kind === 'socketio') {
  const io = new Server({ transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  let latency = null;
  io.on('connection', (socket) => {
    socket.conn.transport.socket?._socket?.setNoDelay?.(true);
    if (socket.handshake.query.user === 'lat') latency = socket;
    else socket.join('all');
  });
  const http = (await import('node:http')).createServer();
  io.attach(http);
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = http.address().port;
  // A broadcast to a room: Socket.IO encodes the packet once and writes it to every socket.
  fanout = (count, pad) => {
    for (let n = 0; n < count; n++) io.to('all').emit('bench:tick', tick(n, pad));
  };
  toLatencyUser = (n) => latency?.emit('bench:tick', tick(n, ''));
} else {
  console.error('usage: node server.mjs ws|socketio');
  process.exit(2);
}

console.log(`port ${port}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, ...args] = line.trim().split(/\s+/);
  if (command === 'rss') {
    globalThis.gc?.();
    console.log(`rss ${process.memoryUsage().rss}`);
  } else if (command === 'fanout') {
    const emitting = process.hrtime.bigint();
    fanout(Number(args[0]), 'x'.repeat(Number(args[1])));
    console.log(`queued ${process.hrtime.bigint() - emitting}`);
  } else if (command === 'latency') {
    const rate = Number(args[0]);
    const total = rate * Number(args[1]);
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const due = start + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait); else if (n % 64 === 0) await sleep(0);
      toLatencyUser(n);
    }
    console.log('done');
  } else {
    break;
  }
}
process.exit(0);
