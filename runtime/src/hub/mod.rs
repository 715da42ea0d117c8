//! The hub: the registry of live connections, recipient resolution, and emitting events.

pub(crate) mod conn;
pub(crate) mod ids;
mod metrics;
mod outbox;
mod registry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use metrics::{DisconnectReason, Metrics};

use crate::auth::{Authenticator, DenyAll};
use crate::event::{Event, Violation};
use crate::protocol;
use crate::router::{Dispatch, Router};
use crate::schema::{Delivery, Direction};
use crate::{Principal, Recipients};
use conn::{Conn, Push};
use metrics::Counters;
use registry::Registry;

/// Validates and serializes an event into the body of its frame: everything after the optional
/// per-user `"seq":N,` prefix (see [`numbered`], [`unnumbered`]).
pub(crate) fn encode_body<E: Event>(event: &E) -> Result<String, EmitError> {
    event.validate().map_err(|violation| EmitError::Invalid {
        event: E::NAME,
        violation,
    })?;
    let data = serde_json::to_string(event).map_err(|source| EmitError::Serialize {
        event: E::NAME,
        source,
    })?;
    Ok(protocol::event_body(
        E::NAME,
        &ids::next(),
        &protocol::rfc3339(SystemTime::now()),
        &data,
    ))
}

/// The frame of an event outside any stream: `{` and the body.
pub(crate) fn unnumbered(body: &str) -> String {
    let mut frame = String::with_capacity(body.len() + 1);
    frame.push('{');
    frame.push_str(body);
    frame
}

/// `{"seq":N,` followed by the shared body, in one allocation of the exact size.
fn numbered(seq: u64, body: &str) -> String {
    use std::fmt::Write as _;
    let mut frame = String::with_capacity(body.len() + 28);
    frame.push_str("{\"seq\":");
    let _ = write!(frame, "{seq}");
    frame.push(',');
    frame.push_str(body);
    frame
}

/// Limits that keep every connection, and so the server, bounded. Each has a documented
/// consequence (docs/protocol.md, "Limits").
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Largest inbound message, in bytes; larger closes the session with
    /// [`close::MESSAGE_TOO_BIG`](protocol::close::MESSAGE_TOO_BIG). Default 64 KiB.
    pub max_frame_bytes: usize,
    /// Frames queued for one connection; when full, the connection is cut off with
    /// [`close::SLOW_CONSUMER`](protocol::close::SLOW_CONSUMER). Default 1024.
    pub outbound_queue: usize,
    /// Connections one user may hold; more are refused with HTTP 429 (or closed with
    /// [`close::TOO_MANY_CONNECTIONS`](protocol::close::TOO_MANY_CONNECTIONS)). Default 16.
    pub max_connections_per_user: usize,
    /// Sustained inbound frames per second per connection (token bucket refill). Default 20.
    pub rate_per_second: u32,
    /// Inbound frames a connection may send in a burst. Default 40.
    pub rate_burst: u32,
    /// Frames dropped for rate in a row before the session is closed with
    /// [`close::RATE_LIMITED`](protocol::close::RATE_LIMITED). Default 100.
    pub flood_close_after: u32,
    /// Requests of one connection handled at once; more get a `busy` error. Default 32.
    pub max_in_flight: usize,
    /// How often the server sends `$ping`. Default 25 s.
    pub heartbeat_interval: Duration,
    /// How long the server waits for any frame before closing with
    /// [`close::HEARTBEAT_TIMEOUT`](protocol::close::HEARTBEAT_TIMEOUT). Default 60 s.
    pub heartbeat_timeout: Duration,
    /// Bytes of tungstenite's read buffer per connection. Default 4 KiB.
    pub read_buffer_bytes: usize,
    /// How long graceful shutdown waits for sessions to drain their queues. Default 5 s.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            outbound_queue: 1024,
            max_connections_per_user: 16,
            rate_per_second: 20,
            rate_burst: 40,
            flood_close_after: 100,
            max_in_flight: 32,
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(60),
            read_buffer_bytes: 4 * 1024,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Decides whether a principal may join a room when its client asks to (`$join`).
