//! The same sessions mounted on an axum app.

use std::time::Duration;

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
