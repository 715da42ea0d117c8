//! The same sessions mounted on an axum app.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tidings::protocol::close;

use crate::events::Announcement;
use crate::support::{hub_builder, Client, Marker};

#[tokio::test]
async fn sessions_run_on_an_axum_route() {
    let mut limits = tidings::Limits::default();
    limits.max_frame_bytes = 1024;
    let hub = hub_builder().limits(limits).build();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route("/ws", tidings::axum::websocket(hub.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    match Client::try_connect(addr, "").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.err()),
    }
    let mut c = Client::connect(addr, "user=u1&tenant=acme").await;
    assert_eq!(c.connected["user"], "u1");
    hub.emit(&Announcement {
        tenant_id: "acme".into(),
        title: "via axum".into(),
    })
    .expect("emit");
    hub.emit(&Marker { n: 1 }).expect("marker");
    let frames = c.events_until_marker(1).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["data"]["title"], "via axum");

    // Durable events in a burst to more connections than get direct writes: the sessions
    // write the numbered frames in batches (raw frames, which axum's WebSocket cannot carry,
    // were once lost here).
    let mut others = Vec::new();
    for i in 2..=6 {
        others.push(Client::connect(addr, &format!("user=u{i}&tenant=acme")).await);
    }
    for n in 0..50 {
        hub.emit(&Announcement {
            tenant_id: "acme".into(),
            title: format!("burst {n}"),
        })
        .expect("emit");
    }
    hub.emit(&Marker { n: 2 }).expect("marker");
    for tab in std::iter::once(&mut c).chain(others.iter_mut()) {
        let frames = tab.events_until_marker(2).await;
        let titles: Vec<&str> = frames
            .iter()
            .filter_map(|f| f["data"]["title"].as_str())
            .collect();
        let expected: Vec<String> = (0..50).map(|n| format!("burst {n}")).collect();
        assert_eq!(titles, expected);
        let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    }
    drop(others);

    c.send_json(serde_json::json!({ "type": "nope:x", "cid": 1 }))
        .await;
    assert_eq!(c.recv_app().await["code"], "unknown_event");
    c.send_raw(tokio_tungstenite::tungstenite::Message::Text(
        "x".repeat(4096).into(),
    ))
    .await;
    assert_eq!(c.close_code().await, Some(close::MESSAGE_TOO_BIG));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(hub.connection_count(), 0);
}

/// Serves `app` with `tidings::axum::serve` and a handshake timeout of 500 ms; the server stops
/// when the returned sender fires.
async fn served(
    app: axum::Router,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tidings::axum::serve(listener, app)
        .handshake_timeout(Duration::from_millis(500))
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
    (addr, stop, tokio::spawn(server.into_future()))
}

/// As on `Server`: the handshake timeout (500 ms here) bounds the request head, not the
/// authenticator, which gets `auth_timeout`.
#[tokio::test]
async fn the_axum_mount_gives_authentication_its_own_timeout() {
    let hub = tidings::Hub::builder()
        .authenticator_async(tidings::auth::from_async_fn(
            |req: tidings::UpgradeRequest| async move {
                tokio::time::sleep(Duration::from_millis(900)).await;
                crate::support::query_auth(&req)
            },
        ))
        .build();
    let app = axum::Router::new().route("/ws", tidings::axum::websocket(hub.clone()));
    let (addr, stop, server) = served(app).await;
    let c = Client::connect(addr, "user=slow").await;
    assert_eq!(c.connected["user"], "slow");
    let _ = stop.send(());
    drop(c);
    let _ = server.await;
}

/// How long until the server closes `socket`, reading (and discarding) what it sends.
async fn closed_after(socket: &mut tokio::net::TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open 5 s after the start"),
        }
    }
}

/// The slowloris samples of issue #18 against the axum mount: an idle socket, and request
/// headers sent a line at a time (every 200 ms, never ending) are closed at the handshake
/// timeout, while real clients connect throughout and the app's other routes answer.
#[tokio::test]
async fn the_axum_mount_closes_slow_handshakes_at_the_timeout() {
    let hub = hub_builder().build();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route("/ws", tidings::axum::websocket(hub.clone()));
    let (addr, stop, server) = served(app).await;

    let started = Instant::now();
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut dribbling = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let dribble = async {
        dribbling
            .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let line = format!("X-Slow-{i}: 1\r\n");
            if dribbling.write_all(line.as_bytes()).await.is_err() {
                return started.elapsed();
            }
            // The server has closed when a read returns the end (no answer is sent).
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), dribbling.read(&mut buf)).await
            {
                return started.elapsed();
            }
            assert!(i < 25, "the dribbling request is still open after 5 s");
        }
        unreachable!()
    };
    // Meanwhile a real client connects and is served.
    let real = async {
        let mut c = Client::connect(addr, "user=u1").await;
        c.send_json(serde_json::json!({ "type": "$ping" })).await;
        assert_eq!(c.recv_app().await["type"], "$pong");
        c
    };
    let (idle_for, dribbled_for, _client) =
        tokio::join!(closed_after(&mut idle, started), dribble, real);
    for (what, lasted) in [("idle", idle_for), ("dribbling", dribbled_for)] {
        assert!(
            lasted >= Duration::from_millis(450) && lasted < Duration::from_secs(3),
            "the {what} socket was closed after {lasted:?} (timeout 500 ms)"
        );
    }
    // A keep-alive connection is held to the same deadline on its next request.
    let mut keep = tokio::net::TcpStream::connect(addr).await.expect("connect");
    keep.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = [0u8; 256];
    let n = keep.read(&mut answer).await.expect("an answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    let kept_for = closed_after(&mut keep, answered).await;
    assert!(kept_for < Duration::from_secs(3), "{kept_for:?}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .expect("its task")
        .expect("serve");
}
