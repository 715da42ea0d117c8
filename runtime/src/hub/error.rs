//! What an emit returns: how far it got ([`Delivered`]) or why it failed ([`EmitError`]); and why
//! a connection could not be registered.

use crate::broker::BrokerError;
use crate::schema::Delivery;
use crate::violation::Violation;

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
    /// The backplane cannot take the event now (its queue is full while it is disconnected):
    /// nothing was sent; emit again later.
    #[error("`{event}` was not sent: {source}")]
    Unavailable {
        /// The event.
        event: &'static str,
        /// Why the backplane refused it.
        #[source]
        source: BrokerError,
    },
    /// The event's frame is larger than
    /// [`Limits::max_outbound_frame_bytes`](crate::Limits::max_outbound_frame_bytes).
    #[error("`{event}` is {bytes} bytes as a frame; the server sends at most {limit} (`Limits::max_outbound_frame_bytes`)")]
    TooLarge {
        /// The event.
        event: &'static str,
        /// The frame's length in bytes (a durable event's with a 20-digit sequence number).
        bytes: usize,
        /// The limit.
        limit: usize,
    },
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
    /// The event was handed to the backplane, which delivers it on every node (this one
    /// included) after it returns; the counts above are then zero.
    pub forwarded: bool,
}

/// Why a connection could not be registered.
#[derive(Debug)]
pub(crate) enum RegisterError {
    TooManyConnections,
    Unavailable(BrokerError),
}

/// An event known by its name at run time: see [`Hub::emit_json`](super::Hub::emit_json).
#[derive(Debug, Clone, Copy)]
pub struct JsonEvent<'a> {
    /// The event's wire name (`ticket:created`).
    pub name: &'static str,
    /// Whether it is numbered in its recipients' delivery streams and kept for replay.
    pub delivery: Delivery,
    /// The payload as JSON text (an object), checked against the event's contract.
    pub data: &'a str,
}

/// What [`Hub::emit_json`](super::Hub::emit_json) did: the event's id (the `id` of its frame) and whom it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The event's id, as its frame carries it (`id`).
    pub id: String,
    /// What the emit reached on this node.
    pub delivered: Delivered,
}

/// An event framed by [`Hub::prepare_json`](super::Hub::prepare_json), its size checked, ready
/// for [`Hub::emit_prepared`](super::Hub::emit_prepared).
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub(crate) name: &'static str,
    pub(crate) durable: bool,
    pub(crate) id: String,
    pub(crate) body: String,
}

impl PreparedEvent {
    /// The event's id, as its frame carries it.
    pub fn id(&self) -> &str {
        &self.id
    }
}
