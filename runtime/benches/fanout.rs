//! Fan-out, memory per idle connection, and latency: Tidings next to the transport's ceiling and
//! two Node peers, in one run on one machine.
//!
//! `cargo bench -p tidings --bench fanout` runs each server in turn in a child process, so that
//! its memory can be read alone:
//! - **ceiling**: a minimal tokio-tungstenite broadcast server doing only the wire work (encode
//!   once, share the frame; per connection an unbounded queue drained whole between one chain of
//!   `feed`s and one `flush`, the read half in a task of its own), with Tidings' read buffer
//!   size and tungstenite's default write buffer (a child of this binary);
//! - **ceiling-raw**: the same, writing its frames itself below tungstenite (each frame's
//!   header and payload copied once into one buffer, one `write` per batch), as Tidings'
//!   sessions do;
//! - **tidings**: `tidings::Server` with a hub (a child of this binary);
//! - **ws**: a broadcast loop on Node's `ws` library, each frame encoded once;
//! - **socketio**: Socket.IO v4, a broadcast to a room (WebSocket transport only).
//!
//! The Node peers are `bench/peers/server.mjs` (`npm ci` there first; without `node_modules`
//! they are left out). The parent is the load generator: N tokio-tungstenite clients on loopback
//! (speaking Engine.IO/Socket.IO to the Socket.IO server), and it drives the child over stdin:
//! - memory: the child's RSS before and after the N connections, divided by N;
//! - fan-out: M events of one payload size to every connection, timed from the command until
//!   every client has received every frame (deliveries per second);
//! - latency: events to one user at a steady rate, each carrying its send time (p50/p99).
//!
//! It measures in rounds (15; the Node peers in the first 5): in each, every server in turn (the
//! first rotating) is started afresh, gets its N clients, one fan-out to warm up (durable: one
//! that fills each user's history to its cap, as on a server that has run a while) and three
//! timed per mode, and is stopped. The servers' fan-outs of a round are seconds apart, so a
//! ratio is taken within a round — both under the same load of the shared machine — and the
//! median of the rounds' ratios reported, with their range. (Measured one server after the
//! other, a minute apart, the ratio moved by ±0.15 with the machine's load.) Latency is
//! measured in the first 3 rounds, and the medians of their p50s and p99s reported. Ratios are
//! taken against the faster of the two ceilings at each size (`ceiling-raw` when the median of
//! its rate over `ceiling`'s in the same rounds is 1 or more, `ceiling` otherwise), and against
//! each of them on lines of their own.
//!
//! `-- --connections 1000,5000` picks the sizes (default 1,000, 5,000 and 10,000),
//! `-- --servers ceiling,tidings` the servers, `-- --rounds 5` the rounds, and `-- --smoke` runs
//! 50 connections once so the suite keeps this building and running. Method and figures:
//! BENCHMARKS.md.
//!
//! `-- --syscalls` also counts the server's socket writes (`sendto` calls) during each timed
//! fan-out, with `perf stat` on the `syscalls:sys_enter_sendto` tracepoint (Debian's
//! `linux-perf`; tracepoints need root or `kernel.perf_event_paranoid` ≤ 1), and prints their
//! median per connection: a fan-out written in fewer, larger writes costs the server and its
//! clients fewer system calls. Without `perf` it says so and goes on without the column.
//!
//! `-- --callgrind DIR` counts instructions instead of timing (valgrind's callgrind; the counts
//! do not move with the machine's load): each Rust server runs under callgrind with
//! instrumentation off, switched on for the fan-outs only, one fan-out of each mode, each mode
//! on a server of its own, dumped to `DIR/<server>.out.1` (ephemeral) and
//! `DIR/<server>-durable.out.1`; `callgrind_annotate` reads them.
//! Everything runs ~50× slower. Use `--connections 1000` (200 events per fan-out): at 200
//! connections a fan-out is 1,000 events, near the outbound queue's 1,024 frames, and under
//! valgrind (one thread at a time) the emitter can queue past it before the sessions write, so
//! connections close as slow consumers, as designed, and the durable run stalls.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{Event, Hub, Principal, Recipients};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Now on `CLOCK_MONOTONIC`, in ns: one clock for every process of the machine (Linux), the
/// one Node's `process.hrtime` reads. (Node's wall clock, `performance.timeOrigin +
/// performance.now()`, read 4–5 µs ahead of `CLOCK_REALTIME` here, which made `ws`'s latency
/// look that much shorter when the samples were stamped with wall clocks.)
fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ───────────────────────────── events ─────────────────────────────

#[derive(Serialize, Deserialize)]
struct Tick {
    n: u64,
    sent_ns: u64,
    pad: String,
}

#[derive(Serialize, Deserialize)]
struct TickDurable(Tick);

impl Event for Tick {
    const NAME: &'static str = "bench:tick";
    const MODULE: &'static str = "bench";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();
    fn recipients(&self) -> Recipients {
        tidings::to_platform()
    }
}

impl Event for TickDurable {
    const NAME: &'static str = "bench:tick";
    const MODULE: &'static str = "bench";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();
    fn recipients(&self) -> Recipients {
        tidings::to_platform()
    }
}

// ───────────────────────────── child: servers ─────────────────────────────

