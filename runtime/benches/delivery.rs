//! Delivery figures of docs/delivery.md: fan-out on one node next to two nodes through Redis,
//! replay of 1,000 missed events, and the memory of the history per 10,000 users.
//!
//! `cargo bench -p tidings --features redis --bench delivery` starts its own `redis-server` on a
//! free loopback port (no persistence), servers on 127.0.0.1 and real WebSocket clients, all in
//! this process:
//! - **fan-out**: U users with one connection each to one node, and U more split over two nodes
//!   sharing Redis (events emitted from a third); a burst is E durable events to every user of
//!   the tenant, then 10×E ephemeral ones, timed from the first emit until every client has
//!   every frame (the last frame counted wakes the timer). After one untimed round, each of R
//!   rounds runs the bursts on one node and through Redis back to back, which side first
//!   alternating; the ratio is the median of the rounds' ratios, the rates the medians of the
//!   rounds' (U = 1,000, E = 20, R = 15); then the same with E = 1 (a single broadcast), 3R
//!   rounds;
//! - **replay**: a user leaves, 1,000 events are addressed to them, they reconnect with their
//!   position (through Redis: to the other node); time from the connect until
//!   `$pending_complete`, median of 5. Its reference, **live**: the same 1,000 events addressed
//!   to a user who stays connected (through Redis: to the second node, emitted from the third),
//!   timed from the first emit until the client has the last; median of 5;
//! - **history memory**: 10,000 users connect once and leave (their streams are retained), then
//!   each is sent H events; the in-memory figure is the growth of this process's RSS while only
//!   the histories grow, per user; the Redis figure is the growth of `used_memory` (it includes
//!   the per-event de-duplication keys, which expire after 60 s).
//!
//! `-- --smoke` runs tiny sizes once so the suite keeps this building and running.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tidings::broker::redis::RedisBroker;
use tidings::broker::BrokerStatus;
use tidings::schema::{Delivery, Direction};
use tidings::{
    to_tenant, to_user, AuthError, Event, History, Hub, Principal, Recipients, Server,
    UpgradeRequest,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// This process's resident memory (the servers, clients and Redis client all live here; the
/// memory figure is a difference taken while only the history grows).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ───────────────────────────── events and servers ─────────────────────────────

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fact {
    n: u64,
    text: String,
}

impl Event for Fact {
    const NAME: &'static str = "bench:fact";
    const MODULE: &'static str = "bench";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Blip {
    n: u64,
    text: String,
}

impl Event for Blip {
    const NAME: &'static str = "bench:blip";
    const MODULE: &'static str = "bench";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();
}

/// About 100 bytes of payload, as a typical event.
fn text() -> String {
    "x".repeat(80)
}

fn auth(req: &UpgradeRequest) -> Result<Principal, AuthError> {
    let user = req
        .query("user")
        .ok_or_else(|| AuthError::unauthorized("no user"))?;
    Ok(Principal::user(user).in_tenant("bench"))
}

fn hub(broker: Option<RedisBroker>, history: History) -> Hub {
    let mut b = Hub::builder().authenticator(auth).history(history);
    if let Some(broker) = broker {
        b = b.broker(broker);
    }
    b.build()
}

async fn serve(hub: Hub) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(hub));
    addr
}

/// A `redis-server` of the bench's own: the integration tests' helper, one implementation.
#[path = "../tests/it/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer as Redis;

/// CPU time the server has used (`used_cpu_user` + `used_cpu_sys` of `INFO cpu`), in s.
fn redis_cpu_seconds(redis: &Redis) -> f64 {
    let info = redis.info("cpu");
    ["used_cpu_user", "used_cpu_sys"]
        .iter()
        .filter_map(|name| redis_server::field(&info, name)?.parse::<f64>().ok())
        .sum()
}

