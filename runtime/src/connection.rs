//! The connection loop: one connection's life, from registration to the close code. Written
//! over any `Sink`/`Stream` of WebSocket messages, so every transport shares it.

use std::fmt::Display;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tracing::Instrument as _;

use crate::delivery::Position;
use crate::hub::conn::{Conn, Signal};
use crate::hub::outbox::{DirectWrite, Frame, Written};
use crate::hub::{
    DisconnectReason, Disconnected, HandlerError, Hub, RegisterError, Session, Started,
};
use crate::principal::Principal;
use crate::protocol::{self, close, frame, Cid, ClientFrame, ErrorCode};

/// Frames taken from the queue at a time.
const WRITE_BATCH: usize = 64;

thread_local! {
    /// An emptied batch (room for [`WRITE_BATCH`] frames at most) kept by each worker thread
    /// for the next session that writes on it: a session's write no longer allocates and frees
    /// its batch on every wake-up, while an idle connection still holds none.
    static SPARE_BATCH: std::cell::Cell<Vec<Frame>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Frames written before a flush at most, while more keep coming (what is gathered is written
/// out at the gather size regardless, `Limits::write_buffer_bytes`).
const FLUSH_FRAMES: usize = 1024;

/// How long a session waits to send its close frame to a peer that may have stopped reading.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A socket that takes a text frame in parts and writes it without building it first: the
/// server's own sockets write the frame's header and parts straight into their gathered bytes,
/// below tungstenite (see `server::Accepted::write_text`), which saves a numbered frame's
/// allocation and copy and tungstenite's own copy of every frame. Frames go out in the order
/// they are written, whichever way each takes.
pub(crate) trait TextParts {
    /// Writes one text frame whose payload is `parts` concatenated, when the socket can take it
    /// so now without waiting; `false` leaves the frame to the caller, who sends it as a
    /// message. A frame written so is flushed by the sink's next flush. The parts are bytes so
    /// that a number's few ASCII bytes need no UTF-8 check; together they must be UTF-8 text
    /// (RFC 6455 §5.6), as [`Frame::with_parts`]'s are: `str`s and ASCII.
    fn write_text_parts(&mut self, parts: &[&[u8]]) -> bool;

    /// Writes `frames` in order, each as [`write_text_parts`](Self::write_text_parts) does,
    /// up to the first one the socket does not take; returns how many it took (the rest are
    /// the caller's, to send as messages). One call for a batch: a socket shared behind a lock
    /// takes the lock once, not once per frame.
    fn write_frames(&mut self, frames: &[Frame]) -> usize {
        frames
            .iter()
            .take_while(|frame| frame.with_parts(|parts| self.write_text_parts(parts)))
            .count()
    }

    /// Makes room for frames about to be written whose payloads total `bytes`: a hint, so that
    /// a batch is gathered in one allocation rather than in a buffer grown (and copied) a
    /// doubling at a time. Sockets that gather nothing ignore it.
    fn reserve_text(&mut self, bytes: usize) {
        let _ = bytes;
    }

    /// Whether the memory of the gathered bytes is kept once they are written out: kept while
    /// a burst's batches follow one another (regrown from nothing, each batch paid a copy per
    /// doubling), freed when `false` is set and nothing is left to write, so that an idle
    /// connection holds none. Sockets that gather nothing ignore it.
    fn keep_buffer(&mut self, keep: bool) {
        let _ = keep;
    }
}

/// Read errors of a transport, as far as a session needs to tell them apart.
pub(crate) trait ReadError: Display {
    /// The close code and reason a read error of the peer's making gets (RFC 6455 §7.4.1):
    /// 1009 for a message over the size limit, 1007 for text that is not UTF-8, 1002 for a
    /// protocol violation; `None` for a transport failure (nothing to say, or no one to say it
    /// to).
    fn close_code(&self) -> Option<(u16, &'static str)>;
}

impl ReadError for tokio_tungstenite::tungstenite::Error {
    fn close_code(&self) -> Option<(u16, &'static str)> {
        use tokio_tungstenite::tungstenite::Error as E;
        match self {
            E::Capacity(_) => Some((close::MESSAGE_TOO_BIG, "message too big")),
            E::Utf8(_) => Some((close::INVALID_PAYLOAD, "text frames are UTF-8")),
            E::Protocol(_) => Some((close::PROTOCOL_ERROR, "WebSocket protocol violation")),
            _ => None,
        }
    }
}

/// A token bucket: `rate` frames per second, bursts of `burst`.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            at: Instant::now(),
        }
    }

    /// Whether the bucket has refilled to its burst (as of now).
    fn is_full(&self) -> bool {
        self.tokens + self.at.elapsed().as_secs_f64() * self.rate >= self.burst
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    }))
}

fn reason_for(code: u16) -> DisconnectReason {
    match code {
        close::SLOW_CONSUMER => DisconnectReason::SlowConsumer,
        close::AUTH_EXPIRED => DisconnectReason::AuthExpired,
        close::HEARTBEAT_TIMEOUT => DisconnectReason::HeartbeatTimeout,
        close::RATE_LIMITED => DisconnectReason::RateLimited,
        close::MESSAGE_TOO_BIG => DisconnectReason::MessageTooBig,
        close::GOING_AWAY => DisconnectReason::Shutdown,
        close::TOO_MANY_CONNECTIONS => DisconnectReason::TooManyConnections,
        close::PROTOCOL_ERROR | close::INVALID_PAYLOAD => DisconnectReason::TransportError,
        _ => DisconnectReason::ClientClosed,
    }
}

