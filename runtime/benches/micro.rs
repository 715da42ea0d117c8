//! Micro-benchmarks (criterion) of the three hot paths under the fan-out figures:
//! - `envelope`: turning an event into its frame (constraint checks, serialization, envelope);
//! - `resolve`: selecting recipients on a hub of 100,000 connections (1,000 tenants of 100 users,
//!   rooms of 10, one admin per tenant) — the index lookups an emit does before queueing;
//! - `decode`: one payload decoded strictly (the IR contract, then serde) next to serde alone;
//! - `inbound`: one client frame decoded, routed to its typed handler, and its ack received, over
//!   an in-process connection (`Hub::connect_local`: the whole session path without a socket).
//!
//! `-- --count-decode N serde|contract` only decodes N payloads, for instruction counts under
//! callgrind.
//!
//! `cargo bench -p tidings --bench micro` (criterion's own options follow `--`);
//! `-- --smoke` builds a hub of 1,000 connections and runs each benchmark briefly, so the suite
//! keeps this building and running. Figures: BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use serde::{Deserialize, Serialize};
use tidings::{Event, Hub, Principal, Recipients, Router};

/// A ticket changed: the shape of the shipped `ticket:updated`, with the checks a generated
/// event carries.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(
    module = "bench",
    name = "ticket:updated",
    tenant = "tenant_id",
    user = "owner_id",
    role = "admin",
    room = "ticket:{id}",
    except = "actor_id"
)]
struct TicketUpdated {
    #[tidings(uuid)]
    id: String,
    #[tidings(uuid)]
    tenant_id: String,
    #[tidings(uuid)]
    owner_id: String,
    #[tidings(uuid)]
    actor_id: String,
    #[tidings(min_length = 1, max_length = 200)]
    title: String,
    #[tidings(max_length = 20)]
    tags: Vec<String>,
    #[tidings(min = 0, max = 100)]
    progress: u8,
}

fn ticket() -> TicketUpdated {
    TicketUpdated {
        id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        tenant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
        owner_id: "6ba7b810-9dad-11d1-80b4-00c04fd430c8".into(),
        actor_id: "6ba7b811-9dad-11d1-80b4-00c04fd430c8".into(),
        title: "Printer on the third floor is out of toner".into(),
        tags: vec!["hardware".into(), "printing".into(), "floor-3".into()],
        progress: 40,
    }
}

/// A request clients send, answered with an ack carrying a reply.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(module = "bench", name = "ticket:rename", direction = "to_server", reply = Renamed)]
struct Rename {
    #[tidings(uuid)]
    id: String,
    #[tidings(min_length = 1, max_length = 200)]
    title: String,
}

/// The reply to [`Rename`].
#[derive(Debug, Clone, Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "bench")]
struct Renamed {
    id: String,
    version: u64,
}

async fn rename(req: Rename) -> Result<Renamed, tidings::HandlerError> {
    Ok(Renamed {
        id: req.id,
        version: req.title.len() as u64,
    })
}

fn envelope(c: &mut Criterion) {
    let event = ticket();
    let mut g = c.benchmark_group("envelope");
    g.bench_function("serde_json payload only", |b| {
        b.iter(|| serde_json::to_string(std::hint::black_box(&event)))
    });
    g.bench_function("encode_event (checks + payload + envelope)", |b| {
        b.iter(|| tidings::protocol::encode_event(std::hint::black_box(&event)))
    });
    g.bench_function("recipients of the event", |b| {
        b.iter(|| std::hint::black_box(&event).recipients())
    });
    g.finish();
}

const USERS_PER_TENANT: usize = 100;
const ROOM_SIZE: usize = 10;

