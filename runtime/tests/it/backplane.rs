//! Several nodes on a real Redis (`redis-server`, started here on a free loopback port): fan-out
//! across nodes, resume on another node, a node killed mid-stream (chaos test 2), and Redis
//! itself restarted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tidings::broker::redis::RedisBroker;
use tidings::broker::BrokerStatus;
use tidings::client::{Client as RustClient, ClientEvent};
use tidings::{EmitError, History, Hub};

use crate::delivery::Note;
use crate::faults::FaultProxy;
use crate::redis_server::RedisServer as Redis;
use crate::support::{hub_builder, Marker, TestServer, PATIENCE};

fn node(redis: &Redis, ns: &str, history: History) -> Hub {
    let broker = RedisBroker::builder(redis.url())
        .namespace(ns)
        .queue(1_000)
        .build()
        .expect("a redis url");
    hub_builder().history(history).broker(broker).build()
}

/// Two nodes of namespace `ns` serving on the Redis, both healthy.
async fn two_nodes(redis: &Redis, ns: &str, history: History) -> (TestServer, TestServer) {
    let a = TestServer::start(node(redis, ns, history)).await;
    let b = TestServer::start(node(redis, ns, history)).await;
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    (a, b)
}

pub(crate) async fn healthy(hub: &Hub) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while hub.broker_status() != Some(BrokerStatus::Healthy) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the backplane becomes healthy: {:?}", hub.broker_status()));
}

async fn next_event(c: &mut RustClient) -> ClientEvent {
    tokio::time::timeout(PATIENCE, c.next())
        .await
        .expect("a report in time")
        .expect("the client is open")
}

/// A Rust client of `url` that reconnects within 20–200 ms, once it is connected.
async fn tab(url: &str) -> RustClient {
    let mut c = RustClient::builder(url)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect();
    assert!(matches!(
        next_event(&mut c).await,
        ClientEvent::Connected { .. }
    ));
    c
}

/// Reads reports until `count` events arrived; returns (n, seq) of each and the resyncs seen.
async fn events(c: &mut RustClient, count: usize) -> (Vec<(u64, u64)>, Vec<ClientEvent>) {
    let mut got = Vec::new();
    let mut resyncs = Vec::new();
    while got.len() < count {
        match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
            Ok(Some(ClientEvent::Event(e))) if e.name == "test:note" => {
                got.push((e.data["n"].as_u64().unwrap_or(0), e.seq.unwrap_or(0)));
            }
            Ok(Some(r @ ClientEvent::Resync { .. })) => resyncs.push(r),
            Ok(Some(_)) => {}
            other => panic!("stopped after {} of {count} events: {other:?}", got.len()),
        }
    }
    (got, resyncs)
}