/// A timer for the principal's expiry; none (no allocation, no timer) when it never expires.
fn expiry_sleep(p: &Principal) -> Option<Pin<Box<Sleep>>> {
    let left = p
        .expires_at?
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(Box::pin(tokio::time::sleep(left)))
}

pin_project_lite::pin_project! {
    /// A future given up after a time limit (`None`, as [`tokio::time::timeout`]'s `Err`).
    /// The timer is made only when a poll finds the future waiting: most writes complete at
    /// once, and a timer costs an allocation of its entry in the runtime's wheel and its
    /// removal — and, held inline, ~100 bytes of every idle session's state.
    struct Bounded<F> {
        #[pin]
        fut: F,
        limit: Duration,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F: std::future::Future> std::future::Future for Bounded<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Some(out));
        }
        let limit = *this.limit;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        timer.as_mut().poll(cx).map(|()| None)
    }
}

/// `fut`, given up after `limit` (see [`Bounded`]).
fn bounded<F: std::future::Future>(limit: Duration, fut: F) -> Bounded<F> {
    Bounded {
        fut,
        limit,
        timer: None,
    }
}

async fn expired(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Runs a session on an upgraded socket until it ends.
///
/// The socket and the principal move to the heap before the session's state machine is made:
/// an async function keeps its arguments in its state for its whole life, and a WebSocket
/// stream is several hundred bytes — of every idle connection.
pub(crate) fn run<S, E>(
    hub: Hub,
    principal: Principal,
    resume: Option<Position>,
    socket: S,
) -> impl std::future::Future<Output = ()> + Send
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + TextParts + Unpin + Send + 'static,
    <S as Sink<Message>>::Error: Display + Send,
    E: ReadError + Send,
{
    let shared = Arc::new(SharedSocket {
        inner: Mutex::new(Guarded {
            socket,
            flushed: true,
        }),
    });
    session(hub, Box::new(principal), resume, shared)
}

async fn session<S, E>(
    hub: Hub,
    principal: Box<Principal>,
    resume: Option<Position>,
    shared: Arc<SharedSocket<S>>,
) where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + TextParts + Unpin + Send + 'static,
    <S as Sink<Message>>::Error: Display,
    E: ReadError,
{
    let mut socket = Half(shared.clone());
    let (conn, position) = match hub.register(*principal, resume.as_ref()).await {
        Ok(registered) => registered,
        Err(e) => {
            hub.counters().rejected();
            let (code, reason) = match e {
                RegisterError::TooManyConnections => (
                    close::TOO_MANY_CONNECTIONS,
                    "too many connections for this user",
                ),
                RegisterError::Unavailable(e) => {
                    tracing::warn!(error = %e, "backplane unavailable; connection refused");
                    (
                        close::TRY_AGAIN_LATER,
                        "backplane unavailable; try again later",
                    )
                }
            };
            let _ = socket.send(close_message(code, reason)).await;
            return;
        }
    };
    let span = tracing::info_span!("session", id = conn.id, user = %conn.user());
    let session = Session::new(hub.clone(), conn.clone());
    // Unregistered however the session ends: a panic in it unwinds through the guard, so the
    // user never loses a connection slot to a dead task.
    let mut registered = Registered {
        hub: hub.clone(),
        conn: conn.clone(),
        reason: DisconnectReason::TransportError,
        connected: false,
    };
    if let Err(failed) = hub
        .run_connect_hook(&session)
        .instrument(span.clone())
        .await
    {
        let close = close_message(failed.code, &failed.reason);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(close)).await;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
        registered.reason = failed.why;
        return;
    }
    registered.connected = true;
    // From here its joins and leaves are announced (a refused connection never is).
    hub.session_started(&conn);
    // Held here and run by reference: a `self` taken by value is kept twice in the session's
    // state (the argument and its binding), in every idle connection.
    let mut runner = Runner {
        hub: hub.clone(),
        conn: conn.clone(),
        session,
        position,
        rooms: None,
        in_flight: None,
    };
    drop(socket);
    let reason = runner.run(shared).instrument(span).await;
    tracing::debug!(session = conn.id, reason = reason.as_str(), "session ended");
    registered.reason = reason;
}

/// A registered connection, unregistered when dropped — at the end of its session, or while a
/// panic in it unwinds (then as a transport error).
struct Registered {
    hub: Hub,
    conn: Arc<Conn>,
    reason: DisconnectReason,
    /// Whether the `on_connect` hook let it through: only then does `on_disconnect` run.
    connected: bool,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                session = self.conn.id,
                "session task panicked; connection unregistered"
            );
        }
        let rooms = self.conn.rooms();
        self.hub.unregister(&self.conn, self.reason);
        if self.connected {
            self.hub.run_disconnect_hook(Disconnected {
                id: self.conn.id,
                principal: self.conn.principal(),
                rooms,
                reason: self.reason,
            });
        }
    }
}

/// A session's socket, shared by its task and the threads that write frames to it directly
/// (see [`crate::hub::outbox`]). Each use locks it for one poll, never across an `.await`.
struct SharedSocket<S> {
    inner: Mutex<Guarded<S>>,
}

struct Guarded<S> {
    socket: S,
    /// Everything sent was flushed: a direct write may go.
    flushed: bool,
}