/// `(calls, usec)` of one command in the text of `INFO commandstats`
/// (`cmdstat_<name>:calls=…,usec=…`).
fn redis_command_stats(info: &str, name: &str) -> (u64, u64) {
    let value = |key: &str| -> u64 {
        redis_server::field(info, &format!("cmdstat_{name}"))
            .and_then(|stats| {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (value("calls"), value("usec"))
}

/// `used_memory` of `INFO memory`, in bytes.
fn redis_used_memory(redis: &Redis) -> u64 {
    let info = redis.info("memory");
    redis_server::field(&info, "used_memory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn broker(redis: &Redis, ns: &str) -> RedisBroker {
    RedisBroker::builder(redis.url())
        .namespace(ns)
        .build()
        .expect("url")
}

async fn healthy(hub: &Hub) {
    while hub.broker_status() != Some(BrokerStatus::Healthy) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ───────────────────────────── clients ─────────────────────────────

/// Connects `users` clients (user i to `addrs[i % addrs.len()]`) that count the frames of
/// each kind they receive.
///
/// Each client reads into an 8 KiB buffer: tungstenite zero-fills its whole read buffer before
/// every read (128 KiB by default), which took 6–11% of this process's CPU through Redis, where
/// frames arrive in smaller bursts and each read carries fewer of them.
async fn clients(addrs: &[SocketAddr], users: usize, received: Arc<Received>) {
    let ready = Arc::new(AtomicU64::new(0));
    let config = WebSocketConfig::default().read_buffer_size(8 << 10);
    for i in 0..users {
        let addr = addrs[i % addrs.len()];
        let (received, ready) = (received.clone(), ready.clone());
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
            format!("ws://{addr}/ws?user=u{i}"),
            Some(config),
            false,
        )
        .await
        .expect("connect");
        tokio::spawn(async move {
            let _connected = ws.next().await;
            ready.fetch_add(1, Ordering::Relaxed);
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    if t.as_str().contains("\"bench:") {
                        received.add();
                    }
                }
            }
        });
    }
    while ready.load(Ordering::Relaxed) < users as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The frames the clients of one side counted, and a wake-up when they reach a target: a
/// burst's time stops when its last frame is counted, not at the next tick of tokio's timer
/// (a millisecond: a tenth of a single broadcast's time on one node, 3–5% of a burst of 20).
#[derive(Default)]
struct Received {
    count: AtomicU64,
    target: AtomicU64,
    reached: tokio::sync::Notify,
}

impl Received {
    fn add(&self) {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }

    /// The count now, and the target it is to reach (set before the burst's first emit).
    fn expect(&self, more: u64) -> u64 {
        let target = self.count.load(Ordering::SeqCst) + more;
        self.target.store(target, Ordering::SeqCst);
        target
    }

    /// Waits until the count reaches `target` (a notification left from an earlier burst only
    /// makes it look again).
    async fn wait_for(&self, target: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        while self.count.load(Ordering::SeqCst) < target {
            let woke = tokio::time::timeout_at(deadline, self.reached.notified()).await;
            assert!(
                woke.is_ok(),
                "deliveries stalled at {} of {target}",
                self.count.load(Ordering::SeqCst)
            );
        }
    }
}

/// CPU time this process's threads have used (the first field of each
/// `/proc/self/task/*/schedstat`, ns), in s: servers and clients together.
fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// CPU time per durable delivery: this process (servers and clients) and Redis, in µs.
#[derive(Default)]
struct CpuPerDelivery {
    process: f64,
    redis: f64,
    /// Redis's time in the numbering script per stream and call, µs: `EVALSHA`'s `usec` in
    /// `INFO commandstats` over the durable bursts, divided by the streams numbered (the
    /// script's one `LINDEX` of each stream's last entry; the attach reads use `LINDEX` too,
    /// but they come before the bursts). Redis
    /// measures it on the wall clock, so it includes time Redis was preempted on the shared
    /// cores: compare it between builds run alternately, not as CPU time.
    script_per_stream: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    })
}

/// One side of the fan-out comparison: an emitting hub and the clients of its tenant.
struct Side<'r> {
    emitter: Hub,
    received: Arc<Received>,
    users: usize,
    /// The Redis its nodes share, when it has one.
    redis: Option<&'r Redis>,
}

/// What one burst measured.
struct Burst {
    /// Deliveries per second, from the first emit until every client has every frame.
    rate: f64,
    /// This process's CPU time over the burst, s.
    process: f64,
    /// `redis-server`'s CPU time over the burst, s.
    redis: f64,
    /// `(µs in EVALSHA, LINDEX calls)` over the burst: see `CpuPerDelivery::script_per_stream`.
    script: (u64, u64),
}

