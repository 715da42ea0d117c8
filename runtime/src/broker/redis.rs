//! The Redis backplane: several nodes, one set of delivery streams.
//!
//! - **Fan-out.** An emitted event is appended once to the Redis Stream `<ns>:fanout` (trimmed
//!   to the fan-out window); every node reads it from the last entry it read and resolves the
//!   recipients against its own connections (durable events read together with the same
//!   recipients as the one before share its resolution). A node that was away (its connection to Redis
//!   dropped, a partition) reads on from where it left off, so no event meant for its
//!   connections is skipped; one away past the window (the entries after its last one were
//!   trimmed) tells its connections to resync.
//! - **Streams.** Each node numbers the durable events of a batch it read in the streams it
//!   resolved them to: one Lua script call per batch and up to 128 streams.
//!   The call stores its bodies once (`<ns>:c:<call>`, a list) and its fan-out ids once
//!   (`<ns>:c:<call>:i`). Per stream, atomically, it skips the events this stream already
//!   numbered (a user connected to two nodes is resolved by both; told apart by fan-out entry
//!   id, looked up through the history's entries and their calls' ids), assigns the next
//!   `seq`s and appends one entry naming the run to the stream's list (`<ns>:r:<stream>`, kept
//!   for the history's count and for the de-duplication window). The list's last entry also
//!   carries the stream's state (seq, the last fan-out id numbered, epoch), so numbering reads
//!   it with `LINDEX` and writes it with the run's `RPUSH`: two commands per stream and call
//!   (the format: `lua/stream.lua`).
//!   One message on `<ns>:numbered` then carries the call's runs and each body once. Nodes
//!   serving the user queue them to their connections, in `seq` order; a node that sees a
//!   number skipped reads the missing ones back.
//! - **Resume anywhere.** A node that gets a user's first connection loads the stream's
//!   position and history from Redis first, so a client that reconnects to another node resumes
//!   without loss.
//! - **Presence.** Each node keeps its connections' room memberships in one hash per room
//!   (`<ns>:p:<tenant>:<room>`, field `<node>:<connection>` → user) and its own liveness key
//!   (`<ns>:n:<node>`, 15 s, refreshed every 5 s); a room's members are the fields of live
//!   nodes (those of dead ones are removed when read). After Redis lost its data, or the
//!   node's queue of changes overflowed, the node writes all its memberships again.
//! - **Retention.** A stream's list expires `history.max_age` (or the de-duplication window, if
//!   longer) after its last event (and at most a sixteenth of the shorter of `max_age` and the
//!   de-duplication window later: numbering renews the expiry at most that often), and is kept
//!   alive while a node serves the user; a call's bodies live `max_age`, the renewal period
//!   and a minute more. When Redis loses a stream (restart without persistence, eviction) the
//!   next event starts a new epoch, and every node tells its connections to resync.
//! - **Failures.** When Redis is unreachable the broker reports [`BrokerStatus::Degraded`],
//!   queues emitted events (bounded; a full queue fails the emit), refuses with close code
//!   1013 the new sessions whose stream it would have to load from Redis (a user's first
//!   connection on this node), reconnects with backoff, and then reconciles every stream it
//!   serves: missed events are read back from Redis, or the connections are told to resync.
//!
//! The Lua scripts are `broker/lua/*.lua`, included as text at build time.
//!
//! Pub/sub is the classic kind (`PUBLISH`/`SUBSCRIBE`), which every Redis version and topology
//! carries; see docs/delivery.md for the trade-offs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{Script, Value};
use tokio::sync::mpsc;

use super::{
    Applied, Broker, BrokerError, BrokerStatus, Envelope, Membership, Node, Snapshot, StreamId,
};
use crate::delivery::{History, Position};

/// The default of [`RedisBrokerBuilder::dedup_window`].
const DEDUP_WINDOW: Duration = Duration::from_secs(60);

/// Why a node's connections of a stream resync when the node read an event older than the
/// de-duplication window that another node may have numbered already.
const PAST_DEDUP_WINDOW: &str =
    "the backplane's de-duplication window was exceeded (this node was away); refetch";

/// Numbers a batch of events in the streams one node resolved: skip duplicates, next seqs,
/// append, trim, publish.
/// `lua/stream.lua` (the formats of a stream's keys) comes first, in each script that uses them.
const APPEND: &str = concat!(
    include_str!("lua/stream.lua"),
    include_str!("lua/append.lua")
);

/// Appends a batch of emitted events to the fan-out stream, a durable one only once.
const PUBLISH: &str = include_str!("lua/publish.lua");

/// A stream's position and entries (the newest `count`, or those after `after`), created with
/// a new epoch when Redis holds none.
const READ: &str = concat!(include_str!("lua/stream.lua"), include_str!("lua/read.lua"));

/// Configures a [`RedisBroker`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisBrokerBuilder {
    url: String,
    namespace: String,
    queue: usize,
    reattach: Reattach,
    fanout_window: usize,
    dedup_window: Duration,
}

/// How long, and for how many events, a stream that Redis started anew keeps its whole history:
/// see [`RedisBrokerBuilder::reattach_window`].
#[derive(Debug, Clone, Copy)]
struct Reattach {
    window: Duration,
    max_events: usize,
}

impl RedisBrokerBuilder {
    /// The prefix of every key and channel (default `tidings`): nodes of one system share it;
    /// systems sharing a Redis use different ones.
    pub fn namespace(mut self, namespace: impl Into<String>) -> RedisBrokerBuilder {
        self.namespace = namespace.into();
        self
    }

    /// How many emitted events may wait for Redis — while it is unreachable, or in a burst
    /// faster than it takes them — before emits fail
    /// ([`EmitError::Unavailable`](crate::EmitError::Unavailable)): queued, or in the batch
    /// being appended, until Redis has them. Default 65,536.
    pub fn queue(mut self, events: usize) -> RedisBrokerBuilder {
        self.queue = events.max(1);
        self
    }

    /// How long a stream that Redis started anew (a new epoch: Redis restarted without
    /// persistence, or evicted the stream) keeps every event it numbers, up to `max_events`,
    /// instead of trimming to the history's count. Default 30 s and 4,096 events.
    ///
    /// After a Redis restart the nodes reattach one by one (each reconnects with backoff, up to
    /// 2 s apart when Redis is reachable). The first node to number an event of a stream starts
    /// the new epoch, and its connections receive the epoch from its first event; a node that
    /// reattaches later reads the epoch back from Redis. While the window lasts, that read
    /// starts at the epoch's first event too, so a user's tabs on every node are told to resync
    /// once and then receive the same events. A node that reattaches after the window (or after
    /// `max_events`) replays what the history still holds, after `$resync_required`: never a
    /// silent gap. `Duration::ZERO` turns the window off.
    pub fn reattach_window(mut self, window: Duration, max_events: usize) -> RedisBrokerBuilder {
        self.reattach = Reattach { window, max_events };
        self
    }

    /// How many emitted events the fan-out stream (`<ns>:fanout`) keeps for nodes that read it
    /// late (default 65,536, about 20 MB of Redis memory at 300-byte events). A node away from
    /// Redis for longer than that many emits tells its connections to resync when it returns.
    pub fn fanout_window(mut self, events: usize) -> RedisBrokerBuilder {
        self.fanout_window = events.max(1);
        self
    }

    /// How long Redis remembers which events each stream numbered, and each durable event
    /// appended to the fan-out stream (default 60 s, at least 1 s). Every node that serves a
    /// user numbers the events it resolves for that user's stream, and the first one does: the
    /// others skip it by this memory. A node that was away from Redis (a partition, a pause)
    /// reads on from where it left off; for an event older than this window that another node
    /// may have numbered in a stream this node serves too, it cannot tell, so it numbers
    /// nothing and tells its connections of that stream to resync (`$resync_required`), rather
    /// than deliver the event twice. Longer windows cost Redis memory: each stream's history
    /// keeps its entries of the window (about 45 bytes per stream and script call that numbered
    /// in it), each call's fan-out ids (about 16 bytes per event) are kept as long, and a
    /// stream's keys live at least the window after its last event. They lengthen the renewal
    /// period too (a sixteenth of the shorter of this window and `max_age`).
    pub fn dedup_window(mut self, window: Duration) -> RedisBrokerBuilder {
        self.dedup_window = window.max(Duration::from_secs(1));
        self
    }

    /// The broker. Connects when the hub starts it, and keeps reconnecting.
    ///
    /// # Errors
    /// When the URL is not a Redis URL.
    pub fn build(self) -> Result<RedisBroker, BrokerError> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| BrokerError::Backend(format!("`{}`: {e}", self.url)))?;
        let (tx, rx) = mpsc::channel(self.queue);
        let (presence_tx, presence_rx) = mpsc::channel(PRESENCE_QUEUE);
        Ok(RedisBroker {
            shared: Arc::new(Shared {
                client,
                ns: self.namespace,
                capacity: self.queue,
                reattach: self.reattach,
                fanout_window: self.fanout_window,
                dedup_window: self.dedup_window,
                tx,
                rx: Mutex::new(Some(rx)),
                presence_tx,
                presence_rx: Mutex::new(Some(presence_rx)),
                presence_dirty: AtomicBool::new(true),
                unpublished: std::sync::atomic::AtomicUsize::new(0),
                started: Instant::now(),
                last_forward_us: std::sync::atomic::AtomicU64::new(0),
                burst_began: AtomicBool::new(false),
                status: Mutex::new(BrokerStatus::Degraded {
                    reason: "not connected yet".to_owned(),
                    since: SystemTime::now(),
                }),
                conn: tokio::sync::Mutex::new(None),
                history: Mutex::new(History::default()),
                append: Script::new(APPEND),
                publish: Script::new(PUBLISH),
                read: Script::new(READ),
                loaded: AtomicBool::new(false),
                subscribed: AtomicBool::new(false),
                reading: AtomicBool::new(false),
            }),
        })
    }
}

