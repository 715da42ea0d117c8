//! The app's hooks on a connection's life (issue #19): `on_connect` runs before `$connected`
//! (rooms joined there are in force for the first event), may refuse (4003), fails the
//! connection when it panics or overruns (1011); `on_disconnect` sees who left, their rooms and
//! why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tidings::protocol::close;
use tidings::{DisconnectReason, Disconnected, Limits, Refusal, Session};
use tokio_tungstenite::tungstenite::Message;

use crate::events::Typing;
use crate::support::{hub_builder, TestServer, PATIENCE};

/// Connects and returns the close frame's code and reason when the server closes before
/// `$connected`, or `None` when `$connected` arrives.
async fn refused(addr: std::net::SocketAddr, query: &str) -> Option<(u16, String)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?{query}"))
        .await
        .expect("the upgrade is accepted");
    loop {
        let m = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time");
        match m {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"$connected\"") => return None,
            Some(Ok(Message::Close(Some(f)))) => {
                return Some((u16::from(f.code), f.reason.as_str().to_owned()))
            }
            Some(Ok(_)) => {}
            other => panic!("closed without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn rooms_joined_on_connect_are_in_force_for_the_first_event() {
    let gone: Arc<Mutex<Vec<Disconnected>>> = Arc::default();
    let seen = gone.clone();
    let hub = hub_builder()
        .on_connect(|session: Session| async move {
            // An async lookup (the user's chats, from a database), then the joins.
            tokio::time::sleep(Duration::from_millis(30)).await;
            let who = session.principal();
            session.join("chat:7");
            if who.has_role("admin") {
                session.join("chat:admins");
            }
            Ok(())
        })
        .on_disconnect(move |left| {
            let seen = seen.clone();
            async move { seen.lock().expect("lock").push(left) }
        })
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1&tenant=acme&roles=admin").await;
    // `$connected` has arrived: the hook has joined the rooms.
    server
        .hub
        .emit(&Typing {
            tenant_id: "acme".into(),
            chat_id: "7".into(),
            user_id: "someone".into(),
        })
        .expect("emit");
    let first = c.recv_app().await;
    assert_eq!(first["type"], "chat:typing", "{first}");

    c.send_raw(Message::Close(None)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while gone.lock().expect("lock").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "on_disconnect ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = gone.lock().expect("lock").remove(0);
    assert_eq!(left.principal.user_id, "u1");
    let mut rooms = left.rooms.clone();
    rooms.sort();
    assert_eq!(rooms, ["chat:7", "chat:admins"]);
    assert_eq!(left.reason, DisconnectReason::ClientClosed);
    assert_eq!(server.hub.connection_count(), 0);
}

#[tokio::test]
async fn a_hook_that_refuses_panics_or_overruns_closes_the_connection_with_its_code() {
    let disconnects = Arc::new(Mutex::new(0));
    let counted = disconnects.clone();
    let mut limits = Limits::default();
    limits.hook_timeout = Duration::from_millis(200);
    let hub = hub_builder()
        .limits(limits)
        .on_connect(|session: Session| async move {
            match session.principal().user_id.as_str() {
                "suspended" => Err(Refusal::new("your account is suspended")),
                "crashing" => panic!("the hook crashed"),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(())
                }
                _ => Ok(()),
            }
        })
        .on_disconnect(move |_| {
            let counted = counted.clone();
            async move { *counted.lock().expect("lock") += 1 }
        })
        .build();
    let server = TestServer::start(hub).await;
    assert_eq!(
        refused(server.addr, "user=suspended").await,
        Some((close::REFUSED, "your account is suspended".to_owned()))
    );
    let (code, _) = refused(server.addr, "user=crashing").await.expect("closed");
    assert_eq!(code, close::SERVER_ERROR);
    let (code, reason) = refused(server.addr, "user=slow").await.expect("closed");
    assert_eq!(code, close::SERVER_ERROR);
    assert!(reason.contains("too long"), "{reason}");
    assert_eq!(refused(server.addr, "user=fine").await, None);

    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.hub.connection_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "all unregistered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = server.hub.metrics();
    assert_eq!(m.disconnects_for(DisconnectReason::Refused), 1);
    assert_eq!(m.disconnects_for(DisconnectReason::HookFailed), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        *disconnects.lock().expect("lock"),
        1,
        "on_disconnect runs only for the connection its on_connect let through"
    );
}

/// A session handle kept past its connection cannot put the connection back into a room.
#[tokio::test]
async fn a_session_kept_after_the_end_joins_nothing() {
    let kept: Arc<Mutex<Option<Session>>> = Arc::default();
    let keep = kept.clone();
    let hub = hub_builder()
        .on_connect(move |session: Session| {
            let keep = keep.clone();
            async move {
                *keep.lock().expect("lock") = Some(session);
                Ok(())
            }
        })
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1&tenant=acme").await;
    c.send_raw(Message::Close(None)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.hub.connection_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let session = kept.lock().expect("lock").take().expect("kept");
    assert!(!session.join("chat:late"));
    assert_eq!(
        server
            .hub
            .audience(&tidings::to_room("chat:late").in_tenant("acme")),
        0
    );
}

/// An asynchronous authenticator (a session store): accepted, refused with its status, and
/// refused with 503 when it overruns `Limits::auth_timeout` — on `Server` and on axum alike.
#[tokio::test]
async fn an_async_authenticator_decides_before_the_upgrade_within_its_timeout() {
    use tidings::{AuthError, Principal, UpgradeRequest};
    let mut limits = Limits::default();
    limits.auth_timeout = Duration::from_millis(200);
    let auth = tidings::auth::from_async_fn(|request: UpgradeRequest| async move {
        tokio::time::sleep(Duration::from_millis(20)).await; // the session store
        match request.query("user").as_deref() {
            Some("slow") => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Principal::user("slow"))
            }
            Some("nobody") | None => Err(AuthError::unauthorized("unknown session")),
            Some(user) => Ok(Principal::user(user).in_tenant("acme")),
        }
    });
    let hub = tidings::Hub::builder()
        .limits(limits)
        .authenticator_async(auth)
        .build();
    let server = TestServer::start(hub.clone()).await;
    let status = |query: &'static str, addr: std::net::SocketAddr| async move {
        match crate::support::Client::try_connect(addr, query).await {
            Ok(c) => {
                assert_eq!(c.connected["user"], "u1");
                101
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status("user=u1", server.addr).await, 101);
    assert_eq!(status("user=nobody", server.addr).await, 401);
    assert_eq!(status("user=slow", server.addr).await, 503);

    #[cfg(feature = "axum")]
    {
        let app = axum::Router::new().route("/ws", tidings::axum::websocket(hub.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(std::future::IntoFuture::into_future(tidings::axum::serve(
            listener, app,
        )));
        assert_eq!(status("user=u1", addr).await, 101);
        assert_eq!(status("user=nobody", addr).await, 401);
        assert_eq!(status("user=slow", addr).await, 503);
    }
}

/// An asynchronous room policy (a membership lookup): allowed, refused, and timed out — each
/// `$join` and `$leave` answered in the order sent, and the session's loop free meanwhile (an
/// event emitted while a join is being decided arrives before its answer).
#[tokio::test]
async fn an_async_room_policy_decides_joins_in_order_within_its_timeout() {
    use serde_json::json;
    let mut limits = Limits::default();
    limits.join_timeout = Duration::from_millis(200);
    let hub = hub_builder()
        .limits(limits)
        .allow_join_async(|who, room| async move {
            tokio::time::sleep(Duration::from_millis(20)).await; // the membership lookup
            if room == "chat:slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            who.tenant.as_deref() == Some("acme") && room.starts_with("chat:")
        })
        .build();
    let server = TestServer::start(hub).await;
    let mut c = server.client("user=u1&tenant=acme").await;
    for (cid, room) in [
        (1, "chat:1"),
        (2, "secret"),
        (3, "chat:slow"),
        (4, "chat:2"),
    ] {
        c.send_json(json!({ "type": "$join", "cid": cid, "room": room }))
            .await;
    }
    c.send_json(json!({ "type": "$leave", "cid": 5, "room": "chat:1" }))
        .await;
    let mut answers = Vec::new();
    while answers.len() < 6 {
        let f = c.recv_app().await;
        if f["type"] == "test:marker" {
            answers.push((0, "marker".to_owned()));
            continue;
        }
        if f["cid"] == 2 {
            // `chat:slow` is being decided now: the session's loop is free meanwhile, and an
            // event reaches the client at once rather than after the decision.
            server
                .hub
                .emit(&crate::support::Marker { n: 1 })
                .expect("emit");
        }
        let what = if f["type"] == "$error" {
            f["code"].as_str().unwrap_or_default().to_owned()
        } else {
            format!("member={}", f["data"]["member"])
        };
        answers.push((f["cid"].as_u64().unwrap_or(0), what));
    }
    assert_eq!(
        answers,
        [
            (1, "member=true".to_owned()),
            (2, "forbidden".to_owned()),
            (0, "marker".to_owned()),
            (3, "timeout".to_owned()),
            (4, "member=true".to_owned()),
            (5, "member=false".to_owned()),
        ]
    );
    assert_eq!(
        server
            .hub
            .audience(&tidings::to_room("chat:2").in_tenant("acme")),
        1
    );
    assert_eq!(
        server
            .hub
            .audience(&tidings::to_room("chat:1").in_tenant("acme")),
        0
    );
}

/// Presence on one node: who is in a room of a tenant, with their connections; another tenant's
/// room of the same name is another room; leaving and disconnecting update it.
#[tokio::test]
async fn presence_lists_the_users_of_a_room_in_its_tenant() {
    use serde_json::json;
    let server = TestServer::start(hub_builder().build()).await;
    let mut a1 = server.client("user=alice&tenant=acme").await;
    let mut a2 = server.client("user=alice&tenant=acme").await;
    let mut b = server.client("user=bob&tenant=acme").await;
    let mut other = server.client("user=carol&tenant=globex").await;
    for c in [&mut a1, &mut a2, &mut b, &mut other] {
        let r = c
            .request(json!({ "type": "$join", "cid": 1, "room": "chat:1" }))
            .await;
        assert_eq!(r["type"], "$reply", "{r}");
    }
    let p = server.hub.local_presence("chat:1", Some("acme"));
    let users: Vec<(&str, usize)> = p
        .users
        .iter()
        .map(|u| (u.user_id.as_str(), u.connections))
        .collect();
    assert_eq!(users, [("alice", 2), ("bob", 1)]);
    assert_eq!(
        (p.user_count, p.connection_count, p.truncated),
        (2, 3, false)
    );
    assert_eq!(
        server
            .hub
            .local_presence("chat:1", Some("globex"))
            .user_count,
        1
    );
    // Without a backplane, presence everywhere is this node's.
    let everywhere = server
        .hub
        .presence("chat:1", Some("acme"))
        .await
        .expect("presence");
    assert_eq!(everywhere.connection_count, 3);
    assert_eq!(
        server
            .hub
            .local_presence("chat:2", Some("acme"))
            .connection_count,
        0
    );

    let r = a2
        .request(json!({ "type": "$leave", "cid": 2, "room": "chat:1" }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
    b.send_raw(Message::Close(None)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let p = server.hub.local_presence("chat:1", Some("acme"));
        if p.connection_count == 1 {
            assert_eq!(p.users[0].user_id, "alice");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{p:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
