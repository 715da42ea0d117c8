//! Chaos under network faults: two nodes on one Redis, every link behind a fault-injecting
//! proxy ([`FaultProxy`]: node A ↔ Redis, node B ↔ Redis, clients ↔ A, clients ↔ B), ten users
//! with a tab on each node and five with a tab on node B only, durable events emitted on both
//! nodes at 100 per second before, during and after each fault:
//!
//! | fault | held for |
//! |---|---|
//! | 200 ms latency on every link | 5 s |
//! | 5 % packet loss on every link | 5 s |
//! | node B partitioned from Redis | 10 s |
//! | node B partitioned from Redis, its connections to Redis reset at the heal | 10 s |
//! | the clients of node B partitioned from it | 10 s |
//! | Redis restarted empty, node B reattaching 3 s after node A | 3 s |
//! | Redis down for 0.5 s (killed, then started empty) | 0.5 s |
//!
//! For each, every tab must end up with every event its user was sent, in `seq` order, each once
//! (a resync is the only allowed reason to miss one, and only where Redis lost the history),
//! and the two tabs of a user on different nodes must agree. The figures are printed (`cargo
//! test … chaos -- --nocapture`) and recorded in BENCHMARKS.md ("Chaos under network faults").

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings::broker::redis::RedisBroker;
use tidings::client::{Client as RustClient, ClientEvent};
use tidings::{EmitError, Hub};
use tokio::time::Instant;

use crate::backplane::{healthy, note};
use crate::faults::FaultProxy;
use crate::redis_server::RedisServer as Redis;
use crate::support::{hub_builder, TestServer};

/// Users with a tab on each node; then users with a tab on node B only (their events, half of
/// them emitted on node A, reach node B through the fan-out alone).
const USERS: u64 = 10;
const USERS_ON_B_ONLY: u64 = 5;
/// Time between two emits (the rate: 100 events per second, alternating between the nodes).
const EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy)]
enum Fault {
    Latency(Duration),
    Loss(f64),
    NodeFromRedis,
    NodeFromRedisReset,
    ClientsFromNode,
    RedisRestartNodeLate,
    RedisDown(Duration),
}

/// What a tab saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Event { n: u64, seq: u64, at: Instant },
    Resync { seq: u64 },
    Disconnected,
}

struct Tab {
    user: u64,
    log: Arc<Mutex<Vec<Seen>>>,
}

/// The figures of one scenario.
#[derive(Debug, Default)]
struct Figures {
    accepted: usize,
    refused: usize,
    expected: usize,
    delivered: usize,
    lost: usize,
    silent: usize,
    duplicated: usize,
    out_of_order: usize,
    resyncs: usize,
    reconnects: usize,
    diverged: usize,
    /// Of the lost, those emitted while Redis was down (accepted, queued): must be none.
    lost_while_down: usize,
    /// Time from the emit to the tab, over every delivery: median and maximum, ms.
    delay_p50_ms: u128,
    delay_max_ms: u128,
}

fn node(proxy: &FaultProxy, ns: &str) -> Hub {
    let broker = RedisBroker::builder(format!("redis://{}/", proxy.addr()))
        .namespace(ns)
        .queue(10_000)
        .build()
        .expect("a redis url");
    hub_builder().broker(broker).build()
}

async fn connected(client: &mut RustClient) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
            Ok(Some(ClientEvent::Connected { .. })) => return,
            Ok(Some(_)) => {}
            other => panic!("the tab did not connect: {other:?}"),
        }
    }
}

