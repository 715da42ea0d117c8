//! Mounting the WebSocket endpoint on an existing axum app (feature `axum`).
//!
//! ```no_run
//! # async fn run(
//! #     hub: tidings::Hub,
//! #     ctrl_c: impl std::future::Future<Output = ()> + Send + 'static,
//! # ) -> std::io::Result<()> {
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .route("/ws", tidings::axum::websocket(hub.clone()));
//! let listener = tidings::listen("127.0.0.1:8080", tidings::DEFAULT_BACKLOG).await?;
//! tidings::axum::serve(listener, app)
//!     .with_graceful_shutdown(async move {
//!         ctrl_c.await; // tokio::signal::ctrl_c(), say
//!         hub.begin_shutdown();
//!     })
//!     .await
//! # }
//! ```
//!
//! Sessions run exactly as under [`Server`](crate::Server): authentication before the upgrade,
//! the same limits, frames and close codes. Graceful shutdown is the app's: call
//! [`Hub::begin_shutdown`] when the shutdown signal fires.
//!
//! **Serve with [`serve`], not `axum::serve`.** `axum::serve` gives a connection unlimited time
//! to send its request headers: a slowloris (a header line every few seconds, or an idle
//! socket) holds a file descriptor for as long as it likes, and enough of them lock every real
//! client out. [`serve`] is `axum::serve` with the handshake timeout of [`Server`](crate::Server)
//! ([`Limits::handshake_timeout`](crate::Limits::handshake_timeout), 10 s): request headers
//! must arrive within it, on every request of a connection. An app that runs its own hyper
//! server sets the same with hyper's `http1::Builder::header_read_timeout` (and a timer); one
//! behind a reverse proxy gets it from the proxy (nginx `client_header_timeout`).
//!
//! **Bind with [`listen`](crate::listen).** `tokio::net::TcpListener::bind` listens with a
//! backlog of 128: when a deploy or a network blip brings thousands of clients back at once, the
//! kernel drops the SYNs past it and those clients wait a second or more for the retransmission.
//! `tidings::listen(addr, tidings::DEFAULT_BACKLOG)` binds with a backlog of 4,096, as
//! [`Server::bind`](crate::Server::bind) does.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use http::{HeaderMap, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
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
    let admission = match hub.admit(&UpgradeRequest::new(uri, headers)).await {
        Ok(admission) => admission,
        Err(refusal) => return (refusal.status, refusal.message).into_response(),
    };
    let limits = hub.limits().clone();
    let gathered = limits
        .write_buffer_bytes
        .min(crate::server::RETAINED_WRITE_BUFFER);
    ws.protocols([SUBPROTOCOL])
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(gathered)
        .max_write_buffer_size(crate::server::max_write_buffer(gathered, &limits))
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| {
            crate::connection::run(hub, admission.principal, admission.resume, Adapter(socket))
        })
}

/// Serves `app` on `listener` as `axum::serve` does (HTTP/1.1, WebSocket upgrades), with a
/// deadline for request headers: the [handshake timeout](Serve::handshake_timeout). Await it
/// to run the server.
pub fn serve(listener: TcpListener, app: axum::Router) -> Serve {
    Serve {
        listener,
        app,
        handshake_timeout: crate::Limits::default().handshake_timeout,
        shutdown: None,
        #[cfg(feature = "tls")]
        tls: None,
    }
}

/// A server of an axum app, made by [`serve`]; runs when awaited.
///
/// It speaks HTTP/1.1 (the WebSocket handshake is HTTP/1.1); serve HTTP/2 behind a proxy.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    app: axum::Router,
    handshake_timeout: Duration,
    shutdown: Option<BoxFuture<'static, ()>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// How long a connection may take to send a request's headers, counted from when the
    /// server starts reading them (the connection opened, or the previous response sent);
    /// past it the connection is closed without an answer. Default
    /// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout) (10 s), whose rule this
    /// is. `serve` does not see the hub: to keep one value, pass
    /// `hub.limits().handshake_timeout`. Bodies are not covered: limit them per route
    /// (tower-http's `TimeoutLayer`).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Serve {
        self.handshake_timeout = timeout;
        self
    }

    /// Stops when `signal` completes: no new connection is accepted, requests in progress are
    /// answered, then the future returns. WebSocket sessions are the hub's: call
    /// [`Hub::begin_shutdown`] in `signal` to drain them, and await [`Hub::sessions_ended`]
    /// after this returns, before the process exits.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Serve {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Serves `https://` and `wss://`: every connection completes a TLS handshake with
    /// `acceptor` first, within the handshake timeout, and then each request head gets the
    /// handshake timeout of its own (feature `tls`; see [`tls`](crate::tls)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Serve {
        self.tls = Some(acceptor);
        self
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            app,
            handshake_timeout,
            shutdown,
            #[cfg(feature = "tls")]
            tls,
        } = self;
        let mut shutdown = shutdown.unwrap_or_else(|| Box::pin(std::future::pending()));
        // `stopping` tells connections to finish; each holds a `done` receiver until it ends.
        let (stopping, stop) = watch::channel(false);
        let (done, finished) = watch::channel(());
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was accepted:
                        // the listener itself is fine; pause so a full table can drain.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = tcp.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let stop = stop.clone();
            let finished = finished.clone();
            #[cfg(feature = "tls")]
            if let Some(acceptor) = tls.clone() {
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            serve_http(stream, service, handshake_timeout, stop).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                    drop(finished);
                });
                continue;
            }
            tokio::spawn(async move {
                serve_http(tcp, service, handshake_timeout, stop).await;
                drop(finished);
            });
        }
        drop(listener);
        stopping.send_replace(true);
        drop(finished);
        done.closed().await;
        Ok(())
    }
}

/// Serves HTTP/1.1 (with upgrades) on one connection until it ends, or gracefully once `stop`
/// turns true; request heads must arrive within `header_timeout`.
async fn serve_http<I>(
    io: I,
    service: TowerToHyperService<axum::Router>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<'static, io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
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

/// axum's socket takes whole messages only.
impl crate::connection::TextParts for Adapter {
    fn write_text_parts(&mut self, _: &[&[u8]]) -> bool {
        false
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

/// An authentication failure as an HTTP response: its status and its message as text — for
/// routes of the app that verify the clients' token themselves (`JwtAuthenticator::verify`).
impl IntoResponse for crate::auth::AuthError {
    fn into_response(self) -> Response {
        (self.status, self.message).into_response()
    }
}
