//! Delivery that loses nothing, on the in-memory hub: replay on resume, resync outside the
//! window, and the chaos test of 200 reconnecting clients (issue: chaos test 1 and 3).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidings::client::{Client as RustClient, ClientEvent};
use tidings::schema::{Delivery, Direction};
use tidings::{to_user, Event, History, Position, Recipients};

use crate::support::{hub_builder, Client, TestServer, PATIENCE};

/// A durable event to one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Note {
    pub(crate) user: String,
    pub(crate) n: u64,
}

impl Event for Note {
    const NAME: &'static str = "test:note";
    const MODULE: &'static str = "test";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.user)
    }
}

fn note(user: &str, n: u64) -> Note {
    Note {
        user: user.to_owned(),
        n,
    }
}

fn epoch_of(c: &Client) -> String {
    c.connected["resume"]["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned()
}

async fn wait_offline(server: &TestServer, user: &str) {
    tokio::time::timeout(PATIENCE, async {
        while server.hub.user_connection_count(user) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the connection is gone");
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_in_order_then_live_events() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=u1").await;
    let epoch = epoch_of(&c);
    assert_eq!(c.connected["resume"]["seq"], 0);
    for n in 1..=3 {
        server.hub.emit(&note("u1", n)).expect("emit");
    }
    for n in 1..=3 {
        let f = c.recv_app().await;
        assert_eq!(
            (f["seq"].as_u64(), f["data"]["n"].as_u64()),
            (Some(n), Some(n))
        );
    }
    drop(c);
    wait_offline(&server, "u1").await;
    // Addressed to the user while offline: kept in the user's stream.
    for n in 4..=5 {
        server.hub.emit(&note("u1", n)).expect("emit");
    }
    let mut c = server.client(&format!("user=u1&resume={epoch}.3")).await;
    assert_eq!(c.connected["resume"]["seq"], 5, "{}", c.connected);
    for n in 4..=5 {
        let f = c.recv_app().await;
        assert_eq!(f["seq"], n, "{f}");
        assert_eq!(f["data"]["n"], n, "{f}");
    }
    let done = c.recv_app().await;
    assert_eq!(done["type"], "$pending_complete", "{done}");
    assert_eq!(
        (done["replayed"].as_u64(), done["seq"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(done["epoch"], epoch.as_str());
    server.hub.emit(&note("u1", 6)).expect("emit");
    assert_eq!(c.recv_app().await["seq"], 6);
}

#[tokio::test]
async fn an_up_to_date_client_is_told_at_once_and_tabs_share_the_stream() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut tab1 = server.client("user=u1").await;
    let epoch = epoch_of(&tab1);
    server.hub.emit(&note("u1", 1)).expect("emit");
    assert_eq!(tab1.recv_app().await["seq"], 1);
    let mut tab2 = server.client(&format!("user=u1&resume={epoch}.1")).await;
    let done = tab2.recv_app().await;
    assert_eq!(done["type"], "$pending_complete", "{done}");
    assert_eq!(done["replayed"], 0);
    server.hub.emit(&note("u1", 2)).expect("emit");
    assert_eq!(tab1.recv_app().await["seq"], 2);
    assert_eq!(tab2.recv_app().await["seq"], 2);
}

#[tokio::test]
async fn gaps_outside_the_window_or_epoch_say_resync_required_never_a_silent_gap() {
    let hub = hub_builder()
        .history(History::new(2, Duration::from_secs(60)))
        .build();
    let server = TestServer::start(hub).await;
    let c = server.client("user=u1").await;
    let epoch = epoch_of(&c);
    drop(c);
    wait_offline(&server, "u1").await;
    for n in 1..=5 {
        server.hub.emit(&note("u1", n)).expect("emit");
    }
    let cases = [
        (
            format!("{epoch}.0"),
            "the events missed are no longer available",
        ),
        ("f00d.3".to_owned(), "the stream was restarted (new epoch)"),
        (
            format!("{epoch}.9"),
            "the position is ahead of the stream (its history was lost)",
        ),
    ];
    for (resume, reason) in cases {
        let mut c = server.client(&format!("user=u1&resume={resume}")).await;
        let f = c.recv_app().await;
        assert_eq!(f["type"], "$resync_required", "{resume}: {f}");
        assert_eq!(f["reason"], reason, "{resume}");
        assert_eq!(
            (f["epoch"].as_str(), f["seq"].as_u64()),
            (Some(epoch.as_str()), Some(5))
        );
    }
    // Within the window: replayed.
    let mut c = server.client(&format!("user=u1&resume={epoch}.3")).await;
    assert_eq!(c.recv_app().await["seq"], 4);
    assert_eq!(c.recv_app().await["seq"], 5);
    assert_eq!(c.recv_app().await["type"], "$pending_complete");
}

#[tokio::test]
async fn history_expires_by_age() {
    let hub = hub_builder()
        .history(History::new(100, Duration::from_millis(150)))
        .build();
    let server = TestServer::start(hub).await;
    let c = server.client("user=u1").await;
    let epoch = epoch_of(&c);
    server.hub.emit(&note("u1", 1)).expect("emit");
    drop(c);
    wait_offline(&server, "u1").await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let mut c = server.client(&format!("user=u1&resume={epoch}.0")).await;
    let f = c.recv_app().await;
    assert_eq!(f["type"], "$resync_required", "{f}");
    // Once nothing is left to replay and the stream has been idle past the age, it goes.
    drop(c);
    wait_offline(&server, "u1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hub.sweep(), 1);
    assert_eq!(server.hub.stream_count(), 0);
}

#[tokio::test]
async fn a_malformed_resume_position_is_refused_with_400() {
    let server = TestServer::start(hub_builder().build()).await;
    let err = Client::try_connect(server.addr, "user=u1&resume=nodot")
        .await
        .err()
        .expect("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("malformed resume position `nodot`"), "{body}");
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// Reads a client's reports until it has `count` events; returns their payloads' `n`.
async fn collect(client: &mut RustClient, count: usize) -> (Vec<u64>, usize) {
    let mut got = Vec::with_capacity(count);
    let mut resyncs = 0;
    while got.len() < count {
        match tokio::time::timeout(Duration::from_secs(60), client.next()).await {
            Ok(Some(ClientEvent::Event(e))) => got.push(e.data["n"].as_u64().unwrap_or(u64::MAX)),
            Ok(Some(ClientEvent::Resync { .. })) => resyncs += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("client stopped after {} of {count} events", got.len()),
        }
    }
    (got, resyncs)
}

/// Chaos test 1: 200 clients of 50 users, dropped at random while 20,000 durable events are
/// emitted; every client ends with every event addressed to its user, exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_200_clients_random_disconnects_20000_events_nothing_lost() {
    const USERS: u64 = 50;
    const CLIENTS: usize = 200;
    const EVENTS: u64 = 20_000;
    let started = std::time::Instant::now();
    let hub = hub_builder()
        .history(History::new(20_000, Duration::from_secs(120)))
        .build();
    let server = TestServer::start(hub).await;
    let url = format!("ws://{}/ws", server.addr);
    let mut clients: Vec<(u64, RustClient)> = Vec::new();
    for i in 0..CLIENTS {
        let user = i as u64 % USERS;
        let mut c = RustClient::builder(format!("{url}?user=u{user}"))
            .backoff(Duration::from_millis(5), Duration::from_millis(100))
            .connect();
        match tokio::time::timeout(PATIENCE, c.next()).await {
            Ok(Some(ClientEvent::Connected { .. })) => {}
            other => panic!("client {i} did not connect: {other:?}"),
        }
        clients.push((user, c));
    }
    // What each user must receive, in order.
    let mut expected: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut dropped = 0;
    let emitted = {
        let hub = server.hub.clone();
        let mut plan = Vec::with_capacity(EVENTS as usize);
        for n in 0..EVENTS {
            let user = next() % USERS;
            expected.entry(user).or_default().push(n);
            plan.push((user, n, next() % 40 == 0));
        }
        let mut drops = Vec::new();
        for (user, n, drop_one) in plan {
            hub.emit(&note(&format!("u{user}"), n)).expect("emit");
            if drop_one {
                drops.push((next() % CLIENTS as u64) as usize);
            }
            if n % 200 == 0 {
                // Let the sessions run, and drop the chosen connections meanwhile.
                for i in drops.drain(..) {
                    clients[i].1.drop_connection();
                    dropped += 1;
                }
                tokio::task::yield_now().await;
            }
        }
        EVENTS
    };
    assert_eq!(emitted, EVENTS);
    assert!(dropped >= 100, "the chaos dropped {dropped} connections");
    let mut resyncs = 0;
    let mut delivered = 0;
    for (user, client) in &mut clients {
        let want = expected.get(user).cloned().unwrap_or_default();
        let (got, r) = collect(client, want.len()).await;
        resyncs += r;
        assert_eq!(got, want, "user u{user}: every event once, in order");
        delivered += got.len();
    }
    assert_eq!(resyncs, 0, "the window covered every absence");
    let m = server.hub.metrics();
    assert!(m.connections_total >= (CLIENTS + 100) as u64, "{m:?}");
    // The figures BENCHMARKS.md quotes (`cargo test … chaos -- --nocapture`).
    println!(
        "chaos 1 (one node): {EVENTS} events to {USERS} users on {CLIENTS} clients, \
         {dropped} connection drops ordered, {} reconnections, {delivered} deliveries checked, \
         0 lost, 0 duplicated, 0 out of order, {resyncs} resyncs, {:.2} s",
        m.connections_total - CLIENTS as u64,
        started.elapsed().as_secs_f64()
    );
}

/// Chaos test 3: a client away longer than the window is told to resync, never handed a gap.
#[tokio::test]
async fn a_client_away_longer_than_the_window_gets_resync_not_a_gap() {
    let hub = hub_builder()
        .history(History::new(4, Duration::from_secs(60)))
        .build();
    let server = TestServer::start(hub).await;
    let url = format!("ws://{}/ws?user=u7", server.addr);
    let mut c = RustClient::builder(&url).connect();
    assert!(matches!(
        tokio::time::timeout(PATIENCE, c.next()).await,
        Ok(Some(ClientEvent::Connected { resumed: false, .. }))
    ));
    server.hub.emit(&note("u7", 1)).expect("emit");
    let (got, _) = collect(&mut c, 1).await;
    assert_eq!(got, [1]);
    let left_at: Position = c.position().expect("a position");
    assert_eq!(left_at.seq, 1);
    c.close();
    drop(c);
    wait_offline(&server, "u7").await;
    for n in 2..=11 {
        server.hub.emit(&note("u7", n)).expect("emit");
    }
    let mut c = RustClient::builder(&url)
        .resume_from(left_at.clone())
        .connect();
    let mut reports = Vec::new();
    loop {
        let e = tokio::time::timeout(PATIENCE, c.next())
            .await
            .expect("a report")
            .expect("open");
        let resync = matches!(e, ClientEvent::Resync { .. });
        reports.push(e);
        if resync {
            break;
        }
        assert!(
            !matches!(reports.last(), Some(ClientEvent::Event(_))),
            "no event before the resync: {reports:?}"
        );
    }
    match reports.last() {
        Some(ClientEvent::Resync { position, reason }) => {
            assert_eq!(position.seq, 11);
            assert_eq!(position.epoch, left_at.epoch);
            assert_eq!(reason, "the events missed are no longer available");
        }
        other => panic!("{other:?}"),
    }
    // The stream goes on from the resync point.
    server.hub.emit(&note("u7", 12)).expect("emit");
    let (got, _) = collect(&mut c, 1).await;
    assert_eq!(got, [12]);
    assert_eq!(c.position().map(|p| p.seq), Some(12));
}
