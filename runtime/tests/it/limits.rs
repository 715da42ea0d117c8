//! Every limit, with its documented consequence; heartbeats; graceful shutdown.

use std::time::Duration;

use serde_json::json;
use tidings::protocol::close;
use tidings::{DisconnectReason, Limits};
use tokio_tungstenite::tungstenite::Message;

use crate::events::Announcement;
use crate::support::{hub_builder, Client, TestServer, PATIENCE};

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

async fn until(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within the patience"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_memory_stays_bounded() {
    let hub = hub_builder()
        .limits(limits(|l| l.outbound_queue = 16))
        .build();
    let server = TestServer::start(hub).await;
    let _stalled = server.client("user=slow&tenant=acme").await; // connected, never reads again
    let title = "x".repeat(4096);
    let mut queued = 0;
    let mut dropped = 0;
    for _ in 0..20_000 {
        let d = server
            .hub
            .emit(&Announcement {
                tenant_id: "acme".into(),
                title: title.clone(),
            })
            .expect("emit");
        queued += d.connections;
        dropped += d.dropped;
        if dropped > 0 {
            break;
        }
    }
    assert!(dropped > 0, "the queue filled after {queued} frames");
    until(|| server.hub.connection_count() == 0).await;
    let m = server.hub.metrics();
    assert_eq!(m.disconnects_for(DisconnectReason::SlowConsumer), 1);
    assert!(m.frames_dropped >= 1);
}

#[tokio::test]
async fn oversized_frames_close_with_1009() {
    let hub = hub_builder()
        .limits(limits(|l| l.max_frame_bytes = 1024))
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1").await;
    c.send_raw(Message::Text("x".repeat(2048).into())).await;
    assert_eq!(c.close_code().await, Some(close::MESSAGE_TOO_BIG));
}

/// A server with a small rate (5/s, bursts of 5) that closes after 20 drops.
async fn flood_server() -> TestServer {
    let hub = hub_builder()
        .limits(limits(|l| {
            l.rate_per_second = 5;
            l.rate_burst = 5;
            l.flood_close_after = 20;
        }))
        .build();
    TestServer::start(hub).await
}

#[tokio::test]
async fn a_flood_is_answered_once_then_cut_off() {
    let server = flood_server().await;
    let mut c = server.client("user=u1").await;
    for _ in 0..60 {
        c.send_json(json!({ "type": "$ping" })).await;
    }
    let (types, close_code) = frames_until_close(&mut c).await;
    assert_eq!(close_code, Some(close::RATE_LIMITED), "{types:?}");
    let pongs = types.iter().filter(|t| *t == "$pong").count();
    let limited = types.iter().filter(|t| *t == "rate_limited").count();
    assert!(
        types.iter().all(|t| t == "$pong" || t == "rate_limited"),
        "{types:?}"
    );
    assert_eq!(pongs, 5, "the burst is served");
    assert_eq!(limited, 1, "one error frame, not one per dropped frame");
}

#[tokio::test]
async fn connections_per_user_are_capped() {
    let hub = hub_builder()
        .limits(limits(|l| l.max_connections_per_user = 2))
        .build();
    let server = TestServer::start(hub).await;
    let _a = server.client("user=u1").await;
    let _b = server.client("user=u1").await;
    match Client::try_connect(server.addr, "user=u1").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        Err(e) => panic!("expected 429, got {e}"),
        Ok(_) => panic!("a third connection was accepted"),
    }
    let _other = server.client("user=u2").await;
}

#[tokio::test]
async fn heartbeats_are_sent_and_silent_clients_are_reaped() {
    let hub = hub_builder()
        .limits(limits(|l| {
            l.heartbeat_interval = Duration::from_millis(100);
            l.heartbeat_timeout = Duration::from_millis(350);
        }))
        .build();
    let server = TestServer::start(hub).await;
    let mut lively = server.client("user=lively").await;
    let mut silent = server.client("user=silent").await;
    assert_eq!(lively.connected["heartbeat"]["interval_ms"], 100);
    // The lively client answers every ping; it outlives the timeout several times over.
    for _ in 0..8 {
        let v = lively.recv().await;
        assert_eq!(v["type"], "$ping");
        lively.send_json(json!({ "type": "$pong" })).await;
    }
    assert_eq!(silent.close_code().await, Some(close::HEARTBEAT_TIMEOUT));
    assert_eq!(server.hub.user_connection_count("lively"), 1);
}

