//! `tidings serve`: publish throughput through the HTTP API, and the fan-out of published
//! events, on one node (the real `tidings-serve` executable, in a process of its own).
//!
//! - **publish throughput**: P concurrent publishers (HTTP/1.1 keep-alive, reqwest) POST
//!   `ticket:created` — a real payload of the shipped schemas, checked by the contract and
//!   routed by its rules — for D seconds, one event per request and then batches of 100:
//!   events/s, and each request's p50/p99. Next to it, **the HTTP floor**: the same requests
//!   to a minimal axum server (a child of this binary, served as `tidings serve` is, with
//!   `tidings::axum::serve`) that reads the body, parses it as JSON
//!   and answers the same JSON, with no contract and no routing — what the HTTP stack alone
//!   costs on this machine.
//! - **fan-out of published events**: N WebSocket clients of one tenant; one POST of a batch
//!   of M `tenant:announcement` (durable, to everyone in the tenant); timed from the POST until
//!   every client has every frame (deliveries/s, median of runs). Next to it, **emitted from
//!   Rust**: a Rust server (a child of this binary: a hub on axum, as `tidings serve` is) that
//!   emits the same typed events itself when one POST tells it to, to the same clients.
//!
//! `-- --connections 1000,5000` picks the fan-out sizes (default 1,000, 5,000 and 10,000),
//! `-- --seconds 5` each throughput run's length, `-- --smoke` runs everything once at a tiny
//! size. The load generator shares the machine with the server (2 cores here): the figures
//! are of the pair, as in every bench of BENCHMARKS.md.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "a bench secret of at least thirty-two bytes";
const KEY: &str = "bench-api-key-0123456789";
const T1: &str = "11111111-1111-4111-8111-111111111111";

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

/// A running server: the child, and its address.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout until it says where it listens.
fn listening(mut child: Child) -> Running {
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server said where it listens")
            .expect("a line");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            break addr.parse().expect("an address");
        }
    };
    // Keep draining its stdout, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running { child, addr }
}

fn start_serve(dir: &std::path::Path) -> Running {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let config = dir.join("tidings-serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nschemas = [{:?}]\n[auth.jwt]\nhs256_secret_env = \"BENCH_JWT_SECRET\"\n[api]\nmax_batch = 1000\n",
            schemas.display().to_string()
        ),
    )
    .expect("config written");
    let child = Command::new(env!("CARGO_BIN_EXE_tidings-serve"))
        .arg("--config")
        .arg(&config)
        .env("BENCH_JWT_SECRET", SECRET)
        .env("TIDINGS_API_KEYS", KEY)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("tidings-serve starts");
    listening(child)
}

fn start_floor() -> Running {
    let child = Command::new(std::env::current_exe().expect("this bench"))
        .arg("--floor")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the floor server starts");
    listening(child)
}

/// The HTTP floor: reads the body, parses it as JSON, answers as the publish API does.
fn floor() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/api/publish",
            axum::routing::post(
                |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let authorized = headers
                        .get("authorization")
                        .is_some_and(|v| v.as_bytes() == format!("Bearer {KEY}").as_bytes());
                    let parsed: Result<Value, _> = serde_json::from_slice(&body);
                    match (authorized, parsed) {
                        (true, Ok(v)) if v.get("events").is_some() => {
                            let n = v["events"].as_array().map_or(0, Vec::len);
                            let results: Vec<Value> = (0..n)
                                .map(|_| json!({ "id": "0", "connections": 0 }))
                                .collect();
                            axum::Json(json!({ "results": results })).into_response()
                        }
                        (true, Ok(_)) => {
                            axum::Json(json!({ "id": "0", "connections": 0 })).into_response()
                        }
                        _ => axum::http::StatusCode::BAD_REQUEST.into_response(),
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "floor: listening on http://{}",
            listener.local_addr().expect("addr")
        );
        // The serving function `tidings serve` uses: the same HTTP stack and socket options.
        tidings::axum::serve(listener, app).await.expect("serve");
    });
}

/// `tenant:announcement` as a Rust server declares it (`#[derive(Event)]` would write the same
/// impl): durable, to everyone in its tenant.
#[derive(serde::Serialize, serde::Deserialize)]
struct Announcement {
    tenant_id: String,
    announcement_id: String,
    severity: String,
    title: String,
    body: String,
    published_by: String,
}

impl tidings::Event for Announcement {
    const NAME: &'static str = "tenant:announcement";
    const MODULE: &'static str = "tenant";
    const DIRECTION: tidings::schema::Direction = tidings::schema::Direction::ServerToClient;
    const DELIVERY: tidings::schema::Delivery = tidings::schema::Delivery::Durable;
    type Reply = ();
    fn recipients(&self) -> tidings::Recipients {
        tidings::to_tenant(self.tenant_id.clone())
    }
}

