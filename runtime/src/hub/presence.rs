//! Presence: who is in a room of a tenant, read from the room index of this node; and the
//! presence events the hub announces when users enter and leave rooms.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::presence::{placeholder_kind, USER_FIELD};
use crate::schema::{PresenceKind, PresenceSpec};

/// The most users a [`Presence`] lists; past it the list is cut (`truncated`) and only the
/// counts are complete. Bounds the answer, and the work, for rooms of a whole tenant.
pub const MAX_PRESENCE_USERS: usize = 1_000;

/// Who is in a room of a tenant: its users, each with how many connections it has there, and
/// the totals. Users are listed by id, at most [`MAX_PRESENCE_USERS`] of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Presence {
    /// The users in the room, by id, with their connections in it.
    pub users: Vec<PresentUser>,
    /// How many distinct users are in the room (also those left out of `users`).
    pub user_count: usize,
    /// How many connections are in the room.
    pub connection_count: usize,
    /// Whether `users` was cut at [`MAX_PRESENCE_USERS`].
    pub truncated: bool,
}

/// A user in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PresentUser {
    /// The user's id.
    pub user_id: String,
    /// How many of the user's connections are in the room.
    pub connections: usize,
}

impl Presence {
    /// The presence of the connections whose users are `users` (one entry per connection).
    pub(crate) fn of<'a>(users: impl IntoIterator<Item = &'a str>) -> Presence {
        let mut by_user: BTreeMap<&str, usize> = BTreeMap::new();
        let mut connection_count = 0;
        for user in users {
            *by_user.entry(user).or_default() += 1;
            connection_count += 1;
        }
        let user_count = by_user.len();
        Presence {
            truncated: user_count > MAX_PRESENCE_USERS,
            users: by_user
                .into_iter()
                .take(MAX_PRESENCE_USERS)
                .map(|(user_id, connections)| PresentUser {
                    user_id: user_id.to_owned(),
                    connections,
                })
                .collect(),
            user_count,
            connection_count,
        }
    }
}

/// Emits a presence event built from its payload; `H` is the hub (generic so that this file does
/// not depend on the hub's).
pub(crate) type Emit<H> = Arc<dyn Fn(&H, Value) + Send + Sync>;

/// A presence event the hub announces: its spec, which placeholders are numbers, and how to
/// emit it once its payload is built.
pub(crate) struct Announcer<H> {
    spec: PresenceSpec,
    /// The placeholder fields read as JSON numbers (integer fields); the others are strings.
    numeric: Vec<String>,
    emit: Emit<H>,
}

impl<H> Announcer<H> {
    /// An announcer for `spec`, whose payload fields are `fields` (for the placeholders' types).
    pub(crate) fn new(spec: PresenceSpec, fields: &[crate::schema::Field], emit: Emit<H>) -> Self {
        let numeric = fields
            .iter()
            .filter(|f| placeholder_kind(&f.ty) == Some(true))
            .map(|f| f.name.clone())
            .collect();
        Announcer {
            spec,
            numeric,
            emit,
        }
    }

    /// The change it announces.
    pub(crate) fn kind(&self) -> PresenceKind {
        self.spec.kind
    }

    /// Whether `room` is one of the rooms it announces.
    pub(crate) fn covers(&self, room: &str) -> bool {
        self.spec.room.read(room).is_some()
    }

    /// Announces that `user` (of `tenant`) entered or left `room`, unless the payload cannot be
    /// built: the room is not of the template's form, a number placeholder is not an integer
    /// written as the event would write it back, or the event has a tenant field and the
    /// connection has no tenant. The emit checks the payload against the event's contract.
    pub(crate) fn announce(&self, hub: &H, room: &str, user: &str, tenant: Option<&str>) {
        match self.payload(room, user, tenant) {
            Some(payload) => (self.emit)(hub, payload),
            None => tracing::debug!(room, "no presence event: the room name does not fit"),
        }
    }

    fn payload(&self, room: &str, user: &str, tenant: Option<&str>) -> Option<Value> {
        let mut doc = Map::new();
        let mut put = |name: &str, text: &str| -> Option<()> {
            let value = if self.numeric.iter().any(|n| n == name) {
                let n: serde_json::Number = text.parse().ok()?;
                // Written back into the room name, the number must give the same text.
                if n.to_string() != text || !(n.is_i64() || n.is_u64()) {
                    return None;
                }
                Value::Number(n)
            } else {
                Value::String(text.to_owned())
            };
            // A field filled twice (a placeholder used twice, or also the tenant) must read
            // the same each time.
            if doc.get(name).is_some_and(|v| *v != value) {
                return None;
            }
            doc.insert(name.to_owned(), value);
            Some(())
        };
        for (path, text) in self.spec.room.read(room)? {
            put(path.segments().first()?, text)?;
        }
        if let Some(field) = &self.spec.tenant {
            put(field, tenant?)?;
        }
        put(USER_FIELD, user)?;
        Some(Value::Object(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_counts_users_and_connections_and_cuts_long_lists() {
        let p = Presence::of(["b", "a", "b"]);
        assert_eq!(
            (p.user_count, p.connection_count, p.truncated),
            (2, 3, false)
        );
        assert_eq!(p.users[0].user_id, "a");
        assert_eq!(p.users[1].connections, 2);
        let many: Vec<String> = (0..MAX_PRESENCE_USERS + 5)
            .map(|i| format!("u{i:05}"))
            .collect();
        let p = Presence::of(many.iter().map(String::as_str));
        assert_eq!(p.users.len(), MAX_PRESENCE_USERS);
        assert_eq!(p.user_count, MAX_PRESENCE_USERS + 5);
        assert!(p.truncated);
    }
}
