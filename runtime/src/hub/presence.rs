//! Presence: who is in a room of a tenant, read from the room index of this node.

use std::collections::BTreeMap;

use serde::Serialize;

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