#[tokio::test]
async fn graceful_shutdown_delivers_what_is_queued_then_goes_away() {
    let mut server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=u1&tenant=acme").await;
    for i in 0..50 {
        server
            .hub
            .emit(&Announcement {
                tenant_id: "acme".into(),
                title: format!("n{i}"),
            })
            .expect("emit");
    }
    server.shutdown().await;
    let mut titles = Vec::new();
    let code = loop {
        match tokio::time::timeout(PATIENCE, c.next_message())
            .await
            .expect("frames")
        {
            Some(Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                if v["type"] == "tenant:announcement" {
                    titles.push(v["data"]["title"].as_str().unwrap_or_default().to_owned());
                }
            }
            Some(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Some(_) => {}
            None => break None,
        }
    };
    assert_eq!(code, Some(close::GOING_AWAY));
    assert_eq!(titles.len(), 50, "nothing queued is lost");
    assert_eq!(titles[49], "n49");
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/ws?user=u2", server.addr))
            .await
            .is_err()
    );
}

/// Reads frames until the close: what each was (an error's code, else its type), and the close
/// code (`None`: closed without a close frame).
async fn frames_until_close(c: &mut Client) -> (Vec<String>, Option<u16>) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, c.next_message())
            .await
            .expect("frames")
        {
            Some(Message::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                let what = if v["type"] == "$error" {
                    &v["code"]
                } else {
                    &v["type"]
                };
                seen.push(what.as_str().unwrap_or_default().to_owned());
            }
            Some(Message::Close(frame)) => return (seen, frame.map(|f| u16::from(f.code))),
            Some(_) => {}
            None => return (seen, None),
        }
    }
}

/// A flood ended as one episode: one `rate_limited` error frame, then the 4029 close.
fn assert_one_flood_episode(codes: &[String], close_code: Option<u16>) {
    assert_eq!(close_code, Some(close::RATE_LIMITED), "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| *c == "rate_limited").count(),
        1,
        "one rate_limited per episode: {codes:?}"
    );
}

#[tokio::test]
async fn binary_frames_count_against_the_rate() {
    let server = flood_server().await;
    let mut c = server.client("user=u1").await;
    for _ in 0..200 {
        c.send_raw(Message::Binary(vec![0u8].into())).await;
    }
    let (codes, close_code) = frames_until_close(&mut c).await;
    assert_eq!(close_code, Some(close::RATE_LIMITED), "{codes:?}");
    let unsupported = codes.iter().filter(|c| *c == "binary_unsupported").count();
    let limited = codes.iter().filter(|c| *c == "rate_limited").count();
    assert_eq!((unsupported, limited), (5, 1), "{codes:?}");
}