/// The Redis backplane (feature `redis`). See the module documentation.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tidings::broker::redis::RedisBroker;
///
/// let broker = RedisBroker::builder("redis://127.0.0.1:6379/").namespace("helpdesk").build()?;
/// let hub = tidings::Hub::builder().broker(broker).build();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisBroker {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    ns: String,
    capacity: usize,
    reattach: Reattach,
    fanout_window: usize,
    dedup_window: Duration,
    tx: mpsc::Sender<Envelope>,
    rx: Mutex<Option<mpsc::Receiver<Envelope>>>,
    /// Room memberships that changed here, on their way to Redis.
    presence_tx: mpsc::Sender<(Membership, bool)>,
    presence_rx: Mutex<Option<mpsc::Receiver<(Membership, bool)>>>,
    /// Whether Redis may lack some of this node's memberships: all are written again.
    presence_dirty: AtomicBool,
    /// Events taken by `forward` and not yet in Redis.
    unpublished: std::sync::atomic::AtomicUsize,
    /// The instant `last_forward_us` counts from.
    started: Instant,
    /// When `forward` last took an event, in µs since `started`.
    last_forward_us: std::sync::atomic::AtomicU64,
    /// Whether an event came after a pause of [`BURST_PAUSE_US`] or more since the publisher last
    /// looked: the publisher then gathers what follows it ([`gather_burst`]).
    burst_began: AtomicBool,
    status: Mutex<BrokerStatus>,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    history: Mutex<History>,
    append: Script,
    publish: Script,
    read: Script,
    /// Whether the append script is loaded in Redis (pipelines call it by hash).
    loaded: AtomicBool,
    /// Whether the subscriber is connected and reconciled.
    subscribed: AtomicBool,
    /// Whether the fan-out reader is reading.
    reading: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("namespace", &self.ns)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> BrokerError {
    BrokerError::Backend(e.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RedisBroker {
    /// Configures a broker on the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisBrokerBuilder {
        RedisBrokerBuilder {
            url: url.into(),
            namespace: "tidings".to_owned(),
            queue: 65_536,
            reattach: Reattach {
                window: Duration::from_secs(30),
                max_events: 4_096,
            },
            fanout_window: 65_536,
            dedup_window: DEDUP_WINDOW,
        }
    }
}

impl Shared {
    fn fanout(&self) -> String {
        format!("{}:fanout", self.ns)
    }

    /// The prefix of the keys that hold a script call's bodies (`lua/append.lua`).
    fn bodies_prefix(&self) -> String {
        format!("{}:c:", self.ns)
    }

    fn numbered(&self) -> String {
        format!("{}:numbered", self.ns)
    }

    /// The presence hash of a room: the tenant length-prefixed, like the streams' keys.
    fn presence_key(&self, tenant: Option<&str>, room: &str) -> String {
        match tenant {
            Some(t) => format!("{}:p:{}:{t}:{room}", self.ns, t.len()),
            None => format!("{}:p:-:{room}", self.ns),
        }
    }

    /// A node's liveness key.
    fn node_key(&self, node: &str) -> String {
        format!("{}:n:{node}", self.ns)
    }

    /// The prefix of the streams' keys (`<ns>:r:`), before the stream as [`Shared::write_key`]
    /// writes it.
    fn stream_prefix(&self) -> String {
        format!("{}:{STREAM}:", self.ns)
    }

    /// A stream's key of `kind`: the tenant and the user, length-prefixed so no two collide.
    fn key(&self, kind: &str, s: &StreamId) -> String {
        let mut key = String::new();
        self.write_key(&mut key, kind, s);
        key
    }

    /// [`Shared::key`], written into `buf` (cleared first): a call that names hundreds of
    /// streams reuses one buffer.
    fn write_key<'b>(&self, buf: &'b mut String, kind: &str, s: &StreamId) -> &'b str {
        use std::fmt::Write as _;
        buf.clear();
        // Writing into a `String` cannot fail.
        let _ = match &s.tenant {
            Some(t) => write!(buf, "{}:{kind}:{}:{t}:{}", self.ns, t.len(), s.user),
            None => write!(buf, "{}:{kind}:-:{}", self.ns, s.user),
        };
        buf
    }

    fn history(&self) -> History {
        *self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many entries a catch-up reads at most: the whole history a stream can hold, its
    /// reattach window included.
    fn catch_up_count(&self) -> usize {
        self.history()
            .max_events
            .max(self.reattach.max_events)
            .saturating_add(1)
    }

    /// How often, at most, numbering renews a stream's expiry in Redis, in ms: a sixteenth of
    /// the shorter of `max_age` (at least a second) and the de-duplication window. Renewing on
    /// every call would cost one more command per stream and call (see `lua/append.lua`).
    fn renewal_ms(&self) -> u64 {
        let window = self
            .history()
            .max_age
            .max(Duration::from_secs(1))
            .min(self.dedup_window);
        u64::try_from(window.as_millis() / 16).unwrap_or(u64::MAX)
    }

    /// A stream's key's time to live in Redis, in ms: the longer of `max_age` (at least a
    /// second) and the de-duplication window (the history is also the record of what the
    /// stream numbered in that window), plus the renewal period, so that a key lives at least
    /// that long after the stream's last event although the expiry is not renewed on every one.
    fn ttl_ms(&self) -> u64 {
        let max_age = self
            .history()
            .max_age
            .max(Duration::from_secs(1))
            .max(self.dedup_window);
        u64::try_from(max_age.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(self.renewal_ms())
    }

    fn set_status(&self, status: BrokerStatus) {
        let mut s = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = !matches!(
            (&*s, &status),
            (BrokerStatus::Healthy, BrokerStatus::Healthy)
                | (BrokerStatus::Degraded { .. }, BrokerStatus::Degraded { .. })
        );
        if changed {
            let up = matches!(status, BrokerStatus::Healthy);
            metrics::gauge!("tidings_broker_up").set(if up { 1.0 } else { 0.0 });
            match &status {
                BrokerStatus::Healthy => tracing::info!("redis backplane connected"),
                BrokerStatus::Degraded { reason, .. } => {
                    tracing::warn!(%reason, "redis backplane degraded");
                }
            }
            *s = status;
        }
    }

    /// A command succeeded: healthy again, unless the subscription or the fan-out reader is
    /// still down.
    fn recovered(&self) {
        if self.subscribed.load(Ordering::Acquire) && self.reading.load(Ordering::Acquire) {
            self.set_status(BrokerStatus::Healthy);
        }
    }

    fn degraded(&self, reason: impl Into<String>) {
        self.set_status(BrokerStatus::Degraded {
            reason: reason.into(),
            since: SystemTime::now(),
        });
    }

    /// The command connection (reconnecting by itself once made).
    async fn conn(&self) -> Result<ConnectionManager, BrokerError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let c = self
            .client
            .get_connection_manager_with_config(config)
            .await
            .map_err(backend)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The key of the set of tenants in which `user` has a stream.
    fn tenants_key(&self, user: &str) -> String {
        format!("{}:t:{user}", self.ns)
    }

    /// Adds, next to each offline target without a tenant (a user addressed by id, by an event
    /// scoped to no tenant, with no connection on the emitting node), the user's streams in
    /// every tenant they have one in: a user who connects with a tenant reads the stream of
    /// that tenant, which a single node finds among its own streams and a node of several
    /// learns from Redis (`<ns>:t:<user>`, written when a stream is read for a connection).
    /// When Redis does not answer, the targets stay as they are.
    async fn tenant_streams(&self, batch: &mut [Resolved]) {
        let mut users: Vec<String> = batch
            .iter()
            .flat_map(|r| r.targets.iter())
            .filter(|t| t.offline && t.stream.tenant.is_none())
            .map(|t| t.stream.user.clone())
            .collect();
        if users.is_empty() {
            return;
        }
        users.sort_unstable();
        users.dedup();
        let mut pipe = redis::pipe();
        for user in &users {
            pipe.cmd("SMEMBERS").arg(self.tenants_key(user));
        }
        let tenants: Vec<Vec<String>> = match self.conn().await {
            Ok(mut conn) => match pipe.query_async(&mut conn).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(error = %e, "the users' tenants could not be read");
                    return;
                }
            },
            Err(_) => return,
        };
        let of: HashMap<&str, &Vec<String>> = users
            .iter()
            .map(String::as_str)
            .zip(tenants.iter())
            .collect();
        for resolved in batch.iter_mut() {
            let mut added = Vec::new();
            for target in resolved.targets.iter() {
                if !(target.offline && target.stream.tenant.is_none()) {
                    continue;
                }
                for tenant in of
                    .get(target.stream.user.as_str())
                    .into_iter()
                    .flat_map(|t| t.iter())
                {
                    let stream = StreamId {
                        tenant: Some(tenant.clone()),
                        user: target.stream.user.clone(),
                    };
                    if !resolved.targets.iter().any(|t| t.stream == stream)
                        && !added.iter().any(|t: &super::Target| t.stream == stream)
                    {
                        added.push(super::Target {
                            stream,
                            offline: true,
                        });
                    }
                }
            }
            if !added.is_empty() {
                // Its own list now (it may have been shared with the events before it).
                added.splice(0..0, resolved.targets.iter().cloned());
                resolved.targets = Arc::from(added);
            }
        }
    }

    /// Runs the READ script: the stream's position and at most `count` entries (the newest, or
    /// those after `after`).
    async fn read(
        &self,
        stream: &StreamId,
        after: Option<u64>,
        count: usize,
    ) -> Result<(Position, Vec<(u64, Duration, Arc<str>)>), BrokerError> {
        let history = self.history();
        let mut conn = self.conn().await?;
        let value: Value = self
            .read
            .key(self.key(STREAM, stream))
            .arg(crate::ids::epoch())
            .arg(self.ttl_ms())
            .arg(count)
            .arg(after.map(|a| a.to_string()).unwrap_or_default())
            .arg(now_ms())
            .arg(self.bodies_prefix())
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        let malformed = || BrokerError::Backend("unexpected reply to the read script".to_owned());
        let Value::Array(parts) = value else {
            return Err(malformed());
        };
        let [epoch, seq, entries] = parts.as_slice() else {
            return Err(malformed());
        };
        let epoch = text(epoch).ok_or_else(malformed)?;
        let seq = match seq {
            Value::Int(n) => u64::try_from(*n).map_err(|_| malformed())?,
            _ => return Err(malformed()),
        };
        let now = now_ms();
        let mut events = Vec::new();
        if let Value::Array(entries) = entries {
            for entry in entries {
                for (s, t, body) in parse_entry(entry).ok_or_else(malformed)? {
                    let age = Duration::from_millis(now.saturating_sub(t));
                    if age <= history.max_age && after.is_none_or(|a| s > a) {
                        events.push((s, age, body));
                    }
                }
            }
        }
        // An entry holds a run of events: order them, and keep `count` (the newest, or the
        // first after `after`).
        events.sort_unstable_by_key(|e| e.0);
        if after.is_none() {
            events.drain(..events.len().saturating_sub(count));
        } else {
            events.truncate(count);
        }
        Ok((Position { epoch, seq }, events))
    }

    /// [`Shared::read`], retried on [`retry_delays`]'s schedule while it fails, as numbering
    /// is: a cut of the connection to Redis costs a reconnect, not a resync.
    ///
    /// # Errors
    ///
    /// The last failure, once the schedule is spent (about 35 s).
    async fn read_back(
        &self,
        stream: &StreamId,
        after: Option<u64>,
        count: usize,
    ) -> Result<(Position, Vec<(u64, Duration, Arc<str>)>), BrokerError> {
        let mut delays = retry_delays();
        let mut failed = false;
        loop {
            match self.read(stream, after, count).await {
                Ok(read) => {
                    if failed {
                        // Healthy again, unless the subscription or the reader is down.
                        self.recovered();
                    }
                    return Ok(read);
                }
                Err(e) => {
                    let Some(delay) = delays.next() else {
                        return Err(e);
                    };
                    failed = true;
                    self.degraded(e.to_string());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Brings a stream this node serves up to Redis's: queues what it missed in order, or
    /// tells its connections to resync when that is gone (or when Redis cannot be read for as
    /// long as [`retry_delays`] retries).
    async fn catch_up(&self, node: &Node, stream: &StreamId, local: &Position) {
        let count = self.catch_up_count();
        match self.read_back(stream, Some(local.seq), count).await {
            Ok((position, events)) => {
                if position.epoch != local.epoch {
                    // Redis lost the stream and it started anew: the old epoch's missed events
                    // are gone (resync), the new epoch's are replayed.
                    let (position, events) = match self.read_back(stream, Some(0), count).await {
                        Ok(read) => read,
                        Err(_) => (position, Vec::new()),
                    };
                    let from = match events.first() {
                        Some(first) if is_contiguous(&events, first.0, position.seq) => first.0 - 1,
                        _ => position.seq,
                    };
                    let start = Position {
                        epoch: position.epoch.clone(),
                        seq: from,
                    };
                    node.restart(stream, &start, "the stream was restarted (new epoch)");
                    for (seq, _, body) in events
                        .into_iter()
                        .filter(|e| e.0 > from && e.0 <= position.seq)
                    {
                        let p = Position {
                            epoch: position.epoch.clone(),
                            seq,
                        };
                        node.apply(stream, &p, body);
                    }
                    return;
                }
                if position.seq < local.seq {
                    // Redis's stream is behind this node's (restored from an older snapshot, a
                    // failover to a lagging replica): what the connections hold past it is not
                    // Redis's; they resync at its position.
                    node.restart(
                        stream,
                        &position,
                        "the backplane's stream went back (restored from an older copy)",
                    );
                    return;
                }
                if position.seq == local.seq {
                    return;
                }
                if !is_contiguous(&events, local.seq + 1, position.seq) {
                    node.restart(
                        stream,
                        &position,
                        "the events missed are no longer available",
                    );
                    return;
                }
                for (seq, _, body) in events.into_iter().filter(|e| e.0 <= position.seq) {
                    let p = Position {
                        epoch: position.epoch.clone(),
                        seq,
                    };
                    node.apply(stream, &p, body);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, user = %stream.user, "cannot read the stream back; resync");
                node.restart(
                    stream,
                    local,
                    "the backplane failed while delivering; refetch",
                );
            }
        }
    }

    /// Numbers durable events in their target streams: the batch's events grouped by stream
    /// (each stream's in fan-out order), [`STREAMS_PER_CALL`] streams per script call, every
    /// call in one pipeline, retried as a whole while Redis is away (the script skips what was
    /// already numbered). Streams it could not reach are told to resync.
    async fn append(&self, node: &Node, batch: &[Resolved]) {
        let history = self.history();
        let hash = self.append.get_hash().to_owned();
        let mut streams = by_stream(batch);
        // The streams this node serves first (a stable sort: each call's too): the script
        // numbers the others, named offline, only where Redis still holds them.
        streams.sort_by_key(|run| run.offline);
        let mut pipe = redis::pipe();
        let mut key = String::new();
        for chunk in streams.chunks(STREAMS_PER_CALL) {
            let (used, lists) = call_events(chunk, batch.len());
            pipe.cmd("EVALSHA").arg(&hash).arg(chunk.len());
            for run in chunk {
                pipe.arg(self.write_key(&mut key, STREAM, run.stream));
            }
            pipe.arg(now_ms())
                .arg(history.max_events)
                .arg(self.ttl_ms())
                .arg(crate::ids::epoch())
                .arg(self.numbered())
                .arg(u64::try_from(self.dedup_window.as_millis()).unwrap_or(u64::MAX))
                .arg(u64::try_from(self.reattach.window.as_millis()).unwrap_or(u64::MAX))
                .arg(self.reattach.max_events)
                .arg(self.bodies_prefix())
                .arg(used.len())
                .arg(self.renewal_ms())
                .arg(chunk.iter().take_while(|run| !run.offline).count())
                .arg(lists.iter().filter(|list| !list.is_empty()).count());
            for &e in &used {
                pipe.arg(batch[e].entry.to_string());
            }
            for &e in &used {
                pipe.arg(batch[e].envelope.body.as_ref());
            }
            // The streams that take only some of the call's events: 1-based index, list.
            for (i, list) in lists.iter().enumerate() {
                if !list.is_empty() {
                    pipe.arg(i + 1).arg(list);
                }
            }
        }
        let mut delays = retry_delays();
        loop {
            let attempt = async {
                let mut conn = self.conn().await?;
                if !self.loaded.load(Ordering::Acquire) {
                    self.append
                        .prepare_invoke()
                        .load_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    self.loaded.store(true, Ordering::Release);
                }
                pipe.query_async::<Vec<Value>>(&mut conn)
                    .await
                    .map_err(backend)
            };
            match attempt.await {
                Ok(replies) => {
                    self.recovered();
                    // Streams whose events were past the de-duplication window: resync here.
                    let unsure: Vec<&StreamId> = streams
                        .chunks(STREAMS_PER_CALL)
                        .zip(&replies)
                        .flat_map(|(chunk, reply)| unsure_runs(chunk, reply))
                        .map(|run| run.stream)
                        .collect();
                    if !unsure.is_empty() {
                        tracing::warn!(
                            streams = unsure.len(),
                            "events older than the de-duplication window; those streams' connections here resync"
                        );
                        restart_here(node, unsure, PAST_DEDUP_WINDOW);
                    }
                    return;
                }
                Err(e) => {
                    // A restarted Redis has forgotten the script: load it again.
                    self.loaded.store(false, Ordering::Release);
                    self.degraded(e.to_string());
                    let Some(delay) = delays.next() else { break };
                    tokio::time::sleep(delay).await;
                }
            }
        }
        restart_here(
            node,
            streams.iter().filter(|r| !r.offline).map(|r| r.stream),
            "the backplane failed while delivering; refetch",
        );
    }

    /// Takes one message from `<ns>:numbered` (one script call's runs of numbered events):
    /// each run is applied in order, after reading back what a gap skipped.
    async fn handle(&self, node: &Node, msg: &redis::Msg) {
        let Ok(payload) = std::str::from_utf8(msg.get_payload_bytes()) else {
            return;
        };
        if !node.holds_streams() {
            // No stream here (a node that only emits): no run of the message is for it.
            return;
        }
        let Some((runs, bodies)) = parse_numbered(payload, &self.stream_prefix()) else {
            tracing::warn!("a message of numbered events could not be read");
            return;
        };
        for run in &runs {
            let (tenant, user) = (run.tenant, run.user);
            let applied = match &run.events {
                None => node.apply_run_in(
                    tenant,
                    user,
                    run.epoch,
                    run.first,
                    &mut bodies.iter().cloned(),
                ),
                Some(list) => {
                    let mut picked = list.iter().filter_map(|&e| bodies.get(e).cloned());
                    node.apply_run_in(tenant, user, run.epoch, run.first, &mut picked)
                }
            };
            if let Applied::Gap { after } = applied {
                // Reads the stream on to Redis's position, the rest of this run included.
                let stream = StreamId {
                    tenant: tenant.map(str::to_owned),
                    user: user.to_owned(),
                };
                let local = Position {
                    epoch: run.epoch.to_owned(),
                    seq: after,
                };
                self.catch_up(node, &stream, &local).await;
            }
        }
    }

    /// Keeps the streams this node serves from expiring in Redis.
    async fn keep_alive(&self, node: &Node) -> Result<(), BrokerError> {
        let streams = node.positions();
        if streams.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let ttl = self.ttl_ms();
        for (s, _) in &streams {
            pipe.cmd("PEXPIRE")
                .arg(self.key(STREAM, s))
                .arg(ttl)
                .ignore();
        }
        let mut conn = self.conn().await?;
        pipe.query_async::<()>(&mut conn).await.map_err(backend)
    }
}

/// Delays of 50 ms, doubling up to `max`, `times` of them (or without end), on `backon`'s
/// exponential schedule: the one schedule of every retry and reconnect to Redis.
fn doubling_delays(max: Duration, times: Option<usize>) -> backon::ExponentialBackoff {
    use backon::BackoffBuilder as _;
    let builder = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(max);
    match times {
        Some(times) => builder.with_max_times(times),
        None => builder.without_max_times(),
    }
    .build()
}

/// The delays between a failed Redis call that the node must not give up on at once
/// (numbering a batch, reading a stream back) and its next try: 50 ms, doubling up to 1 s, 39
/// of them (40 tries over about 35 s, as long as a restarted Redis takes to load a large
/// dataset).
fn retry_delays() -> backon::ExponentialBackoff {
    doubling_delays(Duration::from_secs(1), Some(39))
}

/// The longest delay between two tries to reconnect to Redis.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// The delays between tries to reconnect to Redis (the subscription, the fan-out reader, the
/// publisher's next try): 50 ms, doubling up to [`RECONNECT_MAX`], for as long as the node
/// lives.
fn reconnect_delays() -> backon::ExponentialBackoff {
    doubling_delays(RECONNECT_MAX, None)
}

/// How long one read of the fan-out stream waits for an entry (`XREAD BLOCK`).
const FANOUT_BLOCK: Duration = Duration::from_secs(1);

/// Entries taken per read of the fan-out stream.
const FANOUT_BATCH: usize = 512;

/// Streams numbered per script call: bounds how long one call holds Redis (and the arguments
/// of one call: a key per stream, an id and a body per event).
const STREAMS_PER_CALL: usize = 128;

/// The kind of a stream's key, `<ns>:r:<stream>`: a list of its runs of numbered events, the
/// last also carrying its state (`lua/stream.lua`).
const STREAM: &str = "r";

/// The stream that a key names after its prefix (`<tenant's byte length>:<tenant>:<user>`, or
/// `-:<user>` for none, as [`Shared::write_key`] writes it), as `(tenant, user)`; `None` when
/// malformed.
fn stream_in_key(rest: &str) -> Option<(Option<&str>, &str)> {
    if let Some(user) = rest.strip_prefix("-:") {
        return Some((None, user));
    }
    let (length, rest) = rest.split_once(':')?;
    let length: usize = length.parse().ok()?;
    let tenant = rest.get(..length)?;
    let user = rest.get(length..)?.strip_prefix(':')?;
    Some((Some(tenant), user))
}

/// Bytes of event bodies numbered per script call at most (unless one body is larger): one call
/// publishes each of its bodies once, in one message, and a subscriber whose pending messages
/// pass Redis's `client-output-buffer-limit` for pub/sub (32 MiB by default) is disconnected.
const CALL_BYTES: usize = 4 << 20;

/// `batch` in consecutive parts of at most `limit` bytes of bodies each (a larger body alone).
fn parts(batch: &[Resolved], limit: usize) -> Vec<&[Resolved]> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, resolved) in batch.iter().enumerate() {
        let size = resolved.envelope.body.len();
        if i > start && bytes + size > limit {
            parts.push(&batch[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < batch.len() {
        parts.push(&batch[start..]);
    }
    parts
}

/// A stream of a batch and its events (indexes into the batch, in fan-out order); `offline`
/// when every event named it so.
struct StreamRun<'a> {
    stream: &'a StreamId,
    offline: bool,
    events: Vec<usize>,
}

/// A durable event read from the fan-out stream and the streams this node resolved it to.
struct Resolved {
    /// Its fan-out entry's id: the order every node numbers in, and what duplicates are told by.
    entry: StreamEntryId,
    envelope: Envelope,
    /// Shared by consecutive events of a batch with the same recipients (see
    /// [`Node::receive_after`]).
    targets: Arc<[super::Target]>,
}

/// The events one script call numbers for `runs` (indexes into a batch of `batch` events, in
/// fan-out order, as the script needs their ids ascending), and each run's events as the
/// script takes them: 1-based indexes into those, comma-separated, or `""` for all of them.
fn call_events(runs: &[StreamRun<'_>], batch: usize) -> (Vec<usize>, Vec<String>) {
    let mut slot = vec![0usize; batch];
    for run in runs {
        for &e in &run.events {
            if let Some(s) = slot.get_mut(e) {
                *s = 1;
            }
        }
    }
    let mut used = Vec::new();
    for (e, s) in slot.iter_mut().enumerate() {
        if *s != 0 {
            used.push(e);
            *s = used.len();
        }
    }
    let lists = runs
        .iter()
        .map(|run| {
            if run.events.len() == used.len() {
                // Every event of the call (the common case of a broadcast).
                String::new()
            } else {
                let indexes: Vec<String> = run
                    .events
                    .iter()
                    .filter_map(|&e| slot.get(e).map(usize::to_string))
                    .collect();
                indexes.join(",")
            }
        })
        .collect();
    (used, lists)
}

/// The runs of `chunk` that one script call's reply names as unsure (by index).
fn unsure_runs<'a, 'b>(
    chunk: &'a [StreamRun<'b>],
    reply: &'a Value,
) -> impl Iterator<Item = &'a StreamRun<'b>> {
    let indexes = match reply {
        Value::Array(indexes) => indexes.as_slice(),
        _ => &[],
    };
    indexes.iter().filter_map(|i| match i {
        Value::Int(i) => usize::try_from(*i).ok().and_then(|i| chunk.get(i)),
        _ => None,
    })
}

/// Tells this node's connections of `streams` to resync at their current position, for
/// `reason`; streams this node does not serve are left alone.
fn restart_here<'a>(node: &Node, streams: impl IntoIterator<Item = &'a StreamId>, reason: &str) {
    let local: HashMap<StreamId, Position> = node.positions().into_iter().collect();
    for stream in streams {
        if let Some(position) = local.get(stream) {
            node.restart(stream, position, reason);
        }
    }
}

/// The batch's target streams in the order first named, each with its events. Consecutive
/// events that share their targets are taken together: one look-up per stream and group.
fn by_stream(batch: &[Resolved]) -> Vec<StreamRun<'_>> {
    let mut runs: Vec<StreamRun<'_>> = Vec::new();
    let mut index: HashMap<&StreamId, usize> = HashMap::new();
    let mut start = 0;
    while let Some(first) = batch.get(start) {
        let end = start
            + batch[start..]
                .iter()
                .take_while(|r| Arc::ptr_eq(&r.targets, &first.targets))
                .count();
        for target in first.targets.iter() {
            let i = *index.entry(&target.stream).or_insert_with(|| {
                runs.push(StreamRun {
                    stream: &target.stream,
                    offline: true,
                    events: Vec::new(),
                });
                runs.len() - 1
            });
            if let Some(run) = runs.get_mut(i) {
                run.offline &= target.offline;
                // A stream named twice in one list takes the group's events once.
                if run.events.last().is_none_or(|&e| e < start) {
                    run.events.extend(start..end);
                }
            }
        }
        start = end;
    }
    runs
}

/// Reads the fan-out stream from the last entry read: each envelope is resolved against this
/// node's connections, and the appends a batch needs go to Redis in one pipeline. After a
/// failure it reconnects with backoff and reads on from where it left off; if entries it had
/// not read were trimmed meanwhile (away past the fan-out window), the streams it serves are
/// told to resync.
async fn read_fanout(shared: Arc<Shared>, node: Node) {
    let key = shared.fanout();
    // Until the first connection: nothing read. Then the id of the last entry read.
    let mut last: Option<StreamEntryId> = None;
    let mut delays = reconnect_delays();
    while node.is_alive() {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(FANOUT_BLOCK + Duration::from_secs(5)));
        let connected = async {
            let mut conn = shared
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(backend)?;
            let from = match last {
                // Where the stream ends now: what was emitted before this node started is
                // not its business.
                None => newest_entry(&mut conn, &key).await?,
                Some(last) => {
                    if trimmed_past(&mut conn, &key, last).await? {
                        tracing::warn!("away past the fan-out window; this node's streams resync");
                        for (stream, position) in node.positions() {
                            node.restart(
                                &stream,
                                &position,
                                "the backplane's fan-out window was exceeded; refetch",
                            );
                        }
                    }
                    last
                }
            };
            Ok::<_, BrokerError>((conn, from))
        };
        let (mut conn, from) = match connected.await {
            Ok(c) => c,
            Err(e) => {
                shared.reading.store(false, Ordering::Release);
                shared.degraded(e.to_string());
                tokio::time::sleep(delays.next().unwrap_or(RECONNECT_MAX)).await;
                continue;
            }
        };
        last = Some(from);
        delays = reconnect_delays();
        shared.reading.store(true, Ordering::Release);
        shared.recovered();
        loop {
            if !node.is_alive() {
                return;
            }
            let Some(after) = last else { break };
            let reply = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(FANOUT_BATCH)
                .arg("BLOCK")
                .arg(FANOUT_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&key)
                .arg(after.to_string())
                .query_async::<Value>(&mut conn)
                .await;
            let entries = match reply {
                Ok(value) => fanout_entries(value),
                Err(e) => {
                    shared.reading.store(false, Ordering::Release);
                    shared.degraded(e.to_string());
                    break;
                }
            };
            let mut batch: Vec<Resolved> = Vec::new();
            for (id, envelope) in entries {
                last = Some(id);
                match serde_json::from_str::<Envelope>(&envelope) {
                    Ok(envelope) => {
                        let previous = batch.last().map(|r| (&r.envelope, &r.targets));
                        let targets = node.receive_after(&envelope, previous);
                        if !targets.is_empty() {
                            batch.push(Resolved {
                                entry: id,
                                envelope,
                                targets,
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "an envelope could not be read"),
                }
            }
            shared.tenant_streams(&mut batch).await;
            for part in parts(&batch, CALL_BYTES) {
                shared.append(&node, part).await;
            }
        }
    }
}

/// How long a user's set of tenants (`<ns>:t:<user>`) lives after the user's last connection
/// began, in seconds, at least: a week, so that a connection open for days still has its
/// tenant found when it goes away and events addressed to its user with no tenant wait in its
/// stream.
const TENANTS_TTL: u64 = 7 * 24 * 3600;

/// A Redis Stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StreamEntryId(u64, u64);

impl StreamEntryId {
    fn parse(text: &str) -> Option<StreamEntryId> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamEntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for StreamEntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// The id of the stream's newest entry (`0-0` when it has none).
async fn newest_entry(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Result<StreamEntryId, BrokerError> {
    let value: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await
        .map_err(backend)?;
    let newest = match value {
        Value::Array(entries) => entries.first().and_then(|e| match e {
            Value::Array(parts) => parts.first().and_then(text),
            _ => None,
        }),
        _ => None,
    };
    Ok(newest
        .and_then(|id| StreamEntryId::parse(&id))
        .unwrap_or(StreamEntryId(0, 0)))
}

/// Whether entries after `last` may have been trimmed from the stream before this node read
/// them: the stream has been trimmed (Redis 7's `entries-added` exceeds its `length`; trimming
/// leaves `max-deleted-entry-id` alone), `last` is no longer in it, and its first entry comes
/// after `last`. At the very edge (the entry right after `last` survived) this errs towards a
/// resync, never towards a silent gap. A stream Redis lost (a restart) has trimmed nothing;
/// that loss is told by the new epochs instead.
async fn trimmed_past(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    last: StreamEntryId,
) -> Result<bool, BrokerError> {
    let value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async::<Value>(conn)
        .await;
    let fields = match value {
        Ok(Value::Array(fields)) => fields,
        Ok(Value::Map(pairs)) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        // No stream yet (nothing emitted since Redis started): nothing trimmed.
        Ok(_) | Err(_) => return Ok(false),
    };
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|kv| kv.first().and_then(text).as_deref() == Some(name))
            .and_then(|kv| kv.get(1))
    };
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let length = int(field("length")).unwrap_or(0);
    // Redis before 7 does not say how many were added: count it as trimmed.
    let trimmed = int(field("entries-added")).is_none_or(|added| added > length);
    let first = match field("first-entry") {
        Some(Value::Array(entry)) => entry
            .first()
            .and_then(text)
            .and_then(|id| StreamEntryId::parse(&id)),
        _ => None,
    };
    if !trimmed || first.is_none_or(|first| first <= last) {
        return Ok(false);
    }
    let still_there: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg(last.to_string())
        .arg(last.to_string())
        .query_async(conn)
        .await
        .map_err(backend)?;
    Ok(!matches!(still_there, Value::Array(entries) if !entries.is_empty()))
}

/// The entries of an `XREAD` reply on one stream: id and envelope text, in order.
fn fanout_entries(value: Value) -> Vec<(StreamEntryId, String)> {
    let streams = match value {
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(parts) = stream else {
            continue;
        };
        let Some(Value::Array(entries)) = parts.get(1) else {
            continue;
        };
        for entry in entries {
            let Value::Array(entry) = entry else { continue };
            let (Some(id), Some(Value::Array(fields))) = (entry.first(), entry.get(1)) else {
                continue;
            };
            let Some(id) = text(id).and_then(|id| StreamEntryId::parse(&id)) else {
                continue;
            };
            let body = fields
                .chunks(2)
                .find(|kv| kv.first().and_then(text).as_deref() == Some("e"))
                .and_then(|kv| kv.get(1).and_then(text));
            if let Some(body) = body {
                out.push((id, body));
            }
        }
    }
    out
}

/// Takes what a slot holds (a receiver handed to the task that starts once).
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// Whether `events` run from `first` through `last` without a hole.
fn is_contiguous(events: &[(u64, Duration, Arc<str>)], first: u64, last: u64) -> bool {
    events.first().is_some_and(|e| e.0 == first)
        && events.windows(2).all(|w| w[1].0 == w[0].0 + 1)
        && events.last().is_some_and(|e| e.0 >= last)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `["<last seq>-0", ['t', ms, 'b', body, 'b', body …]]`, a history entry as `lua/read.lua`
/// returns it: a run of events numbered together, its bodies oldest first. Returns
/// `(seq, time, body)` per event.
fn parse_entry(entry: &Value) -> Option<Vec<(u64, u64, Arc<str>)>> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [id, Value::Array(fields)] = parts.as_slice() else {
        return None;
    };
    let last: u64 = text(id)?.split('-').next()?.parse().ok()?;
    let mut t = 0;
    let mut bodies = Vec::new();
    for pair in fields.chunks(2) {
        if let [k, v] = pair {
            match text(k)?.as_str() {
                "t" => t = text(v)?.parse().ok()?,
                "b" => bodies.push(Arc::<str>::from(text(v)?)),
                _ => {}
            }
        }
    }
    let first = (last + 1).checked_sub(u64::try_from(bodies.len()).ok()?)?;
    if bodies.is_empty() || first == 0 {
        return None;
    }
    Some((first..).zip(bodies).map(|(seq, b)| (seq, t, b)).collect())
}

/// A run of events numbered in one stream by one script call: `seq`s `first`, `first + 1` …,
/// one per entry of `events` (indexes into the message's bodies; `None` for all of them, in
/// order). The stream and the epoch are borrowed from the message: every node reads every
/// message, most of its runs for streams it does not serve.
#[derive(Debug, PartialEq)]
struct Run<'a> {
    tenant: Option<&'a str>,
    user: &'a str,
    epoch: &'a str,
    first: u64,
    events: Option<Vec<usize>>,
}

/// A message from `<ns>:numbered` (written by `lua/append.lua`): `"<runs>\n"`, then per run
/// `"<epoch> <first seq> <indexes, 1-based, comma-separated, or * for all> <the stream's key's
/// byte length> <the stream's key>\n"` (the key as [`Shared::write_key`] writes it, after
/// `prefix`; its length tells where it ends, whatever its user id holds), then `"<bodies>\n"`
/// and each body as `"<byte length>\n<body>"`. `None` when malformed.
fn parse_numbered<'a>(payload: &'a str, prefix: &str) -> Option<(Vec<Run<'a>>, Vec<Arc<str>>)> {
    fn count(rest: &mut &str) -> Option<usize> {
        let (n, after) = rest.split_once('\n')?;
        *rest = after;
        n.parse().ok()
    }
    fn word<'a>(rest: &mut &'a str) -> Option<&'a str> {
        let (word, after) = rest.split_once(' ')?;
        *rest = after;
        Some(word)
    }
    let mut rest = payload;
    let runs_count = count(&mut rest)?;
    let mut runs = Vec::with_capacity(runs_count.min(STREAMS_PER_CALL));
    for _ in 0..runs_count {
        let epoch = word(&mut rest)?;
        let first = word(&mut rest)?.parse().ok()?;
        let events = match word(&mut rest)? {
            "*" => None,
            list => Some(
                list.split(',')
                    .map(|i| i.parse::<usize>().ok()?.checked_sub(1))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        let length: usize = word(&mut rest)?.parse().ok()?;
        let key = rest.get(..length)?;
        rest = rest.get(length..)?.strip_prefix('\n')?;
        let (tenant, user) = stream_in_key(key.strip_prefix(prefix)?)?;
        runs.push(Run {
            tenant,
            user,
            epoch,
            first,
            events,
        });
    }
    let bodies_count = count(&mut rest)?;
    let mut bodies = Vec::with_capacity(bodies_count.min(FANOUT_BATCH));
    for _ in 0..bodies_count {
        let len = count(&mut rest)?;
        bodies.push(Arc::from(rest.get(..len)?));
        rest = rest.get(len..)?;
    }
    let complete = rest.is_empty()
        && runs.iter().all(|r| match &r.events {
            None => !bodies.is_empty(),
            Some(list) => !list.is_empty() && list.iter().all(|&e| e < bodies.len()),
        });
    complete.then_some((runs, bodies))
}

impl Broker for RedisBroker {
    fn start(&self, node: Node) {
        *self
            .shared
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = node.history();
        if let Some(rx) = take(&self.shared.rx) {
            tokio::spawn(publish(self.shared.clone(), node.clone(), rx));
        }
        tokio::spawn(read_fanout(self.shared.clone(), node.clone()));
        if let Some(rx) = take(&self.shared.presence_rx) {
            tokio::spawn(share_presence(self.shared.clone(), node.clone(), rx));
        }
        tokio::spawn(subscribe(self.shared.clone(), node));
    }

    fn forward(&self, envelope: Envelope) -> Result<(), BrokerError> {
        // Counted before it is queued: the publisher may take it at once. The count holds what
        // waits in the channel and the publisher's batch until Redis has it, so the bound is on
        // both: at most `capacity` events wait, whatever the publisher holds.
        let waiting = self.shared.unpublished.fetch_add(1, Ordering::AcqRel);
        if waiting >= self.shared.capacity {
            self.shared.unpublished.fetch_sub(1, Ordering::AcqRel);
            return Err(BrokerError::QueueFull(self.shared.capacity));
        }
        let now = u64::try_from(self.shared.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let before = self.shared.last_forward_us.swap(now, Ordering::AcqRel);
        if now.saturating_sub(before) >= BURST_PAUSE_US {
            self.shared.burst_began.store(true, Ordering::Release);
        }
        self.shared.tx.try_send(envelope).map_err(|e| {
            self.shared.unpublished.fetch_sub(1, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => BrokerError::QueueFull(self.shared.capacity),
                mpsc::error::TrySendError::Closed(_) => {
                    BrokerError::Backend("the broker has stopped".to_owned())
                }
            }
        })
    }

    fn unpublished(&self) -> usize {
        self.shared.unpublished.load(Ordering::Acquire)
    }

    fn snapshot<'a>(
        &'a self,
        stream: &'a StreamId,
    ) -> BoxFuture<'a, Result<Snapshot, BrokerError>> {
        Box::pin(async move {
            if !matches!(self.status(), BrokerStatus::Healthy) {
                return Err(BrokerError::Backend("the backplane is degraded".to_owned()));
            }
            let count = self.shared.history().max_events.max(1) + 1;
            let (position, events) = self.shared.read(stream, None, count).await?;
            if let Some(tenant) = &stream.tenant {
                // Where events addressed to the user with no tenant find this stream.
                let key = self.shared.tenants_key(&stream.user);
                let mut conn = self.shared.conn().await?;
                let () = redis::pipe()
                    .cmd("SADD")
                    .arg(&key)
                    .arg(tenant)
                    .ignore()
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(self.shared.ttl_ms().div_ceil(1000).max(TENANTS_TTL))
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(backend)?;
            }
            Ok(Snapshot { position, events })
        })
    }

    fn status(&self) -> BrokerStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn presence_changed(&self, membership: &Membership, joined: bool) {
        if self
            .shared
            .presence_tx
            .try_send((membership.clone(), joined))
            .is_err()
        {
            // Full (a burst of joins while Redis is slow): write them all again later.
            self.shared.presence_dirty.store(true, Ordering::Release);
        }
    }

    fn room_members<'a>(
        &'a self,
        tenant: Option<&'a str>,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, BrokerError>> {
        Box::pin(async move {
            let key = self.shared.presence_key(tenant, room);
            let mut conn = self.shared.conn().await?;
            let fields: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            let mut nodes: Vec<&str> = fields
                .iter()
                .filter_map(|(field, _)| field.rsplit_once(':').map(|(node, _)| node))
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            let alive: Vec<Option<String>> = if nodes.is_empty() {
                Vec::new()
            } else {
                let mut mget = redis::cmd("MGET");
                for node in &nodes {
                    mget.arg(self.shared.node_key(node));
                }
                mget.query_async(&mut conn).await.map_err(backend)?
            };
            let is_alive = |node: &str| {
                nodes
                    .iter()
                    .position(|n| *n == node)
                    .and_then(|i| alive.get(i))
                    .is_some_and(Option::is_some)
            };
            let mut members = Vec::new();
            let mut dead = Vec::new();
            for (field, user) in &fields {
                match field.rsplit_once(':') {
                    Some((node, _)) if is_alive(node) => members.push(user.clone()),
                    _ => dead.push(field.clone()),
                }
            }
            if !dead.is_empty() {
                // The memberships of nodes that died without leaving: gone now.
                let _: Result<(), _> = redis::cmd("HDEL")
                    .arg(&key)
                    .arg(dead)
                    .query_async(&mut conn)
                    .await;
            }
            Ok(Some(members))
        })
    }
}

