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
use crate::hub::outbox::{Frame, SpareBuffers};
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
pub struct Server {
    listener: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Server");
        d.field("listener", &self.listener);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
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
        Ok(Server::from_listener(listen(addr, backlog).await?))
    }

    /// Serves on a listener the app bound itself.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves `wss://`: every connection completes a TLS handshake with `acceptor` first
    /// (feature `tls`; see [`tls`](crate::tls)). The TLS handshake, then the request head,
    /// each get [`Limits::handshake_timeout`](crate::Limits::handshake_timeout).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Server {
        self.tls = Some(acceptor);
        self
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
                        #[cfg(feature = "tls")]
                        if let Some(acceptor) = &self.tls {
                            sessions.spawn(serve_tls(hub.clone(), acceptor.clone(), tcp));
                            continue;
                        }
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

/// How many outbound bytes tungstenite may gather where it does the gathering (axum): its buffer
/// keeps its size once grown, so this is memory of every connection that was sent a burst.
#[cfg(feature = "axum")]
pub(crate) const RETAINED_WRITE_BUFFER: usize = 4 * 1024;

/// The longest header of a server's frame (RFC 6455 §5.2): two bytes, and a 64-bit length;
/// unmasked.
const MAX_HEADER: usize = 10;

/// The tungstenite configuration for the hub's limits: small buffers for many connections.
/// Tungstenite hands each frame on at once; [`Accepted`] gathers them (`write_buffer_bytes`)
/// and frees what it gathered once written.
pub(crate) fn websocket_config(hub: &Hub) -> WebSocketConfig {
    let limits = hub.limits();
    let mut config = WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes));
    config.max_write_buffer_size = max_write_buffer(0, limits);
    config
}

/// How far tungstenite's write buffer may grow while the socket is blocked, when it gathers up
/// to `gathered` bytes itself (0 behind [`Accepted`]). Tungstenite writes its buffer out
/// whenever it holds more than that, and refuses a frame that would take the buffer past this
/// bound (and the connection ends); so the bound is `gathered`, a pong tungstenite may have
/// queued ahead (a control frame, at most 129 bytes; RFC 6455 §5.5), and the largest frame the
/// server sends with its header (at most 10 bytes unmasked; §5.2): an event or a handler's
/// answer up to `max_outbound_frame_bytes`, and the protocol's own frames (`$connected` with the
/// principal's roles, answers to `$join`) however low that limit is set — 64 KiB at least.
pub(crate) fn max_write_buffer(gathered: usize, limits: &crate::Limits) -> usize {
    const CONTROL_FRAME: usize = 2 + 2 + 125;
    const PROTOCOL_FRAMES: usize = 64 * 1024;
    gathered
        .saturating_add(CONTROL_FRAME + MAX_HEADER)
        .saturating_add(limits.max_outbound_frame_bytes.max(PROTOCOL_FRAMES))
}

fn refuse(status: http::StatusCode, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message.to_owned()));
    *response.status_mut() = status;
    response
}

impl Server {
    /// Serves one connection already accepted, on any byte stream: a TLS stream of
    /// `tokio-rustls`, a Unix socket, an in-memory pipe. Exactly what [`Server::serve`] does
    /// with each TCP connection: the request head within
    /// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout) (counted from this call),
    /// authentication before the upgrade within
    /// [`Limits::auth_timeout`](crate::Limits::auth_timeout) (a refusal answers with its HTTP
    /// status), then the session until it ends.
    /// Returns when the connection has ended.
    // The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
    #[allow(clippy::result_large_err)]
    pub async fn serve_connection<S>(hub: Hub, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let head_by = tokio::time::Instant::now() + hub.limits().handshake_timeout;
        serve_until(hub, stream, head_by).await;
    }
}

/// Serves one connection whose request head must have arrived by `head_by`.
async fn serve_until<S>(hub: Hub, stream: S, head_by: tokio::time::Instant)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = hub.limits();
    let stream = crate::throttle::Throttle::new(
        stream,
        limits.inbound_bytes_per_second,
        limits.max_frame_bytes.saturating_mul(2),
    );
    // Boxed: the handshake's state (the request being parsed, tungstenite's handshake machine)
    // is freed once it is done, instead of sizing the connection's task for its whole life.
    let Some((admission, ws)) = Box::pin(handshake(&hub, stream, head_by)).await else {
        return;
    };
    crate::connection::run(hub, admission.principal, admission.resume, ws).await;
}

