//! Brokers: what joins several server processes (nodes) into one system.
//!
//! Without a broker, a [`Hub`](crate::Hub) is the whole system: it resolves recipients against its own
//! connections and keeps every user's delivery stream (sequence and history) in memory — the
//! in-memory default. With a broker ([`HubBuilder::broker`](crate::HubBuilder::broker)), an
//! emitted event is handed to the broker, which brings it to every node; each node resolves the
//! recipients against its own connections, and the broker numbers durable events in each
//! recipient user's stream, keeps the history, and brings the numbered frames to the nodes that
//! serve the user. A client that reconnects to another node resumes from the shared stream.
//!
//! [`RedisBroker`](redis::RedisBroker) (feature `redis`) is the implementation that ships; the
//! trait is public so that another transport can be added without touching the hub.
//! docs/delivery.md states the guarantees.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use crate::delivery::StreamId;
use crate::delivery::{History, Position};
use crate::recipients::{Recipients, Scope};

#[cfg(feature = "redis")]
pub mod redis;

/// An emitted event on its way between nodes: encoded once, resolved by each node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The node that emitted it.
    pub origin: String,
    /// The event's id (also inside `body`); durable events are numbered once per user and id.
    pub event_id: String,
    /// Whether the event is durable (numbered, stored, replayed).
    pub durable: bool,
    /// Who receives it.
    pub recipients: Recipients,
    /// The frame's body: everything after the optional `{"seq":N,` prefix.
    pub body: Arc<str>,
}

/// A connection of this node in a room: what a broker shares for presence across nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The room's tenant (`None`: a connection without one).
    pub tenant: Option<String>,
    /// The room.
    pub room: String,
    /// The connection's session id on this node.
    pub connection: u64,
    /// The connection's user.
    pub user: String,
}

/// A user's stream to number a durable event in, as one node resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The stream.
    pub stream: StreamId,
    /// The user has no connection on this node; the event is named for them by id and is kept
    /// only if the broker still retains their stream.
    pub offline: bool,
}

/// A delivery stream as the broker holds it: its position and the events still replayable, in
/// order, each with its age.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stream's epoch and last sequence number.
    pub position: Position,
    /// `(seq, age, body)` of the newest events, oldest first, contiguous up to `position.seq`.
    pub events: Vec<(u64, Duration, Arc<str>)>,
}

/// What a node did with a numbered frame the broker brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Queued to the user's connections on this node.
    Delivered,
    /// Already delivered (a duplicate after a reconnect); ignored.
    Duplicate,
    /// Frames between the node's last and this one are missing: fetch from `after + 1` and
    /// apply them first.
    Gap {
        /// The last sequence number the node delivered.
        after: u64,
    },
    /// Held until the stream's snapshot arrives.
    Held,
    /// This node serves no connection of the user.
    NotHere,
}

/// Why a broker could not do something.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker's outbound queue is full (it is disconnected and has been for a while).
    #[error("the backplane's queue is full ({0} events waiting); it is disconnected or too slow")]
    QueueFull(usize),
    /// The backing service failed or cannot be reached.
    #[error("the backplane failed: {0}")]
    Backend(String),
}

/// Whether a broker is working.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerStatus {
    /// Connected; events flow.
    Healthy,
    /// Disconnected since `since`: events are queued (up to a bound) and new connections are
    /// refused with close code 1013 until it recovers; streams are reconciled afterwards.
    Degraded {
        /// What failed.
        reason: String,
        /// When it started.
        since: std::time::SystemTime,
    },
}