impl<S> SharedSocket<S> {
    fn lock(&self) -> MutexGuard<'_, Guarded<S>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S> DirectWrite for SharedSocket<S>
where
    S: Sink<Message> + TextParts + Unpin + Send,
{
    fn try_write(&self, frame: Frame) -> Written {
        let mut g = match self.inner.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Written::Busy(frame),
        };
        if !g.flushed {
            return Written::Busy(frame);
        }
        // Nothing waits here: a write that would block is left to the session's task, which
        // polls the socket again with its own waker.
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut socket = Pin::new(&mut g.socket);
        if !frame.with_parts(|parts| socket.write_text_parts(parts)) {
            // A socket that fails is left to the session as well: it writes the frame itself,
            // meets the same failure and ends the connection, exactly as without direct writes.
            if !matches!(socket.as_mut().poll_ready(&mut cx), Poll::Ready(Ok(()))) {
                return Written::Busy(frame);
            }
            let text = frame.into_text();
            if socket
                .as_mut()
                .start_send(Message::Text(text.clone()))
                .is_err()
            {
                return Written::Busy(Frame::Text(text));
            }
        }
        if matches!(socket.poll_flush(&mut cx), Poll::Ready(Ok(()))) {
            Written::Flushed
        } else {
            g.flushed = false;
            Written::Unflushed
        }
    }
}

/// The session's handle on its shared socket: the sink and the stream it reads.
struct Half<S>(Arc<SharedSocket<S>>);

impl<S: TextParts> TextParts for Half<S> {
    fn write_text_parts(&mut self, parts: &[&[u8]]) -> bool {
        let mut g = self.0.lock();
        let written = g.socket.write_text_parts(parts);
        if written {
            g.flushed = false;
        }
        written
    }

    fn write_frames(&mut self, frames: &[Frame]) -> usize {
        let mut g = self.0.lock();
        let written = g.socket.write_frames(frames);
        if written > 0 {
            g.flushed = false;
        }
        written
    }

    fn reserve_text(&mut self, bytes: usize) {
        self.0.lock().socket.reserve_text(bytes);
    }

    fn keep_buffer(&mut self, keep: bool) {
        self.0.lock().socket.keep_buffer(keep);
    }
}

impl<S: Sink<Message> + Unpin> Sink<Message> for Half<S> {
    type Error = S::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let mut g = self.0.lock();
        let polled = Pin::new(&mut g.socket).poll_ready(cx);
        if polled.is_pending() {
            g.flushed = false;
        }
        polled
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), S::Error> {
        let mut g = self.0.lock();
        g.flushed = false;
        Pin::new(&mut g.socket).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let mut g = self.0.lock();
        let polled = Pin::new(&mut g.socket).poll_flush(cx);
        // While a flush of the session's is pending, its waker must stay registered: no
        // direct write (whose poll would replace it) until a flush completes.
        g.flushed = matches!(polled, Poll::Ready(Ok(())));
        polled
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let mut g = self.0.lock();
        g.flushed = false;
        Pin::new(&mut g.socket).poll_close(cx)
    }
}

/// A stream polled only once its own waker was woken, or after it yielded an item: the
/// session's loop polls every branch of its `select!` before it waits, and a read of a socket
/// with nothing to read costs tungstenite about 1,000 instructions (its frame decoder, the
/// compatibility layer, the would-block read), which a session woken only to write paid once
/// per wake-up (BENCHMARKS.md, "The read side polled only when woken"). What the inner stream
/// registers is this stream's own waker, which marks it woken and wakes the task.
struct WokenOnly<S> {
    inner: S,
    gate: Arc<Gate>,
    /// `gate` as a waker, made once.
    waker: std::task::Waker,
}

/// A [`WokenOnly`] stream's waker: whether the inner stream was woken since its last poll, and
/// the task to wake.
struct Gate {
    woken: std::sync::atomic::AtomicBool,
    task: futures_util::task::AtomicWaker,
}

impl std::task::Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        self.task.wake();
    }
}

impl<S> WokenOnly<S> {
    /// `inner`, polled at the first poll.
    fn new(inner: S) -> WokenOnly<S> {
        let gate = Arc::new(Gate {
            woken: std::sync::atomic::AtomicBool::new(true),
            task: futures_util::task::AtomicWaker::new(),
        });
        WokenOnly {
            inner,
            waker: std::task::Waker::from(gate.clone()),
            gate,
        }
    }
}

impl<S: Stream + Unpin> Stream for WokenOnly<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        // Registered before the flag is read: a wake-up between the two is not lost.
        this.gate.task.register(cx.waker());
        if !this
            .gate
            .woken
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.inner).poll_next(&mut Context::from_waker(&this.waker));
        if polled.is_ready() {
            // A stream that yielded registers no waker: poll it again next time.
            this.gate
                .woken
                .store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }
}

impl<S: Stream + Unpin> Stream for Half<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.0.lock().socket).poll_next(cx)
    }
}

struct Runner {
    hub: Hub,
    conn: Arc<Conn>,
    session: Session,
    /// The stream's position when the connection registered: live events follow it.
    position: Position,
    /// With an asynchronous room policy: the task deciding this connection's `$join`s and
    /// `$leave`s in order, off the loop (started at the first one).
    rooms: Option<mpsc::Sender<RoomChange>>,
    /// Permits for requests in progress (`Limits::max_in_flight`), made at the first request:
    /// an idle connection holds none.
    in_flight: Option<Arc<Semaphore>>,
}

/// A `$join` or `$leave` for the room task.
struct RoomChange {
    join: bool,
    room: String,
    cid: Option<Cid>,
}