/// How many membership changes wait for Redis; past it they are written again all at once.
const PRESENCE_QUEUE: usize = 65_536;

/// How long a node's liveness key lives, and how often it is refreshed.
const NODE_TTL: Duration = Duration::from_secs(15);
const NODE_REFRESH: Duration = Duration::from_secs(5);

/// How long a room's presence hash lives after its last change (the fields of dead nodes are
/// removed when read; this drops rooms no one reads).
const PRESENCE_TTL_SECONDS: u64 = 24 * 3600;

/// Shares this node's room memberships in Redis: each change as it comes (pipelined), the
/// node's liveness key every few seconds, and every membership again when Redis may lack some
/// (its restart, the node's absence past its liveness, a write that failed, an overflowed
/// queue). A full write is made under a new presence id, and the old id's liveness key is
/// deleted, so that memberships that ended meanwhile vanish with the old id instead of staying.
async fn share_presence(
    shared: Arc<Shared>,
    node: Node,
    mut rx: mpsc::Receiver<(Membership, bool)>,
) {
    // This node's id in presence: new for each full write (and unique per broker, so two hubs
    // of one process differ).
    let mut id = crate::ids::uuid();
    let mut tick = tokio::time::interval(NODE_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changes = Vec::new();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut changes, 512) => {
                if n == 0 {
                    return;
                }
            }
            _ = tick.tick() => {}
        }
        if !node.is_alive() {
            return;
        }
        let dirty = shared.presence_dirty.swap(false, Ordering::AcqRel);
        let written = async {
            let mut conn = shared.conn().await?;
            let mut pipe = redis::pipe();
            // A liveness key that had to be made again means Redis lost (or expired) this
            // node's memberships.
            let fresh: Option<String> = redis::cmd("SET")
                .arg(shared.node_key(&id))
                .arg("1")
                .arg("NX")
                .arg("EX")
                .arg(NODE_TTL.as_secs())
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            let mut writing = id.clone();
            let all = if dirty || fresh.is_some() {
                writing = crate::ids::uuid();
                pipe.cmd("DEL").arg(shared.node_key(&id)).ignore();
                pipe.cmd("SET")
                    .arg(shared.node_key(&writing))
                    .arg("1")
                    .arg("EX")
                    .arg(NODE_TTL.as_secs())
                    .ignore();
                // Every change still queued happened before the snapshot below, which holds its
                // outcome: written later under the new id, a queued join whose leave was lost to
                // an overflow would stay forever.
                while rx.try_recv().is_ok() {}
                Some(node.memberships())
            } else {
                pipe.cmd("EXPIRE")
                    .arg(shared.node_key(&id))
                    .arg(NODE_TTL.as_secs())
                    .ignore();
                None
            };
            let writes: Vec<(&Membership, bool)> = match &all {
                Some(all) => all.iter().map(|m| (m, true)).collect(),
                None => changes.iter().map(|(m, joined)| (m, *joined)).collect(),
            };
            for (m, joined) in writes {
                let key = shared.presence_key(m.tenant.as_deref(), &m.room);
                let field = format!("{writing}:{}", m.connection);
                if joined {
                    pipe.cmd("HSET").arg(&key).arg(field).arg(&m.user).ignore();
                    pipe.cmd("EXPIRE")
                        .arg(&key)
                        .arg(PRESENCE_TTL_SECONDS)
                        .ignore();
                } else {
                    pipe.cmd("HDEL").arg(&key).arg(field).ignore();
                }
            }
            pipe.query_async::<()>(&mut conn).await.map_err(backend)?;
            Ok::<_, BrokerError>(writing)
        };
        match written.await {
            Ok(writing) => id = writing,
            Err(e) => {
                tracing::debug!(error = %e, "presence not shared; written again once Redis is back");
                shared.presence_dirty.store(true, Ordering::Release);
            }
        }
        changes.clear();
    }
}