/// A backplane between nodes. See the module documentation.
pub trait Broker: Send + Sync + 'static {
    /// Starts the broker's tasks for this node; called once, by [`HubBuilder::build`](crate::HubBuilder::build)
    /// inside a tokio runtime.
    fn start(&self, node: Node);

    /// Takes an emitted event to every node (this one included), without waiting.
    ///
    /// # Errors
    /// When it cannot take the event; the emit then fails and nothing is sent.
    fn forward(&self, envelope: Envelope) -> Result<(), BrokerError>;

    /// The user's stream as the broker holds it, created (with a new epoch) when it holds none.
    fn snapshot<'a>(&'a self, stream: &'a StreamId)
        -> BoxFuture<'a, Result<Snapshot, BrokerError>>;

    /// Whether the broker is working.
    fn status(&self) -> BrokerStatus;

    /// How many events [`forward`](Self::forward) took that the backend does not hold yet
    /// (queued, or being written): what a process stopping now would lose. The default
    /// holds none.
    fn unpublished(&self) -> usize {
        0
    }

    /// A connection of this node joined (`true`) or left a room, for presence across nodes.
    /// Called under no lock and without waiting: queue it. The default shares nothing.
    fn presence_changed(&self, membership: &Membership, joined: bool) {
        let _ = (membership, joined);
    }

    /// The users in a room across every node, one entry per connection; `None` when the broker
    /// shares no presence (the hub then answers with its own connections).
    fn room_members<'a>(
        &'a self,
        tenant: Option<&'a str>,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, BrokerError>> {
        let _ = (tenant, room);
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// The calls a broker makes back into its node, behind [`Node`]: the hub implements them
/// (`hub/backplane.rs`), and a broker sees nothing else of the hub.
pub(crate) trait NodeEvents: Send + Sync {
    /// The history bounds the hub was built with.
    fn history(&self) -> History;

    /// Takes an envelope that reached this node: an ephemeral event is queued to the
    /// connections it selects here; for a durable one, returns the streams of the users it
    /// selects here.
    fn receive(&self, envelope: &Envelope) -> Vec<Target>;

    /// As [`Node::apply_run`], the stream given by its tenant and user.
    fn apply_run(
        &self,
        tenant: Option<&str>,
        user: &str,
        epoch: &str,
        first: u64,
        bodies: &mut dyn Iterator<Item = Arc<str>>,
    ) -> Applied;

    /// As [`Node::positions`].
    fn positions(&self) -> Vec<(StreamId, Position)>;

    /// As [`Node::holds_streams`].
    fn holds_streams(&self) -> bool;

    /// As [`Node::restart`].
    fn restart(&self, stream: &StreamId, position: &Position, reason: &str);

    /// As [`Node::memberships`].
    fn memberships(&self) -> Vec<Membership>;
}

