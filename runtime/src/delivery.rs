//! Delivery streams as every layer names them: which stream ([`StreamId`]), a point in it
//! ([`Position`]) and how much of it is kept for replay ([`History`]). docs/delivery.md states
//! the guarantees; `hub/stream.rs` implements them on one node.

use std::time::Duration;

/// How much history each delivery stream keeps for replay. Both bounds apply: an event is
/// dropped from the history when it is more than `max_events` behind the newest, or older than
/// `max_age`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct History {
    /// Events kept per stream. Default 256; 0 disables replay (every gap is a resync).
    pub max_events: usize,
    /// How long an event stays replayable, and how long a stream outlives its last connection
    /// and last event. Default 5 minutes.
    pub max_age: Duration,
}

impl Default for History {
    fn default() -> Self {
        History {
            max_events: 256,
            max_age: Duration::from_secs(300),
        }
    }
}

impl History {
    /// A history of at most `max_events` events, none older than `max_age`.
    pub fn new(max_events: usize, max_age: Duration) -> History {
        History {
            max_events,
            max_age,
        }
    }
}

/// A point in a delivery stream: its epoch and a sequence number in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stream's epoch; a new one means the stream (and its history) was started anew.
    pub epoch: String,
    /// A sequence number; 0 is the position before the first event.
    pub seq: u64,
}

impl Position {
    /// Parses `<epoch>.<seq>`, the form a client sends when it reconnects.
    pub fn parse(text: &str) -> Option<Position> {
        let (epoch, seq) = text.rsplit_once('.')?;
        let valid_epoch = !epoch.is_empty()
            && epoch.len() <= 64
            && epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_epoch {
            return None;
        }
        Some(Position {
            epoch: epoch.to_owned(),
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

/// Which delivery stream: a user's, in a tenant. A user who connects in two tenants has two
/// streams, so that no event crosses a tenant by way of its user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StreamId {
    /// The tenant of the user's connections (`None` for principals without one).
    pub tenant: Option<String>,
    /// The user.
    pub user: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_from_epoch_dot_seq() {
        assert_eq!(
            Position::parse("a1b2.42"),
            Some(Position {
                epoch: "a1b2".into(),
                seq: 42
            })
        );
        for bad in ["", ".4", "abc", "abc.", "abc.-1", "a b.1", "abc.x"] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }
}