/// Events appended to the fan-out stream per script call, at most.
const PUBLISH_BATCH: usize = 256;

/// How long the publisher goes on gathering a burst after the last event arrived (see
/// [`gather_burst`]).
const BURST_QUIET: Duration = Duration::from_micros(50);

/// How long the publisher gathers a burst, at most.
const BURST_LINGER: Duration = Duration::from_micros(500);

/// The pause between two emits after which the second may begin a burst, in µs (see
/// [`gather_burst`]): events closer together than that (over 1,000 a second) are batched by
/// the round trip to Redis instead.
const BURST_PAUSE_US: u64 = 1_000;

/// Gathers a burst of durable events: after the first of a batch that begins after a pause of
/// emits ([`BURST_PAUSE_US`]), takes the events that follow until none has come for
/// [`BURST_QUIET`], [`BURST_LINGER`] has passed, the batch is full, or an ephemeral event comes
/// (it is not held: every node delivers it as it reads it, whatever the batch). Emits that
/// follow each other closer are a stream, batched by the round trip to Redis.
///
/// A burst emitted in a loop arrives while the publisher wakes for its first event. Appended
/// as they came, a burst of 20 went out as two batches in a third of the delivery bench's
/// rounds (its first event or first few, then the rest). Every node reads and numbers each
/// batch on its own, so each of the burst's streams took two script entries and its
/// connections two runs: those rounds delivered ~40% fewer events per second.
///
/// It waits microseconds, which tokio's timer (a millisecond coarse) cannot: between looks it
/// yields to the runtime and gives up the thread's CPU (`sched_yield`), so that the thread
/// emitting the burst runs. Woken by the burst's first event, the publisher was often put on
/// that thread's CPU, and yielding to the runtime alone kept the thread from it. A timer of
/// 1 ms instead held a durable event alone 1–2 ms and a stream of a few hundred a second up to
/// 5 ms (a stranger's measurements).
async fn gather_burst(rx: &mut mpsc::Receiver<Envelope>, batch: &mut Vec<Envelope>) {
    let start = Instant::now();
    let mut last = start;
    while batch.len() < PUBLISH_BATCH {
        tokio::task::yield_now().await;
        std::thread::yield_now();
        let before = batch.len();
        while batch.len() < PUBLISH_BATCH {
            let Ok(envelope) = rx.try_recv() else { break };
            let ephemeral = !envelope.durable;
            batch.push(envelope);
            if ephemeral {
                return;
            }
        }
        let now = Instant::now();
        if batch.len() > before {
            last = now;
        } else if now.duration_since(last) >= BURST_QUIET {
            return;
        }
        if now.duration_since(start) >= BURST_LINGER {
            return;
        }
    }
}