trait BenchServer: Send + Sync {
    fn fanout(&self, count: u64, pad: &str, durable: bool);
    fn to_latency_user(&self, n: u64, pad: &str);
}

struct TidingsServer(Hub);

impl BenchServer for TidingsServer {
    fn fanout(&self, count: u64, pad: &str, durable: bool) {
        for n in 0..count {
            let tick = Tick {
                n,
                sent_ns: now_ns(),
                pad: pad.to_owned(),
            };
            let result = if durable {
                self.0.emit(&TickDurable(tick))
            } else {
                self.0.emit(&tick)
            };
            if let Err(e) = result {
                eprintln!("emit failed: {e}");
            }
        }
    }

    fn to_latency_user(&self, n: u64, pad: &str) {
        let tick = Tick {
            n,
            sent_ns: now_ns(),
            pad: pad.to_owned(),
        };
        let _ = self.0.emit_to(&tick, &tidings::to_user("lat"));
    }
}

/// The ceiling: the fastest plain broadcast server we know how to write on tokio-tungstenite —
/// each frame serialized once and its bytes shared; per connection an unbounded queue and a
/// writer that takes everything queued (`try_recv` until empty) between one chain of `feed`s
/// and one `flush`; the read half in a task of its own. No checks, numbering or bounds: the
/// reference Tidings is measured against.
#[derive(Default)]
struct Ceiling {
    conns: Mutex<Vec<mpsc::UnboundedSender<Utf8Bytes>>>,
    latency: Mutex<Option<mpsc::UnboundedSender<Utf8Bytes>>>,
}

/// The ceiling's event ids: the shape of Tidings' (16 hex digits of the node, then a counter
/// in hex, which its connections' streams and sessions have taken to 4–5 digits by the time
/// events go), so that both servers send frames of the same length.
static CEILING_IDS: AtomicU64 = AtomicU64::new(0x1000);

/// A `bench:tick` frame as Tidings frames it: type, id, an RFC 3339 time of the same length,
/// data.
fn ceiling_frame(n: u64, pad: &str) -> Utf8Bytes {
    let data = serde_json::to_string(&Tick {
        n,
        sent_ns: now_ns(),
        pad: pad.to_owned(),
    })
    .unwrap_or_default();
    let id = CEILING_IDS.fetch_add(1, Ordering::Relaxed);
    Utf8Bytes::from(format!(
        r#"{{"type":"bench:tick","id":"5f3a9c0d2e7b4186{id:x}","ts":"2026-01-01T00:00:00.000Z","data":{data}}}"#
    ))
}

impl Ceiling {
    /// A new connection's queue: the latency client's, or one of the broadcast's.
    fn register(&self, is_latency: bool) -> mpsc::UnboundedReceiver<Utf8Bytes> {
        let (tx, rx) = mpsc::unbounded_channel::<Utf8Bytes>();
        if is_latency {
            *self
                .latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
        } else {
            self.conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(tx);
        }
        rx
    }
}

impl BenchServer for Ceiling {
    fn fanout(&self, count: u64, pad: &str, _durable: bool) {
        for n in 0..count {
            let frame = ceiling_frame(n, pad);
            let conns = self
                .conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for tx in conns.iter() {
                let _ = tx.send(frame.clone());
            }
        }
    }

    fn to_latency_user(&self, n: u64, pad: &str) {
        if let Some(tx) = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            let _ = tx.send(ceiling_frame(n, pad));
        }
    }
}

/// The ceiling's WebSocket buffers: Tidings' read buffer (memory per idle connection compares
/// the servers' work, not their buffer settings) and tungstenite's default write buffer
/// (128 KiB: a batch of frames goes out in as few `write` calls as tungstenite allows — the
/// fastest setting, whatever it keeps in memory after a burst).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(tidings::Limits::default().read_buffer_bytes)
}

/// The ceilings' WebSocket handshake on `stream`: the socket, and whether the client is the
/// latency one (`user=lat`).
// The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn ceiling_handshake<S>(stream: S) -> Option<(tokio_tungstenite::WebSocketStream<S>, bool)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut is_latency = false;
    let callback =
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
         resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
            is_latency = req.uri().query().is_some_and(|q| q.contains("user=lat"));
            Ok(resp)
        };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config()))
        .await
        .ok()?;
    Some((ws, is_latency))
}

