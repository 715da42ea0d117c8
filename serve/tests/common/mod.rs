//! What the tests of `tidings serve` share: a server on 127.0.0.1, and reading its frames.

#![allow(dead_code)] // Each test binary uses a part.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tidings_serve::config::Config;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket client of the server.
pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts the server `config` describes on a free port of 127.0.0.1: its address.
pub(crate) async fn start(config: &Config) -> SocketAddr {
    let server = tidings_serve::Server::new(config).expect("the server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

/// Serves `app` (the app's side of a proxy, in a test) on a free port of 127.0.0.1: its address.
pub(crate) async fn serve_app(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The next frame other than a heartbeat within `within`, or `None` (nothing came, or the
/// connection ended).
pub(crate) async fn next_frame(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON frame");
                if v["type"] != "$ping" {
                    return Some(v);
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

/// The next frame other than a heartbeat, within five seconds.
///
/// # Panics
/// When none comes.
pub(crate) async fn frame(ws: &mut Ws) -> Value {
    next_frame(ws, Duration::from_secs(5))
        .await
        .expect("a frame within 5 s")
}
