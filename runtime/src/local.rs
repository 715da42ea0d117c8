//! In-process connections: a full session of a [`Hub`] without a socket.
//!
//! [`Hub::connect_local`] runs exactly what a WebSocket connection runs — registration in the
//! user's delivery stream (with resume), rooms, the rate limit, the router with its typed
//! handlers and acks, heartbeats-free — but its frames travel over bounded in-memory channels.
//! Authentication is skipped: the caller hands in the [`Principal`]. Useful for tests of handlers
//! and rules without a network, for server-side bots, and for benchmarks of the dispatch path.
//!
//! ```
//! # async fn demo() {
//! use tidings::{Hub, Principal};
//! let hub = Hub::new();
//! let mut conn = hub.connect_local(Principal::user("u1").in_tenant("t1"), None);
//! let connected = conn.recv().await.unwrap();
//! assert!(connected.contains("\"$connected\""));
//! conn.send(r#"{"type":"$ping"}"#).await.unwrap();
//! assert_eq!(conn.recv().await.as_deref(), Some(r#"{"type":"$pong"}"#));
//! # }
//! ```

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::delivery::Position;
use crate::{Hub, Principal};

/// Frames the client side may have waiting before [`LocalConnection::send`] waits (and the
/// session's own frames in the other direction, on top of the hub's outbound queue).
pub const CHANNEL_FRAMES: usize = 64;

/// The session is over: the connection was closed (see [`LocalConnection::close_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the local connection is closed")]
pub struct Closed;

/// The client end of an in-process connection (see the [module docs](self)).
#[derive(Debug)]
pub struct LocalConnection {
    to_session: mpsc::Sender<Message>,
    from_session: mpsc::Receiver<Message>,
    close: Option<(u16, String)>,
}

impl LocalConnection {
    /// Sends one text frame to the session, as a client would (`{"type":"ticket:create",…}`).
    /// Waits while the session has [`CHANNEL_FRAMES`] unread frames.
    ///
    /// # Errors
    /// [`Closed`] once the session has ended.
    pub async fn send(&mut self, frame: &str) -> Result<(), Closed> {
        self.to_session
            .send(Message::Text(frame.into()))
            .await
            .map_err(|_| Closed)
    }

    /// The next text frame from the session (the first is always `$connected`); `None` once
    /// the session has ended — [`close_code`](Self::close_code) then says how.
    pub async fn recv(&mut self) -> Option<String> {
        while let Some(msg) = self.from_session.next().await {
            if let Some(text) = self.take(msg) {
                return Some(text);
            }
        }
        None
    }

    /// A frame already waiting, without waiting for one.
    pub fn try_recv(&mut self) -> Option<String> {
        while let Ok(msg) = self.from_session.try_recv() {
            if let Some(text) = self.take(msg) {
                return Some(text);
            }
        }
        None
    }

    /// The close code and reason the session ended with, once it sent its close frame
    /// ([`protocol::close`](crate::protocol::close)).
    pub fn close_code(&self) -> Option<(u16, &str)> {
        self.close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// Closes the connection as a client would; the session unregisters.
    pub async fn close(mut self) {
        let _ = self.to_session.send(Message::Close(None)).await;
    }

    fn take(&mut self, msg: Message) -> Option<String> {
        match msg {
            Message::Text(t) => Some(t.as_str().to_owned()),
            Message::Close(frame) => {
                self.close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                None
            }
            _ => None,
        }
    }
}

/// The session's end: a stream of the client's frames and a sink for its own.
struct Socket {
    inbound: mpsc::Receiver<Message>,
    outbound: mpsc::Sender<Message>,
}

/// The in-process channel carries whole messages.
impl crate::connection::TextParts for Socket {
    fn write_text_parts(&mut self, _: &[&[u8]]) -> bool {
        false
    }
}

impl Stream for Socket {
    type Item = Result<Message, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inbound.poll_next_unpin(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for Socket {
    type Error = mpsc::SendError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outbound.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outbound.start_send_unpin(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outbound.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.outbound.poll_close_unpin(cx)
    }
}

impl crate::connection::ReadError for Infallible {
    fn close_code(&self) -> Option<(u16, &'static str)> {
        None
    }
}

impl Hub {
    /// Opens an in-process connection for `principal` (already authenticated), resuming from
    /// `resume` like a reconnecting client. The session runs on a spawned task.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn connect_local(&self, principal: Principal, resume: Option<Position>) -> LocalConnection {
        let (to_session, inbound) = mpsc::channel(CHANNEL_FRAMES);
        let (outbound, from_session) = mpsc::channel(CHANNEL_FRAMES);
        let socket = Socket { inbound, outbound };
        tokio::spawn(crate::connection::run(
            self.clone(),
            principal,
            resume,
            socket,
        ));
        LocalConnection {
            to_session,
            from_session,
            close: None,
        }
    }
}