async fn ceiling_connection(ceiling: Arc<Ceiling>, tcp: tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Some((ws, is_latency)) = ceiling_handshake(tcp).await else {
        return;
    };
    let mut rx = ceiling.register(is_latency);
    let (mut sink, mut stream) = ws.split();
    // The read half on its own: it reads (and drops) what the client sends until it goes.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    if sink
        .send(Message::Text(r#"{"type":"$connected"}"#.into()))
        .await
        .is_ok()
    {
        'write: while let Some(frame) = rx.recv().await {
            if sink.feed(Message::Text(frame)).await.is_err() {
                break;
            }
            while let Ok(frame) = rx.try_recv() {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    break 'write;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
    }
    reader.abort();
}

/// Appends one text frame to `out` as a server sends it (RFC 6455 §5.2): FIN and opcode 1, the
/// payload length in 7, 16 or 64 bits, no mask; then the payload.
fn put_text_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x81);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// The ceiling writing its frames itself, below tungstenite (`ceiling-raw`): the same server
/// as [`ceiling_connection`], but once the handshake is done (tungstenite's, on the borrowed
/// socket) the socket is split: the read half reads and drops what the client sends, and the
/// writer formats everything queued into one buffer (each frame's header and payload copied
/// once) and writes it with one `write` per batch — tungstenite's write path skipped, as
/// Tidings' sessions skip it (they write frames in parts into their gathered bytes).
async fn raw_ceiling_connection(ceiling: Arc<Ceiling>, mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// Written out when a batch has gathered this much, as tungstenite's default buffer does.
    const GATHER: usize = 128 * 1024;
    let _ = tcp.set_nodelay(true);
    let Some((_, is_latency)) = ceiling_handshake(&mut tcp).await else {
        return;
    };
    let mut rx = ceiling.register(is_latency);
    let (mut read, mut write) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; tidings::Limits::default().read_buffer_bytes];
        while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let mut out = Vec::new();
    put_text_frame(&mut out, br#"{"type":"$connected"}"#);
    if write.write_all(&out).await.is_ok() {
        out = Vec::new();
        'write: while let Some(frame) = rx.recv().await {
            put_text_frame(&mut out, frame.as_bytes());
            while let Ok(frame) = rx.try_recv() {
                put_text_frame(&mut out, frame.as_bytes());
                if out.len() >= GATHER {
                    if write.write_all(&out).await.is_err() {
                        break 'write;
                    }
                    out.clear();
                }
            }
            if write.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
    }
    reader.abort();
}

fn child(kind: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let listener_addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let server: Arc<dyn BenchServer> = match kind {
            "tidings" => {
                let mut limits = tidings::Limits::default();
                limits.max_connections_per_user = 4;
                let hub = Hub::builder()
                    .authenticator(|r: &tidings::UpgradeRequest| {
                        Ok(Principal::user(r.query("user").unwrap_or_default()).in_tenant("bench"))
                    })
                    .limits(limits)
                    .build();
                let server = tidings::Server::bind(listener_addr).await.expect("bind");
                println!("port {}", server.local_addr().expect("addr").port());
                let serving = hub.clone();
                tokio::spawn(async move { server.serve(serving).await });
                Arc::new(TidingsServer(hub))
            }
            _ => {
                let ceiling = Arc::new(Ceiling::default());
                // The same listen backlog as `tidings::Server` (4,096), so that a storm of
                // connections measures the servers, not the kernel's queue.
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                socket.bind(listener_addr).expect("bind");
                let listener = socket.listen(4096).expect("listen");
                println!("port {}", listener.local_addr().expect("addr").port());
                let accepting = ceiling.clone();
                let raw = kind == "ceiling-raw";
                tokio::spawn(async move {
                    while let Ok((tcp, _)) = listener.accept().await {
                        if raw {
                            tokio::spawn(raw_ceiling_connection(accepting.clone(), tcp));
                        } else {
                            tokio::spawn(ceiling_connection(accepting.clone(), tcp));
                        }
                    }
                });
                ceiling
            }
        };
        let mut lines = BufReader::new(std::io::stdin()).lines();
        while let Some(Ok(line)) = tokio::task::block_in_place(|| lines.next()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["rss"] => println!("rss {}", rss_bytes()),
                ["fanout", count, size, mode] => {
                    let pad = "x".repeat(size.parse().unwrap_or(0));
                    let emitting = Instant::now();
                    server.fanout(count.parse().unwrap_or(1), &pad, *mode == "durable");
                    println!("queued {}", emitting.elapsed().as_nanos());
                }
                ["latency", rate, seconds] => {
                    let rate: u64 = rate.parse().unwrap_or(100);
                    let total = rate * seconds.parse::<u64>().unwrap_or(1);
                    // Paced on a thread of its own, whose runtime runs the timer and the emit
                    // on that one thread, as Node's event loop does. Paced from the serving
                    // runtime, each tick's new deadline woke the worker that held the I/O
                    // driver (an eventfd write and a futex wake per event), which then competed
                    // with the client for the two cores.
                    let server = server.clone();
                    let pacer = std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                            .expect("runtime");
                        rt.block_on(async move {
                            let mut tick = tokio::time::interval(Duration::from_nanos(
                                1_000_000_000 / rate.max(1),
                            ));
                            for n in 0..total {
                                tick.tick().await;
                                server.to_latency_user(n, "");
                            }
                        });
                    });
                    tokio::task::block_in_place(|| pacer.join()).expect("the pacer");
                    println!("done");
                }
                _ => break,
            }
            let _ = std::io::stdout().flush();
        }
    });
}

// ───────────────────────────── parent: clients ─────────────────────────────

