//! The WebSocket server on tokio-tungstenite.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::auth::{UpgradeRequest, SUBPROTOCOL};
use crate::Hub;

/// A WebSocket server: accepts connections, authenticates them before the upgrade, and runs a
/// session for each on the hub.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let hub = tidings::Hub::builder()
///     .authenticator(|_: &tidings::UpgradeRequest| Ok(tidings::Principal::user("demo")))
///     .build();
/// tidings::Server::bind("127.0.0.1:8080").await?.serve(hub).await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
}

/// The listen backlog [`Server::bind`] and [`listen`] use: how many connections the kernel
/// queues before the server accepts them. Large enough for a reconnect storm (every client of a
/// node coming back at once after a deploy or a network blip); a smaller queue makes the kernel
/// drop SYNs, and clients wait for their retransmission (1 s, then 3 s). The kernel caps it at
/// `net.core.somaxconn` (4096 by default since Linux 5.4; raise it for larger storms).
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Binds a TCP listener on `addr` with a listen `backlog` (see [`DEFAULT_BACKLOG`]), with
/// `SO_REUSEADDR` set so a restarted server binds again at once. For an axum app served with
/// `tidings::axum::serve`, or any server that takes a listener.
///
/// # Errors
/// When `addr` does not resolve, or no address it resolves to can be bound.
pub async fn listen(addr: impl ToSocketAddrs, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

impl Server {
    /// Binds a listening socket with the [`DEFAULT_BACKLOG`].
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Server::bind_with_backlog(addr, DEFAULT_BACKLOG).await
    }

    /// Binds a listening socket with a listen `backlog` of its own (see [`DEFAULT_BACKLOG`]).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind_with_backlog(addr: impl ToSocketAddrs, backlog: u32) -> io::Result<Server> {
        Ok(Server {
            listener: listen(addr, backlog).await?,
        })
    }

    /// Serves on a listener the app bound itself.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server { listener }
    }

    /// The address bound (useful with port 0).
    ///
    /// # Errors
    /// When the socket cannot tell.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends.
    ///
    /// # Errors
    /// Never in practice; accept errors are logged and retried.
    pub async fn serve(self, hub: Hub) -> io::Result<()> {
        self.serve_with_shutdown(hub, std::future::pending()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, asks every
    /// session to deliver what is queued and close with "going away"
    /// ([`close::GOING_AWAY`](crate::protocol::close::GOING_AWAY)), and waits for them up to
    /// the hub's drain timeout.
    ///
    /// # Errors
    /// Never in practice; accept errors are logged and retried.
    pub async fn serve_with_shutdown(
        self,
        hub: Hub,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(signal);
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                () = &mut signal => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, _peer)) => {
                        let _ = tcp.set_nodelay(true);
                        sessions.spawn(Server::serve_connection(hub.clone(), tcp));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        drop(self.listener);
        hub.begin_shutdown();
        let drained =
            tokio::time::timeout(hub.limits().drain_timeout + Duration::from_secs(1), async {
                while sessions.join_next().await.is_some() {}
            })
            .await;
        if drained.is_err() {
            tracing::warn!(
                left = sessions.len(),
                "sessions did not end within the drain timeout; aborting them"
            );
            sessions.abort_all();
        }
        Ok(())
    }
}

/// The tungstenite configuration for the hub's limits: small buffers for many connections.
pub(crate) fn websocket_config(hub: &Hub) -> WebSocketConfig {
    let limits = hub.limits();
    let mut config = WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes));
    config.max_write_buffer_size = limits.max_frame_bytes.saturating_mul(4).max(64 * 1024);
    config
}

fn refuse(status: http::StatusCode, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message.to_owned()));
    *response.status_mut() = status;
    response
}

impl Server {
    /// Serves one connection already accepted, on any byte stream: a TLS stream of
    /// `tokio-rustls`, a Unix socket, an in-memory pipe. Exactly what [`Server::serve`] does
    /// with each TCP connection: the WebSocket handshake within
    /// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout), authentication before
    /// the upgrade (a refusal answers with its HTTP status), then the session until it ends.
    /// Returns when the connection has ended.
    // The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
    #[allow(clippy::result_large_err)]
    pub async fn serve_connection<S>(hub: Hub, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut admitted = None;
        let callback =
            |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                let upgrade = UpgradeRequest::new(request.uri().clone(), request.headers().clone());
                let admission = hub
                    .admit(&upgrade)
                    .map_err(|refusal| refuse(refusal.status, &refusal.message))?;
                if upgrade.offers_subprotocol() {
                    response.headers_mut().insert(
                        http::header::SEC_WEBSOCKET_PROTOCOL,
                        http::HeaderValue::from_static(SUBPROTOCOL),
                    );
                }
                admitted = Some(admission);
                Ok(response)
            };
        let config = websocket_config(&hub);
        let handshake =
            tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
        let ws = match tokio::time::timeout(hub.limits().handshake_timeout, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("handshake timed out");
                return;
            }
        };
        if let Some(admission) = admitted {
            crate::connection::run(hub, admission.principal, admission.resume, ws).await;
        }
    }
}