/// Serves one connection behind TLS: the TLS handshake within the handshake timeout, then the
/// WebSocket handshake, whose request head has the handshake timeout of its own (the rule of
/// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout), as on axum).
#[cfg(feature = "tls")]
async fn serve_tls(hub: Hub, acceptor: crate::tls::TlsAcceptor, tcp: tokio::net::TcpStream) {
    let timeout = hub.limits().handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let head_by = tokio::time::Instant::now() + timeout;
            serve_until(hub, stream, head_by).await;
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

/// The largest request head (request line and headers) read before the upgrade; a larger one
/// is answered with 431.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The most headers an upgrade request may carry; more are answered with 431.
const MAX_HEADERS: usize = 64;

/// What reading the request head found.
enum Head {
    /// A complete, parsed request: the bytes read (to be read again by the handshake) and the
    /// request.
    Request(Vec<u8>, UpgradeRequest),
    /// Not HTTP, or too large: answered with this status.
    Refused(http::StatusCode, &'static str),
    /// The client went away first.
    Gone,
}

/// Reads the request head (until the blank line), bounded by [`MAX_REQUEST_HEAD`], and parses
/// it, so that the hub can authenticate it asynchronously before the handshake answers.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Head {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Gone,
            Ok(n) => n,
        };
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if buf[searched_from..].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Head::Refused(
                http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request head is too large",
            );
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Refused(
                http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many headers",
            )
        }
        Ok(httparse::Status::Partial) | Err(_) => {
            return Head::Refused(http::StatusCode::BAD_REQUEST, "not an HTTP request")
        }
    }
    let Some(uri) = request.path.and_then(|p| p.parse::<http::Uri>().ok()) else {
        return Head::Refused(http::StatusCode::BAD_REQUEST, "not a request target");
    };
    let mut map = http::HeaderMap::new();
    for h in request.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_bytes(h.value),
        ) {
            map.append(name, value);
        }
    }
    Head::Request(buf, UpgradeRequest::new(uri, map))
}

/// Answers a request that never reaches the handshake, and closes.
async fn answer<S: AsyncWrite + Unpin>(stream: &mut S, status: http::StatusCode, message: &str) {
    use tokio::io::AsyncWriteExt;
    let response = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        message.len(),
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The handshake of one connection: the head read and authenticated (asynchronously), then
/// tungstenite's handshake over the same bytes, answered with the decision. `None` when the
/// connection was refused or failed.
// The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn handshake<S>(
    hub: &Hub,
    mut stream: S,
    head_by: tokio::time::Instant,
) -> Option<(
    crate::hub::connections::Admission,
    tokio_tungstenite::WebSocketStream<Accepted<S>>,
)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // What the client controls — sending its request head — within the handshake timeout;
    // then authentication, within its own timeout; then the answer, written within the
    // handshake timeout again (a client that does not read it is let go).
    let answer_within = hub.limits().handshake_timeout;
    let (head, upgrade) = match tokio::time::timeout_at(head_by, read_head(&mut stream)).await {
        Ok(Head::Request(head, upgrade)) => (head, upgrade),
        Ok(Head::Refused(status, message)) => {
            let _ = tokio::time::timeout(answer_within, answer(&mut stream, status, message)).await;
            return None;
        }
        Ok(Head::Gone) => return None,
        Err(_) => {
            tracing::debug!("no request head within the handshake timeout");
            return None;
        }
    };
    let mut decision = Some(hub.admit(&upgrade).await);
    let mut admitted = None;
    let callback = |_: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        match decision.take() {
            Some(Ok(admission)) => {
                if upgrade.offers_subprotocol() {
                    response.headers_mut().insert(
                        http::header::SEC_WEBSOCKET_PROTOCOL,
                        http::HeaderValue::from_static(SUBPROTOCOL),
                    );
                }
                admitted = Some(admission);
                Ok(response)
            }
            Some(Err(refusal)) => Err(refuse(refusal.status, &refusal.message)),
            None => Err(refuse(
                http::StatusCode::BAD_REQUEST,
                "one request per connection",
            )),
        }
    };
    let stream = Accepted::new(
        head,
        stream,
        hub.limits().write_buffer_bytes,
        hub.spare_buffers(),
    );
    let config = websocket_config(hub);
    let answered = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    match tokio::time::timeout(answer_within, answered).await {
        Ok(Ok(ws)) => admitted.map(|a| (a, ws)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("the handshake's answer was not taken within the handshake timeout");
            None
        }
    }
}