struct ChildServer {
    process: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

/// `--callgrind DIR`: where the instruction counts go (see the module's docs).
static CALLGRIND: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Runs `callgrind_control ARG PID` (switching instrumentation, dumping counts).
fn callgrind_control(arg: &str, pid: u32) {
    let status = Command::new("callgrind_control")
        .args([arg, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("callgrind_control (valgrind) runs");
    assert!(status.success(), "callgrind_control {arg} {pid} failed");
}

impl ChildServer {
    /// Starts `kind`; under `--callgrind`, its counts go to `DIR/<kind><label>.out.<n>`.
    fn start(kind: &str, label: &str) -> ChildServer {
        let native = Protocol::of(kind) == Protocol::Native;
        let mut command = if let (true, Some(dir)) = (native, CALLGRIND.get()) {
            let mut c = Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg("--instr-atstart=no")
                .arg(format!(
                    "--callgrind-out-file={}",
                    dir.join(format!("{kind}{label}.out")).display()
                ))
                .arg(std::env::current_exe().expect("exe"))
                .args(["--child", kind]);
            c
        } else if native {
            let mut c = Command::new(std::env::current_exe().expect("exe"));
            c.args(["--child", kind]);
            c
        } else {
            let mut c = Command::new("node");
            c.arg("--expose-gc")
                .arg(peers_dir().join("server.mjs"))
                .arg(kind);
            c
        };
        let mut process = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child server");
        let stdin = process.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(process.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("port line");
        let port = line
            .trim()
            .trim_start_matches("port ")
            .parse()
            .expect("port number");
        ChildServer {
            process,
            stdin,
            stdout,
            port,
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write command");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        line.trim().to_owned()
    }

    fn rss(&mut self) -> u64 {
        self.ask("rss")
            .trim_start_matches("rss ")
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Where the Node peers live (`bench/peers`, with its `node_modules` from `npm ci`).
fn peers_dir() -> std::path::PathBuf {
    std::env::var_os("TIDINGS_BENCH_PEERS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/peers"),
        std::path::PathBuf::from,
    )
}

/// How a client talks to a server: plain WebSocket frames (Tidings, the ceiling, Node `ws`), or
/// Socket.IO v4 (Engine.IO open packet, namespace connect, `42[...]` events, ping/pong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Native,
    Ws,
    SocketIo,
}

impl Protocol {
    fn of(kind: &str) -> Protocol {
        match kind {
            "ws" => Protocol::Ws,
            "socketio" => Protocol::SocketIo,
            _ => Protocol::Native,
        }
    }

    fn url(self, port: u16, user: &str) -> String {
        match self {
            Protocol::SocketIo => {
                format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&user={user}")
            }
            _ => format!("ws://127.0.0.1:{port}/ws?user={user}"),
        }
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects one client and waits until the server has accepted it (`$connected`, or Socket.IO's
/// namespace connect).
async fn connect(protocol: Protocol, port: u16, user: &str) -> Client {
    let url = protocol.url(port, user);
    let (mut ws, _) =
        match tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true).await {
            Ok(c) => c,
            Err(e) => panic!("client {user} could not connect: {e}"),
        };
    if protocol == Protocol::SocketIo {
        // Engine.IO `0{...}` (open), then join the default namespace and wait for its `40{...}`.
        let _open = ws.next().await;
        ws.send(Message::Text("40".into()))
            .await
            .expect("socket.io connect");
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(&msg, Message::Text(t) if t.as_str().starts_with("40")) {
                break;
            }
        }
    } else {
        let _connected = ws.next().await;
    }
    ws
}

/// A storm: `n` clients connect at the same moment (a deploy, a network blip); how long each
/// took until the server had accepted it (its first frame: `$connected`, the ceiling's hello,
/// Socket.IO's namespace connect), in ms, sorted; and how many did not get there within 30 s.
async fn storm(kind: &str, n: usize) -> (Vec<f64>, usize) {
    let server = ChildServer::start(kind, "");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let protocol = Protocol::of(kind);
    let port = server.port;
    let start = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let connected = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio::spawn(async move { connect(protocol, port, &format!("s{i}")).await }),
                )
                .await;
                match connected {
                    Ok(Ok(ws)) => Some((start.elapsed().as_secs_f64() * 1e3, ws)),
                    _ => None,
                }
            })
        })
        .collect();
    let mut times = Vec::with_capacity(n);
    let mut open = Vec::with_capacity(n);
    for c in clients {
        if let Ok(Some((ms, ws))) = c.await {
            times.push(ms);
            open.push(ws);
        }
    }
    times.sort_by(f64::total_cmp);
    let failed = n - times.len();
    drop(open);
    drop(server);
    (times, failed)
}

/// The next text frame carrying a benchmark event, answering Engine.IO pings on the way.
async fn next_tick(ws: &mut Client) -> Option<Utf8Bytes> {
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            if t.as_str() == "2" {
                let _ = ws.send(Message::Text("3".into())).await;
            } else if t.as_str().contains("bench:tick") {
                return Some(t);
            }
        }
    }
    None
}