pub type RoomPolicy = Arc<dyn Fn(&Principal, &str) -> bool + Send + Sync>;

/// Why an emit failed. Nothing was delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event is one clients send; the server cannot emit it.
    #[error("`{0}` is sent by clients; the server cannot emit it")]
    WrongDirection(&'static str),
    /// The event violates a declared constraint.
    #[error("`{event}` violates a constraint: {violation}")]
    Invalid {
        /// The event.
        event: &'static str,
        /// What is violated.
        violation: Violation,
    },
    /// Role, room or everyone rules without a tenant or platform scope.
    #[error("`{0}` selects roles, rooms or everyone without a scope: add `in_tenant(..)` or `across_platform()`")]
    MissingScope(&'static str),
    /// The payload could not be serialized.
    #[error("`{event}` could not be serialized: {source}")]
    Serialize {
        /// The event.
        event: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// What an emit reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Connections the frame was queued to.
    pub connections: usize,
    /// Connections whose queue was full (they are being cut off as slow consumers).
    pub dropped: usize,
}

/// The hub: every live connection, and the way to reach them. Cheap to clone; clones share the
/// same connections.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.inner.registry.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) counters: Counters,
    pub(crate) limits: Limits,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) dispatch: Option<Arc<dyn Dispatch>>,
    pub(crate) room_policy: Option<RoomPolicy>,
    next_conn: AtomicU64,
    pub(crate) shutdown: watch::Sender<bool>,
}

/// Configures a [`Hub`].
#[must_use]
pub struct HubBuilder {
    limits: Limits,
    authenticator: Arc<dyn Authenticator>,
    dispatch: Option<Arc<dyn Dispatch>>,
    room_policy: Option<RoomPolicy>,
}

impl std::fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubBuilder")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl HubBuilder {
    /// How connections are authenticated (default: every connection is refused).
    pub fn authenticator(mut self, a: impl Authenticator) -> HubBuilder {
        self.authenticator = Arc::new(a);
        self
    }

    /// The router of events clients send.
    pub fn router<S: Clone + Send + Sync + 'static>(mut self, router: Router<S>) -> HubBuilder {
        self.dispatch = Some(Arc::new(router));
        self
    }

    /// Which rooms a client may join by asking (`$join`). Without a policy, every request is
    /// refused; the server can always join connections to rooms itself.
    pub fn allow_join(
        mut self,
        policy: impl Fn(&Principal, &str) -> bool + Send + Sync + 'static,
    ) -> HubBuilder {
        self.room_policy = Some(Arc::new(policy));
        self
    }

    /// The limits.
    pub fn limits(mut self, limits: Limits) -> HubBuilder {
        self.limits = limits;
        self
    }

    /// The hub.
    pub fn build(self) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                registry: Registry::new(),
                counters: Counters::default(),
                limits: self.limits,
                authenticator: self.authenticator,
                dispatch: self.dispatch,
                room_policy: self.room_policy,
                next_conn: AtomicU64::new(1),
                shutdown: watch::channel(false).0,
            }),
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::builder().build()
    }
}

impl Hub {
    /// A hub with default limits, no router, and no authenticator (every connection refused).
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Configures a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            limits: Limits::default(),
            authenticator: Arc::new(DenyAll),
            dispatch: None,
            room_policy: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Emits an event to the recipients its declared rules select.
    ///
    /// The payload is serialized once, whatever the number of recipients; the frame is queued to
    /// each recipient connection without waiting. Durable events are numbered in each recipient
    /// user's delivery stream.
    ///
    /// # Errors
    /// When the event is one clients send, violates a constraint, or its rules lack a scope.
    pub fn emit<E: Event>(&self, event: &E) -> Result<Delivered, EmitError> {
        self.emit_to(event, &event.recipients())
    }