/// An accepted connection's byte stream. Reading: its first bytes (the request head) were read
/// already, and are read again first. Writing: what tungstenite writes is gathered, up to
/// `gather` bytes, and written to the socket in one call when that much is gathered or on a
/// flush (the end of each batch). The gather buffer is taken from the hub's spare ones
/// ([`SpareBuffers`]) when the connection starts gathering, and handed back once written out
/// (kept while a burst's batches follow one another, see `TextParts::keep_buffer`), so an idle
/// connection holds none; buffers larger than twice the gather size are freed rather than
/// kept.
pub(crate) struct Accepted<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
    /// Gathered bytes; `out[written..]` are not written yet.
    out: Vec<u8>,
    written: usize,
    gather: usize,
    /// Every write tungstenite made was taken whole. Tungstenite hands over all it buffered in
    /// each write and keeps only what is not taken, so its buffer is empty now: the bytes end
    /// at a frame's end, where [`write_text`](Self::write_text) may add a frame of its own.
    whole: bool,
    /// Keep `out`'s memory once written (a burst's batches follow); handed back otherwise.
    keep: bool,
    spare: std::sync::Arc<SpareBuffers>,
}

impl<S> Accepted<S> {
    /// `inner`, whose first bytes `head` were read already; writes gathered up to `gather`, in
    /// buffers taken from and handed back to `spare`.
    fn new(
        head: Vec<u8>,
        inner: S,
        gather: usize,
        spare: std::sync::Arc<SpareBuffers>,
    ) -> Accepted<S> {
        Accepted {
            head,
            at: 0,
            inner,
            out: Vec::new(),
            written: 0,
            gather,
            whole: true,
            keep: false,
            spare,
        }
    }