impl<'r> Side<'r> {
    async fn connect(
        emitter: Hub,
        addrs: &[SocketAddr],
        users: usize,
        redis: Option<&'r Redis>,
    ) -> Side<'r> {
        let received = Arc::new(Received::default());
        clients(addrs, users, received.clone()).await;
        Side {
            emitter,
            received,
            users,
            redis,
        }
    }

    fn script_stats(&self) -> (u64, u64) {
        self.redis.map_or((0, 0), |r| {
            let info = r.info("commandstats");
            (
                redis_command_stats(&info, "evalsha").1,
                redis_command_stats(&info, "lindex").0,
            )
        })
    }

    /// Emits `events` events to every user of the tenant (durable `Fact`s or ephemeral
    /// `Blip`s) and waits until every client has every one.
    async fn burst(&self, durable: bool, events: u64) -> Burst {
        let everyone: Recipients = to_tenant("bench");
        let deliveries = events * self.users as u64;
        let target = self.received.expect(deliveries);
        let (process_before, redis_before) = (
            process_cpu_seconds(),
            self.redis.map_or(0.0, redis_cpu_seconds),
        );
        let script_before = self.script_stats();
        let t = Instant::now();
        for n in 0..events {
            let sent = if durable {
                self.emitter.emit_to(&Fact { n, text: text() }, &everyone)
            } else {
                self.emitter.emit_to(&Blip { n, text: text() }, &everyone)
            };
            sent.expect("emit");
        }
        self.received.wait_for(target).await;
        let rate = deliveries as f64 / t.elapsed().as_secs_f64();
        let script_after = self.script_stats();
        Burst {
            rate,
            process: process_cpu_seconds() - process_before,
            redis: self.redis.map_or(0.0, redis_cpu_seconds) - redis_before,
            script: (
                script_after.0 - script_before.0,
                script_after.1 - script_before.1,
            ),
        }
    }
}

/// The fan-out figures of one side over the rounds.
#[derive(Default)]
struct Rates {
    durable: Vec<f64>,
    ephemeral: Vec<f64>,
    /// CPU time over the durable bursts, s: this process's, `redis-server`'s.
    process_s: f64,
    redis_s: f64,
    script: (u64, u64),
    deliveries: f64,
}

impl Rates {
    fn add(&mut self, durable: Burst, ephemeral: Burst, deliveries: u64) {
        self.durable.push(durable.rate);
        self.ephemeral.push(ephemeral.rate);
        self.process_s += durable.process;
        self.redis_s += durable.redis;
        self.script.0 += durable.script.0;
        self.script.1 += durable.script.1;
        self.deliveries += deliveries as f64;
    }

    /// CPU per durable delivery over all rounds, µs.
    fn cpu(&self) -> CpuPerDelivery {
        let million = self.deliveries / 1e6;
        CpuPerDelivery {
            process: self.process_s / million,
            redis: self.redis_s / million,
            script_per_stream: if self.script.1 > 0 {
                self.script.0 as f64 / self.script.1 as f64
            } else {
                0.0
            },
        }
    }
}

/// The fan-out comparison: `rounds` rounds, each a durable and an ephemeral burst on one node
/// and the same two through Redis, the side that goes first alternating by round, after one
/// untimed round that creates every stream on both sides. Each round's ratio (through Redis ÷
/// one node) compares bursts a few milliseconds apart, so a machine whose speed drifts moves
/// both; the figure is the median of the rounds' ratios.
async fn fanout_rounds(
    one: &Side<'_>,
    redis: &Side<'_>,
    events: u64,
    rounds: usize,
) -> (Rates, Rates, Vec<f64>) {
    let (mut r1, mut r2, mut ratios) = (Rates::default(), Rates::default(), Vec::new());
    let deliveries = events * one.users as u64;
    for side in [one, redis] {
        side.burst(true, events).await;
        side.burst(false, events * 10).await;
    }
    for round in 0..rounds {
        let order: [(&Side<'_>, bool); 2] = if round % 2 == 0 {
            [(one, false), (redis, true)]
        } else {
            [(redis, true), (one, false)]
        };
        let mut pair = [0.0; 2];
        for (side, through_redis) in order {
            let durable = side.burst(true, events).await;
            let ephemeral = side.burst(false, events * 10).await;
            pair[usize::from(through_redis)] = durable.rate;
            let rates = if through_redis { &mut r2 } else { &mut r1 };
            rates.add(durable, ephemeral, deliveries);
        }
        ratios.push(pair[1] / pair[0]);
    }
    (r1, r2, ratios)
}

/// A client of `user` connected to `addr`, once the server's `$connected` frame (returned,
/// parsed) has arrived.
///
/// # Panics
/// If the connection fails or ends before `$connected`.
async fn connect_user(
    addr: SocketAddr,
    user: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    serde_json::Value,
) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?user={user}"))
        .await
        .expect("connect");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"$connected\"") => {
                let connected = serde_json::from_str(t.as_str()).expect("$connected is JSON");
                return (ws, connected);
            }
            Some(Ok(_)) => {}
            other => panic!("no $connected frame: {other:?}"),
        }
    }
}