#[tokio::test]
async fn a_steady_flood_above_the_rate_is_one_episode() {
    // 10× the rate, with the admitted frames in between: the drops still add up to the close.
    let hub = hub_builder()
        .limits(limits(|l| {
            l.rate_per_second = 10;
            l.rate_burst = 10;
            l.flood_close_after = 30;
        }))
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1").await;
    let sender = async {
        // 60 frames over 0.6 s: 16 admitted, 44 dropped; the close comes after 30 drops, and
        // the server reads on for a second after it, so no send meets a closed socket.
        for _ in 0..60 {
            c.send_json(json!({ "type": "$ping" })).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        c
    };
    let mut c = sender.await;
    let (codes, close_code) = frames_until_close(&mut c).await;
    assert_one_flood_episode(&codes, close_code);
}

#[tokio::test]
async fn rooms_per_connection_and_room_names_are_bounded() {
    let hub = hub_builder()
        .limits(limits(|l| {
            l.max_rooms_per_connection = 2;
            l.max_room_name_bytes = 16;
        }))
        .allow_join(|_, _| true)
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1").await;
    let long = c
        .request(json!({ "type": "$join", "cid": 1, "room": "r".repeat(17) }))
        .await;
    assert_eq!(
        (long["code"].as_str(), long["field"].as_str()),
        (Some("bad_frame"), Some("room")),
        "{long}"
    );
    for (cid, room) in [(2, "a"), (3, "b")] {
        let ok = c
            .request(json!({ "type": "$join", "cid": cid, "room": room }))
            .await;
        assert_eq!(ok["type"], "$reply", "{ok}");
    }
    let third = c
        .request(json!({ "type": "$join", "cid": 4, "room": "c" }))
        .await;
    assert_eq!(third["code"], "too_many_rooms", "{third}");
    // Joining a room it is in already is no new room.
    let again = c
        .request(json!({ "type": "$join", "cid": 5, "room": "a" }))
        .await;
    assert_eq!(again["type"], "$reply", "{again}");
}

#[tokio::test]
async fn a_bad_member_is_named_and_the_cid_comes_back() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=u1").await;
    let e = c
        .request(json!({ "type": "$join", "cid": "c1", "room": 5 }))
        .await;
    assert_eq!(e["code"], "bad_frame", "{e}");
    assert_eq!(e["cid"], "c1", "{e}");
    assert_eq!(e["field"], "room", "{e}");
    // Text JSON refuses (a lone surrogate, a number out of range, text after the object): the
    // cid still comes back, and the message says what is wrong.
    for (text, cid) in [
        (
            r#"{"cid":"A","type":"$join","room":"chat:\ud800"}"#,
            json!("A"),
        ),
        (r#"{"type":"$join","room":1e400,"cid":7}"#, json!(7)),
        (r#"{"cid":"B","type":"$ping"} and more"#, json!("B")),
    ] {
        c.send_raw(Message::Text(text.into())).await;
        let e = c.recv_app().await;
        assert_eq!(
            (&e["code"], &e["cid"]),
            (&json!("bad_frame"), &cid),
            "{text}: {e}"
        );
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("not valid JSON"),
            "{e}"
        );
    }
}

/// `Server` applies `Limits::handshake_timeout`: an idle socket and a request that never ends
/// are closed at it.
#[tokio::test]
async fn slow_handshakes_are_closed_at_the_handshake_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = hub_builder()
        .limits(limits(|l| l.handshake_timeout = Duration::from_millis(300)))
        .build();
    let server = TestServer::start(hub).await;
    let started = tokio::time::Instant::now();
    let mut idle = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut partial = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    partial
        .write_all(b"GET /ws?user=u1 HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    for socket in [&mut idle, &mut partial] {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(PATIENCE, socket.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    }
    let lasted = started.elapsed();
    assert!(lasted >= Duration::from_millis(250), "{lasted:?}");
    // Real clients are unaffected.
    let _c = server.client("user=u1").await;
}

/// The handshake timeout bounds what the client controls; authentication is the server's part,
/// bounded by `auth_timeout` alone: an authenticator slower than the handshake timeout still
/// admits the connection, and one past `auth_timeout` is answered 503, not dropped.
#[tokio::test]
async fn authentication_has_its_own_timeout_not_the_handshakes() {
    let hub = tidings::Hub::builder()
        .limits(limits(|l| {
            l.handshake_timeout = Duration::from_millis(200);
            l.auth_timeout = Duration::from_millis(1_500);
        }))
        .authenticator_async(tidings::auth::from_async_fn(
            |req: tidings::UpgradeRequest| async move {
                let wait = if req.query("user").as_deref() == Some("stuck") {
                    3_000
                } else {
                    500
                };
                tokio::time::sleep(Duration::from_millis(wait)).await;
                crate::support::query_auth(&req)
            },
        ))
        .build();
    let server = TestServer::start(hub).await;
    let c = crate::support::Client::connect(server.addr, "user=slow").await;
    assert_eq!(c.connected["user"], "slow");
    match crate::support::Client::try_connect(server.addr, "user=stuck").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {:?}", other.err()),
    }
}

/// Issue #18's first sample: a client sends binary frames (each answered with an error frame)
/// and never reads; once its socket is full the session is blocked writing an answer. Events
/// emitted to it overflow its queue: the session must still be cut off and unregistered, within
/// the heartbeat timeout, not hang on the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_blocked_on_answering_is_still_cut_off() {
    use futures_util::SinkExt;
    let hub = hub_builder()
        .limits(limits(|l| {
            l.outbound_queue = 16;
            l.rate_per_second = 1_000_000;
            l.rate_burst = 1_000_000;
            l.heartbeat_interval = Duration::from_millis(200);
            l.heartbeat_timeout = Duration::from_secs(1);
        }))
        .build();
    let server = TestServer::start(hub).await;
    let url = format!("ws://{}/ws?user=stuck&tenant=acme", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    // Binary frames until the server stops taking them (its answers fill the socket we never
    // read) or drops the connection.
    let sender = tokio::spawn(async move {
        for _ in 0..2_000_000 {
            let sent = tokio::time::timeout(
                Duration::from_secs(1),
                ws.send(Message::Binary(vec![0u8; 16].into())),
            )
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
        ws
    });
    until(|| server.hub.connection_count() == 1).await;
    let title = "x".repeat(16 * 1024);
    let started = tokio::time::Instant::now();
    while server.hub.connection_count() == 1 {
        let d = server
            .hub
            .emit(&Announcement {
                tenant_id: "acme".into(),
                title: title.clone(),
            })
            .expect("emit");
        if d.dropped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the queue never filled"
        );
    }
    // Unregistered within the heartbeat timeout (1 s) and the close's own bound, not never.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.hub.connection_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the blocked session is still registered 5 s after its queue overflowed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ws = sender.await.expect("the sender");
}