/// What handling one inbound message asks of the loop.
enum Next {
    Continue,
    Close(u16, &'static str),
    End(DisconnectReason),
}

impl Runner {
    async fn run<S, E>(&mut self, shared: Arc<SharedSocket<S>>) -> DisconnectReason
    where
        S: Sink<Message> + Stream<Item = Result<Message, E>> + TextParts + Unpin + Send + 'static,
        <S as Sink<Message>>::Error: Display,
        E: ReadError,
    {
        let (mut sink, mut stream) = (Half(shared.clone()), WokenOnly::new(Half(shared.clone())));
        // The two limits the loop reads, not a copy of them all held by every idle session.
        let (heartbeat_interval, heartbeat_timeout) = {
            let limits = self.hub.limits();
            (limits.heartbeat_interval, limits.heartbeat_timeout)
        };
        let hello = sink.send(Message::Text(self.connected_frame().into()));
        if !matches!(
            tokio::time::timeout(heartbeat_timeout, hello).await,
            Ok(Ok(()))
        ) {
            return DisconnectReason::TransportError;
        }
        // From here an emitting thread may write to the socket itself (after `$connected`).
        self.conn.outbox.attach(shared);
        // One timer for both heartbeat duties: the next `$ping`, and the moment the client has
        // been silent for the heartbeat timeout (4009 then, not at the next ping's tick).
        let mut next_ping = Instant::now() + heartbeat_interval;
        let mut last_inbound = Instant::now();
        let mut heartbeat = Box::pin(tokio::time::sleep_until(
            next_ping.min(last_inbound + heartbeat_timeout),
        ));
        let mut bucket = {
            let limits = self.hub.limits();
            Bucket::new(limits.rate_per_second, limits.rate_burst)
        };
        let mut dropped_in_row = 0u32;
        let mut expiry = expiry_sleep(&self.conn.principal());

        let next = loop {
            if self.hub.shutting_down() {
                break self
                    .drain_and_close(&mut sink, close::GOING_AWAY, "server shutting down")
                    .await;
            }
            // In this order: the hub's shutdown, a kill, the credentials' expiry, then (one
            // waker for the three, `Conn::next_signal`) a kill or the shutdown that comes while
            // idle, or frames to write; then what the client sends, and the heartbeat.
            let step = if let Some(kill) = self.conn.kill_requested() {
                Next::Close(kill.code, kill.reason)
            } else {
                tokio::select! {
                    biased;
                    () = expired(&mut expiry) => Next::Close(close::AUTH_EXPIRED, "credentials expired"),
                    signal = self.conn.next_signal(|| self.hub.shutting_down()) => match signal {
                        Signal::Kill(kill) => Next::Close(kill.code, kill.reason),
                        Signal::ShuttingDown => Next::Continue,
                        Signal::Work => {
                            // A peer that stops reading stalls the write: race it with the hub's
                            // request to cut the connection off, and bound it in time.
                            let conn = self.conn.clone();
                            tokio::select! {
                                biased;
                                kill = conn.killed() => Next::Close(kill.code, kill.reason),
                                written = bounded(heartbeat_timeout, self.write_batch(&mut sink)) => {
                                    written.unwrap_or(Next::End(DisconnectReason::SlowConsumer))
                                }
                            }
                        }
                    },
                    msg = stream.next() => match msg {
                        None => Next::End(DisconnectReason::ClientClosed),
                        Some(Err(e)) => match e.close_code() {
                            Some((code, reason)) => {
                                tracing::debug!(error = %e, "the peer broke the protocol");
                                Next::Close(code, reason)
                            }
                            None => {
                                tracing::debug!(error = %e, "read failed");
                                Next::End(DisconnectReason::TransportError)
                            }
                        },
                        Some(Ok(msg)) => {
                            last_inbound = Instant::now();
                            // Answering (a reply, an error, a pong) writes too: a peer that sends
                            // but never reads must not hold the session, so the answer races the
                            // hub's request to cut the connection off and is bounded in time.
                            // Boxed: the race's state is allocated while a frame is answered, not
                            // carried in every idle connection's session.
                            let conn = self.conn.clone();
                            conn.outbox.hold();
                            let step = Box::pin(async {
                                tokio::select! {
                                    biased;
                                    kill = conn.killed() => Next::Close(kill.code, kill.reason),
                                    step = bounded(
                                        heartbeat_timeout,
                                        self.inbound(&mut sink, msg, &mut bucket, &mut dropped_in_row, &mut expiry),
                                    ) => step.unwrap_or(Next::End(DisconnectReason::SlowConsumer)),
                                }
                            })
                            .await;
                            self.conn.outbox.release();
                            step
                        }
                    },
                    () = heartbeat.as_mut() => {
                        let now = Instant::now();
                        let silent_until = last_inbound + heartbeat_timeout;
                        if now >= silent_until {
                            Next::Close(close::HEARTBEAT_TIMEOUT, "no frame within the heartbeat timeout")
                        } else if now < next_ping {
                            // The silence deadline moved on with later frames: wait for what is next.
                            heartbeat.as_mut().reset(next_ping.min(silent_until));
                            Next::Continue
                        } else {
                            next_ping = now + heartbeat_interval;
                            heartbeat.as_mut().reset(next_ping.min(silent_until));
                            let conn = self.conn.clone();
                            Box::pin(async {
                                tokio::select! {
                                    biased;
                                    kill = conn.killed() => Next::Close(kill.code, kill.reason),
                                    sent = tokio::time::timeout(
                                        heartbeat_timeout,
                                        send_text(&mut sink, "{\"type\":\"$ping\"}"),
                                    ) => sent.unwrap_or(Next::End(DisconnectReason::SlowConsumer)),
                                }
                            })
                            .await
                        }
                    }
                }
            };
            match step {
                Next::Continue => {}
                Next::Close(code, reason) => {
                    self.hub.leave_stream(&self.conn);
                    let _ =
                        tokio::time::timeout(CLOSE_TIMEOUT, sink.send(close_message(code, reason)))
                            .await;
                    // Read what the client still sends until its close (or the timeout): a
                    // socket closed with unread input is reset by the kernel, and the client
                    // would see 1006 instead of the code.
                    let _ = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, async {
                        while let Some(Ok(m)) = stream.next().await {
                            if matches!(m, Message::Close(_)) {
                                break;
                            }
                        }
                    }))
                    .await;
                    break reason_for(code);
                }
                Next::End(reason) => {
                    self.hub.leave_stream(&self.conn);
                    break reason;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
        next
    }

    fn connected_frame(&self) -> String {
        let p = self.conn.principal();
        let limits = self.hub.limits();
        protocol::to_json(&json!({
            "type": frame::CONNECTED,
            "session": self.conn.id.to_string(),
            "user": p.user_id,
            "roles": p.roles,
            "tenant": p.tenant,
            "expires_at": p.expires_at.map(protocol::rfc3339),
            "resume": { "epoch": self.position.epoch, "seq": self.position.seq },
            "heartbeat": {
                "interval_ms": limits.heartbeat_interval.as_millis() as u64,
                "timeout_ms": limits.heartbeat_timeout.as_millis() as u64,
            },
            "limits": {
                "max_frame_bytes": limits.max_frame_bytes,
                "rate_per_second": limits.rate_per_second,
                "rate_burst": limits.rate_burst,
            },
        }))
    }

    /// Takes up to `max` queued frames (see [`Hub::take`]).
    fn take(&self, batch: &mut Vec<Frame>, max: usize) {
        self.hub.take(&self.conn, batch, max);
    }

    /// Writes what is queued (up to a batch), then flushes once.
    async fn write_batch<K>(&mut self, sink: &mut K) -> Next
    where
        K: Sink<Message> + TextParts + Unpin,
    {
        // The thread's spare batch, or one sized once for what is queued (up to a batch), not
        // grown through a few doublings.
        let mut batch = SPARE_BATCH.take();
        // Exact: a spare batch never holds room for more than a batch.
        batch.reserve_exact(self.conn.outbox.queued().clamp(1, WRITE_BATCH));
        let mut fed = 0;
        sink.keep_buffer(true);
        // What was queued while the batch was fed joins it, up to a flush's worth: one write
        // for what a burst queues meanwhile, not one per drain.
        while fed < FLUSH_FRAMES {
            self.take(&mut batch, WRITE_BATCH);
            if batch.is_empty() {
                break;
            }
            fed += batch.len();
            // Room for this batch and, at its frames' average size, for what is queued behind
            // it up to the flush: one allocation, not a doubling per batch (the socket caps it
            // at the gather size).
            let bytes: usize = batch.iter().map(Frame::wire_bytes).sum();
            let behind = self
                .conn
                .outbox
                .queued()
                .min(FLUSH_FRAMES.saturating_sub(fed));
            sink.reserve_text(bytes + bytes / batch.len() * behind);
            // Most of a batch goes into the gathered bytes in one call; from the first frame
            // the socket does not take (its gather full), one at a time as messages.
            let written = sink.write_frames(&batch);
            // The frames written are dropped in one pass (not one by one through the loop).
            batch.drain(..written);
            for frame in batch.drain(..) {
                if !feed_frame(sink, frame).await {
                    return Next::End(DisconnectReason::TransportError);
                }
            }
        }
        // Empty (every frame taken was written or fed): the thread's next write takes it.
        SPARE_BATCH.set(batch);
        if sink.flush().await.is_err() {
            return Next::End(DisconnectReason::TransportError);
        }
        // The next batch reuses the memory while a burst goes on; idle, the connection frees it.
        sink.keep_buffer(self.conn.outbox.pending());
        self.conn.outbox.release();
        Next::Continue
    }

    /// Delivers what is queued (bounded by the drain timeout), then closes with `code`.
    async fn drain_and_close<K>(
        &mut self,
        sink: &mut K,
        code: u16,
        reason: &'static str,
    ) -> DisconnectReason
    where
        K: Sink<Message> + TextParts + Unpin,
    {
        let deadline = self.hub.limits().drain_timeout;
        // An emitting thread may be writing a frame directly right now: once it has (one
        // non-blocking write), what it could not write is first in line, and none starts again.
        while !self.conn.outbox.hold_unless_writing() {
            tokio::task::yield_now().await;
        }
        let mut batch = Vec::new();
        self.take(&mut batch, usize::MAX);
        self.hub.leave_stream(&self.conn);
        let drain = async {
            for frame in batch {
                if !feed_frame(sink, frame).await {
                    return;
                }
            }
            let _ = sink.flush().await;
        };
        let _ = tokio::time::timeout(deadline, drain).await;
        let _ = tokio::time::timeout(deadline, sink.send(close_message(code, reason))).await;
        reason_for(code)
    }

    /// The flood rule (docs/protocol.md, "Limits"): a frame over the rate is dropped; the first
    /// drop of an episode is answered with one `rate_limited` error; `flood_close_after` drops
    /// in one episode close the session with 4029. An episode ends when the bucket has filled
    /// up again (the client kept to the rate for `rate_burst / rate_per_second` seconds).
    /// `Some` when the frame goes no further.
    async fn flood<K>(
        &mut self,
        sink: &mut K,
        bucket: &mut Bucket,
        dropped: &mut u32,
    ) -> Option<Next>
    where
        K: Sink<Message> + Unpin,
    {
        let rested = bucket.is_full();
        if bucket.take() {
            if rested {
                *dropped = 0;
            }
            return None;
        }
        *dropped += 1;
        if *dropped >= self.hub.limits().flood_close_after {
            return Some(Next::Close(close::RATE_LIMITED, "rate limit exceeded"));
        }
        if *dropped == 1 {
            return Some(
                self.error(
                    sink,
                    None,
                    ErrorCode::RateLimited.as_str(),
                    "too many frames; this one and any more above the rate are dropped",
                    None,
                )
                .await,
            );
        }
        Some(Next::Continue)
    }

    #[allow(clippy::too_many_arguments)]
    async fn inbound<K>(
        &mut self,
        sink: &mut K,
        msg: Message,
        bucket: &mut Bucket,
        dropped_in_row: &mut u32,
        expiry: &mut Option<Pin<Box<Sleep>>>,
    ) -> Next
    where
        K: Sink<Message> + Unpin,
    {
        // Every message counts against the rate — data, pings and (unsolicited) pongs alike: a
        // flood is a flood. (Fragments of one message count once: tungstenite joins them, up
        // to `max_frame_bytes`.)
        if matches!(
            msg,
            Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)
        ) {
            if let Some(next) = self.flood(sink, bucket, dropped_in_row).await {
                return next;
            }
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self
                    .error(
                        sink,
                        None,
                        ErrorCode::BinaryUnsupported.as_str(),
                        "binary frames are not supported; send JSON text frames",
                        None,
                    )
                    .await
            }
            Message::Ping(_) => {
                // tungstenite queued the pong; flushing sends it.
                return match sink.flush().await {
                    Ok(()) => Next::Continue,
                    Err(_) => Next::End(DisconnectReason::TransportError),
                };
            }
            Message::Close(_) => return Next::End(DisconnectReason::ClientClosed),
            Message::Pong(_) | Message::Frame(_) => return Next::Continue,
        };
        self.hub.counters().received();
        let frame: ClientFrame<'_> = match serde_json::from_str(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                // Said of the member at fault, with the frame's `cid` when it has a readable one.
                let (cid, message, field) = protocol::why_not_a_frame(text.as_str(), &e);
                return self
                    .error(
                        sink,
                        cid.as_ref(),
                        ErrorCode::BadFrame.as_str(),
                        &message,
                        field,
                    )
                    .await;
            }
        };
        let cid = frame.cid.as_ref();
        match frame.ty.as_ref() {
            frame::PONG => Next::Continue,
            frame::PING => send_text(sink, "{\"type\":\"$pong\"}").await,
            frame::JOIN | frame::LEAVE => self.room(sink, &frame).await,
            frame::AUTH => self.refresh(sink, &frame, expiry).await,
            frame::OPERATIONS => match cid {
                Some(cid) => {
                    let states = crate::operations::states(&self.conn.stream);
                    let data = protocol::to_json(&json!({ "operations": states }));
                    send_text(sink, &protocol::reply_frame(cid, &data)).await
                }
                None => {
                    self.error(
                        sink,
                        None,
                        ErrorCode::BadFrame.as_str(),
                        "`$operations` needs a `cid` to answer to",
                        Some("cid"),
                    )
                    .await
                }
            },
            name if name.starts_with('$') => {
                let message = format!("`{name}` is not a frame type of this protocol");
                self.error(sink, cid, ErrorCode::UnknownEvent.as_str(), &message, None)
                    .await
            }
            name => self.dispatch(sink, name, &frame).await,
        }
    }

    async fn dispatch<K>(&mut self, sink: &mut K, name: &str, frame: &ClientFrame<'_>) -> Next
    where
        K: Sink<Message> + Unpin,
    {
        let cid = frame.cid.as_ref();
        let Some(dispatch) = self.hub.dispatcher() else {
            let message = format!("no handler for `{name}`");
            return self
                .error(sink, cid, ErrorCode::UnknownEvent.as_str(), &message, None)
                .await;
        };
        if !dispatch.handles(name) {
            let message = format!("no handler for `{name}`");
            return self
                .error(sink, cid, ErrorCode::UnknownEvent.as_str(), &message, None)
                .await;
        }
        let max_in_flight = self.hub.limits().max_in_flight.max(1);
        let in_flight = self
            .in_flight
            .get_or_insert_with(|| Arc::new(Semaphore::new(max_in_flight)));
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            return self
                .error(
                    sink,
                    cid,
                    ErrorCode::Busy.as_str(),
                    "too many requests in flight on this connection",
                    None,
                )
                .await;
        };
        match dispatch.dispatch(name, frame.data, self.session.clone()) {
            Started::Unknown => {
                let message = format!("no handler for `{name}`");
                self.error(sink, cid, ErrorCode::UnknownEvent.as_str(), &message, None)
                    .await
            }
            Started::Refused(e) => {
                self.error(sink, cid, &e.code, &e.message, e.field.as_deref())
                    .await
            }
            Started::Running(fut) => {
                let conn = self.conn.clone();
                let hub = self.hub.clone();
                let cid = frame.cid.clone();
                let event = name.to_owned();
                let span = tracing::debug_span!("handle", event = %event);
                tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = fut.instrument(span).await;
                    crate::hub::handled(&event, started.elapsed());
                    drop(permit);
                    if let Some(text) = answer_frame(&hub, &event, cid.as_ref(), outcome) {
                        conn.push(Utf8Bytes::from(text));
                    }
                });
                Next::Continue
            }
        }
    }

    async fn room<K>(&mut self, sink: &mut K, frame: &ClientFrame<'_>) -> Next
    where
        K: Sink<Message> + Unpin,
    {
        let cid = frame.cid.as_ref();
        let join = frame.ty == frame::JOIN;
        let Some(room) = frame.room.as_deref().filter(|r| !r.is_empty()) else {
            let message = format!("`{}` needs a non-empty `room`", frame.ty);
            return self
                .error(
                    sink,
                    cid,
                    ErrorCode::BadFrame.as_str(),
                    &message,
                    Some("room"),
                )
                .await;
        };
        if join {
            // Bounded per connection: the name's length, and the number of rooms.
            let limits = self.hub.limits();
            let refusal = if room.len() > limits.max_room_name_bytes {
                Some((
                    ErrorCode::BadFrame,
                    format!("`room` is longer than {} bytes", limits.max_room_name_bytes),
                ))
            } else if !self
                .conn
                .has_room_for(room, limits.max_rooms_per_connection)
            {
                Some((
                    ErrorCode::TooManyRooms,
                    format!(
                        "a connection may be in {} rooms; leave one first",
                        limits.max_rooms_per_connection
                    ),
                ))
            } else {
                None
            };
            if let Some((code, message)) = refusal {
                return self
                    .error(sink, cid, code.as_str(), &message, Some("room"))
                    .await;
            }
        }
        if !self.hub.decides_joins_async() {
            // A synchronous policy: decided here, in order with every other frame.
            return match change_room(&self.hub, &self.conn, &self.session, join, room, cid).await {
                Some(text) => send_text(sink, &text).await,
                None => Next::Continue,
            };
        }
        // An asynchronous policy (a database) is decided off the loop, so that events, pings
        // and other requests go on meanwhile; one task per connection keeps its joins and
        // leaves in the order sent, and answers through the connection's queue.
        let rooms = self.rooms.get_or_insert_with(|| {
            room_task(
                self.hub.clone(),
                self.conn.clone(),
                self.session.clone(),
                self.hub.limits().max_in_flight.max(1),
            )
        });
        let change = RoomChange {
            join,
            room: room.to_owned(),
            cid: frame.cid.clone(),
        };
        if rooms.try_send(change).is_err() {
            return self
                .error(
                    sink,
                    cid,
                    ErrorCode::Busy.as_str(),
                    "too many room changes in flight on this connection",
                    None,
                )
                .await;
        }
        Next::Continue
    }

    async fn refresh<K>(
        &mut self,
        sink: &mut K,
        frame: &ClientFrame<'_>,
        expiry: &mut Option<Pin<Box<Sleep>>>,
    ) -> Next
    where
        K: Sink<Message> + Unpin,
    {
        let cid = frame.cid.as_ref();
        let Some(token) = frame.token.as_deref() else {
            return self
                .error(
                    sink,
                    cid,
                    ErrorCode::BadFrame.as_str(),
                    "`$auth` needs a `token`",
                    Some("token"),
                )
                .await;
        };
        let timeout = self.hub.limits().auth_timeout;
        let refreshing = self.hub.authenticator().refresh(token);
        let fresh = match tokio::time::timeout(timeout, refreshing).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                return self
                    .error(sink, cid, ErrorCode::AuthFailed.as_str(), &e.message, None)
                    .await
            }
            Err(_) => {
                return self
                    .error(
                        sink,
                        cid,
                        ErrorCode::AuthFailed.as_str(),
                        "authentication timed out; try again",
                        None,
                    )
                    .await
            }
        };
        if fresh.user_id != self.conn.user() || fresh.tenant.as_deref() != self.conn.tenant() {
            return self
                .error(
                    sink,
                    cid,
                    ErrorCode::Forbidden.as_str(),
                    "a refreshed token must be for the same user and tenant",
                    None,
                )
                .await;
        }
        *expiry = expiry_sleep(&fresh);
        self.hub.set_principal(&self.conn, &fresh);
        match cid {
            Some(cid) => {
                let expires = fresh.expires_at.map(protocol::rfc3339);
                let data =
                    protocol::to_json(&json!({ "roles": fresh.roles, "expires_at": expires }));
                send_text(sink, &protocol::reply_frame(cid, &data)).await
            }
            None => Next::Continue,
        }
    }

    async fn error<K>(
        &mut self,
        sink: &mut K,
        cid: Option<&Cid>,
        code: &str,
        message: &str,
        field: Option<&str>,
    ) -> Next
    where
        K: Sink<Message> + Unpin,
    {
        self.hub.counters().error_sent(code);
        send_text(sink, &protocol::error_frame(cid, code, message, field)).await
    }
}