/// Runs one scenario and returns its figures.
async fn scenario(name: &str, fault: Fault, hold: Duration) -> Figures {
    let mut redis = Redis::start();
    let redis_addr = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    let to_redis = [
        FaultProxy::start(redis_addr, 1).await,
        FaultProxy::start(redis_addr, 2).await,
    ];
    let nodes = [
        TestServer::start(node(&to_redis[0], name)).await,
        TestServer::start(node(&to_redis[1], name)).await,
    ];
    for n in &nodes {
        healthy(&n.hub).await;
    }
    let to_node = [
        FaultProxy::start(nodes[0].addr, 3).await,
        FaultProxy::start(nodes[1].addr, 4).await,
    ];
    let links = || to_redis.iter().chain(to_node.iter());

    // Ten users with a tab on each node, five with one on node B only; each tab read by a task
    // of its own into a log.
    let mut tabs = Vec::new();
    for user in 0..USERS + USERS_ON_B_ONLY {
        let nodes = if user < USERS {
            &to_node[..]
        } else {
            &to_node[1..]
        };
        for proxy in nodes {
            let mut client = RustClient::builder(format!("ws://{}/ws?user=u{user}", proxy.addr()))
                .backoff(Duration::from_millis(20), Duration::from_millis(500))
                .buffer(4_096)
                .connect();
            let log = Arc::new(Mutex::new(Vec::new()));
            let tab = Tab {
                user,
                log: log.clone(),
            };
            connected(&mut client).await;
            let reader = tokio::spawn(async move {
                while let Some(event) = client.next().await {
                    let seen = match event {
                        ClientEvent::Event(e) => Seen::Event {
                            n: e.data["n"].as_u64().unwrap_or(0),
                            seq: e.seq.unwrap_or(0),
                            at: Instant::now(),
                        },
                        ClientEvent::Resync { position, .. } => Seen::Resync { seq: position.seq },
                        ClientEvent::Disconnected { .. } => Seen::Disconnected,
                        _ => continue,
                    };
                    log.lock().expect("log").push(seen);
                }
            });
            tabs.push((tab, reader));
        }
    }

    // The emitter: every EVERY, the next number to the next user, from node A then node B.
    let stop = Arc::new(AtomicBool::new(false));
    let hubs = [nodes[0].hub.clone(), nodes[1].hub.clone()];
    let emitting = stop.clone();
    let emitter = tokio::spawn(async move {
        let mut accepted: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut emitted_at = HashMap::new();
        let mut refused = 0;
        let mut tick = tokio::time::interval(EVERY);
        let mut n = 0u64;
        while !emitting.load(Ordering::Relaxed) {
            tick.tick().await;
            n += 1;
            let user = n % (USERS + USERS_ON_B_ONLY);
            match hubs[(n % 2) as usize].emit(&note(&format!("u{user}"), n)) {
                Ok(_) => {
                    accepted.entry(user).or_default().push(n);
                    emitted_at.insert(n, Instant::now());
                }
                Err(EmitError::Unavailable { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        (accepted, refused, emitted_at)
    });

    tokio::time::sleep(Duration::from_secs(1)).await;
    // While Redis was down: every emit accepted then waits in its node's queue and is delivered
    // once Redis is back (after the resync its restart causes).
    let mut outage = None;
    match fault {
        Fault::Latency(d) => links().for_each(|l| l.latency(d)),
        Fault::Loss(p) => links().for_each(|l| l.loss(p)),
        Fault::NodeFromRedis | Fault::NodeFromRedisReset => to_redis[1].partition(true),
        Fault::ClientsFromNode => to_node[1].partition(true),
        Fault::RedisRestartNodeLate => {
            to_redis[1].partition(true);
            redis.kill();
            redis.start_again();
        }
        Fault::RedisDown(down) => {
            let from = Instant::now();
            redis.kill();
            tokio::time::sleep(down).await;
            redis.start_again();
            outage = Some((from, Instant::now()));
        }
    }
    tokio::time::sleep(hold).await;
    if matches!(fault, Fault::NodeFromRedisReset) {
        to_redis[1].reset();
    }
    links().for_each(FaultProxy::clear);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (accepted, refused, emitted_at) = emitter.await.expect("the emitter");

    // Converged: every tab has its user's last event.
    let last = |user: u64| accepted.get(&user).and_then(|a| a.last().copied());
    let has_last = |tab: &Tab| {
        let log = tab.log.lock().expect("log");
        last(tab.user).is_none_or(|l| {
            log.iter()
                .any(|s| matches!(s, Seen::Event { n, .. } if *n == l))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tabs.iter().all(|(t, _)| has_last(t)) {
        assert!(
            Instant::now() < deadline,
            "{name}: the tabs did not converge within 60 s of the heal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut f = Figures {
        refused,
        accepted: accepted.values().map(Vec::len).sum(),
        ..Figures::default()
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // late duplicates would show now
    let mut after_resync: HashMap<u64, Vec<Vec<u64>>> = HashMap::new();
    let mut delays = Vec::new();
    for (tab, reader) in &tabs {
        reader.abort();
        let log = tab.log.lock().expect("log").clone();
        let expected: BTreeSet<u64> = accepted
            .get(&tab.user)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let mut received = BTreeSet::new();
        let mut since_resync = Vec::new();
        let mut last_seq = 0;
        let mut resyncs = 0;
        for seen in &log {
            match *seen {
                Seen::Event { n, seq, at } => {
                    if let Some(emitted) = emitted_at.get(&n) {
                        delays.push(at.saturating_duration_since(*emitted).as_millis());
                    }
                    if !received.insert(n) {
                        f.duplicated += 1;
                    }
                    // In order: numbers only grow between resyncs. (They may skip where the client
                    // dropped an event it had handed over already under another number.)
                    if seq <= last_seq {
                        f.out_of_order += 1;
                    }
                    assert!(
                        expected.contains(&n),
                        "{name}: u{} got another user's event {n}",
                        tab.user
                    );
                    last_seq = seq;
                    since_resync.push(n);
                }
                Seen::Resync { seq } => {
                    resyncs += 1;
                    last_seq = seq;
                    since_resync.clear();
                }
                Seen::Disconnected => f.reconnects += 1,
            }
        }
        let lost = expected.difference(&received).count();
        if let Some((from, to)) = outage {
            f.lost_while_down += expected
                .difference(&received)
                .filter(|n| emitted_at.get(n).is_some_and(|at| *at >= from && *at <= to))
                .count();
        }
        f.expected += expected.len();
        f.delivered += received.len();
        f.lost += lost;
        f.resyncs += resyncs;
        if resyncs == 0 {
            f.silent += lost;
        }
        after_resync.entry(tab.user).or_default().push(since_resync);
    }
    // A user's two tabs, on different nodes, hold the same events since their last resync.
    f.diverged = after_resync
        .values()
        .filter(|runs| runs.windows(2).any(|w| w[0] != w[1]))
        .count();
    delays.sort_unstable();
    f.delay_p50_ms = delays.get(delays.len() / 2).copied().unwrap_or(0);
    f.delay_max_ms = delays.last().copied().unwrap_or(0);
    drop(tabs);
    eprintln!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
        f.accepted,
        f.refused,
        f.expected,
        f.delivered,
        f.lost,
        f.silent,
        f.lost_while_down,
        f.duplicated,
        f.out_of_order,
        f.resyncs,
        f.reconnects,
        f.diverged,
        f.delay_p50_ms,
        f.delay_max_ms
    );
    f
}

/// Every fault of the table above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_network_faults_lose_nothing_silently() {
    eprintln!(
        "| fault | accepted | refused | expected | delivered | lost | silent | lost while Redis was down | duplicated | out of order | resyncs | reconnects | diverged | delay p50 / max ms |"
    );
    let runs = [
        (
            "latency 200 ms",
            Fault::Latency(Duration::from_millis(200)),
            5,
        ),
        ("loss 5 %", Fault::Loss(0.05), 5),
        ("partition B–Redis", Fault::NodeFromRedis, 10),
        ("partition B–Redis, reset", Fault::NodeFromRedisReset, 10),
        ("partition clients–B", Fault::ClientsFromNode, 10),
        ("Redis restart, B late", Fault::RedisRestartNodeLate, 3),
        (
            "Redis down 0.5 s",
            Fault::RedisDown(Duration::from_millis(500)),
            1,
        ),
    ];
    // Side by side, each on a system of its own (its Redis, nodes and proxies).
    let figures = futures_util::future::join_all(
        runs.iter()
            .map(|&(name, fault, secs)| scenario(name, fault, Duration::from_secs(secs))),
    )
    .await;
    for (&(name, fault, _), f) in runs.iter().zip(figures) {
        assert_eq!(
            (
                f.silent,
                f.duplicated,
                f.out_of_order,
                f.diverged,
                f.lost_while_down
            ),
            (0, 0, 0, 0, 0),
            "{name}: {f:?}"
        );
        if !matches!(fault, Fault::RedisRestartNodeLate | Fault::RedisDown(_)) {
            assert_eq!((f.lost, f.resyncs), (0, 0), "{name}: {f:?}");
        }
    }
}