/// The reference for the fan-out: a Rust server on the same stack (a hub on axum, the same JWT
/// auth and default limits as `tidings serve`) that emits the typed event itself when told
/// (`POST /emit` with `{"n": M, "round": r}`): the same frames to the same clients, without
/// the HTTP API's body, the contract check and the rules read from the schema.
fn rust_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let hub = tidings::Hub::builder()
            .authenticator(tidings::JwtAuthenticator::hs256(SECRET.as_bytes()))
            .build();
        let emitter = hub.clone();
        let app = axum::Router::new()
            .route("/ws", tidings::axum::websocket(hub.clone()))
            .route(
                "/emit",
                axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                    let hub = emitter.clone();
                    async move {
                        let n = v["n"].as_u64().unwrap_or(0);
                        let round = v["round"].as_u64().unwrap_or(0);
                        for i in 0..n {
                            let a: Announcement =
                                serde_json::from_value(announcement(round * 10_000 + i))
                                    .expect("an announcement");
                            if let Err(e) = hub.emit(&a) {
                                eprintln!("emit failed: {e}");
                            }
                        }
                        "ok"
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "rust: listening on http://{}",
            listener.local_addr().expect("addr")
        );
        tidings::axum::serve(listener, app).await.expect("serve");
    });
}

fn start_rust_server() -> Running {
    let child = Command::new(std::env::current_exe().expect("this bench"))
        .arg("--rust-server")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Rust server starts");
    listening(child)
}

fn ticket_created(n: u64) -> Value {
    json!({
        "ticket": {
            "id": format!("7e000000-0000-4000-8000-{:012}", n % 1_000_000_000_000),
            "tenant_id": T1,
            "title": format!("Printer {n} on fire"),
            "description": "The printer on the third floor is on fire again; bring the extinguisher.",
            "status": "open",
            "priority": "high",
            "created_by": "a0000000-0000-4000-8000-00000000000a",
            "assignee_id": "b0000000-0000-4000-8000-00000000000b",
            "participant_ids": ["c0000000-0000-4000-8000-00000000000c"],
            "tags": ["hardware", "urgent"],
            "created_at": "2026-12-02T10:00:00Z",
            "updated_at": "2026-12-02T10:00:00Z",
        },
        "actor_id": "a0000000-0000-4000-8000-00000000000a",
    })
}

fn announcement(n: u64) -> Value {
    json!({
        "tenant_id": T1,
        "announcement_id": format!("a1000000-0000-4000-8000-{:012}", n % 1_000_000_000_000),
        "severity": "info",
        "title": format!("Announcement {n}"),
        "body": "The office is closed on Friday; the on-call rota is in the wiki.",
        "published_by": "a0000000-0000-4000-8000-00000000000a",
    })
}

/// What a throughput run measured.
struct Load {
    events: u64,
    requests: u64,
    failed: u64,
    seconds: f64,
    p50_us: u64,
    p99_us: u64,
}