/// Milliseconds from a reconnect with a position until `$pending_complete`, `missed` events later.
async fn replay(
    emitter: &Hub,
    first: SocketAddr,
    second: SocketAddr,
    user: &str,
    missed: u64,
    runs: usize,
) -> f64 {
    let mut times = Vec::new();
    for _ in 0..runs {
        let (ws, connected) = connect_user(first, user).await;
        let position = format!(
            "{}.{}",
            connected["resume"]["epoch"].as_str().expect("epoch"),
            connected["resume"]["seq"]
        );
        drop(ws);
        tokio::time::sleep(Duration::from_millis(50)).await;
        for n in 0..missed {
            emitter
                .emit(&Addressed {
                    user: user.to_owned(),
                    n,
                    text: text(),
                })
                .expect("emit");
        }
        // Let the events land (through Redis they are numbered asynchronously).
        tokio::time::sleep(Duration::from_millis(if missed > 100 { 500 } else { 100 })).await;
        let mut request = format!("ws://{second}/ws?user={user}")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            format!("tidings.v1, tidings.resume.{position}")
                .parse()
                .expect("header"),
        );
        let t = Instant::now();
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("reconnect");
        let mut replayed = 0u64;
        loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                continue;
            };
            let s = t.as_str();
            if s.contains("\"bench:addressed\"") {
                replayed += 1;
            } else if s.contains("$pending_complete") {
                break;
            } else if s.contains("$resync_required") {
                panic!("resync instead of replay: {s}");
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(replayed, missed, "every missed event replayed");
        drop(ws);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    median(times)
}

/// Milliseconds from the first of `count` events addressed to a connected user until its client
/// has every one: the events [`replay`] sends to a user who is away, delivered live instead —
/// replay's reference (it must be no slower). The client connects to `addr` and the events are
/// emitted from `emitter` (through Redis: a node that serves no connection, as in the fan-out).
/// Median of `runs`.
///
/// # Panics
/// If the connection ends before every event arrived.
async fn live(emitter: &Hub, addr: SocketAddr, user: &str, count: u64, runs: usize) -> f64 {
    let mut times = Vec::new();
    for _ in 0..runs {
        let (mut ws, _) = connect_user(addr, user).await;
        // As `replay` lets its user's leaving settle: the user's stream is live on its node
        // before the clock starts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        for n in 0..count {
            emitter
                .emit(&Addressed {
                    user: user.to_owned(),
                    n,
                    text: text(),
                })
                .expect("emit");
        }
        let mut delivered = 0u64;
        while delivered < count {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"bench:addressed\"") => {
                    delivered += 1;
                }
                Some(Ok(_)) => {}
                other => panic!(
                    "the connection ended after {delivered} of {count} live events: {other:?}"
                ),
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(ws);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    median(times)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Addressed {
    user: String,
    n: u64,
    text: String,
}

impl Event for Addressed {
    const NAME: &'static str = "bench:addressed";
    const MODULE: &'static str = "bench";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.user).in_tenant("bench")
    }
}

/// Connects and leaves once per user, so that each has a retained stream.
async fn visit(addr: SocketAddr, users: usize, prefix: &str) {
    for i in 0..users {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws?user={prefix}{i}"))
                .await
                .expect("connect");
        let _ = ws.next().await;
    }
}

