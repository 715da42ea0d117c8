//! The connection registry: every live connection, indexed by user, tenant, role and room, in
//! sharded maps so that emitters never wait on one global lock and resolving recipients never
//! scans all connections.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use indexmap::IndexMap;

use super::conn::Conn;
use super::stream::UserStream;
use crate::delivery::StreamId;
use crate::recipients::{Recipients, Scope};

const SHARDS: usize = 32;

/// A shard's map: a hash index over entries kept in one contiguous list, so that a walk over
/// its values (a broadcast's, over a set of connections) reads a slice, not a hash table's
/// buckets and control bytes; a removal moves the last entry into the gap (`swap_remove`, O(1)).
type Map<K, V> = IndexMap<K, V, RandomState>;

/// A hash map split into independently locked shards.
struct Shards<K, V> {
    shards: Box<[RwLock<Map<K, V>>]>,
    hasher: RandomState,
}

impl<K: Hash + Eq, V> Shards<K, V> {
    fn new() -> Self {
        Shards {
            shards: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn read<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockReadGuard<'_, Map<K, V>> {
        // A poisoned shard only means a panic elsewhere while holding it; the map is still sound.
        self.shards[self.shard(key)]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write<Q: Hash + ?Sized>(&self, key: &Q) -> RwLockWriteGuard<'_, Map<K, V>> {
        self.shards[self.shard(key)]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn each_shard(&self) -> impl Iterator<Item = RwLockReadGuard<'_, Map<K, V>>> {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// A set of connections by id.
type ConnSet = Map<u64, Arc<Conn>>;

/// Connections a walk warms ahead of its pushes (see [`each_warmed`]): a processor keeps
/// 10–20 reads that miss its cache in flight at once.
const WARMED: usize = 16;

/// Calls `each` with every item of `items`, in order, in groups of at most [`WARMED`]: each
/// group is warmed first (`warm`, for connections [`Conn::warm`]), so that their lines come
/// from memory together rather than one wait per connection. At 10,000 connections most are
/// in no cache when a broadcast reaches them (BENCHMARKS.md, "Recipients warmed ahead of the
/// pushes"). A group, not an item, per call: the walk's layers of closures are crossed once
/// per group, and the pushes of a group run in one loop.
fn each_warmed<'a, T: 'a>(
    items: impl Iterator<Item = &'a T>,
    warm: impl Fn(&T),
    mut each: impl FnMut(&[&'a T]),
) {
    let mut items = items.peekable();
    while let Some(&first) = items.peek() {
        let mut group: [&'a T; WARMED] = [first; WARMED];
        let mut n = 0;
        for (slot, item) in group.iter_mut().zip(items.by_ref()) {
            warm(item);
            *slot = item;
            n += 1;
        }
        each(&group[..n]);
    }
}

/// The indexes. Keys that belong to a tenant carry it, so that a lookup inside one tenant never
/// touches another's connections.
pub(crate) struct Registry {
    conns: Shards<u64, Arc<Conn>>,
    users: Shards<String, Vec<Arc<UserStream>>>,
    tenants: Shards<String, ConnSet>,
    roles: Shards<(Option<String>, String), ConnSet>,
    roles_all: Shards<String, ConnSet>,
    rooms: Shards<(Option<String>, String), ConnSet>,
    rooms_all: Shards<String, ConnSet>,
    /// For rooms with presence events: how many connections each user has in the room (of a
    /// tenant), so that a user's first join and last leave are told apart.
    /// Per user: connections in the room, and whether the user's join was announced.
    presence: Shards<(Option<String>, String), HashMap<String, Present>>,
}

/// A user in a room with presence events: how many of their connections are in it, and whether
/// their join was announced.
type Present = (usize, bool);

/// A change of a user's presence in a room, as [`Registry::count_presence`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entered {
    /// The user's first connection joined.
    First,
    /// The user's last connection left.
    Last,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            conns: Shards::new(),
            users: Shards::new(),
            tenants: Shards::new(),
            roles: Shards::new(),
            roles_all: Shards::new(),
            rooms: Shards::new(),
            rooms_all: Shards::new(),
            presence: Shards::new(),
        }
    }

    /// Counts a connection of `user` joining (`joined`) or leaving `room` of `tenant`, then runs
    /// `then` — under the room's lock, so that the announcements of one room keep the order of
    /// its changes — with the change to announce, if any: the user's first join, when the room
    /// then holds at most `max` users, and the last leave of a user whose join was announced
    /// (so that joins and leaves are announced in pairs whatever the room's size meanwhile).
    pub(crate) fn count_presence(
        &self,
        tenant: Option<&str>,
        room: &str,
        user: &str,
        joined: bool,
        max: usize,
        then: impl FnOnce(Option<Entered>),
    ) {
        let key = (tenant.map(str::to_owned), room.to_owned());
        let mut shard = self.presence.write(&key);
        let changed = if joined {
            let users = shard.entry(key.clone()).or_default();
            let size = users.len() + usize::from(!users.contains_key(user));
            let entry = users.entry(user.to_owned()).or_insert((0, false));
            entry.0 += 1;
            if entry.0 == 1 {
                entry.1 = size <= max;
            }
            (entry.0 == 1 && entry.1).then_some(Entered::First)
        } else {
            match shard.get_mut(&key) {
                Some(users) => match users.get_mut(user) {
                    Some(entry) if entry.0 > 1 => {
                        entry.0 -= 1;
                        None
                    }
                    Some(_) => users
                        .remove(user)
                        .and_then(|(_, announced)| announced.then_some(Entered::Last)),
                    None => None,
                },
                None => None,
            }
        };
        if shard.get(&key).is_some_and(HashMap::is_empty) {
            shard.swap_remove(&key);
        }
        then(changed);
    }

    /// The user's delivery stream in `tenant`, if this node holds one.
    pub(crate) fn stream(&self, id: &StreamId) -> Option<Arc<UserStream>> {
        self.stream_in(id.tenant.as_deref(), &id.user)
    }

    /// As [`Registry::stream`], by the stream's parts: no owned strings needed to look it up.
    pub(crate) fn stream_in(&self, tenant: Option<&str>, user: &str) -> Option<Arc<UserStream>> {
        self.users
            .read(user)
            .get(user)?
            .iter()
            .find(|s| s.id.tenant.as_deref() == tenant)
            .cloned()
    }

    /// Whether any delivery stream is held here.
    pub(crate) fn holds_streams(&self) -> bool {
        self.users.each_shard().any(|shard| !shard.is_empty())
    }

    /// The user's delivery streams (one per tenant the user connects in; usually one).
    pub(crate) fn streams_of(&self, user: &str) -> Vec<Arc<UserStream>> {
        self.users.read(user).get(user).cloned().unwrap_or_default()
    }

    /// The delivery stream `id`, created (with a fresh epoch) when this node holds none.
    pub(crate) fn stream_or_new(&self, id: &StreamId, hydrated: bool) -> Arc<UserStream> {
        if let Some(s) = self.stream(id) {
            return s;
        }
        let mut users = self.users.write(id.user.as_str());
        let list = users.entry(id.user.clone()).or_default();
        if let Some(s) = list.iter().find(|s| s.id.tenant == id.tenant) {
            return s.clone();
        }
        let stream = Arc::new(UserStream::new(id.clone(), hydrated));
        list.push(stream.clone());
        stream
    }

    /// Every stream this node holds.
    pub(crate) fn streams(&self) -> Vec<Arc<UserStream>> {
        self.users
            .each_shard()
            .flat_map(|s| s.values().flatten().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Removes the stream `id` unless `keep` says it is still needed (checked under both locks,
    /// so no connection or event slips in between).
    pub(crate) fn drop_stream_if(
        &self,
        id: &StreamId,
        keep: impl Fn(&super::stream::StreamState) -> bool,
    ) -> bool {
        let mut users = self.users.write(id.user.as_str());
        let Some(list) = users.get_mut(id.user.as_str()) else {
            return false;
        };
        let Some(at) = list.iter().position(|s| s.id.tenant == id.tenant) else {
            return false;
        };
        {
            let mut state = list[at].lock();
            if keep(&state) {
                return false;
            }
            state.dead = true;
        }
        list.swap_remove(at);
        if list.is_empty() {
            users.swap_remove(id.user.as_str());
        }
        true
    }

    /// Adds a connection already attached to its stream to the other indexes.
    pub(crate) fn index(&self, conn: &Arc<Conn>) {
        self.conns.write(&conn.id).insert(conn.id, conn.clone());
        if let Some(t) = conn.tenant() {
            self.tenants
                .write(t)
                .entry(t.to_owned())
                .or_default()
                .insert(conn.id, conn.clone());
        }
        for role in &conn.principal().roles {
            self.add_role(conn, role);
        }
    }

    /// How many connections `user` holds.
    pub(crate) fn user_connection_count(&self, user: &str) -> usize {
        self.streams_of(user)
            .iter()
            .map(|s| s.lock().conns.len())
            .sum()
    }

    /// Removes a connection from every index but its stream (see `Hub::unregister`).
    /// Unindexes a connection; returns the rooms it was in, and whether it was live.
    pub(crate) fn remove(&self, conn: &Arc<Conn>) -> (Vec<String>, bool) {
        self.conns.write(&conn.id).swap_remove(&conn.id);
        if let Some(t) = conn.tenant() {
            remove_from(&self.tenants, t, conn.id);
        }
        for role in &conn.principal().roles {
            self.remove_role(conn, role);
        }
        let (rooms, live) = conn.take_rooms();
        for room in &rooms {
            self.remove_room_entries(conn, room);
        }
        (rooms, live)
    }

    /// Every registered connection.
    pub(crate) fn all_connections(&self) -> Vec<Arc<Conn>> {
        self.conns
            .each_shard()
            .flat_map(|s| s.values().cloned().collect::<Vec<_>>())
            .collect()
    }

    pub(crate) fn add_role(&self, conn: &Arc<Conn>, role: &str) {
        let key = (conn.tenant().map(str::to_owned), role.to_owned());
        self.roles
            .write(&key)
            .entry(key)
            .or_default()
            .insert(conn.id, conn.clone());
        self.roles_all
            .write(role)
            .entry(role.to_owned())
            .or_default()
            .insert(conn.id, conn.clone());
    }

    pub(crate) fn remove_role(&self, conn: &Conn, role: &str) {
        remove_from(
            &self.roles,
            &(conn.tenant().map(str::to_owned), role.to_owned()),
            conn.id,
        );
        remove_from(&self.roles_all, role, conn.id);
    }

    /// Adds a connection to a room of its tenant: `Some(true)` when it joined, `Some(false)`
    /// when it was already in it or has been unregistered, `None` when it is in `max` rooms
    /// already (checked in the same step as the join). `changed` runs after a join, under the
    /// connection's rooms lock: a connection's joins and leaves are told in their order.
    pub(crate) fn join_within(
        &self,
        conn: &Arc<Conn>,
        room: &str,
        max: usize,
        changed: impl FnOnce(bool),
    ) -> Option<bool> {
        conn.add_room(room, max, |live| {
            let key = (conn.tenant().map(str::to_owned), room.to_owned());
            self.rooms
                .write(&key)
                .entry(key)
                .or_default()
                .insert(conn.id, conn.clone());
            self.rooms_all
                .write(room)
                .entry(room.to_owned())
                .or_default()
                .insert(conn.id, conn.clone());
            changed(live);
        })
    }

    /// Removes a connection from a room. Returns false when it was not in it. `changed` runs
    /// after the leave, under the connection's rooms lock (as for joins).
    pub(crate) fn leave(&self, conn: &Conn, room: &str, changed: impl FnOnce(bool)) -> bool {
        conn.remove_room(room, |live| {
            self.remove_room_entries(conn, room);
            changed(live);
        })
    }

    fn remove_room_entries(&self, conn: &Conn, room: &str) {
        remove_from(
            &self.rooms,
            &(conn.tenant().map(str::to_owned), room.to_owned()),
            conn.id,
        );
        remove_from(&self.rooms_all, room, conn.id);
    }

    /// The users of the connections in `room` of `tenant` (`None`: connections without a
    /// tenant), one entry per connection.
    pub(crate) fn room_members(&self, tenant: Option<&str>, room: &str) -> Vec<String> {
        let key = (tenant.map(str::to_owned), room.to_owned());
        self.rooms
            .read(&key)
            .get(&key)
            .map(|set| set.values().map(|c| c.user().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Every connection of `user` (any tenant).
    pub(crate) fn user_connections(&self, user: &str) -> Vec<Arc<Conn>> {
        self.streams_of(user)
            .iter()
            .flat_map(|s| s.lock().conns.iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// How many connections are registered.
    pub(crate) fn len(&self) -> usize {
        self.conns.each_shard().map(|s| s.len()).sum()
    }

    /// How many connections `r` selects (see [`each_resolved`](Self::each_resolved)).
    pub(crate) fn count(&self, r: &Recipients) -> usize {
        let mut n = 0;
        self.each_resolved(r, |_| n += 1);
        n
    }

    /// Calls `each` with every connection selected by `r`, each once, minus the excluded
    /// users, in the groups [`each_resolved_in_groups`](Self::each_resolved_in_groups) gives.
    pub(crate) fn each_resolved(&self, r: &Recipients, mut each: impl FnMut(&Arc<Conn>)) {
        self.each_resolved_in_groups(r, |group| group.iter().for_each(|c| each(c)));
    }

    /// Calls `each` with every connection selected by `r`, each once, minus the excluded
    /// users, a group of at most [`WARMED`] connections at a time (never an empty one). The
    /// caller has checked that `r` has the scope its rules need.
    ///
    /// One source of connections — one role or room, or everyone: the common case, and a
    /// broadcast's — never names a connection twice, and is walked in place, under its index's
    /// read lock (one shard at a time for everyone on the platform), each connection lent to
    /// `each`: nothing is collected, hashed or reference-counted per recipient. (Collected, a
    /// broadcast's every connection took a reference and dropped it after: two writes, each to
    /// a line of the connection no cache held any more.) A user's connections are collected
    /// first, so that `each` is never called with a stream's lock held. Several sources are
    /// collected into a set that de-duplicates them, then lent.
    ///
    /// `each` must not take a lock of this registry's indexes: a writer waiting for the one
    /// held would hold it up for good. It may take a stream's lock, which nothing takes before
    /// an index's.
    pub(crate) fn each_resolved_in_groups(
        &self,
        r: &Recipients,
        mut each: impl FnMut(&[&Arc<Conn>]),
    ) {
        let tenant = match r.scope() {
            Scope::Tenant(t) => Some(t.as_str()),
            _ => None,
        };
        let except = r.excluded();
        // The tenant is checked only for users named (their streams in any tenant): the
        // tenant's indexes hold only its connections, and reading a connection's tenant is a
        // line of its stream per recipient.
        let wanted = |c: &Conn| except.is_empty() || !except.iter().any(|u| u == c.user());
        let scoped = !matches!(r.scope(), Scope::Users);
        let by_scope = if scoped {
            r.roles().len() + r.rooms().len() + usize::from(r.is_everyone())
        } else {
            0
        };
        let single = r.users().len() + by_scope <= 1;
        let mut picked: ConnSet = Map::default();
        let mut add = |group: &[&Arc<Conn>]| {
            if !single {
                for &c in group {
                    if wanted(c) {
                        picked.entry(c.id).or_insert_with(|| c.clone());
                    }
                }
            } else if except.is_empty() {
                each(group);
            } else {
                let mut kept = [group[0]; WARMED];
                let mut n = 0;
                for &c in group.iter().filter(|c| wanted(c)) {
                    kept[n] = c;
                    n += 1;
                }
                if n > 0 {
                    each(&kept[..n]);
                }
            }
        };
        for user in r.users() {
            for stream in self.streams_of(user) {
                if tenant.is_some_and(|t| stream.id.tenant.as_deref() != Some(t)) {
                    continue;
                }
                let conns: Vec<Arc<Conn>> = stream.lock().conns.iter().cloned().collect();
                each_warmed(conns.iter(), |_| {}, &mut add);
            }
        }
        match r.scope() {
            Scope::Tenant(t) => {
                for role in r.roles() {
                    let key = (Some(t.clone()), role.clone());
                    if let Some(set) = self.roles.read(&key).get(&key) {
                        each_warmed(set.values(), |c| c.warm(), &mut add);
                    }
                }
                for room in r.rooms() {
                    let key = (Some(t.clone()), room.clone());
                    if let Some(set) = self.rooms.read(&key).get(&key) {
                        each_warmed(set.values(), |c| c.warm(), &mut add);
                    }
                }
                if r.is_everyone() {
                    if let Some(set) = self.tenants.read(t.as_str()).get(t.as_str()) {
                        each_warmed(set.values(), |c| c.warm(), &mut add);
                    }
                }
            }
            Scope::Platform => {
                for role in r.roles() {
                    if let Some(set) = self.roles_all.read(role.as_str()).get(role.as_str()) {
                        each_warmed(set.values(), |c| c.warm(), &mut add);
                    }
                }
                for room in r.rooms() {
                    if let Some(set) = self.rooms_all.read(room.as_str()).get(room.as_str()) {
                        each_warmed(set.values(), |c| c.warm(), &mut add);
                    }
                }
                if r.is_everyone() {
                    for shard in self.conns.each_shard() {
                        each_warmed(shard.values(), |c| c.warm(), &mut add);
                    }
                }
            }
            Scope::Users => {}
        }
        each_warmed(picked.values(), |_| {}, each);
    }
}

fn remove_from<K, Q>(index: &Shards<K, ConnSet>, key: &Q, id: u64)
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    let mut shard = index.write(key);
    if let Some(set) = shard.get_mut(key) {
        set.swap_remove(&id);
        if set.is_empty() {
            shard.swap_remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{each_warmed, WARMED};
    use std::cell::RefCell;

    /// Every item once, in order, each warmed before it is reached and at most [`WARMED`]
    /// ahead of it — at group boundaries too.
    #[test]
    fn a_warmed_walk_reaches_every_item_once_in_order() {
        for n in [
            0,
            1,
            WARMED - 1,
            WARMED,
            WARMED + 1,
            2 * WARMED,
            3 * WARMED + 5,
        ] {
            let items: Vec<usize> = (0..n).collect();
            let log = RefCell::new(Vec::new());
            each_warmed(
                items.iter(),
                |&i| log.borrow_mut().push(("warm", i)),
                |group| {
                    assert!(!group.is_empty() && group.len() <= WARMED, "{n} items");
                    let mut log = log.borrow_mut();
                    log.extend(group.iter().map(|&&i| ("each", i)));
                },
            );
            let log = log.into_inner();
            let reached: Vec<usize> = log
                .iter()
                .filter(|(k, _)| *k == "each")
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(reached, items, "{n} items");
            for (at, &(kind, i)) in log.iter().enumerate() {
                if kind != "each" {
                    continue;
                }
                let warmed_at = log.iter().position(|&e| e == ("warm", i));
                assert!(
                    warmed_at.is_some_and(|w| w < at),
                    "item {i} of {n} reached unwarmed"
                );
                let warmed_ahead = log[..at].iter().filter(|(k, _)| *k == "warm").count() - i;
                assert!(
                    warmed_ahead <= WARMED,
                    "{warmed_ahead} warmed ahead of item {i} of {n}"
                );
            }
        }
    }
}