/// Starts the task that applies a connection's room changes in order (see `Runner::room`); it
/// ends with the session, which holds the only sender.
fn room_task(
    hub: Hub,
    conn: Arc<Conn>,
    session: Session,
    capacity: usize,
) -> mpsc::Sender<RoomChange> {
    let (tx, mut rx) = mpsc::channel::<RoomChange>(capacity);
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let answer = change_room(&hub, &conn, &session, c.join, &c.room, c.cid.as_ref()).await;
            if let Some(text) = answer {
                conn.push(Utf8Bytes::from(text));
            }
        }
    });
    tx
}

/// Decides and applies a `$join` (the room policy, then the join within the room bound) or a
/// `$leave`, and returns the frame that answers it: a `$reply` when it has a `cid`, an error
/// frame when refused.
async fn change_room(
    hub: &Hub,
    conn: &Arc<Conn>,
    session: &Session,
    join: bool,
    room: &str,
    cid: Option<&Cid>,
) -> Option<String> {
    let refused = |code: ErrorCode, message: String| {
        hub.counters().error_sent(code.as_str());
        Some(protocol::error_frame(
            cid,
            code.as_str(),
            &message,
            Some("room"),
        ))
    };
    let changed = if join {
        match hub.may_join(conn.principal(), room).await {
            Some(true) => {}
            Some(false) => {
                return refused(ErrorCode::Forbidden, format!("you may not join `{room}`"))
            }
            None => {
                return refused(
                    ErrorCode::Timeout,
                    format!("the server did not decide on `{room}` in time; try again"),
                )
            }
        }
        // The bound again, as one step with the join: the policy may have taken a while.
        let max = hub.limits().max_rooms_per_connection;
        match hub.join_within(conn, room, max) {
            Some(changed) => changed,
            None => {
                return refused(
                    ErrorCode::TooManyRooms,
                    format!("a connection may be in {max} rooms; leave one first"),
                )
            }
        }
    } else {
        session.leave(room)
    };
    let cid = cid?;
    let data = protocol::to_json(&json!({ "room": room, "member": join, "changed": changed }));
    Some(protocol::reply_frame(cid, &data))
}

