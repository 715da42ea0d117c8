//! The hub: the registry of live connections, recipient resolution, and emitting events.

pub(crate) mod conn;
mod error;
mod limits;
mod metrics;
mod outbox;
mod registry;
pub(crate) mod stream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub(crate) use error::RegisterError;
pub use error::{Delivered, EmitError};
pub use limits::{Limits, RoomPolicy};
pub use metrics::{DisconnectReason, Metrics};

use crate::auth::{Authenticator, DenyAll};
use crate::broker::{Broker, Envelope};
use crate::delivery::{History, Position, StreamId};
use crate::event::Event;
use crate::ids;
use crate::protocol::{encode_body, unnumbered};
use crate::router::{Dispatch, Router};
use crate::schema::{Delivery, Direction};
use crate::{Principal, Recipients};
use conn::{Conn, Push};
use metrics::Counters;
use registry::Registry;
use stream::UserStream;

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
    pub(crate) history: History,
    pub(crate) broker: Option<Arc<dyn Broker>>,
    next_conn: AtomicU64,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("connections", &self.registry.len())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Hub`].
#[must_use]
pub struct HubBuilder {
    limits: Limits,
    authenticator: Arc<dyn Authenticator>,
    dispatch: Option<Arc<dyn Dispatch>>,
    room_policy: Option<RoomPolicy>,
    history: History,
    broker: Option<Arc<dyn Broker>>,
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

    /// How much history each user's delivery stream keeps for replay (default: 256 events,
    /// 5 minutes).
    pub fn history(mut self, history: History) -> HubBuilder {
        self.history = history;
        self
    }

    /// The backplane that joins this node to others (default: none — this process is the
    /// whole system, and delivery streams live in its memory).
    pub fn broker(mut self, broker: impl Broker) -> HubBuilder {
        self.broker = Some(Arc::new(broker));
        self
    }

    /// The hub. When a tokio runtime is running, a task sweeps expired delivery streams, and
    /// the broker (if any) starts.
    pub fn build(self) -> Hub {
        let hub = Hub {
            inner: Arc::new(Inner {
                registry: Registry::new(),
                counters: Counters::default(),
                limits: self.limits,
                authenticator: self.authenticator,
                dispatch: self.dispatch,
                room_policy: self.room_policy,
                history: self.history,
                broker: self.broker,
                next_conn: AtomicU64::new(1),
                shutdown: watch::channel(false).0,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            hub.spawn_sweeper();
            if let Some(broker) = &hub.inner.broker {
                broker.start(crate::broker::Node::new(&hub));
            }
        }
        hub
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
            history: History::default(),
            broker: None,
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
        let (id, body) = encode_body(event)?;
        Counters::add(&self.inner.counters.events_emitted, 1);
        let durable = E::DELIVERY == Delivery::Durable;
        if let Some(broker) = &self.inner.broker {
            let envelope = Envelope {
                origin: ids::node_id(),
                event_id: id,
                durable,
                recipients: to.clone(),
                body: Arc::from(body),
            };
            broker
                .forward(envelope)
                .map_err(|source| EmitError::Unavailable {
                    event: E::NAME,
                    source,
                })?;
            return Ok(Delivered {
                forwarded: true,
                ..Delivered::default()
            });
        }
        let delivered = if durable {
            self.deliver_durable(to, Arc::from(body), true)
        } else {
            self.deliver_ephemeral(to, &body)
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
        self.count_delivered(delivered);
        Ok(delivered)
    }

    pub(crate) fn count_delivered(&self, delivered: Delivered) {
        Counters::add(
            &self.inner.counters.frames_delivered,
            delivered.connections as u64,
        );
        Counters::add(
            &self.inner.counters.frames_dropped,
            delivered.dropped as u64,
        );
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

    /// Queues an ephemeral event to the connections `to` selects on this node.
    pub(crate) fn deliver_ephemeral(&self, to: &Recipients, body: &str) -> Delivered {
        let conns = self.inner.registry.resolve(to);
        self.push_all(conns.iter(), &Utf8Bytes::from(unnumbered(body)))
    }

    /// The delivery streams a durable event goes to on this node: those of the users with a
    /// selected connection, and (when `offline` is set) those of users named by id who have no
    /// connection but whose stream is retained, in the event's tenant.
    pub(crate) fn durable_streams(&self, to: &Recipients, offline: bool) -> Vec<Arc<UserStream>> {
        let conns = self.inner.registry.resolve(to);
        let key = |s: &Arc<UserStream>| Arc::as_ptr(s) as usize;
        let mut streams: Vec<Arc<UserStream>> = conns.iter().map(|c| c.stream.clone()).collect();
        drop(conns);
        streams.sort_unstable_by_key(key);
        streams.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let resolved = streams.len();
        if offline {
            let tenant = match to.scope() {
                crate::Scope::Tenant(t) => Some(t.as_str()),
                _ => None,
            };
            for user in to.users() {
                if to.excluded().contains(user) {
                    continue;
                }
                for stream in self.inner.registry.streams_of(user) {
                    if streams[..resolved]
                        .binary_search_by_key(&key(&stream), key)
                        .is_ok()
                        || streams[resolved..].iter().any(|s| Arc::ptr_eq(s, &stream))
                        || tenant.is_some_and(|t| stream.id.tenant.as_deref() != Some(t))
                    {
                        continue;
                    }
                    let reachable = {
                        let st = stream.lock();
                        st.conns.is_empty() && !st.dead
                    };
                    if reachable {
                        streams.push(stream);
                    }
                }
            }
        }
        streams
    }

    /// Numbers a durable event in each recipient user's stream and queues it to every
    /// connection of those users, under each stream's lock (see [`stream`]).
    fn deliver_durable(&self, to: &Recipients, body: Arc<str>, offline: bool) -> Delivered {
        let now = Instant::now();
        let mut d = Delivered::default();
        let mut frames = stream::FrameSlab::new(body.len());
        for stream in self.durable_streams(to, offline) {
            let mut st = stream.lock();
            if st.dead {
                continue;
            }
            let next = st.seq + 1;
            let frame = frames.numbered(next, &body);
            let part = st.deliver_frame(next, body.clone(), frame, &self.inner.history, now);
            d.connections += part.connections;
            d.dropped += part.dropped;
        }
        d
    }

    /// How many connections on this node `to` selects right now — those an ephemeral event to
    /// `to` would be queued to — without sending anything (the same index lookup as an emit).
    pub fn audience(&self, to: &Recipients) -> usize {
        self.inner.registry.resolve(to).len()
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

    /// Registers a connection: attaches it to its user's delivery stream — replaying what it
    /// missed since `resume`, under the stream's lock so that no live event overtakes the
    /// replay — then indexes it. Returns the connection and the stream's position at that
    /// moment (what `$connected` reports).
    pub(crate) async fn register(
        &self,
        principal: Principal,
        resume: Option<&Position>,
    ) -> Result<(Arc<Conn>, Position), RegisterError> {
        let history = self.inner.history;
        let id = StreamId {
            tenant: principal.tenant.clone(),
            user: principal.user_id.clone(),
        };
        let stream = loop {
            let stream = self
                .inner
                .registry
                .stream_or_new(&id, self.inner.broker.is_none());
            if let Some(broker) = &self.inner.broker {
                crate::broker::hydrate(broker.as_ref(), &stream, &history)
                    .await
                    .map_err(RegisterError::Unavailable)?;
            }
            if !stream.lock().dead {
                break stream;
            }
        };
        let conn = Arc::new(Conn::new(
            self.inner.next_conn.fetch_add(1, Ordering::Relaxed),
            principal,
            stream.clone(),
            self.inner.limits.outbound_queue,
        ));
        let position = {
            let mut st = stream.lock();
            if st.conns.len() >= self.inner.limits.max_connections_per_user {
                return Err(RegisterError::TooManyConnections);
            }
            let now = Instant::now();
            st.conns.push(conn.clone());
            st.active = now;
            if let Some(from) = resume {
                st.replay(&conn, from, &history, now);
            }
            Position {
                epoch: st.epoch.clone(),
                seq: st.seq,
            }
        };
        self.inner.registry.index(&conn);
        Counters::add(&self.inner.counters.connections_open, 1);
        Counters::add(&self.inner.counters.connections_total, 1);
        Ok((conn, position))
    }

    pub(crate) fn unregister(&self, conn: &Arc<Conn>, reason: DisconnectReason) {
        self.inner.registry.remove(conn);
        let empty = {
            let mut st = conn.stream.lock();
            st.conns.retain(|c| c.id != conn.id);
            st.active = Instant::now();
            st.conns.is_empty()
        };
        // With a backplane the history lives there; this node keeps streams only for the
        // users it serves.
        if empty && self.inner.broker.is_some() {
            self.inner
                .registry
                .drop_stream_if(&conn.stream.id, |st| !st.conns.is_empty());
        }
        conn.outbox.close();
        self.inner.counters.disconnected(reason);
    }

    /// Drops the delivery streams that have outlived their last connection and last event by
    /// the history's age. Runs periodically on its own when the hub was built in a runtime.
    pub fn sweep(&self) -> usize {
        let history = self.inner.history;
        let now = Instant::now();
        let mut dropped = 0;
        for stream in self.inner.registry.streams() {
            let idle = {
                let mut st = stream.lock();
                st.trim(&history, now);
                st.conns.is_empty()
                    && st.history.is_empty()
                    && now.duration_since(st.active) > history.max_age
            };
            if idle
                && self.inner.registry.drop_stream_if(&stream.id, |st| {
                    !st.conns.is_empty()
                        || !st.history.is_empty()
                        || now.duration_since(st.active) <= history.max_age
                })
            {
                dropped += 1;
            }
        }
        dropped
    }

    /// How many delivery streams this node holds (live users, and offline users whose stream
    /// is retained for replay).
    pub fn stream_count(&self) -> usize {
        self.inner.registry.streams().len()
    }

    /// The position of a delivery stream on this node, if it holds it.
    pub fn stream_position(&self, id: &StreamId) -> Option<Position> {
        self.inner.registry.stream(id).map(|s| s.position())
    }

    fn spawn_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let every =
            (self.inner.history.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Hub { inner }.sweep();
            }
        });
    }

    /// The backplane's state: `None` without one.
    pub fn broker_status(&self) -> Option<crate::broker::BrokerStatus> {
        self.inner.broker.as_ref().map(|b| b.status())
    }
}
