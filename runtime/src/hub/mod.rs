//! The hub: the registry of live connections, recipient resolution, and emitting events.
//!
//! `mod.rs` holds the two handles — [`Hub`] and [`Session`] — and what they share; each other
//! file is one concern: building ([`builder`]), emitting (`emit.rs`), connections coming and
//! going (`connections.rs`), the backplane's side (`backplane.rs`), the dispatch port
//! (`dispatch.rs`), and below them the registry, streams, connections, outboxes, limits,
//! errors and metrics.

mod backplane;
pub(crate) mod builder;
pub(crate) mod conn;
pub(crate) mod connections;
mod dispatch;
mod emit;
mod error;
mod hooks;
mod limits;
mod metrics;
pub(crate) mod outbox;
mod presence;
mod registry;
pub(crate) mod stream;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use dispatch::HandlerError;
pub(crate) use dispatch::{Dispatch, Started};
pub(crate) use error::RegisterError;
pub use error::{Delivered, EmitError, Emitted, JsonEvent, PreparedEvent};
pub(crate) use hooks::{connect_hook, disconnect_hook, ConnectHook, DisconnectHook};
pub use hooks::{Disconnected, Refusal};
pub(crate) use limits::JoinPolicy;
pub use limits::{Limits, RoomPolicy};
pub(crate) use metrics::{handled, resumed, Counters};
pub use metrics::{DisconnectReason, Metrics};
pub use presence::{Presence, PresentUser, MAX_PRESENCE_USERS};

use crate::auth::AsyncAuthenticator;
use crate::broker::{Broker, BrokerStatus};
use crate::delivery::{History, Position, StreamId};
use crate::event::Event;
use crate::principal::Principal;
use crate::protocol::{encode_body, unnumbered};
use crate::recipients::Recipients;
use conn::Conn;
use registry::Registry;

/// The hub: every live connection, and the way to reach them. Cheap to clone; clones share the
/// same connections.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.inner.registry.len())
            .finish_non_exhaustive()
    }
}