/// `tidings::listen` (and so `Server::bind`) queues a storm of connections the server has not
/// accepted yet, where tokio's default listener (backlog 128) lets the kernel drop the SYNs
/// past 129, so those clients wait for a retransmission (issue #19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_holds_a_connection_storm() {
    async fn connected_within(addr: std::net::SocketAddr, clients: usize) -> usize {
        let attempts = (0..clients).map(|_| async move {
            tokio::time::timeout(
                Duration::from_millis(700),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            .ok()
            .and_then(Result::ok)
        });
        futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .flatten()
            .count()
    }
    // Nobody accepts: only the kernel's queue holds the connections.
    let storm_proof = tidings::listen("127.0.0.1:0", 1024).await.expect("listen");
    let addr = storm_proof.local_addr().expect("addr");
    assert_eq!(connected_within(addr, 600).await, 600);
    let small = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = small.local_addr().expect("addr");
    let held = connected_within(addr, 600).await;
    assert!(held < 600, "the default backlog held {held}");
    drop((storm_proof, small));
}

/// Unsolicited pong frames (the stranger's flood: millions a second, a core busy, other users'
/// latency up 100×) count against the rate like every other frame.
#[tokio::test]
async fn pong_frames_count_against_the_rate() {
    let server = flood_server().await;
    let mut c = server.client("user=u1").await;
    for _ in 0..200 {
        c.send_raw(Message::Pong(vec![1u8].into())).await;
    }
    let (codes, close_code) = frames_until_close(&mut c).await;
    assert_one_flood_episode(&codes, close_code);
}

/// A silent client is closed at the heartbeat timeout, not at the next ping after it (the
/// stranger saw 4009 at 75 s for a 60 s timeout with 25 s pings).
#[tokio::test]
async fn a_silent_client_is_closed_at_the_heartbeat_timeout_itself() {
    let hub = hub_builder()
        .limits(limits(|l| {
            l.heartbeat_interval = Duration::from_millis(1000);
            l.heartbeat_timeout = Duration::from_millis(1200);
        }))
        .build();
    let server = TestServer::start(hub).await;
    let started = tokio::time::Instant::now();
    let mut silent = server.client("user=silent").await;
    assert_eq!(silent.close_code().await, Some(close::HEARTBEAT_TIMEOUT));
    let after = started.elapsed();
    // The next ping after the timeout is at 2 s: closing there would be the old behaviour.
    assert!(
        after >= Duration::from_millis(1150) && after < Duration::from_millis(1950),
        "closed after {after:?}"
    );
}

/// The second stranger's flood: empty continuation fragments of one message (each a frame to
/// parse, none completing a message, so the message rate never sees them). `Server` reads a
/// connection at `inbound_bytes_per_second` at most: the flood takes the time its bytes are
/// worth at that rate instead of a core.
#[tokio::test]
async fn a_flood_of_empty_fragments_is_read_at_the_byte_rate() {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::MaybeTlsStream;
    let hub = hub_builder()
        .limits(limits(|l| {
            l.inbound_bytes_per_second = 64 * 1024;
            l.max_frame_bytes = 1024; // bursts of 2 KiB
        }))
        .build();
    let server = TestServer::start(hub).await;
    let url = format!("ws://{}/ws?user=u1", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let _connected = ws.next().await;
    // A text frame without FIN, 128 KiB of empty masked continuation frames, then the end.
    let mut bytes = Vec::new();
    let start = br#"{"type":"$ping""#;
    bytes.extend_from_slice(&[0x01, 0x80 | start.len() as u8, 0, 0, 0, 0]);
    bytes.extend_from_slice(start);
    for _ in 0..(128 * 1024 / 6) {
        bytes.extend_from_slice(&[0x00, 0x80, 0, 0, 0, 0]);
    }
    bytes.extend_from_slice(&[0x80, 0x81, 0, 0, 0, 0, b'}']);
    let started = tokio::time::Instant::now();
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP")
    };
    tcp.write_all(&bytes).await.expect("write");
    loop {
        match tokio::time::timeout(PATIENCE * 2, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("$pong") => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    let took = started.elapsed();
    // 128 KiB at 64 KiB/s after a 2 KiB burst: about 2 s (unthrottled, a few ms).
    assert!(took >= Duration::from_millis(1_500), "read in {took:?}");
}