/// Appends emitted events to the fan-out stream in order, one script call per batch
/// (`lua/publish.lua`); a failed batch is retried as a whole until Redis takes it (the script
/// skips a durable event already appended).
async fn publish(shared: Arc<Shared>, node: Node, mut rx: mpsc::Receiver<Envelope>) {
    let stream = shared.fanout();
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        // A durable event after a pause may begin a burst: gather it as it is emitted. Events
        // that follow each other closer than the pause are a stream, batched by the round trip.
        if shared.burst_began.swap(false, Ordering::AcqRel)
            && batch.first().is_some_and(|e| e.durable)
        {
            gather_burst(&mut rx, &mut batch).await;
        }
        let mut call = shared.publish.prepare_invoke();
        call.key(&stream)
            .arg(shared.fanout_window)
            .arg(shared.dedup_window.as_secs().max(1))
            .arg(format!("{}:e:", shared.ns));
        for envelope in &batch {
            match serde_json::to_string(envelope) {
                Ok(text) => {
                    call.arg(if envelope.durable {
                        envelope.event_id.as_str()
                    } else {
                        ""
                    })
                    .arg(text);
                }
                Err(e) => tracing::error!(error = %e, "an envelope could not be encoded"),
            }
        }
        let mut delays = reconnect_delays();
        loop {
            let sent = async {
                let mut conn = shared.conn().await?;
                call.invoke_async::<()>(&mut conn).await.map_err(backend)
            };
            match sent.await {
                Ok(()) => {
                    shared.recovered();
                    shared.unpublished.fetch_sub(batch.len(), Ordering::AcqRel);
                    break;
                }
                Err(e) => {
                    if !node.is_alive() {
                        return;
                    }
                    shared.degraded(e.to_string());
                    tokio::time::sleep(delays.next().unwrap_or(RECONNECT_MAX)).await;
                }
            }
        }
        batch.clear();
    }
}

