//! Mounting the WebSocket endpoint on an existing axum app (feature `axum`).
//!
//! ```no_run
//! # async fn run(hub: tidings::Hub) -> std::io::Result<()> {
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .route("/ws", tidings::axum::websocket(hub));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! Sessions run exactly as under [`Server`](crate::Server): authentication before the upgrade,
//! the same limits, frames and close codes. Graceful shutdown is the app's: call
//! [`Hub::begin_shutdown`] when axum's shutdown signal fires.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use http::{HeaderMap, Uri};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::auth::{UpgradeRequest, SUBPROTOCOL};
use crate::connection::ReadError;
use crate::Hub;

/// A `GET` route that upgrades to a Tidings session on `hub`.
pub fn websocket<S: Clone + Send + Sync + 'static>(hub: Hub) -> axum::routing::MethodRouter<S> {
    axum::routing::get(move |ws: WebSocketUpgrade, uri: Uri, headers: HeaderMap| {
        upgrade(hub.clone(), ws, uri, headers)
    })
}

/// Authenticates the upgrade request and, when accepted, runs a session on the socket; for
/// apps that write their own axum handler.
pub async fn upgrade(hub: Hub, ws: WebSocketUpgrade, uri: Uri, headers: HeaderMap) -> Response {
    let admission = match hub.admit(&UpgradeRequest::new(uri, headers)) {
        Ok(admission) => admission,
        Err(refusal) => return (refusal.status, refusal.message).into_response(),
    };
    let limits = hub.limits().clone();
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| {
            crate::connection::run(hub, admission.principal, admission.resume, Adapter(socket))
        })
}

impl ReadError for axum::Error {
    fn close_code(&self) -> Option<(u16, &'static str)> {
        std::error::Error::source(self)
            .and_then(|e| e.downcast_ref::<tokio_tungstenite::tungstenite::Error>())
            .and_then(ReadError::close_code)
    }
}

/// axum's socket, speaking tungstenite messages.
struct Adapter(WebSocket);

fn text_to_axum(t: Utf8Bytes) -> ws::Utf8Bytes {
    // Both wrap the same validated bytes; axum offers no unchecked conversion, so the bytes are
    // validated again (no copy).
    let bytes = Bytes::from(t);
    match ws::Utf8Bytes::try_from(bytes.clone()) {
        Ok(u) => u,
        Err(_) => ws::Utf8Bytes::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

fn to_axum(m: Message) -> ws::Message {
    match m {
        Message::Text(t) => ws::Message::Text(text_to_axum(t)),
        Message::Binary(b) => ws::Message::Binary(b),
        Message::Ping(p) => ws::Message::Ping(p),
        Message::Pong(p) => ws::Message::Pong(p),
        Message::Close(c) => ws::Message::Close(c.map(|c| ws::CloseFrame {
            code: u16::from(c.code),
            reason: text_to_axum(c.reason),
        })),
        Message::Frame(_) => ws::Message::Pong(Bytes::new()),
    }
}

fn from_axum(m: ws::Message) -> Message {
    let text = |t: ws::Utf8Bytes| {
        Utf8Bytes::try_from(Bytes::from(t)).unwrap_or_else(|_| Utf8Bytes::from(""))
    };
    match m {
        ws::Message::Text(t) => Message::Text(text(t)),
        ws::Message::Binary(b) => Message::Binary(b),
        ws::Message::Ping(p) => Message::Ping(p),
        ws::Message::Pong(p) => Message::Pong(p),
        ws::Message::Close(c) => Message::Close(c.map(|c| CloseFrame {
            code: CloseCode::from(c.code),
            reason: text(c.reason),
        })),
    }
}

impl Stream for Adapter {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_next_unpin(cx)
            .map(|o| o.map(|r| r.map(from_axum)))
    }
}

impl Sink<Message> for Adapter {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.0.start_send_unpin(to_axum(item))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_close_unpin(cx)
    }
}