/// The `sent_ns` number in an event frame, whatever its envelope.
fn sent_ns(frame: &str) -> Option<u64> {
    let rest = &frame[frame.find("\"sent_ns\":")? + 10..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

async fn open_clients(
    protocol: Protocol,
    port: u16,
    n: usize,
    received: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::with_capacity(n);
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    let ready = Arc::new(AtomicU64::new(0));
    for i in 0..n {
        let received = received.clone();
        let ready = ready.clone();
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        handles.push(tokio::spawn(async move {
            let mut ws = connect(protocol, port, &format!("u{i}")).await;
            ready.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            while next_tick(&mut ws).await.is_some() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while ready.load(Ordering::Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handles
}

/// What a server's rounds measured at one size: per round, its deliveries per second and CPU
/// per delivery (ephemeral; durable for Tidings) and its memory per idle connection; latency
/// from the first round.
#[derive(Default)]
struct Figures {
    bytes_per_conn: Vec<f64>,
    ephemeral: Vec<(f64, Cpu)>,
    durable: Vec<(f64, Cpu)>,
    /// p50 and p99 of each round that measured latency, µs.
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
}

/// The median of `xs` (0 when empty).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

impl Figures {
    fn rates(fans: &[(f64, Cpu)]) -> Vec<f64> {
        fans.iter().map(|(rate, _)| *rate).collect()
    }

    /// The CPU figures of the fan-out with the median server CPU per delivery.
    fn cpu(fans: &[(f64, Cpu)]) -> Option<Cpu> {
        let mut cpus: Vec<Cpu> = fans.iter().map(|(_, c)| *c).collect();
        cpus.sort_by(|a, b| a.server.total_cmp(&b.server));
        cpus.get(cpus.len() / 2).copied()
    }
}

/// CPU time per delivery in one fan-out, ns; and how long the server's emitting loop took, next
/// to the whole fan-out (from the command to the last frame received), ms. An emitter that
/// takes most of the fan-out's time is what holds it up.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    server: f64,
    clients: f64,
    emit_ms: f64,
    fanout_ms: f64,
    /// Under `--syscalls`: the server's `sendto` calls (its socket writes) per connection.
    writes: Option<f64>,
}

/// `--syscalls`: the server's system calls counted during each timed fan-out (see the
/// module's docs).
static SYSCALLS: OnceLock<()> = OnceLock::new();

/// `perf stat` attached to a server for one fan-out: its output file and process.
struct Syscalls {
    perf: Child,
    out: std::path::PathBuf,
}

impl Syscalls {
    /// Starts counting the system calls of process `pid` (`perf stat` on the `sendto`
    /// tracepoint); `None`, said on stderr, when `perf` cannot be started.
    fn attach(pid: u32) -> Option<Syscalls> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let out = std::env::temp_dir().join(format!(
            "tidings-fanout-syscalls-{}-{}.csv",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let perf = Command::new("perf")
            .args(["stat", "-x,", "-e", "syscalls:sys_enter_sendto", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match perf {
            Ok(perf) => {
                // perf opens its counters after it starts: give it the time to.
                std::thread::sleep(Duration::from_millis(100));
                Some(Syscalls { perf, out })
            }
            Err(e) => {
                Syscalls::warn(&format!("perf could not be started ({e})"));
                None
            }
        }
    }

    /// Says on stderr, once per run, why the writes are not counted.
    fn warn(why: &str) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| eprintln!("--syscalls: {why}; the writes are not counted"));
    }

    /// Stops counting (SIGINT, on which `perf stat` writes its counts): the `sendto` calls;
    /// `None`, said on stderr, when perf counted nothing (no permission for tracepoints:
    /// `kernel.perf_event_paranoid`, or no tracefs).
    fn finish(mut self) -> Option<u64> {
        let _ = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status();
        let _ = self.perf.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        // CSV lines: value, unit, event, ...; `<not supported>` or `<not counted>` as value
        // when it could not count.
        let sendto = text.lines().find_map(|line| {
            let mut fields = line.split(',');
            let value = fields.next()?;
            (fields.nth(1)? == "syscalls:sys_enter_sendto").then(|| value.parse().ok())?
        });
        if sendto.is_none() {
            Syscalls::warn(&format!("perf counted nothing: {}", text.trim()));
        }
        sendto
    }
}

/// CPU time process `pid`'s threads have used (the first field of each
/// `/proc/PID/task/*/schedstat`: user and kernel time, ns).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A server in its child process, with its N clients connected.
struct Running {
    kind: String,
    server: ChildServer,
    n: usize,
    received: Arc<AtomicU64>,
    clients: Vec<tokio::task::JoinHandle<()>>,
    bytes_per_conn: f64,
}

impl Running {
    /// Starts `kind` (to run fan-outs in `mode`) and connects `n` clients to it; its memory
    /// per connection is the child's RSS after them less before, over `n`.
    async fn start(kind: &str, mode: &str, n: usize) -> Running {
        let label = if mode == "ephemeral" {
            String::new()
        } else {
            format!("-{mode}")
        };
        let mut server = ChildServer::start(kind, &label);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = server.rss();
        let received = Arc::new(AtomicU64::new(0));
        let clients = open_clients(Protocol::of(kind), server.port, n, received.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss();
        Running {
            kind: kind.to_owned(),
            server,
            n,
            received,
            clients,
            bytes_per_conn: after.saturating_sub(before) as f64 / n as f64,
        }
    }

    /// One fan-out of `events` events in `mode` (`ephemeral`, `durable`): deliveries per
    /// second, from the command until every client has every frame, and CPU per delivery.
    /// Under `--callgrind` (`profiled`), the server counts instructions for this fan-out only.
    fn fan(&mut self, events: u64, mode: &str, profiled: bool) -> (f64, Cpu) {
        let kind = &self.kind;
        let deliveries = events * self.n as u64;
        let (server_pid, own_pid) = (self.server.process.id(), std::process::id());
        if profiled {
            callgrind_control("--instr=on", server_pid);
        }
        let counting = SYSCALLS.get().and_then(|_| Syscalls::attach(server_pid));
        let target = self.received.load(Ordering::Relaxed) + deliveries;
        let start = Instant::now();
        let cpu_before = (cpu_ns(server_pid), cpu_ns(own_pid));
        let answer = self.server.ask(&format!("fanout {events} 200 {mode}"));
        let emit_ns = answer
            .strip_prefix("queued ")
            .and_then(|ns| ns.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{kind}: `queued NS` expected, got {answer:?}"));
        let deadline = start + Duration::from_secs(if profiled { 1200 } else { 120 });
        while self.received.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "{kind}: deliveries stalled at {} of {target}",
                self.received.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = start.elapsed();
        let writes = counting
            .and_then(Syscalls::finish)
            .map(|sendto| sendto as f64 / self.n as f64);
        let per = |ns: u64| ns as f64 / deliveries as f64;
        let cpu = Cpu {
            server: per(cpu_ns(server_pid).saturating_sub(cpu_before.0)),
            clients: per(cpu_ns(own_pid).saturating_sub(cpu_before.1)),
            emit_ms: emit_ns / 1e6,
            fanout_ms: elapsed.as_secs_f64() * 1e3,
            writes,
        };
        if profiled {
            callgrind_control("--instr=off", server_pid);
            callgrind_control("--dump", server_pid);
        }
        (deliveries as f64 / elapsed.as_secs_f64(), cpu)
    }

    /// Latency: one more connection, user "lat", events at a steady 1,000/s for `seconds`
    /// while the N others stay connected; p50 and p99 of arrival − send, µs. Stops the server.
    async fn latency(mut self, seconds: u64) -> (f64, f64) {
        let mut lat = connect(Protocol::of(&self.kind), self.server.port, "lat").await;
        let collector = tokio::spawn(async move {
            let mut samples = Vec::new();
            while let Some(t) = next_tick(&mut lat).await {
                if let Some(sent) = sent_ns(t.as_str()) {
                    samples.push(now_ns().saturating_sub(sent));
                }
            }
            samples
        });
        let answer =
            tokio::task::block_in_place(|| self.server.ask(&format!("latency 1000 {seconds}")));
        assert_eq!(answer, "done");
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(self);
        let mut samples = tokio::time::timeout(Duration::from_secs(10), collector)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        samples.sort_unstable();
        let pct = |p: f64| {
            samples
                .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0) as f64
                / 1e3
        };
        (pct(0.50), pct(0.99))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &self.clients {
            c.abort();
        }
    }
}

/// Timed fan-outs per server, mode and round.
const TIMED_PER_ROUND: usize = 3;

/// Rounds of the Rust servers (`--rounds` sets it). A round's ratio depends on how that
/// round's two server processes landed on the shared cores: the rounds of one invocation
/// differed by more than the fan-outs within a round (0.80× and 1.07× as the medians of two
/// rounds of one invocation, 9 fan-outs each), so the bench takes many rounds of few fan-outs.
const ROUNDS: usize = 15;

/// Rounds of the Node peers, at most: a fan-out of theirs takes seconds (30× the Rust
/// servers'), and the figures they are compared on are an order of magnitude apart.
const PEER_ROUNDS: usize = 5;

/// Rounds whose latency is measured, the first ones: each is one sample of 3 s, and the
/// median of their p50s and p99s is reported (a p99 of one sample moved by 2× between
/// invocations).
const LATENCY_ROUNDS: usize = 3;

/// Measures `servers` at `n` connections in `runs` rounds (the Node peers in the first
/// [`PEER_ROUNDS`] of them). In each round every server in turn (the first one rotating from
/// round to round) is started afresh, gets its `n` clients, one fan-out to warm it up (as long
/// for every server: the events that fill the users' histories to their cap for durable ones)
/// and [`TIMED_PER_ROUND`] timed ones, and is stopped — for Tidings once per mode, ephemeral
/// then durable, each on a server of its own; in the first [`LATENCY_ROUNDS`] rounds each
/// server's latency is measured too, after its ephemeral fan-outs. The servers' fan-outs of
/// one round are seconds apart, so a ratio taken within a round (a server's k-th timed fan-out over the
/// ceiling's k-th) compares them under the same load of this shared machine, which drifts over
/// a minute by more than the differences measured.
async fn measure_all(
    servers: &[String],
    n: usize,
    events: u64,
    runs: usize,
    latency_seconds: u64,
) -> Vec<(String, Figures)> {
    // Timed fan-outs per round and mode (one under callgrind, which counts instructions: no
    // noise to average out).
    let timed = if CALLGRIND.get().is_some() {
        1
    } else {
        TIMED_PER_ROUND
    };
    let warm_up = events + tidings::History::default().max_events as u64;
    let mut figures: Vec<(String, Figures)> = servers
        .iter()
        .map(|k| (k.clone(), Figures::default()))
        .collect();
    for round in 0..runs {
        for j in 0..servers.len() {
            let at = (round + j) % servers.len();
            let kind = servers[at].as_str();
            let native = Protocol::of(kind) == Protocol::Native;
            if round >= PEER_ROUNDS && !native {
                continue;
            }
            let profiled = CALLGRIND.get().is_some() && native;
            let f = &mut figures[at].1;
            let mut modes = vec![("ephemeral", false)];
            if kind == "tidings" {
                modes.push(("durable", true));
            }
            for (mode, durable) in modes {
                // Each mode on a server of its own, started afresh with its clients: measured
                // on the server that had just run the ephemeral fan-outs, Tidings' durable ones
                // read 0.04–0.08 higher against the ceilings than measured first (BENCHMARKS.md,
                // "The emitter's layers folded").
                let mut running = Running::start(kind, mode, n).await;
                // The same warm-up for every server and mode: the events a durable server needs
                // to fill each user's history to its cap, as a server that has run a while holds
                // it, so that a timed fan-out stores each event in place of the oldest rather
                // than growing the history.
                running.fan(warm_up, mode, false);
                for _ in 0..timed {
                    let fan = running.fan(events, mode, profiled);
                    if durable {
                        f.durable.push(fan);
                    } else {
                        f.ephemeral.push(fan);
                    }
                }
                if !durable {
                    f.bytes_per_conn.push(running.bytes_per_conn);
                    if round < LATENCY_ROUNDS {
                        let (p50, p99) = running.latency(latency_seconds).await;
                        f.p50_us.push(p50);
                        f.p99_us.push(p99);
                    }
                }
            }
        }
    }
    figures
}

/// The value of `--name a,b,c` split at commas, or `default`.
fn list_arg(args: &[String], name: &str, default: &str) -> Vec<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args.get(i + 1).map_or("tidings", String::as_str));
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    if args.iter().any(|a| a == "--syscalls") {
        let _ = SYSCALLS.set(());
    }
    if let Some(dir) = list_arg(&args, "--callgrind", "").first() {
        std::fs::create_dir_all(dir).expect("--callgrind DIR is writable");
        let _ = CALLGRIND.set(std::path::PathBuf::from(dir));
    }
    let sizes: Vec<usize> = list_arg(
        &args,
        "--connections",
        if smoke { "50" } else { "1000,5000,10000" },
    )
    .iter()
    .map(|n| n.parse().expect("--connections takes numbers"))
    .collect();
    // The Node peers need `npm ci` in bench/peers; without it they are left out (and said so).
    let have_peers = peers_dir().join("node_modules").is_dir();
    let default_servers = if have_peers {
        "ceiling,ceiling-raw,tidings,ws,socketio"
    } else {
        "ceiling,ceiling-raw,tidings"
    };
    let servers = list_arg(&args, "--servers", default_servers);
    if !have_peers {
        println!(
            "(Node peers left out: no {}; run `npm ci` there)",
            peers_dir().join("node_modules").display()
        );
    }
    let (runs, latency_seconds) = if smoke {
        (1, 1)
    } else {
        let rounds = list_arg(&args, "--rounds", "");
        let runs = rounds
            .first()
            .map_or(ROUNDS, |r| r.parse().expect("--rounds takes a number"));
        (runs.max(1), 3)
    };
    // At least 20 events and 200,000 deliveries per fan-out, so that a fan-out to few clients
    // still takes long enough to time; at most 1,000 events, so that a burst fits the default
    // outbound queue (1,024 frames) and no client is cut off as a slow consumer.
    let events_for = |n: usize| {
        if smoke {
            2
        } else {
            (200_000 / n.max(1)).clamp(20, 1_000) as u64
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `--storm 10000`: only the connection storm, at each size.
    let storm_sizes: Vec<usize> = list_arg(&args, "--storm", "")
        .iter()
        .map(|n| n.parse().expect("--storm takes numbers"))
        .collect();
    if !storm_sizes.is_empty() {
        rt.block_on(async move {
            for &n in &storm_sizes {
                println!();
                println!("storm: {n} clients connect at once; time from the start until each has the server's first frame");
                println!(
                    "{:<10} {:>9} {:>9} {:>9} {:>7}",
                    "server", "p50 ms", "p99 ms", "max ms", "failed"
                );
                for kind in &servers {
                    let (times, failed) = storm(kind, n).await;
                    let pct = |p: f64| {
                        times
                            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
                            .copied()
                            .unwrap_or(f64::NAN)
                    };
                    println!(
                        "{kind:<10} {:>9.0} {:>9.0} {:>9.0} {failed:>7}",
                        pct(0.50),
                        pct(0.99),
                        times.last().copied().unwrap_or(f64::NAN),
                    );
                }
            }
        });
        return;
    }
    rt.block_on(async move {
        for &n in &sizes {
            let events = events_for(n);
            println!();
            println!("{n} connections; {events} events with 200 bytes of padding per fan-out; {runs} rounds, Node peers in {} (each server started afresh, one warm-up and {TIMED_PER_ROUND} timed fan-outs per mode), medians, ratios within a round; latency at 1,000 events/s for {latency_seconds} s in each of {} rounds, medians", runs.min(PEER_ROUNDS), runs.min(LATENCY_ROUNDS));
            let results = measure_all(&servers, n, events, runs, latency_seconds).await;
            let of = |kind: &str| results.iter().find(|(k, _)| k == kind).map(|(_, f)| f);
            // Per round, a server's rate over the reference's in the same round; the median.
            let ratio_of = |fans: &[(f64, Cpu)], to: Option<&Figures>| -> String {
                let Some(to) = to else {
                    return "-".to_owned();
                };
                let ratios: Vec<f64> = fans
                    .iter()
                    .zip(&to.ephemeral)
                    .map(|((x, _), (c, _))| x / c)
                    .collect();
                if ratios.is_empty() {
                    return "-".to_owned();
                }
                let (lo, hi) = ratios
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
                format!("{:.2}× ({lo:.2}–{hi:.2})", median(ratios))
            };
            // The reference: the faster of the two ceilings at this size, since a ratio is only
            // as honest as the fastest plain server doing the same wire work. Faster as the
            // ratios are taken: the median of `ceiling-raw`'s rate over `ceiling`'s in the same
            // rounds (by the medians of each one's rates over all rounds, a ceiling could be
            // named faster and show below 1.00× against the other in the table). One ceiling
            // for every round, not the faster of each round's two: that would be a reference
            // inflated by the noise.
            let (plain, raw) = (of("ceiling"), of("ceiling-raw"));
            let ceiling = match (plain, raw) {
                (Some(plain), Some(raw)) => {
                    let raw_over_plain = median(
                        raw.ephemeral
                            .iter()
                            .zip(&plain.ephemeral)
                            .map(|((r, _), (p, _))| r / p)
                            .collect(),
                    );
                    let (kind, faster) = if raw_over_plain >= 1.0 {
                        ("ceiling-raw", raw)
                    } else {
                        ("ceiling", plain)
                    };
                    println!(
                        "ratios against the faster ceiling at this size: {kind} (ceiling-raw / ceiling in the same rounds: {raw_over_plain:.2}×)"
                    );
                    Some(faster)
                }
                (one, other) => one.or(other),
            };
            println!(
                "{:<12} {:>13} {:>19} {:>13} {:>19} {:>8} {:>8} {:>11}",
                "server", "deliveries/s", "× ref. (range)", "durable/s", "× ref. (range)", "p50 µs", "p99 µs", "bytes/conn"
            );
            for (name, f) in &results {
                let durable = (!f.durable.is_empty()).then(|| median(Figures::rates(&f.durable)));
                println!(
                    "{name:<12} {:>13.0} {:>19} {:>13} {:>19} {:>8.0} {:>8.0} {:>11.0}",
                    median(Figures::rates(&f.ephemeral)),
                    ratio_of(&f.ephemeral, ceiling),
                    durable.map_or("-".to_owned(), |d| format!("{d:.0}")),
                    if durable.is_some() { ratio_of(&f.durable, ceiling) } else { "-".to_owned() },
                    median(f.p50_us.clone()),
                    median(f.p99_us.clone()),
                    median(f.bytes_per_conn.clone()),
                );
            }
            println!(
                "{:<12} {:>22} {:>22} {:>26} {:>18}",
                "CPU ns per delivery",
                "server (durable)",
                "clients (durable)",
                "emit/fan-out ms (durable)",
                if SYSCALLS.get().is_some() { "writes/conn (dur.)" } else { "" },
            );
            for (name, f) in &results {
                let (Some(e), d) = (Figures::cpu(&f.ephemeral), Figures::cpu(&f.durable)) else {
                    continue;
                };
                // `x`, and `y` in brackets when there is one, with `digits` decimals.
                let with_digits = |x: f64, y: Option<f64>, digits: usize| match y {
                    Some(y) => format!("{x:.digits$} ({y:.digits$})"),
                    None => format!("{x:.digits$}"),
                };
                let with = |x: f64, y: Option<f64>| with_digits(x, y, 0);
                let ms = |c: Cpu| format!("{:.0}/{:.0}", c.emit_ms, c.fanout_ms);
                // Under `--syscalls`: the median of the fan-outs' writes per connection.
                let writes = |fans: &[(f64, Cpu)]| {
                    let counted: Vec<f64> = fans.iter().filter_map(|(_, c)| c.writes).collect();
                    (!counted.is_empty()).then(|| median(counted))
                };
                let writes = writes(&f.ephemeral)
                    .map(|e| with_digits(e, writes(&f.durable), 2))
                    .unwrap_or_default();
                println!(
                    "{name:<19} {:>22} {:>22} {:>26} {:>18}",
                    with(e.server, d.map(|d| d.server)),
                    with(e.clients, d.map(|d| d.clients)),
                    match d {
                        Some(d) => format!("{} ({})", ms(e), ms(d)),
                        None => ms(e),
                    },
                    writes,
                );
            }
            let of = |kind: &str| results.iter().find(|(k, _)| *k == kind).map(|(_, f)| f);
            if let Some(t) = of("tidings") {
                for kind in ["ceiling", "ceiling-raw"] {
                    if let Some(c) = of(kind) {
                        println!(
                            "tidings against {kind}, same rounds: ephemeral {}, durable {}",
                            ratio_of(&t.ephemeral, Some(c)),
                            ratio_of(&t.durable, Some(c)),
                        );
                    }
                }
            }
        }
    });
}