/// Receives numbered frames; reconnects and reconciles after a failure.
async fn subscribe(shared: Arc<Shared>, node: Node) {
    let mut delays = reconnect_delays();
    let keep_alive_every =
        (shared.history().max_age / 3).clamp(Duration::from_millis(500), Duration::from_secs(60));
    while node.is_alive() {
        let connected = async {
            let mut pubsub = shared.client.get_async_pubsub().await.map_err(backend)?;
            pubsub
                .subscribe(&[shared.numbered()])
                .await
                .map_err(backend)?;
            // Make sure the command connection works too before calling the node healthy.
            let mut conn = shared.conn().await?;
            redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(backend)?;
            Ok::<_, BrokerError>(pubsub)
        };
        let pubsub = match connected.await {
            Ok(p) => p,
            Err(e) => {
                shared.degraded(e.to_string());
                tokio::time::sleep(delays.next().unwrap_or(RECONNECT_MAX)).await;
                continue;
            }
        };
        delays = reconnect_delays();
        // Subscribed: anything published from now on arrives. What was published while the
        // node was away is read back from the streams.
        for (stream, local) in node.positions() {
            shared.catch_up(&node, &stream, &local).await;
        }
        shared.subscribed.store(true, Ordering::Release);
        shared.recovered();
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(keep_alive_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { break };
                    shared.handle(&node, &msg).await;
                }
                _ = tick.tick() => {
                    if !node.is_alive() {
                        return;
                    }
                    if let Err(e) = shared.keep_alive(&node).await {
                        tracing::debug!(error = %e, "keep-alive failed");
                    }
                }
            }
        }
        shared.subscribed.store(false, Ordering::Release);
        shared.degraded("the subscription to redis was lost");
    }
}

/// A `redis-server` of a test's own: the integration tests' helper, one implementation.
#[cfg(test)]
#[path = "../../tests/it/redis_server.rs"]
mod redis_server;

#[cfg(test)]
mod tests {
    use super::*;

    use super::redis_server::RedisServer as Server;

    const CHANNEL: &str = "t:numbered";

    fn stream(user: &str) -> StreamId {
        StreamId {
            tenant: Some("acme".to_owned()),
            user: user.to_owned(),
        }
    }

    /// One node's script call: `events` as (fan-out id, body), `streams` as (user, 1-based
    /// indexes into `events`; none: every event). Returns the unsure streams' indexes.
    async fn number(
        shared: &Shared,
        conn: &mut redis::aio::MultiplexedConnection,
        events: &[(&str, &str)],
        streams: &[(&str, &[usize])],
        max_events: usize,
    ) -> Vec<i64> {
        let script = Script::new(APPEND);
        let mut call = script.prepare_invoke();
        for (user, _) in streams {
            call.key(shared.key(STREAM, &stream(user)));
        }
        call.arg(now_ms())
            .arg(max_events)
            .arg(shared.ttl_ms())
            .arg("e1")
            .arg(CHANNEL)
            .arg(60_000)
            .arg(0)
            .arg(0)
            .arg(shared.bodies_prefix())
            .arg(events.len())
            .arg(shared.renewal_ms())
            .arg(streams.len())
            .arg(
                streams
                    .iter()
                    .filter(|(_, picked)| !picked.is_empty())
                    .count(),
            );
        for (id, _) in events {
            call.arg(*id);
        }
        for (_, body) in events {
            call.arg(*body);
        }
        for (i, (_, picked)) in streams.iter().enumerate() {
            if !picked.is_empty() {
                let picked: Vec<String> = picked.iter().map(usize::to_string).collect();
                call.arg(i + 1).arg(picked.join(","));
            }
        }
        call.invoke_async(conn).await.expect("the script runs")
    }

    /// `(seq, body)` of the events in the user's history after `after` (at most `count`), or
    /// the newest `count`, as a node reads them back.
    async fn history(
        shared: &Shared,
        user: &str,
        after: Option<u64>,
        count: usize,
    ) -> Vec<(u64, String)> {
        let (position, events) = shared
            .read(&stream(user), after, count)
            .await
            .expect("the read script runs");
        assert_eq!(position.epoch, "e1");
        events
            .into_iter()
            .map(|(seq, _, body)| (seq, body.to_string()))
            .collect()
    }

