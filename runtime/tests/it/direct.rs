//! Direct writes: an event to an idle connection is written by the thread that emits it (no
//! wake-up of the session's task), and frames from many threads still arrive whole, in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{Event, Limits, Recipients};

use crate::support::{hub_builder, Client, TestServer};

/// `impl Event` for a test payload that goes to user `solo`.
macro_rules! to_solo {
    ($ty:ty, $name:literal, $delivery:ident) => {
        impl Event for $ty {
            const NAME: &'static str = $name;
            const MODULE: &'static str = "direct";
            const DIRECTION: Direction = Direction::ServerToClient;
            const DELIVERY: Delivery = Delivery::$delivery;
            type Reply = ();

            fn recipients(&self) -> Recipients {
                tidings::to_user("solo")
            }
        }
    };
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick {
    from: u64,
    n: u64,
}

to_solo!(Tick, "direct:tick", Ephemeral);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredTick(Tick);

to_solo!(StoredTick, "direct:stored_tick", Durable);

/// The server runs on a runtime of one thread, which the test then blocks right after the emit:
/// the session's task cannot run, so the frame can only have been written by the emitting call.
#[tokio::test]
async fn an_idle_connection_gets_the_frame_from_the_emitting_call() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut server = TestServer::start(hub_builder().build()).await;
            ready_tx.send(server.addr).expect("test waits");
            let mut go = go_rx;
            while let Some(n) = go.recv().await {
                server.hub.emit(&Tick { from: 0, n }).expect("emits");
                // Block the runtime's only thread: no task of this server runs meanwhile.
                std::thread::sleep(Duration::from_millis(1500));
                let _ = done_tx.send(());
            }
            server.shutdown().await;
        });
    });
    let addr = tokio::task::spawn_blocking(move || ready_rx.recv().expect("server starts"))
        .await
        .expect("joins");
    let mut client = Client::connect(addr, "user=solo").await;
    for n in 0..3 {
        go_tx.send(n).expect("server listens");
        let frame = tokio::time::timeout(Duration::from_millis(1000), client.recv_app())
            .await
            .unwrap_or_else(|_| panic!("event {n} arrived while the server's thread was blocked"));
        assert_eq!(frame["type"], "direct:tick", "{frame}");
        assert_eq!(frame["data"]["n"], n, "{frame}");
        done_rx
            .recv()
            .await
            .expect("the server's thread is free again");
    }
    drop(go_tx);
    tokio::task::spawn_blocking(move || server.join().expect("server thread"))
        .await
        .expect("joins");
}

/// Several threads emit to one connection at once, so direct writes, queued frames and the
/// session's batches interleave: every frame arrives, whole, each thread's in its order, and
/// durable ones numbered without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_from_many_threads_arrive_whole_and_in_order() {
    const THREADS: u64 = 4;
    const EACH: u64 = 1_000;
    let mut limits = Limits::default();
    limits.outbound_queue = (THREADS * EACH * 2) as usize;
    let server = TestServer::start(hub_builder().limits(limits).build()).await;
    let mut client = server.client("user=solo").await;
    let emitters: Vec<_> = (0..THREADS)
        .map(|from| {
            let hub = server.hub.clone();
            std::thread::spawn(move || {
                for n in 0..EACH {
                    let tick = Tick { from, n };
                    if n % 2 == 0 {
                        hub.emit(&tick).expect("emits");
                    } else {
                        hub.emit(&StoredTick(tick)).expect("emits");
                    }
                    if n % 100 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut last_seq = 0;
    for _ in 0..THREADS * EACH {
        let frame = client.recv_app().await;
        let from = frame["data"]["from"]
            .as_u64()
            .unwrap_or_else(|| panic!("a tick: {frame}"));
        let expected = next.entry(from).or_insert(0);
        assert_eq!(
            frame["data"]["n"], *expected,
            "thread {from}'s frames in order: {frame}"
        );
        *expected += 1;
        if frame["type"] == "direct:stored_tick" {
            let seq = frame["seq"].as_u64().expect("numbered");
            assert_eq!(seq, last_seq + 1, "durable frames numbered without a gap");
            last_seq = seq;
        }
    }
    for e in emitters {
        e.join().expect("emitter");
    }
    assert!(next.values().all(|n| *n == EACH), "{next:?}");
    assert_eq!(last_seq, THREADS * EACH / 2);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Padded {
    user: String,
    n: u64,
    pad: String,
}

impl Event for Padded {
    const NAME: &'static str = "direct:padded";
    const MODULE: &'static str = "direct";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_user(&self.user)
    }
}

/// A burst past a slow reader's queue cuts it off with 4008 — the close frame carries the code
/// even when the cut-off finds the session writing (a frame the emitting call left for it to
/// flush, or a batch), not a close frame without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_queue_closes_with_4008() {
    let mut limits = Limits::default();
    limits.outbound_queue = 4;
    let server = TestServer::start(hub_builder().limits(limits).build()).await;
    for attempt in 0..6 {
        let user = format!("burst{attempt}");
        // A small receive buffer and emitters that go on until the reader has its answer:
        // however fast this machine's threads, the reader (ten frames per millisecond) falls
        // behind, the socket fills, the session is left writing and the queue overflows.
        let mut client =
            Client::connect_with_receive_buffer(server.addr, &format!("user={user}"), 64 * 1024)
                .await;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut read = 0u64;
                let outcome = loop {
                    read += 1;
                    if read % 10 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    match tokio::time::timeout(crate::support::PATIENCE, client.next_message())
                        .await
                    {
                        Ok(Some(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                            break format!("close {:?}", frame.map(|f| u16::from(f.code)));
                        }
                        Ok(Some(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                            let _: serde_json::Value =
                                serde_json::from_str(t.as_str()).expect("JSON frames");
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break format!("ended without a close frame after {read}"),
                        Err(_) => break format!("no frame for 5 s after {read}"),
                    }
                };
                stop.store(true, Ordering::Relaxed);
                outcome
            })
        };
        let emitters: Vec<_> = (0..2)
            .map(|_| {
                let (hub, user, stop) = (server.hub.clone(), user.clone(), stop.clone());
                std::thread::spawn(move || {
                    let started = std::time::Instant::now();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(60)
                    {
                        let pad = "p".repeat(500);
                        let _ = hub.emit(&Padded {
                            user: user.clone(),
                            n,
                            pad,
                        });
                        n += 1;
                    }
                })
            })
            .collect();
        let outcome = reader.await.expect("reader");
        stop.store(true, Ordering::Relaxed);
        for e in emitters {
            e.join().expect("emitter");
        }
        assert_eq!(
            outcome, "close Some(4008)",
            "attempt {attempt}: cut off with 4008"
        );
    }
}

/// A write buffer larger than tungstenite's default bound on it is taken (the bound grows with
/// it), not a panic at every handshake.
#[tokio::test]
async fn a_large_write_buffer_is_a_working_setting() {
    let mut limits = Limits::default();
    limits.write_buffer_bytes = 1024 * 1024;
    let server = TestServer::start(hub_builder().limits(limits).build()).await;
    let mut client = server.client("user=solo").await;
    server.hub.emit(&Tick { from: 0, n: 7 }).expect("emits");
    let frame = client.recv_app().await;
    assert_eq!(frame["data"]["n"], 7, "{frame}");
}