    /// Makes room for `bytes` more gathered bytes at once — at most what may be gathered
    /// before a write ([`write_text`](Self::write_text) takes frames while they fit in the
    /// gather size) — when frames may be gathered now.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        if self.whole && self.out.len() < self.gather {
            self.take_buffer();
            self.out.reserve(bytes.min(self.gather - self.out.len()));
        }
    }

    /// Takes a spare gather buffer when this connection holds none.
    fn take_buffer(&mut self) {
        if self.out.capacity() == 0 {
            if let Some(spare) = self.spare.take() {
                self.out = spare;
            }
        }
    }

    /// Hands the gather buffer back to the spare ones (or frees it, when larger than twice the
    /// gather size) once everything in it is written out; a buffer still holding bytes stays.
    fn hand_back_buffer(&mut self) {
        if !self.out.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.out);
        if out.capacity() > 0 && out.capacity() <= 2 * self.gather {
            self.spare.hand_back(out);
        }
    }

    /// Gathers one text frame (RFC 6455 §5.2: FIN, opcode 1, the payload length in 7, 16 or 64
    /// bits, unmasked as a server's frames are) whose payload is `parts` concatenated, when
    /// that needs no write to the socket first: tungstenite's buffer is empty, what is gathered
    /// is under the gather size, and the frame is smaller than it. `false` otherwise: the
    /// caller sends the frame through tungstenite, which writes out first.
    pub(crate) fn write_text(&mut self, parts: &[&[u8]]) -> bool {
        if !self.whole {
            return false;
        }
        self.take_buffer();
        self.gather_text(parts)
    }

    /// Gathers `frames` in order, each as [`write_text`](Self::write_text) does, up to the
    /// first one it does not take; returns how many it took. Whether tungstenite's buffer is
    /// empty, and the gather buffer, are settled once for the batch: neither changes while
    /// frames are gathered.
    pub(crate) fn write_frames(&mut self, frames: &[Frame]) -> usize {
        if !self.whole {
            return 0;
        }
        self.take_buffer();
        let mut taken = 0;
        for frame in frames {
            let gathered = match frame {
                Frame::Text(text) => self.gather_one(text.as_bytes()),
                numbered => numbered.with_parts(|parts| self.gather_text(parts)),
            };
            if !gathered {
                break;
            }
            taken += 1;
        }
        taken
    }

    /// Appends one text frame of `parts` to the gathered bytes when less than the gather size
    /// is gathered and the frame is smaller than it (see [`write_text`](Self::write_text)).
    /// Inlined where the parts are known, so that their walk is unrolled.
    #[inline(always)]
    fn gather_text(&mut self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if !self.fits(len) {
            return false;
        }
        self.out.reserve(MAX_HEADER + len);
        self.put_header(len);
        for part in parts {
            self.out.extend_from_slice(part);
        }
        true
    }

    /// [`gather_text`](Self::gather_text) of a frame in one part — a shared text, the frame of
    /// a broadcast: no slice of parts to walk, and no reservation of its own (a batch reserves
    /// for all its frames first, see `TextParts::reserve_text`). ~40 instructions a frame
    /// fewer (BENCHMARKS.md).
    #[inline]
    fn gather_one(&mut self, payload: &[u8]) -> bool {
        if !self.fits(payload.len()) {
            return false;
        }
        self.put_header(payload.len());
        self.out.extend_from_slice(payload);
        true
    }

    /// Whether a frame of a `len`-byte payload may be gathered now: it is smaller than the
    /// gather size, and it fits in what is left of it with its header (at most 10 bytes, RFC
    /// 6455 §5.2) — or nothing is gathered yet. So the gathered bytes never pass the gather
    /// size but by a lone frame's header, and a batch's reservation
    /// ([`reserve`](Self::reserve)) is never outgrown.
    #[inline(always)]
    fn fits(&self, len: usize) -> bool {
        len < self.gather && self.has_room(MAX_HEADER + len)
    }

    /// Whether `bytes` more may be gathered: nothing is gathered yet, or they fit beside what
    /// is, within the gather size — the rule for frames gathered in parts ([`fits`](Self::fits))
    /// and for the bytes tungstenite writes (`poll_write`).
    #[inline(always)]
    fn has_room(&self, bytes: usize) -> bool {
        self.out.is_empty() || self.out.len() + bytes <= self.gather
    }

    /// Appends the header of a server's text frame with a payload of `len` bytes (RFC 6455
    /// §5.2): FIN and opcode 1, the length in 7, 16 or 64 bits, no mask.
    #[inline(always)]
    fn put_header(&mut self, len: usize) {
        self.out.push(0x80 | 0x1);
        if len < 126 {
            self.out.push(len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(126);
            self.out.extend_from_slice(&len.to_be_bytes());
        } else {
            self.out.push(127);
            self.out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> crate::connection::TextParts
    for tokio_tungstenite::WebSocketStream<Accepted<T>>
{
    fn write_text_parts(&mut self, parts: &[&[u8]]) -> bool {
        self.get_mut().write_text(parts)
    }

    fn write_frames(&mut self, frames: &[Frame]) -> usize {
        self.get_mut().write_frames(frames)
    }

    fn reserve_text(&mut self, bytes: usize) {
        self.get_mut().reserve(bytes);
    }

    fn keep_buffer(&mut self, keep: bool) {
        let this = self.get_mut();
        this.keep = keep;
        if !keep {
            this.hand_back_buffer();
        }
    }
}

impl<S: AsyncWrite + Unpin> Accepted<S> {
    /// Writes out what is gathered, then hands the buffer back (or keeps it, see `keep`).
    fn write_out(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = std::task::ready!(
                std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..])
            )?;
            if n == 0 {
                return std::task::Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.out.clear();
        if !self.keep {
            self.hand_back_buffer();
        }
        self.written = 0;
        std::task::Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Accepted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.at);
            buf.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new(); // read again: the memory goes
                this.at = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Accepted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let this = &mut *self;
        // Not whole until this write is taken whole (tungstenite keeps what is not).
        this.whole = false;
        let large = data.len() >= this.gather;
        // What is gathered is written out first when this does not fit beside it: the
        // gathered bytes never pass the gather size (see `has_room`).
        if (large && !this.out.is_empty()) || !this.has_room(data.len()) {
            std::task::ready!(this.write_out(cx))?;
        }
        if large {
            // A frame as large as the gather size goes straight to the socket, after what was
            // gathered before it.
            let written =
                std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_write(cx, data))?;
            this.whole = written == data.len();
            return std::task::Poll::Ready(Ok(written));
        }
        // Everything else is gathered until the flush at the end of the batch, a lone frame
        // too: one write per batch. (Writing a batch's first frame as it came cost a second
        // system call per batch, which the clients paid too, reading twice: 0.62–0.72× of the
        // ceiling's ephemeral fan-out against 0.80–1.01× gathered, BENCHMARKS.md.)
        this.take_buffer();
        this.out.extend_from_slice(data);
        this.whole = true;
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::ready!(self.write_out(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::ready!(self.write_out(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A socket that takes at most `room` bytes per call, and nothing (pending) when `room` is 0.
    #[derive(Default)]
    struct Socket {
        written: Vec<u8>,
        calls: usize,
        room: usize,
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.room == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = data.len().min(self.room);
            self.written.extend_from_slice(&data[..n]);
            self.calls += 1;
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn accepted(room: usize, gather: usize) -> Accepted<Socket> {
        let socket = Socket {
            room,
            ..Socket::default()
        };
        Accepted::new(
            Vec::new(),
            socket,
            gather,
            std::sync::Arc::new(SpareBuffers::new()),
        )
    }

    #[tokio::test]
    async fn frames_are_gathered_into_one_write_and_freed_once_written() {
        let mut s = accepted(usize::MAX, 1024);
        for i in 0..10u8 {
            s.write_all(&[i; 50]).await.expect("gathered");
        }
        assert_eq!(s.inner.calls, 0, "gathered until the flush");
        s.flush().await.expect("flushed");
        assert_eq!(s.inner.calls, 1, "one write for the batch");
        assert_eq!(s.inner.written.len(), 500);
        assert_eq!(s.out.capacity(), 0, "freed once written");
        // A lone frame: one write at its flush, and the buffer freed again.
        s.write_all(&[7; 50]).await.expect("written");
        assert_eq!(s.inner.calls, 1);
        s.flush().await.expect("flushed");
        assert_eq!((s.inner.calls, s.out.capacity()), (2, 0));
    }

    /// A buffer written out goes to the hub's spare ones, and the next connection that gathers
    /// takes it rather than allocating; an idle connection holds none. Buffers past twice the
    /// gather size, or past the number kept, are freed.
    #[tokio::test]
    async fn written_out_buffers_are_handed_on_to_the_next_connection_that_gathers() {
        let spare = std::sync::Arc::new(SpareBuffers::new());
        let open = |gather: usize| {
            Accepted::new(
                Vec::new(),
                Socket {
                    room: usize::MAX,
                    ..Socket::default()
                },
                gather,
                spare.clone(),
            )
        };
        let (mut a, mut b) = (open(1024), open(1024));
        a.write_all(&[1; 300]).await.expect("gathered");
        let capacity = a.out.capacity();
        a.flush().await.expect("flushed");
        assert_eq!((a.out.capacity(), spare.kept()), (0, 1), "handed back");
        b.write_all(&[2; 100]).await.expect("gathered");
        assert_eq!(spare.kept(), 0, "taken");
        assert_eq!(b.out.capacity(), capacity, "the same memory");
        b.flush().await.expect("flushed");
        assert_eq!(b.inner.written, vec![2; 100]);
        assert_eq!(spare.kept(), 1);
        // Larger than twice its gather size: freed, not kept.
        let mut small = open(100);
        let _ = spare.take();
        small.write_all(&[3; 50]).await.expect("gathered");
        small.out.reserve(1000);
        small.flush().await.expect("flushed");
        assert_eq!(spare.kept(), 0);
        // At most `KEPT` are kept.
        for _ in 0..SpareBuffers::KEPT + 3 {
            spare.hand_back(Vec::with_capacity(64));
        }
        assert_eq!(spare.kept(), SpareBuffers::KEPT);
    }

    #[tokio::test]
    async fn past_the_gather_size_it_writes_out_and_keeps_order_through_partial_writes() {
        let mut s = accepted(7, 100);
        let mut expected = Vec::new();
        for i in 0..30u8 {
            let frame = [i; 40];
            s.write_all(&frame).await.expect("written");
            expected.extend_from_slice(&frame);
            assert!(s.out.len() < 100 + 40, "bounded: {}", s.out.len());
        }
        s.flush().await.expect("flushed");
        assert_eq!(s.inner.written, expected);
        assert_eq!(s.out.capacity(), 0);
        // A frame as large as the gather size goes straight through, after what was gathered.
        s.inner.room = usize::MAX;
        s.write_all(&[8; 10]).await.expect("written");
        let calls = s.inner.calls;
        s.write_all(&[9; 300]).await.expect("written");
        assert_eq!(
            s.inner.calls,
            calls + 2,
            "the gathered bytes, then the large frame"
        );
        assert_eq!(s.out.len(), 0);
        s.flush().await.expect("flushed");
        let tail = &s.inner.written[s.inner.written.len() - 310..];
        assert!(tail[..10].iter().all(|&b| b == 8) && tail[10..].iter().all(|&b| b == 9));
    }

    /// Kept, the gathered bytes' memory is reused by the next batch, reserved once for it up to
    /// the gather size; let go, it is freed (an idle connection holds none).
    #[tokio::test]
    async fn a_burst_reuses_the_gathered_memory_and_idle_frees_it() {
        let mut s = accepted(usize::MAX, 1000);
        s.reserve(10_000);
        assert_eq!(s.out.capacity(), 1000, "reserved up to the gather size");
        s.keep = true;
        for _ in 0..2 {
            let before = s.out.capacity();
            for _ in 0..20 {
                assert!(s.write_text(&[b"{\"seq\":1,", b"0123456789"]));
            }
            assert_eq!(s.out.capacity(), before, "gathered without growing");
            s.flush().await.expect("flushed");
            assert_eq!((s.out.len(), s.out.capacity()), (0, before), "kept");
        }
        assert_eq!(
            s.inner.written.len(),
            2 * 20 * 21,
            "a 2-byte header and 19 bytes"
        );
        s.keep = false;
        assert!(s.write_text(&[b"abc"]));
        s.flush().await.expect("flushed");
        assert_eq!(s.out.capacity(), 0, "freed once written");
    }

    /// A batch larger than the gather size: the frames that fit are gathered within the
    /// batch's reservation — the buffer is not grown (and copied) by the frame that crosses
    /// the size, as it was when a frame was taken while less than the size was gathered —
    /// and the rest go to the socket after what was gathered, every byte once and in order.
    #[tokio::test]
    async fn a_batch_past_the_gather_size_never_outgrows_its_reservation() {
        let mut s = accepted(1 << 20, 1050);
        let frames: Vec<Frame> = (0..30)
            .map(|i| Frame::Text(format!("{i:0>98}").into()))
            .collect();
        s.reserve(frames.iter().map(Frame::wire_bytes).sum());
        let reserved = s.out.capacity();
        let taken = s.write_frames(&frames);
        assert_eq!(
            taken, 10,
            "ten frames of 100 bytes fit in 1,050 with room for a header"
        );
        assert_eq!(s.out.capacity(), reserved, "not grown past the reservation");
        assert!(s.out.len() <= 1050);
        let mut expected = Vec::new();
        for frame in &frames {
            expected.extend_from_slice(&[0x81, 98]);
            frame.with_parts(|parts| expected.extend_from_slice(parts[0]));
        }
        for frame in &frames[taken..] {
            let mut bytes = vec![0x81, 98];
            frame.with_parts(|parts| bytes.extend_from_slice(parts[0]));
            s.write_all(&bytes).await.expect("written");
            assert!(s.out.len() <= 1050, "never past the gather size");
        }
        s.flush().await.expect("flushed");
        assert_eq!(s.inner.written, expected);
    }

    #[test]
    fn a_blocked_socket_holds_the_writer_at_the_gather_size() {
        let mut s = accepted(0, 100);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = 0;
        while let Poll::Ready(Ok(n)) = Pin::new(&mut s).poll_write(&mut cx, &[1; 30]) {
            taken += n;
            assert!(taken < 1_000, "a blocked socket must push back");
        }
        assert_eq!(
            taken, 90,
            "gathered while the frames fit in the size, then pending"
        );
        assert!(s.out.len() <= 100, "never past the gather size");
        assert_eq!(s.inner.written.len(), 0);
        assert!(Pin::new(&mut s).poll_flush(&mut cx).is_pending());
    }

    /// Frames written in parts and frames written by tungstenite, in any order and at every
    /// length encoding (7, 16 and 64 bits, RFC 6455 §5.2), read back by a tungstenite client as
    /// the same messages in the same order.
    #[tokio::test]
    async fn frames_in_parts_read_back_as_messages_between_tungstenite_frames() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::protocol::Role;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::WebSocketStream;

        use crate::connection::TextParts;

        let (server, client) = tokio::io::duplex(1 << 20);
        let accepted = Accepted::new(
            Vec::new(),
            server,
            256 * 1024,
            std::sync::Arc::new(SpareBuffers::new()),
        );
        let config = WebSocketConfig::default().write_buffer_size(0);
        let mut server =
            WebSocketStream::from_raw_socket(accepted, Role::Server, Some(config)).await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let mut sent = Vec::new();
        for (i, len) in [0, 1, 116, 117, 118, 125, 126, 127, 65_535, 65_536, 70_000]
            .into_iter()
            .enumerate()
        {
            let body = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let digits = i.to_string();
            assert!(server.write_text_parts(&[
                b"{\"seq\":",
                digits.as_bytes(),
                b",",
                body.as_bytes()
            ]));
            sent.push(format!("{{\"seq\":{i},{body}"));
            let text = format!("tungstenite {i}");
            server
                .feed(Message::Text(text.clone().into()))
                .await
                .expect("fed");
            sent.push(text);
        }
        server.flush().await.expect("flushed");
        for expected in sent {
            match client.next().await {
                Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), expected),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Parts are refused (and the frame left to tungstenite, which writes out first) while
    /// tungstenite may hold part of a frame — a write not taken whole — and when the frame or
    /// what is gathered reaches the gather size.
    #[test]
    fn parts_are_refused_unless_the_bytes_end_at_a_frame_end() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut s = accepted(0, 100);
        assert!(s.write_text(&[b"abc"]));
        assert!(
            !s.write_text(&["x".repeat(100).as_bytes()]),
            "as large as the gather size"
        );
        // A large write the blocked socket does not take: tungstenite keeps it.
        assert!(Pin::new(&mut s).poll_write(&mut cx, &[1; 300]).is_pending());
        assert!(!s.write_text(&[b"abc"]), "tungstenite holds a frame");
        // Taken in part only: the rest is still tungstenite's.
        s.inner.room = 7;
        let _ = Pin::new(&mut s).poll_flush(&mut cx);
        assert_eq!(
            Pin::new(&mut s)
                .poll_write(&mut cx, &[1; 300])
                .map(Result::ok),
            Poll::Ready(Some(7))
        );
        assert!(!s.write_text(&[b"abc"]), "part of a frame is still to come");
        // Taken whole: a frame may follow.
        assert!(Pin::new(&mut s).poll_write(&mut cx, &[2; 30]).is_ready());
        assert!(s.write_text(&[b"abc"]));
        // Gathered up to the size: tungstenite's write empties it first.
        s.inner.room = 0;
        let mut frames = 0;
        while s.write_text(&[b"0123456789"]) {
            frames += 1;
            assert!(frames < 100, "refused once the gather size is reached");
        }
        assert!(s.out.len() <= 100, "never past the gather size");
        assert!(
            s.out.len() + MAX_HEADER + 10 > 100,
            "refused only when the frame does not fit"
        );
    }
}