pub(crate) fn note(user: &str, n: u64) -> Note {
    Note {
        user: user.to_owned(),
        n,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes_and_a_user_on_two_nodes_sees_one_stream() {
    let redis = Redis::start();
    let history = History::default();
    let (a, b) = two_nodes(&redis, "cross", history).await;
    let mut on_a = RustClient::builder(format!("ws://{}/ws?user=u1", a.addr)).connect();
    let mut on_b = RustClient::builder(format!("ws://{}/ws?user=u1", b.addr)).connect();
    let mut other = RustClient::builder(format!("ws://{}/ws?user=u2", b.addr)).connect();
    for c in [&mut on_a, &mut on_b, &mut other] {
        assert!(matches!(next_event(c).await, ClientEvent::Connected { .. }));
    }
    // Durable, emitted on a node where u1 is and on one where u2 is not.
    for n in 1..=3 {
        let d = a.hub.emit(&note("u1", n)).expect("emit");
        assert!(d.forwarded);
        a.hub.emit(&note("u2", 100 + n)).expect("emit");
    }
    let want: Vec<(u64, u64)> = (1..=3).map(|n| (n, n)).collect();
    assert_eq!(
        events(&mut on_a, 3).await.0,
        want,
        "one stream, numbered once"
    );
    assert_eq!(
        events(&mut on_b, 3).await.0,
        want,
        "the same numbers on the other node"
    );
    let want_u2: Vec<(u64, u64)> = (1..=3).map(|n| (100 + n, n)).collect();
    assert_eq!(events(&mut other, 3).await.0, want_u2);
    // Ephemeral, to everyone: once per connection, on every node.
    b.hub.emit(&Marker { n: 77 }).expect("emit");
    for c in [&mut on_a, &mut on_b, &mut other] {
        loop {
            if let ClientEvent::Event(e) = next_event(c).await {
                assert_eq!((e.name.as_str(), e.seq), ("test:marker", None));
                break;
            }
        }
    }
    // A client that resumes on the other node gets what it missed from Redis.
    let left_at = on_a.position().expect("position");
    drop(on_a);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 4..=6 {
        b.hub.emit(&note("u1", n)).expect("emit");
    }
    assert_eq!(events(&mut on_b, 3).await.0.len(), 3);
    let mut again = RustClient::builder(format!("ws://{}/ws?user=u1", b.addr))
        .resume_from(left_at)
        .connect();
    let (got, resyncs) = events(&mut again, 3).await;
    assert_eq!(got, [(4, 4), (5, 5), (6, 6)]);
    assert!(resyncs.is_empty());
}

/// A burst read in one batch shares the resolution of consecutive events with the same
/// recipients (`Node::receive_after`): each event still reaches exactly its own recipients, in
/// order, however the burst alternates them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_alternating_recipients_reaches_each_event_s_own() {
    let redis = Redis::start();
    let history = History::default();
    let (a, b) = two_nodes(&redis, "burst", history).await;
    let users = ["x", "y", "z"];
    let mut clients = Vec::new();
    for user in users {
        let mut c = RustClient::builder(format!("ws://{}/ws?user={user}", b.addr)).connect();
        assert!(matches!(
            next_event(&mut c).await,
            ClientEvent::Connected { .. }
        ));
        clients.push(c);
    }
    // Each round: to x, x again, y, x and y, the same again, z (emitted on a, with no
    // connection, read on b).
    let rules: [&[&str]; 6] = [&["x"], &["x"], &["y"], &["x", "y"], &["x", "y"], &["z"]];
    let rounds = 20u64;
    let mut expected: HashMap<&str, Vec<u64>> = HashMap::new();
    for round in 0..rounds {
        for (k, to) in rules.iter().enumerate() {
            let n = round * 10 + k as u64;
            a.hub
                .emit_to(&note("-", n), &tidings::to_users(to.iter().copied()))
                .expect("emit");
            for user in *to {
                expected.entry(user).or_default().push(n);
            }
        }
    }
    for (user, client) in users.iter().zip(&mut clients) {
        let want = &expected[user];
        let (got, resyncs) = events(client, want.len()).await;
        assert!(resyncs.is_empty(), "{user}: {resyncs:?}");
        let ns: Vec<u64> = got.iter().map(|e| e.0).collect();
        assert_eq!(&ns, want, "{user}'s events");
        let seqs: Vec<u64> = got.iter().map(|e| e.1).collect();
        assert_eq!(
            seqs,
            (1..=want.len() as u64).collect::<Vec<_>>(),
            "{user}'s numbers"
        );
    }
    // Nothing more for anyone.
    a.hub
        .emit_to(&note("-", 999), &tidings::to_users(["x", "y", "z"]))
        .expect("emit");
    for (user, client) in users.iter().zip(&mut clients) {
        let (got, _) = events(client, 1).await;
        assert_eq!(got[0].0, 999, "{user} got an event meant for another");
    }
}

/// Chaos test 2: clients on two nodes; the first node is killed while events stream; its
/// clients reconnect to the second and recover everything, exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_a_node_killed_mid_stream_its_clients_recover_on_the_other_with_zero_loss() {
    const USERS: u64 = 20;
    const EVENTS: u64 = 4_000;
    let started = std::time::Instant::now();
    let redis = Redis::start();
    let history = History::new(10_000, Duration::from_secs(120));
    let a = TestServer::start(node(&redis, "chaos", history)).await;
    let b = TestServer::start(node(&redis, "chaos", history)).await;
    // The app's API node: emits, serves no connection.
    let api = node(&redis, "chaos", history);
    for hub in [&a.hub, &b.hub, &api] {
        healthy(hub).await;
    }
    let a_addr = a.addr;
    let mut a = Some(a);
    let mut clients = Vec::new();
    for i in 0..(USERS * 2) {
        let user = i % USERS;
        let (first, second) = if i % 2 == 0 {
            (a_addr, b.addr)
        } else {
            (b.addr, a_addr)
        };
        let mut c = RustClient::builder(format!("ws://{first}/ws?user=u{user}"))
            .fallback(format!("ws://{second}/ws?user=u{user}"))
            .backoff(Duration::from_millis(10), Duration::from_millis(200))
            .connect();
        assert!(matches!(
            next_event(&mut c).await,
            ClientEvent::Connected { .. }
        ));
        clients.push((user, c));
    }
    let mut expected: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut waited = 0;
    for n in 0..EVENTS {
        let user = (n * 7 + n / 3) % USERS;
        expected.entry(user).or_default().push(n);
        // The API node's queue to Redis is bounded: on a loaded machine it can fill, and the
        // emit is refused (`Unavailable`), never dropped; the app waits and sends it again.
        loop {
            match api.emit(&note(&format!("u{user}"), n)) {
                Ok(_) => break,
                Err(EmitError::Unavailable { .. }) => {
                    waited += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        if n == EVENTS / 2 {
            // Kill node A: its sockets drop without a close frame, its hub goes away.
            if let Some(a) = a.take() {
                a.abort();
            }
        }
        if n % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut delivered = 0;
    for (user, c) in &mut clients {
        let want = expected.get(user).cloned().unwrap_or_default();
        let (got, resyncs) = events(c, want.len()).await;
        let ns: Vec<u64> = got.iter().map(|g| g.0).collect();
        assert_eq!(ns, want, "user u{user}: every event, once, in order");
        let seqs: Vec<u64> = got.iter().map(|g| g.1).collect();
        assert_eq!(seqs, (1..=want.len() as u64).collect::<Vec<_>>());
        assert!(resyncs.is_empty(), "{resyncs:?}");
        delivered += got.len();
    }
    assert!(b.hub.connection_count() >= USERS as usize * 2 - 1);
    // The figures BENCHMARKS.md quotes (`cargo test … chaos -- --nocapture`).
    println!(
        "chaos 2 (two nodes, Redis): {EVENTS} events to {USERS} users on {} clients, node A \
         killed after {} events, {} clients failed over to node B, {delivered} deliveries \
         checked, 0 lost, 0 duplicated, 0 out of order, 0 resyncs, {waited} emits refused \
         for a full queue and sent again, {:.2} s",
        USERS * 2,
        EVENTS / 2,
        b.hub.metrics().connections_total - USERS,
        started.elapsed().as_secs_f64()
    );
}

/// Redis restarts (without persistence): the node reports degraded, refuses with 1013 the new
/// sessions whose stream it would have to load (and takes another tab of a stream it holds),
/// fails emits beyond its queue, reconnects, tells its clients to resync (the history is gone)
/// and delivers what was queued. No panic, no silent gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_survived_and_signalled_as_a_resync() {
    let mut redis = Redis::start();
    let broker = RedisBroker::builder(redis.url())
        .namespace("restart")
        .queue(8)
        .build()
        .expect("url");
    let a = TestServer::start(hub_builder().broker(broker).build()).await;
    healthy(&a.hub).await;
    let url = format!("ws://{}/ws?user=u1", a.addr);
    let mut c = tab(&url).await;
    for n in 1..=3 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    assert_eq!(events(&mut c, 3).await.0, [(1, 1), (2, 2), (3, 3)]);
    let before = c.position().expect("position");

    redis.kill();
    tokio::time::timeout(PATIENCE, async {
        while a.hub.broker_status() == Some(BrokerStatus::Healthy) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("degraded once redis is gone");
    // New sessions are refused with 1013 meanwhile.
    let mut newcomer = RustClient::builder(format!("ws://{}/ws?user=u9", a.addr)).connect();
    loop {
        match next_event(&mut newcomer).await {
            ClientEvent::Disconnected { code } => {
                assert_eq!(code, Some(1013));
                break;
            }
            ClientEvent::Connected { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    newcomer.close();
    // Another tab of u1, whose stream the node holds, attaches from the node's memory.
    let mut second = tab(&url).await;
    assert_eq!(second.position().as_ref(), Some(&before));
    // Emits are queued up to the bound, then refused: never dropped silently. The bound counts
    // what the node's publisher holds in its batch too: at most 8 wait, however the publisher
    // took them.
    let mut accepted = Vec::new();
    let mut refused = 0;
    for n in 4..=20 {
        match a.hub.emit(&note("u1", n)) {
            Ok(_) => accepted.push(n),
            Err(EmitError::Unavailable { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let queued = accepted.len();
    assert!(
        (1..=8).contains(&queued) && refused >= 1,
        "queued {queued}, refused {refused}"
    );

    redis.start_again();
    healthy(&a.hub).await;
    // The stream was lost with Redis: the client is told to resync, then gets what was queued.
    let (got, resyncs) = events(&mut c, queued).await;
    assert_eq!(resyncs.len(), 1, "{resyncs:?}");
    match &resyncs[0] {
        ClientEvent::Resync { position, reason } => {
            assert_ne!(position.epoch, before.epoch);
            assert_eq!(reason, "the stream was restarted (new epoch)");
        }
        other => panic!("{other:?}"),
    }
    let ns: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(ns, accepted);
    // The tab that came during the outage gets the same.
    let (got, resyncs) = events(&mut second, queued).await;
    assert_eq!(resyncs.len(), 1, "{resyncs:?}");
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), accepted);
    // And the system goes on.
    a.hub.emit(&note("u1", 99)).expect("emit");
    assert_eq!(events(&mut c, 1).await.0[0].0, 99);
    assert_eq!(events(&mut second, 1).await.0[0].0, 99);
}

/// Redis restarts, and node B reattaches seconds after node A (B is cut off from Redis by a
/// partition), while A numbers many more events of the new epoch than the history holds for a
/// user with a tab on each node. Both tabs are told to resync once, then receive the same
/// events: the new epoch keeps its whole history until every node has reattached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_a_late_node_replays_the_new_epoch_as_the_first_did() {
    let mut redis = Redis::start();
    let via = FaultProxy::start(([127, 0, 0, 1], redis.port()).into(), 1).await;
    let history = History::new(16, Duration::from_secs(300));
    let a = TestServer::start(node(&redis, "late", history)).await;
    let broker = RedisBroker::builder(format!("redis://{}/", via.addr()))
        .namespace("late")
        .queue(1_000)
        .build()
        .expect("url");
    let b = TestServer::start(hub_builder().history(history).broker(broker).build()).await;
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    let mut tabs = Vec::new();
    for server in [&a, &b] {
        tabs.push(tab(&format!("ws://{}/ws?user=u1", server.addr)).await);
    }
    for n in 1..=3 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    for tab in &mut tabs {
        assert_eq!(events(tab, 3).await.0.len(), 3);
    }

    via.partition(true);
    redis.kill();
    redis.start_again();
    healthy(&a.hub).await;
    // A numbers 60 events of the new epoch (the history holds 16) while B is still away.
    for n in 4..=63 {
        a.hub.emit(&note("u1", n)).expect("emit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    via.partition(false);
    for n in 64..=66 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    let mut seen = Vec::new();
    for tab in &mut tabs {
        let (got, resyncs) = events(tab, 63).await;
        assert_eq!(resyncs.len(), 1, "{resyncs:?}");
        let ClientEvent::Resync { position, reason } = &resyncs[0] else {
            unreachable!()
        };
        assert_eq!(
            (position.seq, reason.as_str()),
            (0, "the stream was restarted (new epoch)")
        );
        seen.push(got);
    }
    let want: Vec<(u64, u64)> = (4..=66).map(|n| (n, n - 3)).collect();
    assert_eq!(seen[0], want, "the tab on A");
    assert_eq!(seen[1], want, "the tab on B, which reattached later");
}

/// Presence across nodes: who is in a room of a tenant, whichever node their connections are on;
/// a connection that leaves is gone from it; after Redis restarts empty, the nodes share their
/// memberships again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_the_nodes_and_survives_a_redis_restart() {
    use serde_json::json;
    let mut redis = Redis::start();
    let (a, b) = two_nodes(&redis, "presence", History::default()).await;
    let mut tabs = Vec::new();
    for (server, user) in [(&a, "alice"), (&a, "alice"), (&b, "bob"), (&b, "carol")] {
        let mut c =
            crate::support::Client::connect(server.addr, &format!("user={user}&tenant=acme")).await;
        let r = c
            .request(json!({ "type": "$join", "cid": 1, "room": "chat:1" }))
            .await;
        assert_eq!(r["type"], "$reply", "{r}");
        tabs.push(c);
    }
    let users = |p: &tidings::Presence| -> Vec<(String, usize)> {
        p.users
            .iter()
            .map(|u| (u.user_id.clone(), u.connections))
            .collect()
    };
    let everyone = vec![
        ("alice".to_owned(), 2),
        ("bob".to_owned(), 1),
        ("carol".to_owned(), 1),
    ];
    let until = |hub: tidings::Hub, want: Vec<(String, usize)>| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = hub.presence("chat:1", Some("acme")).await;
            if let Ok(p) = &p {
                if users(p) == want {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "presence stayed {p:?}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    until(a.hub.clone(), everyone.clone()).await;
    until(b.hub.clone(), everyone.clone()).await;
    assert_eq!(a.hub.local_presence("chat:1", Some("acme")).user_count, 1);

    // Carol leaves the room; Bob disconnects.
    let r = tabs[3]
        .request(json!({ "type": "$leave", "cid": 2, "room": "chat:1" }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
    let bob = tabs.remove(2);
    drop(bob);
    until(a.hub.clone(), vec![("alice".to_owned(), 2)]).await;

    // Redis loses everything; the nodes share their memberships again.
    redis.kill();
    redis.start_again();
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    until(b.hub.clone(), vec![("alice".to_owned(), 2)]).await;
}

/// Presence events across nodes: each node announces its own connections, and the
/// announcement reaches the room's members on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_events_reach_the_room_on_every_node() {
    use crate::presence_events::{MemberJoined, MemberLeft};
    use serde_json::json;
    let redis = Redis::start();
    let node = |ns: &str| {
        let broker = RedisBroker::builder(redis.url())
            .namespace(ns)
            .build()
            .expect("a redis url");
        crate::support::hub_builder()
            .broker(broker)
            .presence_event::<MemberJoined>()
            .presence_event::<MemberLeft>()
            .build()
    };
    let a = TestServer::start(node("presence-events")).await;
    let b = TestServer::start(node("presence-events")).await;
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    let mut watcher = crate::support::Client::connect(b.addr, "user=watcher&tenant=acme").await;
    let r = watcher
        .request(json!({ "type": "$join", "cid": 1, "room": "chat:9" }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
    let mut alice = crate::support::Client::connect(a.addr, "user=alice&tenant=acme").await;
    let r = alice
        .request(json!({ "type": "$join", "cid": 1, "room": "chat:9" }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
    let joined = watcher.recv_app().await;
    assert_eq!(joined["type"], "chat:member_joined", "{joined}");
    assert_eq!(
        joined["data"],
        json!({ "chat_id": "9", "tenant_id": "acme", "user_id": "alice" })
    );
    drop(alice);
    let left = watcher.recv_app().await;
    assert_eq!(left["type"], "chat:member_left", "{left}");
    assert_eq!(left["data"]["user_id"], "alice");
}

/// A durable event to a room (only the nodes with members in it can resolve it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RoomNote {
    room: String,
    n: u64,
}

impl tidings::Event for RoomNote {
    const NAME: &'static str = "test:roomNote";
    const MODULE: &'static str = "test";
    const DIRECTION: tidings::schema::Direction = tidings::schema::Direction::ServerToClient;
    const DELIVERY: tidings::schema::Delivery = tidings::schema::Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> tidings::Recipients {
        tidings::to_room(&self.room).in_tenant("acme")
    }
}

/// A node away from Redis for longer than the fan-out window (the entries it had not read were
/// trimmed) tells its connections to resync: a user only on that node, in a room no other node
/// serves, is never left with a silent gap (the second stranger's test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_away_past_the_fanout_window_resyncs_its_connections() {
    use serde_json::json;
    let redis = Redis::start();
    let via = FaultProxy::start(([127, 0, 0, 1], redis.port()).into(), 7).await;
    let broker = |url: String| {
        RedisBroker::builder(url)
            .namespace("window")
            .fanout_window(20)
            .build()
            .expect("url")
    };
    let (a, b) = a_direct_b_through(&redis, &via, broker).await;
    let mut dave = crate::support::Client::connect(b.addr, "user=dave&tenant=acme").await;
    let r = dave
        .request(json!({ "type": "$join", "cid": 1, "room": "chat:9" }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
    a.hub
        .emit(&RoomNote {
            room: "chat:9".into(),
            n: 0,
        })
        .expect("emit");
    assert_eq!(dave.recv_app().await["data"]["n"], 0);

    // B is cut off; A emits far more than the window holds.
    via.partition(true);
    via.reset();
    for n in 1..=100 {
        a.hub
            .emit(&RoomNote {
                room: "chat:9".into(),
                n,
            })
            .expect("emit");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    via.partition(false);
    // Dave is told to resync (no silent gap), whatever else arrives.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = tokio::time::timeout(Duration::from_secs(20), dave.recv_app())
            .await
            .expect("a frame");
        if f["type"] == "$resync_required" {
            assert!(
                f["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("fan-out window"),
                "{f}"
            );
            break;
        }
        assert!(f["type"] == "test:roomNote", "{f}");
        assert!(Instant::now() < deadline, "no resync");
    }
}

/// Redis restored from an older snapshot keeps the epoch but goes back in `seq`: the numbers it
/// gives next were handed out already, to other events. The node sees a number it delivered
/// with another event and tells its connections to resync there; nothing is dropped as a
/// "duplicate" (the second stranger's test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restored_from_an_older_snapshot_is_a_resync_not_a_silent_gap() {
    let mut redis = Redis::start_persistent();
    let a = TestServer::start(node(&redis, "rewind", History::default())).await;
    healthy(&a.hub).await;
    let mut tab = tab(&format!("ws://{}/ws?user=u1", a.addr)).await;
    for n in 1..=3 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    assert_eq!(events(&mut tab, 3).await.0.len(), 3);
    let mut conn = redis.connection().await;
    let () = redis::cmd("SAVE")
        .query_async(&mut conn)
        .await
        .expect("SAVE");
    for n in 4..=6 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    assert_eq!(events(&mut tab, 3).await.0, [(4, 4), (5, 5), (6, 6)]);

    // Back to the snapshot: the stream's seq is 3 again, in the same epoch.
    redis.kill();
    redis.start_again();
    healthy(&a.hub).await;
    for n in 7..=9 {
        a.hub.emit(&note("u1", n)).expect("emit");
    }
    let (got, resyncs) = events(&mut tab, 3).await;
    assert_eq!(resyncs.len(), 1, "{resyncs:?}");
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [7, 8, 9]);
}

/// Node A on Redis directly, node B through `via`, each with the broker `broker` makes from its
/// URL; both healthy.
async fn a_direct_b_through(
    redis: &Redis,
    via: &FaultProxy,
    broker: impl Fn(String) -> RedisBroker,
) -> (TestServer, TestServer) {
    let a = TestServer::start(hub_builder().broker(broker(redis.url())).build()).await;
    let b = TestServer::start(
        hub_builder()
            .broker(broker(format!("redis://{}/", via.addr())))
            .build(),
    )
    .await;
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    (a, b)
}

/// The durable events a tab receives until event `last` arrives: `(seq, n)` of each in order,
/// and a resync as `(position, u64::MAX)`.
async fn notes_until(tab: &mut crate::support::Client, last: u64) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    loop {
        let f = tokio::time::timeout(Duration::from_secs(20), tab.recv_app())
            .await
            .unwrap_or_else(|_| panic!("no event {last} within 20 s; got {got:?}"));
        match f["type"].as_str() {
            Some("test:note") => {
                let n = f["data"]["n"].as_u64().expect("n");
                got.push((f["seq"].as_u64().expect("durable"), n));
                if n == last {
                    return got;
                }
            }
            Some("$resync_required") => {
                assert!(
                    f["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("de-duplication window"),
                    "{f}"
                );
                got.push((f["seq"].as_u64().expect("position"), u64::MAX));
            }
            _ => {}
        }
    }
}

/// A node away from Redis for longer than the de-duplication window reads on from where it
/// left off, to events the other node numbered already in a stream both serve. It cannot tell
/// which, so it numbers none of those and its tab resyncs: no event arrives twice (a stranger's
/// test: with the old window of keys, k = 5 … 14 came again as new numbers, no resync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_away_past_the_dedup_window_resyncs_instead_of_numbering_twice() {
    use crate::delivery::Note;
    let redis = Redis::start();
    let via = FaultProxy::start(([127, 0, 0, 1], redis.port()).into(), 11).await;
    let broker = |url: String| {
        RedisBroker::builder(url)
            .namespace("dedup")
            .dedup_window(Duration::from_secs(2))
            .build()
            .expect("url")
    };
    let (a, b) = a_direct_b_through(&redis, &via, broker).await;
    let mut on_a = crate::support::Client::connect(a.addr, "user=u").await;
    let mut on_b = crate::support::Client::connect(b.addr, "user=u").await;
    let emit = |range: std::ops::Range<u64>| {
        for n in range {
            a.hub
                .emit(&Note {
                    user: "u".into(),
                    n,
                })
                .expect("emit");
        }
    };
    emit(0..5);
    let mut seen_a = notes_until(&mut on_a, 4).await;
    let mut seen_b = notes_until(&mut on_b, 4).await;

    via.partition(true);
    via.reset();
    tokio::time::sleep(Duration::from_millis(300)).await;
    emit(5..15);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    // Past the window; 40 more, one at a time (a script call each), make the stream's list of
    // numbered ids 16 entries long and more, where it is trimmed.
    for n in 15..55 {
        emit(n..n + 1);
        seen_a.extend(notes_until(&mut on_a, n).await);
    }
    via.partition(false);
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    emit(55..58);
    seen_a.extend(notes_until(&mut on_a, 57).await);
    seen_b.extend(notes_until(&mut on_b, 57).await);

    // A's tab: every event once, numbered 1 … 58, no resync.
    assert_eq!(
        seen_a,
        (0..58).map(|n| (n + 1, n)).collect::<Vec<_>>(),
        "A's tab"
    );
    // B's tab: no event twice; numbers contiguous except where it was told to resync; the
    // same event at the same number as on A's tab.
    let mut ns: Vec<u64> = seen_b
        .iter()
        .filter(|e| e.1 != u64::MAX)
        .map(|e| e.1)
        .collect();
    let count = ns.len();
    ns.sort_unstable();
    ns.dedup();
    assert_eq!(ns.len(), count, "an event twice on B's tab: {seen_b:?}");
    let mut last = 0;
    for &(seq, n) in &seen_b {
        if n == u64::MAX {
            last = seq;
            continue;
        }
        assert_eq!(seq, last + 1, "a gap or repeat on B's tab: {seen_b:?}");
        assert_eq!(
            seq,
            n + 1,
            "another event at this number than on A's: {seen_b:?}"
        );
        last = seq;
    }
}

/// An emit through a backplane returns once the event is queued for it: while Redis does not
/// answer, the events wait in the queue, `backplane_flushed` says how many, and once Redis is
/// back it waits until Redis holds them all (what a stopping process awaits, so that it says
/// what it would lose instead of losing it silently).
#[tokio::test]
async fn events_queued_for_a_stalled_backplane_are_counted_until_it_takes_them() {
    let redis = Redis::start();
    let hub = node(&redis, "flush", History::default());
    healthy(&hub).await;
    assert_eq!(hub.backplane_flushed(Duration::from_millis(10)).await, 0);
    let mut conn = redis.connection().await;
    // Redis holds every write command for two seconds.
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg("2000")
        .arg("WRITE")
        .query_async(&mut conn)
        .await
        .expect("CLIENT PAUSE");
    for n in 0..5 {
        hub.emit(&Note {
            user: "u".into(),
            n,
        })
        .expect("queued for the backplane");
    }
    let left = hub.backplane_flushed(Duration::from_millis(300)).await;
    assert_eq!(left, 5, "Redis holds none of them yet");
    assert_eq!(
        hub.backplane_flushed(Duration::from_secs(10)).await,
        0,
        "taken once Redis answers again"
    );
}

/// A user who connects within a tenant reads that tenant's stream. Events addressed to the user
/// by id with no tenant scope, emitted while the user has no connection anywhere, wait in that
/// stream through Redis as on one node, and are replayed on resume, on either node (the
/// stranger's pass on `tidings serve` found them lost: the offline stream was looked up
/// without the tenant).
#[tokio::test]
async fn untenanted_events_for_an_offline_user_wait_in_their_tenant_stream() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis, "tenants", History::default()).await;
    let mut tab = RustClient::builder(format!("ws://{}/ws?user=u1&tenant=acme", a.addr)).connect();
    assert!(matches!(
        next_event(&mut tab).await,
        ClientEvent::Connected { .. }
    ));
    a.hub.emit(&note("u1", 1)).expect("emit");
    assert_eq!(events(&mut tab, 1).await.0, [(1, 1)]);
    let left_at = tab.position().expect("position");
    drop(tab);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Emitted on each node while u1 is connected nowhere.
    a.hub.emit(&note("u1", 2)).expect("emit");
    b.hub.emit(&note("u1", 3)).expect("emit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = RustClient::builder(format!("ws://{}/ws?user=u1&tenant=acme", b.addr))
        .resume_from(left_at)
        .connect();
    let (got, resyncs) = events(&mut again, 2).await;
    assert_eq!(got, [(2, 2), (3, 3)], "replayed in order, numbered once");
    assert!(resyncs.is_empty());
}

/// A durable event to one user (or, with no user, to everyone), with a payload of any size.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Padded {
    user: Option<String>,
    pad: String,
}

impl tidings::Event for Padded {
    const NAME: &'static str = "test:padded";
    const MODULE: &'static str = "test";
    const DIRECTION: tidings::schema::Direction = tidings::schema::Direction::ServerToClient;
    const DELIVERY: tidings::schema::Delivery = tidings::schema::Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> tidings::Recipients {
        match &self.user {
            Some(user) => tidings::to_user(user),
            None => tidings::to_platform(),
        }
    }
}

/// Nodes of one system whose `max_outbound_frame_bytes` differ: an event that the node with
/// the higher limit numbers, wider than the other's limit, is not sent by the other (its
/// sockets would refuse the frame and end the connection, and every resume would replay it
/// again). Its tabs of the stream resync at that event's `seq` and go on; a resume from before
/// it resyncs, from it on replays, on that node and on one that loads the stream afresh. A
/// broadcast that only the narrow node resolves for a user is numbered there too, and resyncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_lower_frame_limit_resyncs_at_a_wider_event_another_node_numbered() {
    let redis = Redis::start();
    let narrow = |redis: &Redis| {
        let mut limits = tidings::Limits::default();
        limits.max_outbound_frame_bytes = 1024;
        let broker = RedisBroker::builder(redis.url())
            .namespace("wide")
            .build()
            .expect("a redis url");
        hub_builder().limits(limits).broker(broker).build()
    };
    let a = TestServer::start(node(&redis, "wide", History::default())).await;
    let b = TestServer::start(narrow(&redis)).await;
    healthy(&a.hub).await;
    healthy(&b.hub).await;
    let mut on_a = a.client("user=u1").await;
    let mut on_b = b.client("user=u1").await;
    let epoch = on_a.connected["resume"]["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned();
    a.hub.emit(&note("u1", 1)).expect("emit");
    let wide = "w".repeat(2_000);
    a.hub
        .emit(&Padded {
            user: Some("u1".into()),
            pad: wide.clone(),
        })
        .expect("within a's limit");
    a.hub.emit(&note("u1", 3)).expect("emit");
    let seen = |f: &serde_json::Value| (f["type"].as_str().map(str::to_owned), f["seq"].as_u64());
    let mut got_a = Vec::new();
    for _ in 0..3 {
        got_a.push(seen(&on_a.recv_app().await));
    }
    assert_eq!(
        got_a,
        [
            (Some("test:note".into()), Some(1)),
            (Some("test:padded".into()), Some(2)),
            (Some("test:note".into()), Some(3)),
        ]
    );
    let first = on_b.recv_app().await;
    assert_eq!(seen(&first), (Some("test:note".into()), Some(1)));
    let resync = on_b.recv_app().await;
    assert_eq!(
        seen(&resync),
        (Some("$resync_required".into()), Some(2)),
        "{resync}"
    );
    assert_eq!(resync["epoch"], epoch.as_str());
    assert!(
        resync["reason"]
            .as_str()
            .is_some_and(|r| r.contains("max_outbound_frame_bytes")),
        "{resync}"
    );
    let next = on_b.recv_app().await;
    assert_eq!(seen(&next), (Some("test:note".into()), Some(3)), "{next}");
    assert_eq!(next["data"]["n"], 3);

    // Resumes: from before the wide event a resync, from it the events after it. On b, which
    // held the stream, and on c, which loads it from Redis for its first connection.
    let c = TestServer::start(narrow(&redis)).await;
    healthy(&c.hub).await;
    for node in [&c, &b] {
        let mut tab = node.client(&format!("user=u1&resume={epoch}.2")).await;
        let replayed = tab.recv_app().await;
        assert_eq!(
            seen(&replayed),
            (Some("test:note".into()), Some(3)),
            "{replayed}"
        );
        let done = tab.recv_app().await;
        assert_eq!(done["type"], "$pending_complete", "{done}");
        let mut tab = node.client(&format!("user=u1&resume={epoch}.1")).await;
        let told = tab.recv_app().await;
        assert_eq!(
            seen(&told),
            (Some("$resync_required".into()), Some(3)),
            "{told}"
        );
    }
    // The tab on b is still open: the next event arrives.
    a.hub.emit(&note("u1", 4)).expect("emit");
    assert_eq!(on_b.recv_app().await["seq"], 4);
    assert_eq!(on_a.recv_app().await["seq"], 4);

    // A wide broadcast to a user whom only the narrow node serves: numbered there all the same,
    // so that the tab is told (a stranger's test: it was never numbered in u2's stream, and u2
    // missed it unawares while every other user got it).
    let mut only_b = b.client("user=u2").await;
    a.hub
        .emit(&Padded {
            user: None,
            pad: wide.clone(),
        })
        .expect("within a's limit");
    let told = only_b.recv_app().await;
    assert_eq!(
        seen(&told),
        (Some("$resync_required".into()), Some(1)),
        "{told}"
    );
    // (After the resync: an event addressed to u2 and emitted on a, which does not serve u2,
    // may be numbered before a broadcast emitted just before it; docs/delivery.md, "Order
    // across nodes, a known exception".)
    a.hub.emit(&note("u2", 5)).expect("emit");
    let next = only_b.recv_app().await;
    assert_eq!(seen(&next), (Some("test:note".into()), Some(2)), "{next}");
    assert_eq!(
        seen(&on_a.recv_app().await),
        (Some("test:padded".into()), Some(5))
    );
    assert_eq!(
        seen(&on_b.recv_app().await),
        (Some("$resync_required".into()), Some(5))
    );
}

/// A node whose connections to Redis are cut again and again while events flow (each cut
/// heals at once: the proxy closes the connections, the node reconnects) reads back what its
/// tabs missed, retrying a failed read as the appends retry, instead of resyncing at the first
/// failure (a stranger's test: 8 cuts mid-burst sent `$resync_required`, "the backplane failed
/// while delivering", to 1–3 tabs). Every tab gets every event once, in order, and no resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_of_a_nodes_redis_connections_mid_stream_are_no_resync() {
    let redis = Redis::start();
    let via = FaultProxy::start(([127, 0, 0, 1], redis.port()).into(), 23).await;
    let broker = |url: String| {
        RedisBroker::builder(url)
            .namespace("cuts")
            .build()
            .expect("url")
    };
    let (a, b) = a_direct_b_through(&redis, &via, broker).await;
    let users = 8;
    let per_user = 40;
    let mut tabs = Vec::new();
    for u in 0..users {
        tabs.push(crate::support::Client::connect(b.addr, &format!("user=c{u}")).await);
    }
    let emitter = a.hub.clone();
    let emits = tokio::spawn(async move {
        for n in 0..users * per_user {
            emitter
                .emit(&note(&format!("c{}", n % users), n / users))
                .expect("emit");
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    });
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(90)).await;
        via.reset();
    }
    emits.await.expect("the emits");
    for (u, tab) in tabs.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < per_user as usize {
            let f = tokio::time::timeout(Duration::from_secs(30), tab.recv_app())
                .await
                .unwrap_or_else(|_| panic!("c{u}: stopped after {got:?}"));
            assert_ne!(f["type"], "$resync_required", "c{u} after {got:?}: {f}");
            if f["type"] == "test:note" {
                got.push((
                    f["seq"].as_u64().expect("seq"),
                    f["data"]["n"].as_u64().expect("n"),
                ));
            }
        }
        let want: Vec<(u64, u64)> = (0..per_user).map(|n| (n + 1, n)).collect();
        assert_eq!(got, want, "c{u}");
    }
}