/// The frame answering a handled request: its `$reply` or `$error` (counted), or — when that
/// is larger than `max_outbound_frame_bytes`, which the socket would refuse and end the
/// connection over — an `internal` error saying so. `None` for a success without a `cid`.
fn answer_frame(
    hub: &Hub,
    event: &str,
    cid: Option<&Cid>,
    outcome: Result<String, HandlerError>,
) -> Option<String> {
    let (text, code) = match (outcome, cid) {
        (Ok(reply), Some(cid)) => (protocol::reply_frame(cid, &reply), None),
        (Ok(_), None) => return None,
        (Err(e), cid) => {
            let text = protocol::error_frame(cid, &e.code, &e.message, e.field.as_deref());
            (text, Some(e.code))
        }
    };
    let limit = hub.limits().max_outbound_frame_bytes;
    if text.len() <= limit {
        if let Some(code) = code {
            hub.counters().error_sent(&code);
        }
        return Some(text);
    }
    tracing::error!(
        event,
        bytes = text.len(),
        limit,
        "a handler's answer is larger than max_outbound_frame_bytes; answered with an internal error"
    );
    let message = format!(
        "the answer is {} bytes; the server sends at most {limit}",
        text.len()
    );
    let internal = ErrorCode::Internal.as_str();
    hub.counters().error_sent(internal);
    Some(protocol::error_frame(cid, internal, &message, None))
}