    /// Emits an event to explicit recipients, ignoring its declared rules.
    ///
    /// # Errors
    /// As [`Hub::emit`].
    pub fn emit_to<E: Event>(&self, event: &E, to: &Recipients) -> Result<Delivered, EmitError> {
        if E::DIRECTION == Direction::ClientToServer {
            return Err(EmitError::WrongDirection(E::NAME));
        }
        if to.lacks_scope() {
            return Err(EmitError::MissingScope(E::NAME));
        }
        let body = encode_body(event)?;
        let conns = self.inner.registry.resolve(to);
        Counters::add(&self.inner.counters.events_emitted, 1);
        let delivered = match E::DELIVERY {
            Delivery::Ephemeral => self.push_all(conns.iter(), &Utf8Bytes::from(unnumbered(&body))),
            Delivery::Durable => self.push_numbered(conns, &body),
        };
        tracing::trace!(
            event = E::NAME,
            connections = delivered.connections,
            dropped = delivered.dropped,
            "emitted"
        );
        if delivered.dropped > 0 {
            tracing::debug!(
                event = E::NAME,
                dropped = delivered.dropped,
                "slow consumers cut off"
            );
        }
        Counters::add(
            &self.inner.counters.frames_delivered,
            delivered.connections as u64,
        );
        Counters::add(
            &self.inner.counters.frames_dropped,
            delivered.dropped as u64,
        );
        Ok(delivered)
    }

    fn push_all<'a>(
        &self,
        conns: impl Iterator<Item = &'a Arc<Conn>>,
        frame: &Utf8Bytes,
    ) -> Delivered {
        let mut d = Delivered::default();
        for c in conns {
            match c.push(frame.clone()) {
                Push::Queued => d.connections += 1,
                Push::Dropped => d.dropped += 1,
                Push::Gone => {}
            }
        }
        d
    }

    /// Queues a durable event: one sequence number per recipient user, shared by that user's
    /// connections, assigned and queued under the stream's lock so that every connection sees
    /// its user's stream in order.
    fn push_numbered(&self, mut conns: Vec<Arc<Conn>>, body: &str) -> Delivered {
        conns.sort_unstable_by_key(|c| Arc::as_ptr(&c.stream) as usize);
        let mut d = Delivered::default();
        for group in conns.chunk_by(|a, b| Arc::ptr_eq(&a.stream, &b.stream)) {
            let stream = &group[0].stream;
            let mut seq = stream
                .seq
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *seq += 1;
            let frame = Utf8Bytes::from(numbered(*seq, body));
            let part = self.push_all(group.iter(), &frame);
            drop(seq);
            d.connections += part.connections;
            d.dropped += part.dropped;
        }
        d
    }

    /// Joins every connection of `user` (in its own tenant) to `room`. Returns how many joined.
    pub fn join_user(&self, user_id: &str, room: &str) -> usize {
        self.inner
            .registry
            .user_connections(user_id)
            .iter()
            .filter(|c| self.inner.registry.join(c, room))
            .count()
    }

    /// Removes every connection of `user` from `room`. Returns how many left.
    pub fn leave_user(&self, user_id: &str, room: &str) -> usize {
        self.inner
            .registry
            .user_connections(user_id)
            .iter()
            .filter(|c| self.inner.registry.leave(c, room))
            .count()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// How many connections `user` holds.
    pub fn user_connection_count(&self, user_id: &str) -> usize {
        self.inner.registry.user_connection_count(user_id)
    }

    /// The counters.
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.snapshot()
    }

    /// Asks every session to close with "going away" after draining its queue.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Registers a connection with its outbound queue.
    pub(crate) fn register(
        &self,
        principal: Principal,
    ) -> Result<Arc<Conn>, registry::TooManyConnections> {
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = self.inner.registry.insert(
            id,
            principal,
            self.inner.limits.outbound_queue,
            self.inner.limits.max_connections_per_user,
        )?;
        Counters::add(&self.inner.counters.connections_open, 1);
        Counters::add(&self.inner.counters.connections_total, 1);
        Ok(conn)
    }

    pub(crate) fn unregister(&self, conn: &Arc<Conn>, reason: DisconnectReason) {
        self.inner.registry.remove(conn);
        conn.outbox.close();
        self.inner.counters.disconnected(reason);
    }
}