/// A hub of `tenants × 100` in-process connections: user `k` of tenant `t` is `t{t}u{k}`, in
/// room `team:{k / 10}` of its tenant; user 0 of each tenant is an admin.
fn populated_hub(
    rt: &tokio::runtime::Runtime,
    tenants: usize,
) -> (Hub, Vec<tidings::local::LocalConnection>) {
    rt.block_on(async {
        let hub = Hub::new();
        let mut conns = Vec::with_capacity(tenants * USERS_PER_TENANT);
        for t in 0..tenants {
            for k in 0..USERS_PER_TENANT {
                let mut p = Principal::user(format!("t{t}u{k}")).in_tenant(format!("t{t}"));
                if k == 0 {
                    p = p.with_role("admin");
                }
                conns.push(hub.connect_local(p, None));
            }
        }
        let total = tenants * USERS_PER_TENANT;
        let deadline = Instant::now() + Duration::from_secs(120);
        while hub.connection_count() < total {
            assert!(Instant::now() < deadline, "connections did not register");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in 0..tenants {
            for k in 0..USERS_PER_TENANT {
                hub.join_user(&format!("t{t}u{k}"), &format!("team:{}", k / ROOM_SIZE));
            }
        }
        (hub, conns)
    })
}

fn resolve(c: &mut Criterion, rt: &tokio::runtime::Runtime, tenants: usize) {
    let (hub, _conns) = populated_hub(rt, tenants);
    let total = hub.connection_count();
    let cases: Vec<(&str, Recipients, usize)> = vec![
        ("one user", tidings::to_user("t7u42").in_tenant("t7"), 1),
        (
            "room of 10 in a tenant",
            tidings::to_room("team:3").in_tenant("t7"),
            ROOM_SIZE,
        ),
        (
            "role admin in a tenant",
            tidings::to_role("admin").in_tenant("t7"),
            1,
        ),
        (
            "50 users by id",
            tidings::to_users((0..50).map(|k| format!("t7u{k}"))).in_tenant("t7"),
            50,
        ),
        (
            "whole tenant except the actor",
            tidings::to_tenant("t7").except("t7u1"),
            USERS_PER_TENANT - 1,
        ),
        (
            "user + room + role (ticket:updated)",
            ticket_recipients(),
            1 + ROOM_SIZE + 1,
        ),
    ];
    let mut g = c.benchmark_group(format!("resolve on {total} connections"));
    for (name, to, expected) in &cases {
        assert_eq!(hub.audience(to), *expected, "{name}");
        g.bench_with_input(BenchmarkId::from_parameter(name), to, |b, to| {
            b.iter(|| hub.audience(std::hint::black_box(to)))
        });
    }
    g.finish();
}

/// The rules of `ticket:updated` with ids of the populated hub (distinct user, room, admin).
fn ticket_recipients() -> Recipients {
    tidings::to_user("t7u55")
        .to_room("team:3")
        .to_role("admin")
        .in_tenant("t7")
        .except("t7u99")
}

fn inbound(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut limits = tidings::Limits::default();
    limits.rate_per_second = u32::MAX / 2;
    limits.rate_burst = u32::MAX / 2;
    let hub = Hub::builder()
        .limits(limits)
        .router(Router::new().on(rename))
        .build();
    let mut conn = rt.block_on(async {
        let mut conn = hub.connect_local(Principal::user("u1").in_tenant("t1"), None);
        let connected = conn.recv().await.expect("$connected");
        assert!(connected.contains("$connected"));
        conn
    });
    let ok = r#"{"type":"ticket:rename","cid":"c1","data":{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","title":"Toner replaced"}}"#;
    let invalid = r#"{"type":"ticket:rename","cid":"c1","data":{"id":"not-a-uuid","title":"Toner replaced"}}"#;
    let mut g = c.benchmark_group("inbound");
    for (name, frame, expect) in [
        ("decode + dispatch + handler + ack", ok, "$reply"),
        ("decode + constraint refusal", invalid, "$error"),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        conn.send(frame).await.expect("send");
                        let answer = conn.recv().await.expect("answer");
                        debug_assert!(answer.contains(expect), "{answer}");
                    }
                    start.elapsed()
                })
            })
        });
        let answer = rt.block_on(async {
            conn.send(frame).await.expect("send");
            conn.recv().await.expect("answer")
        });
        assert!(answer.contains(expect), "{name}: {answer}");
    }
    g.finish();
}

/// The payload of `ticket()` as a client would send it.
fn ticket_text() -> String {
    serde_json::to_string(&ticket()).expect("serializes")
}

/// Decoding one payload: serde alone (how payloads were decoded before the contract), and
/// `tidings::validate::decode` (the IR contract first, then serde); each then validated.
fn decode(c: &mut Criterion) {
    let text = ticket_text();
    let mut g = c.benchmark_group("decode");
    g.bench_function("serde only + validate", |b| {
        b.iter(|| {
            let e: TicketUpdated =
                serde_json::from_str(std::hint::black_box(&text)).expect("decodes");
            e.validate().expect("valid");
            e
        })
    });
    g.bench_function("contract + serde + validate", |b| {
        b.iter(|| {
            let e: TicketUpdated =
                tidings::validate::decode(std::hint::black_box(&text)).expect("decodes");
            e.validate().expect("valid");
            e
        })
    });
    g.finish();
}

/// `--count-decode N serde|contract`: decodes the payload N times and exits, for instruction
/// counts under callgrind (`valgrind --tool=callgrind`), which wall-clock noise on a shared
/// machine does not move. The cost of one decode is the difference between N and 0, over N.
fn count_decode(args: &[String]) -> bool {
    let Some(i) = args.iter().position(|a| a == "--count-decode") else {
        return false;
    };
    let n: usize = args
        .get(i + 1)
        .and_then(|n| n.parse().ok())
        .expect("--count-decode N MODE");
    let contract = args.get(i + 2).map(String::as_str) == Some("contract");
    let text = ticket_text();
    for _ in 0..n {
        let e: TicketUpdated = if contract {
            tidings::validate::decode(std::hint::black_box(&text)).expect("decodes")
        } else {
            serde_json::from_str(std::hint::black_box(&text)).expect("decodes")
        };
        e.validate().expect("valid");
        std::hint::black_box(e);
    }
    true
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if count_decode(&args) {
        return;
    }
    let smoke = std::env::args().any(|a| a == "--smoke");
    // One thread: the sessions and handlers run when the benchmark awaits, so the figures are
    // the work of the path itself, not of waking another thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = if smoke {
        Criterion::default()
            .warm_up_time(Duration::from_millis(10))
            .measurement_time(Duration::from_millis(50))
            .sample_size(10)
            .without_plots()
    } else {
        Criterion::default().configure_from_args().without_plots()
    };
    envelope(&mut c);
    resolve(&mut c, &rt, if smoke { 10 } else { 1_000 });
    decode(&mut c);
    inbound(&mut c, &rt);
    c.final_summary();
}
