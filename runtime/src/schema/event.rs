//! Events: wire name, direction, delivery, payload, reply and recipients.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::meta::{Deprecation, Location};
use super::recipients::Recipients;
use super::types::{Field, TypeRef};

/// One event of a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDef {
    /// The key the event is declared under (`created`, `statusChanged`).
    pub key: String,
    /// The wire name carried in every frame (`ticket:created`).
    pub name: String,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Who sends the event to whom.
    #[serde(default)]
    pub direction: Direction,
    /// Whether a client that missed the event gets it replayed (server → client leg only).
    #[serde(default)]
    pub delivery: Delivery,
    /// The payload fields, in declaration order.
    #[serde(default)]
    pub payload: Vec<Field>,
    /// For events a client sends: the type of the server's reply (an ack), if it replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<TypeRef>,
    /// Who receives the event when the server emits it; `None` when the server names the
    /// targets at emit time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Recipients>,
    /// Set on a presence event: the hub announces this change of a room's members itself
    /// ([`super::presence`](crate::schema::presence)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceKind>,
    /// Set when the event is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
    /// The key this event had before (`renamed_from`), so `tidings compat` reports a rename
    /// rather than a removal and an addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Where the event was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl EventDef {
    /// The payload field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.payload.iter().find(|f| f.name == name)
    }
}

/// Which change of a room's members an event announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceKind {
    /// A user entered the room: their first connection (on the announcing node) joined it.
    Joined,
    /// A user left the room: their last connection (on the announcing node) left it, or closed.
    Left,
}

impl PresenceKind {
    /// Every kind, as spelled in schemas.
    pub const ALL: [PresenceKind; 2] = [PresenceKind::Joined, PresenceKind::Left];

    /// The spelling used in schema files (`joined`, `left`).
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceKind::Joined => "joined",
            PresenceKind::Left => "left",
        }
    }

    /// The kind spelled `name` in schema files.
    pub fn from_name(name: &str) -> Option<PresenceKind> {
        PresenceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for PresenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sends an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The server emits it; clients receive it.
    #[default]
    ServerToClient,
    /// A client sends it; the server handles it (and may reply).
    ClientToServer,
    /// Both sides send it.
    Both,
}

impl Direction {
    /// Whether the server sends this event to clients.
    pub fn server_sends(self) -> bool {
        matches!(self, Direction::ServerToClient | Direction::Both)
    }

    /// Whether clients send this event to the server.
    pub fn client_sends(self) -> bool {
        matches!(self, Direction::ClientToServer | Direction::Both)
    }

    /// The spelling used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ServerToClient => "to_client",
            Direction::ClientToServer => "to_server",
            Direction::Both => "both",
        }
    }
}

/// Whether an event is kept for clients that missed it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Sequenced and kept in history; a reconnecting client gets what it missed.
    #[default]
    Durable,
    /// Delivered to whoever is connected now, never stored (typing indicators, presence).
    Ephemeral,
}

impl Delivery {
    /// The spelling used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Durable => "durable",
            Delivery::Ephemeral => "ephemeral",
        }
    }
}