    /// A stream's last entry, which carries its state, as its fields (`"<seq> <last> <renewed>
    /// <epoch> <born> <ms> <call> <events>"`, see `lua/stream.lua`); `None` for no stream.
    async fn state(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<String>> {
        let entry: Option<String> = redis::cmd("LINDEX")
            .arg(key)
            .arg(-1)
            .query_async(conn)
            .await
            .expect("LINDEX");
        let fields: Option<Vec<String>> = entry.map(|e| e.split(' ').map(str::to_owned).collect());
        if let Some(f) = &fields {
            assert_eq!(f.len(), 8, "{f:?}");
        }
        fields
    }

    /// Appends to a stream's list an entry per seq of `seqs`, each a run of one event of call 1
    /// in epoch `e1`, the stream's `last` at `ms` (`lua/stream.lua`).
    async fn push_runs(
        conn: &mut redis::aio::MultiplexedConnection,
        key: &str,
        seqs: std::ops::Range<u64>,
        ms: u64,
    ) {
        for seq in seqs {
            let () = redis::cmd("RPUSH")
                .arg(key)
                .arg(format!("{seq} {ms}-0 0 e1 {ms} {ms} 1 *"))
                .query_async(conn)
                .await
                .expect("RPUSH");
        }
    }

    /// Rewrites a stream's last entry field by field, keeping its expiry.
    async fn edit_state(
        conn: &mut redis::aio::MultiplexedConnection,
        key: &str,
        edit: impl FnOnce(&mut Vec<String>),
    ) {
        let mut fields = state(conn, key).await.expect("a stream");
        edit(&mut fields);
        let () = redis::cmd("LSET")
            .arg(key)
            .arg(-1)
            .arg(fields.join(" "))
            .query_async(conn)
            .await
            .expect("LSET");
    }

    /// A broker of namespace `t` on the server, and a connection of its own.
    async fn broker(server: &Server) -> (RedisBroker, redis::aio::MultiplexedConnection) {
        let url = server.url();
        let broker = RedisBroker::builder(url.as_str())
            .namespace("t")
            .build()
            .expect("url");
        (broker, server.connection().await)
    }

    /// `(user, seq, body)` of every event the messages received so far numbered.
    async fn numbered(
        messages: &mut (impl futures_util::Stream<Item = redis::Msg> + Unpin),
        count: usize,
    ) -> Vec<(String, u64, String)> {
        let mut out = Vec::new();
        for _ in 0..count {
            let msg = tokio::time::timeout(Duration::from_secs(5), messages.next())
                .await
                .expect("a message")
                .expect("subscribed");
            let payload = String::from_utf8(msg.get_payload_bytes().to_vec()).expect("utf-8");
            let (runs, bodies) = parse_numbered(&payload, "t:r:").expect("a well-formed message");
            for run in runs {
                assert_eq!(run.epoch, "e1");
                let events = run.events.unwrap_or_else(|| (0..bodies.len()).collect());
                for (seq, e) in (run.first..).zip(events) {
                    out.push((run.user.to_string(), seq, bodies[e].to_string()));
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn each_event_is_numbered_once_per_stream_whatever_order_the_nodes_come_in() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let client = redis::Client::open(server.url()).expect("url");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe(CHANNEL).await.expect("subscribe");
        let mut messages = pubsub.into_on_message();
        // Fan-out ids as Redis makes them: its clock's ms, then a counter.
        let now = now_ms();
        let ids = [
            format!("{now}-0"),
            format!("{now}-1"),
            format!("{}-0", now + 1),
        ];
        let events = [
            (ids[0].as_str(), "{\"a\":1}"),
            (ids[1].as_str(), "{\"b\":\"line\\nbreak, ü\"}"),
            (ids[2].as_str(), "{\"c\":3}"),
        ];
        // Node B, ahead, numbers events 2 and 3 for ann (a room only B resolves it to) and event 3
        // for bob; node A then numbers all three for ann (two are B's) and event 1 for bob.
        // cy gets every event of B's call.
        number(
            shared,
            &mut conn,
            &events,
            &[("ann", &[2, 3]), ("bob", &[3]), ("cy", &[])],
            10,
        )
        .await;
        // Node A's call, then its retry, which numbers nothing and publishes nothing.
        for _ in 0..2 {
            number(
                shared,
                &mut conn,
                &events,
                &[("ann", &[1, 2, 3]), ("bob", &[1])],
                10,
            )
            .await;
        }
        let got = numbered(&mut messages, 2).await;
        let body = |i: usize| events[i].1.to_owned();
        assert_eq!(
            got,
            vec![
                ("ann".to_owned(), 1, body(1)),
                ("ann".to_owned(), 2, body(2)),
                ("bob".to_owned(), 1, body(2)),
                ("cy".to_owned(), 1, body(0)),
                ("cy".to_owned(), 2, body(1)),
                ("cy".to_owned(), 3, body(2)),
                ("ann".to_owned(), 3, body(0)),
                ("bob".to_owned(), 2, body(0)),
            ]
        );
        number(shared, &mut conn, &events, &[("ann", &[3])], 10).await;
        let nothing = tokio::time::timeout(Duration::from_millis(200), messages.next()).await;
        assert!(nothing.is_err(), "a duplicate published {nothing:?}");

        // An event older than the de-duplication window, from a node that was away, and before
        // the stream's last: the script cannot tell whether it was numbered, so it numbers it
        // in no stream that has newer ones and names those streams (by index) as unsure.
        let stale = format!("{}-0", now - 120_000);
        let late = [(stale.as_str(), "{\"d\":4}")];
        let unsure = number(
            shared,
            &mut conn,
            &late,
            &[("ann", &[1]), ("dan", &[1])],
            10,
        )
        .await;
        assert_eq!(unsure, vec![0], "ann has newer events; dan, new, takes it");
        let got = numbered(&mut messages, 1).await;
        assert_eq!(got, vec![("dan".to_owned(), 1, late[0].1.to_owned())]);

        // The history holds runs of events, one entry per call naming the call's bodies, read
        // back one event each.
        assert_eq!(
            history(shared, "ann", Some(0), 100).await,
            vec![(1, body(1)), (2, body(2)), (3, body(0))]
        );
        assert_eq!(
            history(shared, "bob", Some(0), 100).await,
            vec![(1, body(2)), (2, body(0))]
        );
        assert_eq!(
            history(shared, "cy", Some(0), 100).await,
            vec![(1, body(0)), (2, body(1)), (3, body(2))]
        );
    }

    #[tokio::test]
    async fn the_history_keeps_at_least_max_events_when_runs_are_trimmed() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        // 51 events in 16 runs: 11 of one, then 1, 7, 1, 16, 15 (the ids grow as the fan-out
        // stream's would).
        let ids: Vec<String> = (0..51).map(|i| format!("1700000000000-{i}")).collect();
        let bodies: Vec<String> = (0..51).map(|i| format!("{{\"n\":{i}}}")).collect();
        let events: Vec<(&str, &str)> = ids
            .iter()
            .zip(&bodies)
            .map(|(i, b)| (i.as_str(), b.as_str()))
            .collect();
        let mut at = 0;
        for run in [1; 11].into_iter().chain([1, 7, 1, 16, 15]) {
            let picked: Vec<usize> = (at + 1..=at + run).collect();
            number(shared, &mut conn, &events, &[("cy", &picked)], 10).await;
            at += run;
        }
        // Trimmed when the list reached 16 entries: the last run (37–51) holds the newest 10
        // and more; the older runs, all before 42, are gone.
        let seqs = |events: Vec<(u64, String)>| {
            assert!(events
                .iter()
                .all(|(seq, body)| *body == format!("{{\"n\":{}}}", seq - 1)));
            events.into_iter().map(|(seq, _)| seq).collect::<Vec<_>>()
        };
        assert_eq!(
            seqs(history(shared, "cy", Some(0), 100).await),
            (37..=51).collect::<Vec<_>>()
        );
        // Read back from inside a run, and the newest few: cut to the events asked for.
        assert_eq!(
            seqs(history(shared, "cy", Some(40), 5).await),
            (41..=45).collect::<Vec<_>>()
        );
        assert_eq!(seqs(history(shared, "cy", None, 3).await), vec![49, 50, 51]);
        assert_eq!(
            seqs(history(shared, "cy", Some(51), 5).await),
            Vec::<u64>::new()
        );
    }

    #[tokio::test]
    async fn the_history_holds_at_most_max_events_and_16_entries_whatever_the_runs() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        // 16 runs of one event (none can go yet: 16 events of the 20 kept), then runs of 100:
        // the list grows to its next multiple of 16 before a trim can drop anything.
        let total = 16 + 40 * 100;
        let ids: Vec<String> = (0..total).map(|i| format!("1700000000000-{i}")).collect();
        let bodies: Vec<String> = (0..total).map(|i| format!("{{\"n\":{i}}}")).collect();
        let events: Vec<(&str, &str)> = ids
            .iter()
            .zip(&bodies)
            .map(|(i, b)| (i.as_str(), b.as_str()))
            .collect();
        let key = shared.key(STREAM, &stream("hx"));
        let mut at = 0;
        for run in [1; 16].into_iter().chain([100; 40]) {
            let picked: Vec<usize> = (at + 1..=at + run).collect();
            number(shared, &mut conn, &events, &[("hx", &picked)], 20).await;
            at += run;
            let entries: usize = redis::cmd("LLEN")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("LLEN");
            assert!(entries <= 20 + 16, "{entries} entries after {at} events");
            let held = history(shared, "hx", None, 20).await;
            assert_eq!(held.len(), at.min(20), "the newest 20 after {at} events");
        }
    }

    #[tokio::test]
    async fn a_streams_key_outlives_each_event_by_its_window_renewed_once_per_period() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let (ttl, period) = (shared.ttl_ms(), shared.renewal_ms());
        let window = u64::try_from(DEDUP_WINDOW.as_millis()).expect("ms");
        assert_eq!(period, window / 16, "max age 10 min, window 60 s");
        let key = shared.key(STREAM, &stream("dee"));
        let probe = conn.clone();
        let pttl = async || -> i64 {
            redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut probe.clone())
                .await
                .expect("PTTL")
        };
        let now = now_ms();
        let ids: Vec<String> = (0..4).map(|n| format!("{now}-{n}")).collect();
        number(shared, &mut conn, &[(&ids[0], "{}")], &[("dee", &[])], 10).await;
        // The first event: the key gets its window plus the period.
        let max_age = u64::try_from(shared.history().max_age.as_millis()).expect("ms");
        assert_eq!(
            ttl,
            max_age.max(window) + period,
            "the longer of the two windows"
        );
        let left = pttl().await;
        let given = i64::try_from(ttl).expect("ms");
        assert!(
            left > given - 1_000 && left <= given,
            "{left} ms left, {ttl} ms given"
        );
        // Within the period: not renewed (a shorter expiry stays, though still past the
        // window).
        let () = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl - 1_000)
            .query_async(&mut conn)
            .await
            .expect("PEXPIRE");
        number(shared, &mut conn, &[(&ids[1], "{}")], &[("dee", &[])], 10).await;
        let left = pttl().await;
        assert!(left <= given - 1_000, "renewed within the period: {left}");
        // A period after the last renewal: renewed.
        edit_state(&mut conn, &key, |fields| {
            let renewed: u64 = fields[2].parse().expect("renewed");
            fields[2] = (renewed - period).to_string();
        })
        .await;
        number(shared, &mut conn, &[(&ids[2], "{}")], &[("dee", &[])], 10).await;
        assert!(pttl().await > given - 1_000);
        assert_eq!(history(shared, "dee", Some(0), 10).await.len(), 3);
        // A stream that went away meanwhile (evicted) starts again, its key given its expiry at
        // once.
        let () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("DEL");
        number(shared, &mut conn, &[(&ids[3], "{}")], &[("dee", &[])], 10).await;
        assert!(pttl().await > given - 1_000);
        assert_eq!(history(shared, "dee", Some(0), 10).await.len(), 1);
    }

    #[tokio::test]
    async fn the_history_tells_duplicates_for_the_window_whatever_max_events() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let key = shared.key(STREAM, &stream("eve"));
        let now = now_ms();
        // 40 calls of one recent event each, with a history of 2 events: every entry stays (the
        // window holds them), reads give the newest 2.
        let ids: Vec<String> = (0..40).map(|n| format!("{now}-{n}")).collect();
        for id in &ids {
            number(shared, &mut conn, &[(id, "{}")], &[("eve", &[])], 2).await;
        }
        let all = async |conn: &mut redis::aio::MultiplexedConnection| -> Vec<String> {
            redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(conn)
                .await
                .expect("LRANGE")
        };
        let entries = all(&mut conn).await;
        assert_eq!(entries.len(), 40);
        let newest: Vec<&str> = entries[39].split(' ').collect();
        assert_eq!(
            (newest[0], newest[7], newest[1]),
            ("40", "*", ids[39].as_str()),
            "seq, events, last: {entries:?}"
        );
        let seqs =
            |events: Vec<(u64, String)>| events.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(seqs(history(shared, "eve", None, 2).await), vec![39, 40]);
        assert_eq!(seqs(history(shared, "eve", Some(5), 2).await), vec![6, 7]);
        // Another node (or a retry) with the first, the 20th and a new event: only the new one is
        // numbered, the others are found in the calls the history names.
        let fresh = format!("{now}-40");
        let again = [
            (ids[0].as_str(), "{}"),
            (ids[19].as_str(), "{}"),
            (fresh.as_str(), "{}"),
        ];
        number(shared, &mut conn, &again, &[("eve", &[])], 2).await;
        assert_eq!(seqs(history(shared, "eve", None, 2).await), vec![40, 41]);
        // A call that numbered several events, some of them in this stream: its other events are
        // not taken for this stream's.
        let (a, b, c) = (
            format!("{now}-41"),
            format!("{now}-42"),
            format!("{now}-43"),
        );
        let three = [(a.as_str(), "{}"), (b.as_str(), "{}"), (c.as_str(), "{}")];
        number(
            shared,
            &mut conn,
            &three,
            &[("eve", &[1, 3]), ("fin", &[])],
            2,
        )
        .await;
        number(shared, &mut conn, &three, &[("eve", &[1, 2, 3])], 2).await;
        let held = history(shared, "eve", Some(41), 10).await;
        assert_eq!(seqs(held), vec![42, 43, 44], "a and c once, then b");
        // Entries whose `last` left the window go once the history passes a multiple of 16
        // entries (beyond the 2 events kept); their events are then unsure, not numbered again.
        let old = now - 120_000;
        let () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("DEL");
        push_runs(&mut conn, &key, 29..44, old).await;
        let newer = format!("{now}-50");
        number(shared, &mut conn, &[(&newer, "{}")], &[("eve", &[])], 2).await;
        let entries = all(&mut conn).await;
        assert_eq!(
            entries.len(),
            2,
            "the newest two events' entries: {entries:?}"
        );
        assert!(entries[0].starts_with("43 ") && entries[1].starts_with("44 "));
        let stale = format!("{old}-0");
        let unsure = number(shared, &mut conn, &[(&stale, "{}")], &[("eve", &[])], 2).await;
        assert_eq!(unsure, vec![0]);
    }

    /// The last entry carries the stream's state: a trim never takes it, even when the history
    /// keeps no event and every entry's `last` is older than the window (events from a node
    /// that was away).
    #[tokio::test]
    async fn a_trim_never_takes_the_last_entry() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let key = shared.key(STREAM, &stream("kit"));
        let now = now_ms();
        let (older, old) = (now - 180_000, now - 120_000);
        push_runs(&mut conn, &key, 1..16, older).await;
        // Past the stream's `last`, so numbered, and older than the window: the 16th entry.
        let late = format!("{old}-0");
        let unsure = number(shared, &mut conn, &[(&late, "{}")], &[("kit", &[])], 0).await;
        assert!(unsure.is_empty());
        let entries: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .expect("LRANGE");
        assert_eq!(entries.len(), 1, "{entries:?}");
        let last = state(&mut conn, &key).await.expect("the state is kept");
        assert_eq!((last[0].as_str(), last[1].as_str()), ("16", late.as_str()));
        // And numbering goes on in the same epoch.
        let next = format!("{now}-0");
        number(shared, &mut conn, &[(&next, "{}")], &[("kit", &[])], 0).await;
        let last = state(&mut conn, &key).await.expect("the state");
        assert_eq!((last[0].as_str(), last[3].as_str()), ("17", "e1"));
    }

    #[tokio::test]
    async fn a_streams_state_is_its_last_entry_each_stream_numbered_on_its_own() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let key = |user: &str| shared.key(STREAM, &stream(user));
        let now = now_ms();
        let ids: Vec<String> = (0..4).map(|n| format!("{now}-{n}")).collect();
        let events: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "{}")).collect();
        // Two streams numbered alike hold the same state (read once, memoized, per call) ...
        number(
            shared,
            &mut conn,
            &events[..2],
            &[("fay", &[]), ("gus", &[])],
            10,
        )
        .await;
        let fay = state(&mut conn, &key("fay")).await.expect("fay's state");
        assert_eq!(Some(&fay), state(&mut conn, &key("gus")).await.as_ref());
        assert_eq!(
            (fay[3].as_str(), fay[0].as_str(), fay[1].as_str()),
            ("e1", "2", ids[1].as_str()),
            "epoch, seq, last: {fay:?}"
        );
        let born: u64 = fay[4].parse().expect("born");
        let renewed: u64 = fay[2].parse().expect("renewed");
        assert!(born.abs_diff(now) < 60_000 && renewed.abs_diff(now) < 60_000);
        // ... and each goes on from it on its own: a call that numbers different events in each.
        number(
            shared,
            &mut conn,
            &events[2..],
            &[("fay", &[1, 2]), ("gus", &[2])],
            10,
        )
        .await;
        assert_eq!(state(&mut conn, &key("fay")).await.expect("fay")[0], "4");
        assert_eq!(state(&mut conn, &key("gus")).await.expect("gus")[0], "3");
        assert_eq!(
            history(shared, "gus", Some(0), 10)
                .await
                .into_iter()
                .map(|(seq, _)| seq)
                .collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        // A last entry that cannot be read is a stream Redis lost: a new epoch, its history
        // dropped.
        let () = redis::cmd("RPUSH")
            .arg(key("gus"))
            .arg("not a state")
            .query_async(&mut conn)
            .await
            .expect("RPUSH");
        let later = format!("{}-0", now + 1);
        number(shared, &mut conn, &[(&later, "{}")], &[("gus", &[])], 10).await;
        assert_eq!(state(&mut conn, &key("gus")).await.expect("gus")[0], "1");
        assert_eq!(history(shared, "gus", Some(0), 10).await.len(), 1);
        // A stream first read by a node (its first connection) starts at seq 0 of the reader's
        // epoch, in an entry that holds no event, and numbering goes on in that epoch.
        let (position, events) = shared.read(&stream("hal"), None, 10).await.expect("read");
        assert_eq!((position.seq, events.len()), (0, 0));
        let hal = state(&mut conn, &key("hal")).await.expect("hal's state");
        assert_eq!(
            (
                hal[3].as_str(),
                hal[0].as_str(),
                hal[1].as_str(),
                hal[2].as_str(),
                hal[6].as_str()
            ),
            (position.epoch.as_str(), "0", "0-0", "0", "0")
        );
        number(shared, &mut conn, &[(&later, "{}")], &[("hal", &[])], 10).await;
        let (position, events) = shared
            .read(&stream("hal"), Some(0), 10)
            .await
            .expect("read");
        assert_eq!(
            (position.epoch.as_str(), position.seq),
            (hal[3].as_str(), 1)
        );
        assert_eq!(events.len(), 1);
    }

    /// A durable envelope with the id `e<n>` and an empty body.
    fn envelope(n: usize) -> Envelope {
        Envelope {
            origin: "n".to_owned(),
            event_id: format!("e{n}"),
            durable: true,
            recipients: crate::recipients::Recipients::default(),
            body: Arc::from("{}"),
        }
    }

    /// The publisher's batch: what is queued, up to its bound; an event alone once nothing
    /// follows it; up to an ephemeral event.
    #[tokio::test]
    async fn the_publisher_gathers_what_is_queued_up_to_its_batch() {
        let (tx, mut rx) = mpsc::channel(1_000);
        for n in 0..300 {
            tx.try_send(envelope(n)).expect("room");
        }
        let mut batch = Vec::new();
        rx.recv_many(&mut batch, PUBLISH_BATCH).await;
        gather_burst(&mut rx, &mut batch).await;
        assert_eq!(batch.len(), PUBLISH_BATCH);
        batch.clear();
        rx.recv_many(&mut batch, PUBLISH_BATCH).await;
        gather_burst(&mut rx, &mut batch).await;
        assert_eq!(batch.len(), 300 - PUBLISH_BATCH);
        assert_eq!(batch[0].event_id, format!("e{PUBLISH_BATCH}"));
        batch.clear();
        tx.try_send(envelope(300)).expect("room");
        rx.recv_many(&mut batch, PUBLISH_BATCH).await;
        gather_burst(&mut rx, &mut batch).await;
        assert_eq!(batch.len(), 1);
        // An ephemeral event ends the gathering: it is not held for what may follow it.
        batch.clear();
        tx.try_send(envelope(301)).expect("room");
        rx.recv_many(&mut batch, PUBLISH_BATCH).await;
        for (n, durable) in [(302, false), (303, true)] {
            tx.try_send(Envelope {
                durable,
                ..envelope(n)
            })
            .expect("room");
        }
        gather_burst(&mut rx, &mut batch).await;
        let ids: Vec<&str> = batch.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e301", "e302"]);
        assert_eq!(
            rx.try_recv().map(|e| e.event_id).ok().as_deref(),
            Some("e303")
        );
    }

    /// Numbering and read-backs retry 40 times over about 35 s: 50 ms doubling to 1 s.
    #[test]
    fn the_retry_schedule_is_bounded() {
        // In whole ms: the schedule's factor is an f32 (100.000001 ms).
        let delays: Vec<u128> = retry_delays().map(|d| d.as_millis()).collect();
        assert_eq!(delays.len(), 39);
        assert_eq!(delays[..6], [50, 100, 200, 400, 800, 1_000]);
        assert_eq!(delays.iter().sum::<u128>(), 35_550);
    }

    /// Lua prints a number with `%.14g`: numbers of 10^14 and more (a seq, a call) are written
    /// as integers all the same, and read back.
    #[tokio::test]
    async fn seqs_and_calls_past_ten_to_the_fourteenth_are_written_as_integers() {
        let server = Server::start();
        let (broker, mut conn) = broker(&server).await;
        let shared = &broker.shared;
        let now = now_ms();
        let first = format!("{now}-0");
        number(
            shared,
            &mut conn,
            &[(&first, "{\"n\":0}")],
            &[("ivy", &[])],
            10,
        )
        .await;
        let big = 99_999_999_999_999_u64;
        edit_state(&mut conn, &shared.key(STREAM, &stream("ivy")), |fields| {
            fields[0] = big.to_string();
        })
        .await;
        let () = redis::cmd("SET")
            .arg(format!("{}n", shared.bodies_prefix()))
            .arg(big)
            .query_async(&mut conn)
            .await
            .expect("SET");
        let ids: Vec<String> = (1..4).map(|n| format!("{now}-{n}")).collect();
        let bodies: Vec<String> = (1..4).map(|n| format!("{{\"n\":{n}}}")).collect();
        let events: Vec<(&str, &str)> = ids
            .iter()
            .zip(&bodies)
            .map(|(id, body)| (id.as_str(), body.as_str()))
            .collect();
        number(shared, &mut conn, &events[..2], &[("ivy", &[])], 10).await;
        number(shared, &mut conn, &events[2..], &[("ivy", &[])], 10).await;
        let last = state(&mut conn, &shared.key(STREAM, &stream("ivy")))
            .await
            .expect("ivy's state");
        assert_eq!(last[0], "100000000000002", "{last:?}");
        let read = history(shared, "ivy", Some(big), 10).await;
        assert_eq!(
            read,
            vec![
                (big + 1, bodies[0].clone()),
                (big + 2, bodies[1].clone()),
                (big + 3, bodies[2].clone())
            ]
        );
        // The newest events, and a duplicate of the calls past 10^14 told as one.
        assert_eq!(
            history(shared, "ivy", None, 2).await,
            vec![(big + 2, bodies[1].clone()), (big + 3, bodies[2].clone())]
        );
        number(shared, &mut conn, &events[1..], &[("ivy", &[])], 10).await;
        assert_eq!(history(shared, "ivy", Some(big), 10).await.len(), 3);
    }

    #[test]
    fn a_calls_events_are_in_fan_out_order_and_all_of_them_is_said_once() {
        let ann = stream("ann");
        let bob = stream("bob");
        let cy = stream("cy");
        let run = |stream, events: &[usize]| StreamRun {
            stream,
            offline: false,
            events: events.to_vec(),
        };
        // ann was named first, for later events: the call's events still ascend.
        let runs = [run(&ann, &[5, 6]), run(&bob, &[1, 5, 6]), run(&cy, &[6])];
        let (used, lists) = call_events(&runs, 8);
        assert_eq!(used, vec![1, 5, 6]);
        assert_eq!(lists, vec!["2,3", "", "3"]);
    }

    /// A durable event of a batch, with its body and the streams it was resolved to.
    fn resolved(body: &str, targets: &Arc<[super::super::Target]>) -> Resolved {
        Resolved {
            entry: StreamEntryId(1, 0),
            envelope: Envelope {
                body: Arc::from(body),
                ..envelope(0)
            },
            targets: Arc::clone(targets),
        }
    }

    #[test]
    fn consecutive_events_that_share_their_targets_are_taken_per_stream_once() {
        let target = |user: &str| super::super::Target {
            stream: stream(user),
            offline: user == "c",
        };
        // A list naming a twice, another list, and a list equal to a part of the first but
        // not shared with it.
        let shared: Arc<[_]> = Arc::from(vec![target("a"), target("b"), target("a")]);
        let other: Arc<[_]> = Arc::from(vec![target("b"), target("c")]);
        let alike: Arc<[_]> = Arc::from(vec![target("a")]);
        let batch: Vec<Resolved> = [&shared, &shared, &other, &shared, &shared, &alike]
            .into_iter()
            .map(|targets| resolved("{}", targets))
            .collect();
        let runs: Vec<(String, bool, Vec<usize>)> = by_stream(&batch)
            .into_iter()
            .map(|r| (r.stream.user.clone(), r.offline, r.events))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("a".to_owned(), false, vec![0, 1, 3, 4, 5]),
                ("b".to_owned(), false, vec![0, 1, 2, 3, 4]),
                ("c".to_owned(), true, vec![2]),
            ]
        );
    }

    #[test]
    fn a_batch_is_split_into_parts_of_bounded_bytes_in_order() {
        let none: Arc<[super::super::Target]> = Arc::from([]);
        let batch: Vec<Resolved> = [3, 4, 2, 9, 1, 1]
            .into_iter()
            .map(|bytes| resolved(&"x".repeat(bytes), &none))
            .collect();
        let sizes: Vec<Vec<usize>> = parts(&batch, 6)
            .iter()
            .map(|p| p.iter().map(|r| r.envelope.body.len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![3], vec![4, 2], vec![9], vec![1, 1]]);
        assert!(parts(&[], 6).is_empty());
    }

    #[test]
    fn a_message_names_each_stream_by_its_key_and_a_malformed_one_is_refused() {
        let broker = RedisBroker::builder("redis://127.0.0.1:1")
            .namespace("t")
            .build()
            .expect("url");
        let shared = &broker.shared;
        let prefix = shared.stream_prefix();
        // Keys as numbering writes them, whatever the ids hold: spaces, line breaks, colons.
        let odd = StreamId {
            tenant: Some("t\n:1".to_owned()),
            user: "\u{fc} v\n2 x".to_owned(),
        };
        let plain = StreamId {
            tenant: None,
            user: "u".to_owned(),
        };
        let (a, b) = (shared.key(STREAM, &plain), shared.key(STREAM, &odd));
        let good = format!(
            "2\ne1 4 1,2 {} {a}\ne2 9 * {} {b}\n2\n2\nab3\nxyz",
            a.len(),
            b.len()
        );
        let (runs, bodies) = parse_numbered(&good, &prefix).expect("well-formed");
        assert_eq!(
            runs,
            vec![
                Run {
                    tenant: None,
                    user: "u",
                    epoch: "e1",
                    first: 4,
                    events: Some(vec![0, 1]),
                },
                Run {
                    tenant: Some("t\n:1"),
                    user: "\u{fc} v\n2 x",
                    epoch: "e2",
                    first: 9,
                    events: None,
                }
            ]
        );
        assert_eq!(bodies, vec![Arc::from("ab"), Arc::from("xyz")]);
        for bad in [
            "",
            "1\ne1 4 1,2 7 t:r:-:u\n2\n2\nab3\nxy",
            "1\ne1 4 1,2 7 t:r:-:u\n2\n2\nab3\nxyzz",
            "1\ne1 4 1,3 7 t:r:-:u\n2\n2\nab3\nxyz",
            "1\ne1 4 0 7 t:r:-:u\n1\n2\nab",
            "1\ne1 x 1 7 t:r:-:u\n1\n2\nab",
            "1\ne1 4 1 8 t:r:-:u\n1\n2\nab",
            "1\ne1 4 1 6 t:r:-:u\n1\n2\nab",
            "1\ne1 4 1 7 x:r:-:u\n1\n2\nab",
            "1\ne1 4 1 9 t:r:9:a:u\n1\n2\nab",
            "1\ne1 4 1 7 t:r:1:u\n1\n2\nab",
            "1\ne1 4 1 7 t:r:-:u\n1\n3\n\u{e9}",
            "1\ne1 4 * 7 t:r:-:u\n0\n",
        ] {
            assert!(
                parse_numbered(bad, &prefix).is_none(),
                "{bad:?} was accepted"
            );
        }
    }
}