/// A node's side of a broker: the hub, as a broker drives it. Holds the hub weakly: when the hub
/// is dropped, [`Node::is_alive`] turns false and the broker's tasks should end.
#[derive(Clone)]
pub struct Node {
    events: Weak<dyn NodeEvents>,
    id: String,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Node {
    /// The node of the hub behind `events`, with this process's node id.
    pub(crate) fn new(events: Weak<dyn NodeEvents>) -> Node {
        Node {
            events,
            id: crate::ids::node_id(),
        }
    }

    /// This node's id, the `origin` of the envelopes it sends.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the hub still exists.
    pub fn is_alive(&self) -> bool {
        self.events.strong_count() > 0
    }

    /// The history bounds the hub was built with.
    pub fn history(&self) -> History {
        self.events
            .upgrade()
            .map(|e| e.history())
            .unwrap_or_default()
    }

    /// Takes an envelope that reached this node: ephemeral events are queued to the selected
    /// connections here; for durable events, returns the streams to number it in.
    pub fn receive(&self, envelope: &Envelope) -> Vec<Target> {
        let Some(events) = self.events.upgrade() else {
            return Vec::new();
        };
        let mut targets = events.receive(envelope);
        if envelope.durable && envelope.origin == self.id {
            let tenant = match envelope.recipients.scope() {
                Scope::Tenant(t) => Some(t.clone()),
                _ => None,
            };
            for user in envelope.recipients.users() {
                let stream = StreamId {
                    tenant: tenant.clone(),
                    user: user.clone(),
                };
                if envelope.recipients.excluded().contains(user)
                    || targets.iter().any(|t| t.stream == stream)
                {
                    continue;
                }
                targets.push(Target {
                    stream,
                    offline: true,
                });
            }
        }
        targets
    }

    /// As [`receive`](Self::receive), for an envelope read in one batch after `previous` (an
    /// envelope and the targets this node resolved it to): a durable envelope with the same
    /// recipients as `previous`, and emitted here if and only if `previous` was, selects the
    /// streams `previous` selected, as resolving both at one instant would, so those are shared
    /// rather than resolved again. A burst of broadcasts read together is resolved once, not
    /// once per event and recipient. Otherwise the envelope is resolved on its own.
    pub fn receive_after(
        &self,
        envelope: &Envelope,
        previous: Option<(&Envelope, &Arc<[Target]>)>,
    ) -> Arc<[Target]> {
        if let Some((before, targets)) = previous {
            let same = envelope.durable
                && before.durable
                && (envelope.origin == self.id) == (before.origin == self.id)
                && envelope.recipients == before.recipients;
            if same {
                return Arc::clone(targets);
            }
        }
        Arc::from(self.receive(envelope))
    }

    /// Applies a numbered frame of `user`'s stream: queued to the user's connections here when
    /// it is the next one. A new epoch restarts the stream: the connections are told to resync.
    pub fn apply(&self, stream: &StreamId, position: &Position, body: Arc<str>) -> Applied {
        self.apply_run(
            stream,
            &position.epoch,
            position.seq,
            &mut std::iter::once(body),
        )
    }

    /// Applies a run of numbered frames of `user`'s stream, numbered `first`, `first + 1` … in
    /// `epoch`, as [`Node::apply`] applies each, under one look-up of the stream. Stops at the
    /// first [`Applied::Gap`] and returns it (the frames from there on are for the caller to
    /// read back); otherwise returns what became of the last frame ([`Applied::NotHere`] for
    /// all when this node serves no connection of the user).
    pub fn apply_run(
        &self,
        stream: &StreamId,
        epoch: &str,
        first: u64,
        bodies: &mut dyn Iterator<Item = Arc<str>>,
    ) -> Applied {
        self.apply_run_in(stream.tenant.as_deref(), &stream.user, epoch, first, bodies)
    }

    /// As [`Node::apply_run`], the stream given by its tenant and user (borrowed from a message,
    /// as a broker reads them).
    pub(crate) fn apply_run_in(
        &self,
        tenant: Option<&str>,
        user: &str,
        epoch: &str,
        first: u64,
        bodies: &mut dyn Iterator<Item = Arc<str>>,
    ) -> Applied {
        match self.events.upgrade() {
            Some(events) => events.apply_run(tenant, user, epoch, first, bodies),
            None => Applied::NotHere,
        }
    }

    /// Whether this node holds any delivery stream (of a connection, or kept for one that
    /// left): a node that holds none, such as one that only emits, has no use for numbered
    /// frames.
    pub fn holds_streams(&self) -> bool {
        self.events.upgrade().is_some_and(|e| e.holds_streams())
    }

    /// Every room membership of this node's connections, to share them again after the broker
    /// lost its store (a Redis restart) or its connection.
    pub fn memberships(&self) -> Vec<Membership> {
        self.events
            .upgrade()
            .map(|e| e.memberships())
            .unwrap_or_default()
    }

    /// The users this node serves and their streams' positions, to reconcile after the broker
    /// lost its connection.
    pub fn positions(&self) -> Vec<(StreamId, Position)> {
        self.events
            .upgrade()
            .map(|e| e.positions())
            .unwrap_or_default()
    }

    /// Restarts `user`'s stream at `position`: the connections here get `$resync_required`
    /// (what they missed cannot be replayed).
    pub fn restart(&self, stream: &StreamId, position: &Position, reason: &str) {
        if let Some(events) = self.events.upgrade() {
            events.restart(stream, position, reason);
        }
    }
}