async fn settle_offline(hub: &Hub) {
    while hub.connection_count() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (users, events, rounds, missed, memory_users, per_user, redis_per_user) = if smoke {
        (20, 2, 1, 50, 100, 10, 2)
    } else {
        (1_000, 20, 15, 1_000, 10_000, 100, 10)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let redis = Redis::start();
        let history = History::new(2_000, Duration::from_secs(600));

        println!(
            "fan-out to {users} users, {events} durable and {} ephemeral events to all, {rounds} rounds:",
            events * 10
        );
        let single = hub(None, history);
        let addr = serve(single.clone()).await;
        let (a, b, api) = (
            hub(Some(broker(&redis, "fan")), history),
            hub(Some(broker(&redis, "fan")), history),
            hub(Some(broker(&redis, "fan")), history),
        );
        for h in [&a, &b, &api] {
            healthy(h).await;
        }
        let addrs = [serve(a.clone()).await, serve(b.clone()).await];
        let one = Side::connect(single.clone(), &[addr], users, None).await;
        let through = Side::connect(api.clone(), &addrs, users, Some(&redis)).await;
        let (r1, r2, ratios) = fanout_rounds(&one, &through, events, rounds).await;
        let line = |name: &str, r: &Rates| {
            let ((dl, dh), (el, eh)) = (range(&r.durable), range(&r.ephemeral));
            println!(
                "  {name} durable {:>10.0}/s ({dl:.0}–{dh:.0})  ephemeral {:>10.0}/s ({el:.0}–{eh:.0})",
                median(r.durable.clone()),
                median(r.ephemeral.clone())
            );
        };
        line("one node, in memory:       ", &r1);
        line("two nodes through Redis:   ", &r2);
        let (lo, hi) = range(&ratios);
        println!(
            "  durable through Redis / one node: {:.2}x (median of {rounds} rounds' ratios; {lo:.2}–{hi:.2})",
            median(ratios.clone())
        );
        let (c1, c2) = (r1.cpu(), r2.cpu());
        println!(
            "  CPU per durable delivery:   one node {:.2} us; through Redis {:.2} us in this process (servers and clients) + {:.2} us in redis-server",
            c1.process, c2.process, c2.redis
        );
        println!(
            "  numbering script in Redis:  {:.1} us per stream and call; {:.2} calls per stream and burst",
            c2.script_per_stream,
            r2.script.1 as f64 / (users * rounds) as f64
        );
        // A single broadcast: nothing for a batch to share between events.
        let single_rounds = 3 * rounds;
        let (s1, s2, ratios) = fanout_rounds(&one, &through, 1, single_rounds).await;
        let (lo, hi) = range(&ratios);
        println!(
            "  a single broadcast ({users} deliveries), {single_rounds} rounds: durable one node {:.0}/s, through Redis {:.0}/s: {:.2}x ({lo:.2}–{hi:.2}); CPU per delivery: one node {:.2} us; through Redis {:.2} us + {:.2} us in redis-server",
            median(s1.durable.clone()),
            median(s2.durable.clone()),
            median(ratios.clone()),
            s1.cpu().process,
            s2.cpu().process,
            s2.cpu().redis
        );

        println!(
            "replay of {missed} missed events (to $pending_complete), next to the same events delivered live to a connected user:"
        );
        let runs = if smoke { 1 } else { 5 };
        let r1 = replay(&single, addr, addr, "replayer", missed, runs).await;
        let l1 = live(&single, addr, "listener", missed, runs).await;
        println!(
            "  one node, in memory:        {r1:.1} ms; live {l1:.1} ms; replay / live {:.2}x",
            r1 / l1
        );
        let r2 = replay(&api, addrs[0], addrs[1], "replayer", missed, runs).await;
        let l2 = live(&api, addrs[1], "listener", missed, runs).await;
        println!(
            "  on the other node (Redis):  {r2:.1} ms; live {l2:.1} ms; replay / live {:.2}x",
            r2 / l2
        );

        println!("history memory, {memory_users} users with retained streams:");
        let mem = hub(None, History::new(per_user, Duration::from_secs(600)));
        let mem_addr = serve(mem.clone()).await;
        visit(mem_addr, memory_users, "m").await;
        settle_offline(&mem).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = rss_bytes();
        for n in 0..per_user as u64 {
            for i in 0..memory_users {
                mem.emit(&Addressed { user: format!("m{i}"), n, text: text() }).expect("emit");
            }
        }
        let after = rss_bytes();
        assert_eq!(mem.stream_count(), memory_users);
        let per = (after.saturating_sub(before)) as f64 / memory_users as f64;
        println!(
            "  in memory: {per_user} events each: {:.1} KiB per user ({:.0} B per stored event, ~{} B payload), {:.1} MiB per 10,000 users",
            per / 1024.0,
            per / per_user as f64,
            text().len() + 20,
            per * 10_000.0 / 1024.0 / 1024.0
        );

        let node = hub(Some(broker(&redis, "mem")), History::new(per_user, Duration::from_secs(600)));
        healthy(&node).await;
        let node_addr = serve(node.clone()).await;
        visit(node_addr, memory_users, "r").await;
        settle_offline(&node).await;
        let before = redis_used_memory(&redis);
        for n in 0..redis_per_user as u64 {
            for i in 0..memory_users {
                let event = Addressed { user: format!("r{i}"), n, text: text() };
                // A full backplane queue is the app's cue to wait: retry shortly.
                while let Err(e) = node.emit(&event) {
                    assert!(matches!(e, tidings::EmitError::Unavailable { .. }), "{e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        // Wait until Redis numbered them all (every stream's seq reaches the count).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut last = 0;
        loop {
            let now = redis_used_memory(&redis);
            if now == last {
                break;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let per = last.saturating_sub(before) as f64 / memory_users as f64;
        println!(
            "  in Redis: {redis_per_user} events each: {:.1} KiB per user ({:.0} B per stored event), {:.1} MiB per 10,000 users",
            per / 1024.0,
            per / redis_per_user as f64,
            per * 10_000.0 / 1024.0 / 1024.0
        );
    });
}