/// Feeds one queued frame to the sink: in parts where the socket takes it so, as a text
/// message otherwise. `false` when the socket failed.
async fn feed_frame<K>(sink: &mut K, frame: Frame) -> bool
where
    K: Sink<Message> + TextParts + Unpin,
{
    frame.with_parts(|parts| sink.write_text_parts(parts))
        || sink.feed(Message::Text(frame.into_text())).await.is_ok()
}

async fn send_text<K>(sink: &mut K, text: &str) -> Next
where
    K: Sink<Message> + Unpin,
{
    match sink.send(Message::Text(Utf8Bytes::from(text))).await {
        Ok(()) => Next::Continue,
        Err(_) => Next::End(DisconnectReason::TransportError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    /// A stream that counts its polls, yields what `ready` holds, and keeps the waker of its
    /// last poll that found nothing.
    #[derive(Default)]
    struct Probe {
        polls: usize,
        ready: Vec<u32>,
        waker: Option<Waker>,
    }

    impl Stream for Probe {
        type Item = u32;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls += 1;
            match self.ready.pop() {
                Some(item) => Poll::Ready(Some(item)),
                None => {
                    self.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    /// The task's waker: counts its wake-ups.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl std::task::Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The inner stream is polled at the first poll, after its own waker fired and after it
    /// yielded an item — not when the task was woken for something else — and its wake-ups
    /// reach the task.
    #[test]
    fn a_read_side_is_polled_only_once_woken_or_after_an_item() {
        let task = Arc::new(Task::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut stream = WokenOnly::new(Probe::default());
        let mut poll = |stream: &mut WokenOnly<Probe>| Pin::new(stream).poll_next(&mut cx);

        assert!(poll(&mut stream).is_pending());
        assert_eq!(stream.inner.polls, 1, "polled at the first poll");
        assert!(poll(&mut stream).is_pending());
        assert!(poll(&mut stream).is_pending());
        assert_eq!(stream.inner.polls, 1, "not woken: not polled");

        stream.inner.ready.push(7);
        assert!(poll(&mut stream).is_pending(), "ready, but not woken yet");
        stream.inner.waker.take().expect("a waker kept").wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert_eq!(poll(&mut stream), Poll::Ready(Some(7)));
        assert_eq!(stream.inner.polls, 2);
        assert!(poll(&mut stream).is_pending(), "polled again after an item");
        assert_eq!(stream.inner.polls, 3);
        assert!(poll(&mut stream).is_pending());
        assert_eq!(stream.inner.polls, 3);
    }
}