/// What the clones of a hub share; also the node a broker drives (see `backplane.rs`).
struct Inner {
    registry: Registry,
    counters: Counters,
    limits: Limits,
    authenticator: Arc<dyn AsyncAuthenticator>,
    dispatch: Option<Arc<dyn Dispatch<Session>>>,
    room_policy: Option<JoinPolicy>,
    history: History,
    broker: Option<Arc<dyn Broker>>,
    next_conn: AtomicU64,
    /// Set by [`Hub::begin_shutdown`]; sessions look at it when interrupted.
    shutting_down: AtomicBool,
    on_connect: Option<ConnectHook<Session>>,
    on_disconnect: Option<DisconnectHook>,
    /// The presence events announced, in the order registered.
    presence: Vec<presence::Announcer<Hub>>,
    /// The connections' emptied gather buffers, for the next that gathers.
    spare_buffers: Arc<outbox::SpareBuffers>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("connections", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// The gather buffers the hub's connections hand on to one another.
    pub(crate) fn spare_buffers(&self) -> Arc<outbox::SpareBuffers> {
        self.inner.spare_buffers.clone()
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// How many connections on this node `to` selects right now — those an ephemeral event to
    /// `to` would be queued to — without sending anything (the same index lookup as an emit).
    pub fn audience(&self, to: &Recipients) -> usize {
        self.inner.registry.count(to)
    }

    /// Joins every connection of `user` (in its own tenant) to `room`. Returns how many joined.
    pub fn join_user(&self, user_id: &str, room: &str) -> usize {
        self.inner
            .registry
            .user_connections(user_id)
            .iter()
            .filter(|c| {
                self.inner
                    .registry
                    .join_within(c, room, usize::MAX, |live| {
                        self.membership_changed(c, room, true, live);
                    })
                    .unwrap_or(false)
            })
            .count()
    }

    /// Removes every connection of `user` from `room`. Returns how many left.
    pub fn leave_user(&self, user_id: &str, room: &str) -> usize {
        self.inner
            .registry
            .user_connections(user_id)
            .iter()
            .filter(|c| {
                self.inner.registry.leave(c, room, |live| {
                    self.membership_changed(c, room, false, live)
                })
            })
            .count()
    }

    /// Who is in `room` of `tenant` on this node (`None`: connections without a tenant): its
    /// users, each with its connections there, and the totals (lists cut at
    /// [`MAX_PRESENCE_USERS`]). One index lookup, like resolving an emit to the room.
    pub fn local_presence(&self, room: &str, tenant: Option<&str>) -> Presence {
        let members = self.inner.registry.room_members(tenant, room);
        Presence::of(members.iter().map(String::as_str))
    }

    /// Who is in `room` of `tenant` on every node: with a backplane that shares presence (the
    /// Redis one does), its view of every live node's connections; otherwise this node's, as
    /// [`Hub::local_presence`].
    ///
    /// # Errors
    /// When the backplane cannot be asked (Redis unreachable).
    pub async fn presence(
        &self,
        room: &str,
        tenant: Option<&str>,
    ) -> Result<Presence, crate::broker::BrokerError> {
        if let Some(broker) = &self.inner.broker {
            if let Some(members) = broker.room_members(tenant, room).await? {
                return Ok(Presence::of(members.iter().map(String::as_str)));
            }
        }
        Ok(self.local_presence(room, tenant))
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
        // Set before the sessions are interrupted: one that looks after its interruption, or
        // starts its loop later, sees it (`Conn::next_signal`).
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for conn in self.inner.registry.all_connections() {
            conn.interrupt();
        }
    }

    /// Waits until this node has no session left, or `within` has passed; returns how many
    /// are left. After [`begin_shutdown`](Self::begin_shutdown) the sessions deliver what is
    /// queued and close with 1001 (going away). An HTTP server that hands its upgrades to the
    /// hub, as axum does, returns before they have: await this before the process exits, or
    /// clients see their connections dropped without a close frame.
    pub async fn sessions_ended(&self, within: std::time::Duration) -> usize {
        let _ = tokio::time::timeout(within, async {
            while self.connection_count() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        self.connection_count()
    }

    /// Waits until the backplane holds every event this node handed it, or `within` has
    /// passed; returns how many it does not hold (0 without a backplane). An emit through a
    /// backplane returns once the event is queued for it: a process stopping while Redis is
    /// away would lose what is queued. Await this before the process exits (after
    /// [`sessions_ended`](Self::sessions_ended)), and log what is left as lost.
    pub async fn backplane_flushed(&self, within: std::time::Duration) -> usize {
        let Some(broker) = &self.inner.broker else {
            return 0;
        };
        let _ = tokio::time::timeout(within, async {
            while broker.unpublished() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        broker.unpublished()
    }

    /// How many delivery streams this node holds (live users, and offline users whose stream
    /// is retained for replay).
    pub fn stream_count(&self) -> usize {
        self.inner.registry.streams().len()
    }

    /// The position of a delivery stream on this node, if it holds it: its epoch and the last
    /// number it gave. An event queued to a user's only connection is numbered when that
    /// connection's session takes it from its queue (docs/delivery.md, "The delivery
    /// stream"), so just after an emit the position may not count it yet.
    pub fn stream_position(&self, id: &StreamId) -> Option<Position> {
        self.inner.registry.stream(id).map(|s| s.position())
    }

    /// The backplane's state: `None` without one.
    pub fn broker_status(&self) -> Option<BrokerStatus> {
        self.inner.broker.as_ref().map(|b| b.status())
    }

    /// The counters, for the connection loop to count what it does.
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Whether the hub has begun shutting down ([`Hub::begin_shutdown`]).
    pub(crate) fn shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether the room policy lets `principal` join `room` by asking (`$join`): `None` when
    /// it did not decide within [`Limits::join_timeout`]; false without a policy.
    pub(crate) async fn may_join(&self, principal: Arc<Principal>, room: &str) -> Option<bool> {
        match &self.inner.room_policy {
            None => Some(false),
            Some(JoinPolicy::Sync(policy)) => Some(policy(&principal, room)),
            Some(JoinPolicy::Async(policy)) => {
                let decided = policy(principal, room.to_owned());
                tokio::time::timeout(self.inner.limits.join_timeout, decided)
                    .await
                    .ok()
            }
        }
    }

    /// Whether the room policy is asynchronous: `$join`s (and, after them, `$leave`s) are then
    /// decided off the session's loop.
    pub(crate) fn decides_joins_async(&self) -> bool {
        matches!(self.inner.room_policy, Some(JoinPolicy::Async(_)))
    }

    /// Joins `conn` to `room` unless it is in `max` rooms already (`None`); `Some(false)`
    /// when it was in the room, or has ended.
    pub(crate) fn join_within(&self, conn: &Arc<Conn>, room: &str, max: usize) -> Option<bool> {
        self.inner.registry.join_within(conn, room, max, |live| {
            self.membership_changed(conn, room, true, live);
        })
    }

    /// What routes the events clients send, if the hub has a router.
    pub(crate) fn dispatcher(&self) -> Option<Arc<dyn Dispatch<Session>>> {
        self.inner.dispatch.clone()
    }

    /// The authenticator, for in-band refreshes (`$auth`).
    pub(crate) fn authenticator(&self) -> &dyn AsyncAuthenticator {
        self.inner.authenticator.as_ref()
    }

    /// Replaces a live connection's principal by `fresh` (same user and tenant), moving the
    /// connection between the role indexes as its roles changed.
    pub(crate) fn set_principal(&self, conn: &Arc<Conn>, fresh: &Principal) {
        let registry = &self.inner.registry;
        let old = conn.set_principal(fresh.clone());
        for role in old.roles.iter().filter(|r| !fresh.has_role(r)) {
            registry.remove_role(conn, role);
        }
        for role in fresh.roles.iter().filter(|r| !old.has_role(r)) {
            registry.add_role(conn, role);
        }
    }
}

/// A live connection, as handlers see it: its identity, its rooms, and a way to send to it.
#[derive(Clone)]
pub struct Session {
    hub: Hub,
    conn: Arc<Conn>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.conn.id)
            .field("user", &self.conn.user())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The handle of a registered connection.
    pub(crate) fn new(hub: Hub, conn: Arc<Conn>) -> Session {
        Session { hub, conn }
    }

    /// The session id, unique in this process; also sent to the client in `$connected`.
    pub fn id(&self) -> u64 {
        self.conn.id
    }

    /// Who is connected (after any in-band refresh).
    pub fn principal(&self) -> Arc<Principal> {
        self.conn.principal()
    }

    /// The hub the session belongs to.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Joins a room of the connection's tenant. Returns false when already in it, or when the
    /// connection has ended.
    pub fn join(&self, room: &str) -> bool {
        self.hub.join_within(&self.conn, room, usize::MAX) == Some(true)
    }

    /// Leaves a room. Returns false when not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.hub.inner.registry.leave(&self.conn, room, |live| {
            self.hub.membership_changed(&self.conn, room, false, live);
        })
    }

    /// The rooms the connection is in.
    pub fn rooms(&self) -> Vec<String> {
        self.conn.rooms()
    }

    /// Sends an event to this connection only, without a sequence number: it is not part of
    /// the user's delivery stream and is never replayed.
    ///
    /// # Errors
    /// When the event violates a constraint, cannot be serialized or its frame is larger than
    /// [`Limits::max_outbound_frame_bytes`].
    pub fn send<E: Event>(&self, event: &E) -> Result<(), EmitError> {
        let (_, body) = encode_body(event)?;
        self.hub.inner.fits(E::NAME, &body, false)?;
        self.conn.push(Utf8Bytes::from(unnumbered(&body)));
        Ok(())
    }
}