/// `publishers` tasks POST for `seconds`, `batch` events per request (1: the single form).
async fn publish_load(addr: SocketAddr, publishers: usize, batch: usize, seconds: f64) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(publishers)
        .build()
        .expect("client");
    let url = format!("http://{addr}/api/publish");
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let (client, url, counter) = (client.clone(), url.clone(), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            while Instant::now() < until {
                let n = counter.fetch_add(1, Ordering::Relaxed) + (p as u64) * 1_000_000_000;
                let body = if batch == 1 {
                    json!({ "event": "ticket:created", "data": ticket_created(n) })
                } else {
                    let events: Vec<Value> = (0..batch as u64)
                        .map(|i| json!({ "event": "ticket:created", "data": ticket_created(n * 1000 + i) }))
                        .collect();
                    json!({ "events": events })
                };
                let sent = Instant::now();
                let ok = match client
                    .post(&url)
                    .header("authorization", format!("Bearer {KEY}"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed().as_micros() as u64);
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.expect("a publisher");
        latencies.extend(l);
        failed += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Load {
        events: latencies.len() as u64 * batch as u64,
        requests: latencies.len() as u64,
        failed,
        seconds,
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

/// N clients of tenant T1; the number of announcement frames they have received so far.
async fn connect_clients(addr: SocketAddr, n: usize, received: Arc<AtomicU64>) {
    let issuer = tidings::JwtIssuer::hs256(SECRET.as_bytes());
    let mut tasks = Vec::new();
    for i in 0..n {
        let token = issuer
            .issue(
                &format!("d{i:07}-0000-4000-8000-000000000000"),
                Some(T1),
                &[],
                Duration::from_secs(3600),
            )
            .expect("token");
        let received = Arc::clone(&received);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let url = format!("ws://{addr}/ws?token={token}");
            let mut ws = loop {
                match tokio_tungstenite::connect_async(&url).await {
                    Ok((ws, _)) => break ws,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let mut ready = Some(ready_tx);
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    if text.as_str().contains("\"type\":\"$connected\"") {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    } else if text.as_str().contains("\"type\":\"tenant:announcement\"") {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        tasks.push(ready_rx);
        // Pace the handshakes a little: a storm is another bench.
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One POST of `m` announcements — published through the API, or (`rust`) a command to the
/// Rust server to emit them — timed until every one of `n` clients has every frame: seconds.
async fn fanout_once(
    addr: SocketAddr,
    rust: bool,
    n: usize,
    m: usize,
    received: &AtomicU64,
    round: u64,
) -> f64 {
    let client = reqwest::Client::new();
    let (path, body) = if rust {
        ("/emit", json!({ "n": m, "round": round }).to_string())
    } else {
        let events: Vec<Value> = (0..m as u64)
            .map(|i| json!({ "event": "tenant:announcement", "data": announcement(round * 10_000 + i) }))
            .collect();
        ("/api/publish", json!({ "events": events }).to_string())
    };
    let before = received.load(Ordering::Relaxed);
    let want = before + (n * m) as u64;
    let started = Instant::now();
    let response = client
        .post(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("published");
    assert!(response.status().is_success(), "{}", response.status());
    let deadline = started + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < want {
        assert!(Instant::now() < deadline, "the fan-out did not complete");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--floor") {
        floor();
        return;
    }
    if args.iter().any(|a| a == "--rust-server") {
        rust_server();
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let sizes: Vec<usize> = list_arg(
        &args,
        "--connections",
        if smoke { "50" } else { "1000,5000,10000" },
    )
    .iter()
    .map(|n| n.parse().expect("--connections takes numbers"))
    .collect();
    let seconds: f64 = list_arg(&args, "--seconds", if smoke { "0.5" } else { "5" })
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let runs = if smoke { 1 } else { 5 };
    let publishers = 32;
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    println!("publish throughput: {publishers} publishers, {seconds} s each, `ticket:created` (one node, no client connected)");
    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "server, form", "events/s", "requests", "p50 µs", "p99 µs", "failed"
    );
    for (name, server) in [
        ("tidings serve", start_serve(dir.path())),
        ("HTTP floor (axum)", start_floor()),
    ] {
        for batch in [1usize, 100] {
            let load = runtime.block_on(publish_load(server.addr, publishers, batch, seconds));
            println!(
                "{:<28} {:>12.0} {:>10} {:>10} {:>10} {:>8}",
                format!(
                    "{name}, {}",
                    if batch == 1 { "single" } else { "batch of 100" }
                ),
                load.events as f64 / load.seconds,
                load.requests,
                load.p50_us,
                load.p99_us,
                load.failed
            );
        }
    }

    let m = if smoke { 10 } else { 100 };
    println!("\nfan-out: one POST of a batch of {m} `tenant:announcement` (durable) to N clients of the tenant, published through the API; next to it a Rust server emitting the same typed events itself, to the same clients; median of {runs} runs");
    println!(
        "{:>8} {:>16} {:>16} {:>8}",
        "clients", "published/s", "Rust-emitted/s", "ratio"
    );
    for &n in &sizes {
        let mut rates = [0.0f64; 2];
        for (i, rust) in [false, true].into_iter().enumerate() {
            let server = if rust {
                start_rust_server()
            } else {
                start_serve(dir.path())
            };
            let received = Arc::new(AtomicU64::new(0));
            runtime.block_on(connect_clients(server.addr, n, Arc::clone(&received)));
            let mut times: Vec<f64> = (0..runs)
                .map(|r| {
                    runtime.block_on(fanout_once(server.addr, rust, n, m, &received, r as u64))
                })
                .collect();
            times.sort_by(f64::total_cmp);
            rates[i] = (n * m) as f64 / times[times.len() / 2];
            drop(server);
            // Let the clients see their connections close before the next server.
            std::thread::sleep(Duration::from_millis(300));
        }
        println!(
            "{:>8} {:>16.0} {:>16.0} {:>8.2}",
            n,
            rates[0],
            rates[1],
            rates[0] / rates[1]
        );
    }
}
