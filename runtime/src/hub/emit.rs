//! Emitting: an event is checked and encoded once, then queued to the connections its
//! recipients select on this node — numbered in each user's delivery stream when durable — or
//! handed to the backplane.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::conn::Conn;
use super::error::{Delivered, EmitError, Emitted, JsonEvent, PreparedEvent};
use super::outbox::{shared_text, widest_frame, Unnumbered};
use super::stream::{next_ticket, StreamState, UserStream};
use super::{Hub, Inner};
use crate::broker::Envelope;
use crate::event::Event;
use crate::ids;
use crate::protocol::{encode_body, event_body, rfc3339, unnumbered};
use crate::recipients::{Recipients, Scope};
use crate::schema::{Delivery, Direction};

/// An event that reaches at most this many connections is written by the emitting thread to
/// those of them that are idle (see [`super::outbox`]): one `write` call each instead of a
/// wake-up of each session's task. Larger fan-outs leave the writes to the sessions' tasks,
/// which spread over the runtime's workers and batch frames.
const DIRECT_WRITES: usize = 4;

impl Hub {
    /// Emits an event to the recipients its declared rules select.
    ///
    /// The payload is serialized once, whatever the number of recipients; the frame is queued to
    /// each recipient connection without waiting. Durable events are numbered in each recipient
    /// user's delivery stream.
    ///
    /// # Errors
    /// When the event is one clients send, violates a constraint, its rules lack a scope, its
    /// frame is larger than [`Limits::max_outbound_frame_bytes`](crate::Limits), or the
    /// backplane cannot take it now ([`EmitError`]); nothing is sent then.
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
        let _span = tracing::debug_span!("emit", event = E::NAME).entered();
        let (id, body) = encode_body(event)?;
        self.emit_body(E::NAME, E::DELIVERY == Delivery::Durable, id, body, to)
    }

    /// Emits an event known by its name rather than a Rust type — one read from a schema at
    /// run time — to `to`: [`prepare_json`](Self::prepare_json), then
    /// [`emit_prepared`](Self::emit_prepared). Recipients for the event's declared rules:
    /// [`Recipients::declared`].
    ///
    /// # Errors
    /// As the two steps.
    pub fn emit_json(&self, event: JsonEvent<'_>, to: &Recipients) -> Result<Emitted, EmitError> {
        self.emit_prepared(self.prepare_json(event)?, to)
    }

    /// Frames an event known by its name (`event.data` is the payload's JSON text, which the
    /// caller has checked against the event's [`Contract`](crate::validate::Contract), and
    /// must only be for a server → client event) with a fresh id and the current time, and
    /// checks the frame's size — without sending anything. Preparing every event of a batch
    /// first sends the batch whole or not at all (the publish API of `tidings serve`); each
    /// frame is built once.
    ///
    /// # Errors
    /// [`EmitError::TooLarge`] when the frame is larger than
    /// [`Limits::max_outbound_frame_bytes`](crate::Limits).
    pub fn prepare_json(&self, event: JsonEvent<'_>) -> Result<PreparedEvent, EmitError> {
        let id = ids::next();
        let body = event_body(event.name, &id, &rfc3339(SystemTime::now()), event.data);
        let durable = event.delivery == Delivery::Durable;
        self.inner.fits(event.name, &body, durable)?;
        Ok(PreparedEvent {
            name: event.name,
            durable,
            id,
            body,
        })
    }

    /// Delivers a prepared event to `to`, exactly as [`Hub::emit_to`] delivers a typed event.
    ///
    /// # Errors
    /// When the recipients lack a scope, or the backplane cannot take it now
    /// ([`EmitError`]); nothing is sent then.
    pub fn emit_prepared(
        &self,
        event: PreparedEvent,
        to: &Recipients,
    ) -> Result<Emitted, EmitError> {
        if to.lacks_scope() {
            return Err(EmitError::MissingScope(event.name));
        }
        let _span = tracing::debug_span!("emit", event = event.name).entered();
        let PreparedEvent {
            name,
            durable,
            id,
            body,
        } = event;
        let delivered = self.emit_body(name, durable, id.clone(), body, to)?;
        Ok(Emitted { id, delivered })
    }

    /// Delivers an encoded event (`id`, and its frame's `body`) to `to`: on this node, or
    /// through the backplane.
    fn emit_body(
        &self,
        name: &'static str,
        durable: bool,
        id: String,
        body: String,
        to: &Recipients,
    ) -> Result<Delivered, EmitError> {
        self.inner.fits(name, &body, durable)?;
        self.inner.counters.emitted(name);
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
                    event: name,
                    source,
                })?;
            return Ok(Delivered {
                forwarded: true,
                ..Delivered::default()
            });
        }
        let delivered = if durable {
            self.inner.deliver_durable(to, Arc::from(body), true)
        } else {
            self.inner.deliver_ephemeral(to, &body)
        };
        tracing::trace!(
            event = name,
            connections = delivered.connections,
            dropped = delivered.dropped,
            "emitted"
        );
        if delivered.dropped > 0 {
            tracing::debug!(
                event = name,
                dropped = delivered.dropped,
                "slow consumers cut off"
            );
        }
        self.inner.count_delivered(delivered);
        Ok(delivered)
    }
}

impl Inner {
    /// Refuses an event whose frame (at its widest, see [`widest_frame`]) the connections'
    /// sockets would refuse: sent, it would end every recipient's connection, and a durable one
    /// every resume until the history drops it.
    pub(crate) fn fits(
        &self,
        event: &'static str,
        body: &str,
        durable: bool,
    ) -> Result<(), EmitError> {
        let bytes = widest_frame(body, durable);
        let limit = self.limits.max_outbound_frame_bytes;
        if bytes > limit {
            return Err(EmitError::TooLarge {
                event,
                bytes,
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn count_delivered(&self, delivered: Delivered) {
        self.counters
            .delivered(delivered.connections, delivered.dropped);
    }

    /// Calls `each` with every connection `to` selects on this node, a group at a time (see
    /// [`Registry::each_resolved_in_groups`](super::registry::Registry::each_resolved_in_groups):
    /// most under the registry's read lock, lent; a group per call, so that the pushes to a
    /// group run in one loop), and whether the event goes to at most [`DIRECT_WRITES`]
    /// connections, which are then written directly when idle: the first few are held back
    /// until the walk shows whether more follow. Returns that flag.
    fn each_recipient(&self, to: &Recipients, mut each: impl FnMut(&[&Arc<Conn>], bool)) -> bool {
        let mut few: Vec<Arc<Conn>> = Vec::new();
        let mut many = false;
        self.registry.each_resolved_in_groups(to, |group| {
            if !many {
                if few.len() + group.len() <= DIRECT_WRITES {
                    few.extend(group.iter().map(|&c| c.clone()));
                    return;
                }
                many = true;
                for f in few.drain(..) {
                    each(&[&f], false);
                }
            }
            each(group, false);
        });
        for f in &few {
            each(&[f], true);
        }
        !many
    }

    /// Queues an ephemeral event to the connections `to` selects on this node (written
    /// directly to those idle when they are a few, see [`DIRECT_WRITES`]).
    pub(crate) fn deliver_ephemeral(&self, to: &Recipients, body: &str) -> Delivered {
        let frame = shared_text(unnumbered(body));
        let mut d = Delivered::default();
        self.each_recipient(to, |group, direct| {
            for c in group {
                c.offer(frame.clone(), direct).add_to(&mut d);
            }
        });
        d
    }

    /// Calls `each` once for every delivery stream a durable event goes to on this node, with
    /// the stream's state locked: the streams of the users with a connection `to` selects
    /// (walked with [`each_recipient`](Self::each_recipient), after `walk` was taken with
    /// [`next_ticket`]), and, when `offline` is set, the streams this node holds of users `to`
    /// names by id, in the event's tenant, not reached through a connection: retained without
    /// one, or with one that came since the recipients were resolved.
    ///
    /// Connections attached to their stream after the walk's ticket came after the event, and
    /// are passed over (their stream is reached through a connection that was there before,
    /// or by name). A user's connections share one stream, reached once, in the order found.
    /// A stream whose connections did not change since the walk's ticket, and which holds one
    /// and none leaving (cut but still listed: [`StreamState::cut`]), was resolved to through
    /// that one alone: it is reached without more ado (the common case, and a broadcast's:
    /// nothing allocated or hashed per recipient). Any other stream — several connections, or
    /// a change during the walk — is looked up in a set of the streams this walk reached, as
    /// is every stream when named users follow (`offline`). Walks on other threads at the same
    /// time keep sets of their own, so none is reached twice by a walk.
    ///
    /// Unless named users follow, `unlocked` is offered each connection first: when it returns
    /// true, it reached the connection's stream without the stream's lock, which it may only
    /// do through a connection that has been its stream's only one since before the walk
    /// ([`Conn::push_unlocked`] checks that), and `each` is not called for it. Both are told
    /// whether the event goes to a few connections (see
    /// [`each_recipient`](Self::each_recipient)).
    pub(crate) fn each_durable_stream(
        &self,
        walk: u64,
        to: &Recipients,
        offline: bool,
        mut unlocked: impl FnMut(&Conn, bool) -> bool,
        mut each: impl FnMut(&UserStream, &mut StreamState, bool),
    ) {
        let offline = offline && !to.users().is_empty();
        // The streams reached that another connection or a named user may lead to again.
        let mut reached: HashSet<*const UserStream> = HashSet::new();
        let few = self.each_recipient(to, |group, direct| {
            for &c in group {
                if !offline && unlocked(c, direct) {
                    continue;
                }
                // Walked in place, the indexes show connections that came during the walk:
                // those attached to their stream after it began are passed over, as they would
                // have been by a list of the recipients taken as it began. (Reached, one could
                // lead back to a stream this walk reached through its only connection, without
                // the lock and so without a trace in `reached`: the event would be numbered
                // there twice.) Looked at only here: the path without the lock takes a
                // connection only when it has been its stream's only one since before the
                // walk, so attached before it.
                if c.attached_after(walk) {
                    continue;
                }
                let mut st = c.stream.lock();
                let alone = !offline && st.changed < walk && st.alone();
                if alone || reached.insert(Arc::as_ptr(&c.stream)) {
                    each(&c.stream, &mut st, direct);
                }
            }
        });
        if !offline {
            return;
        }
        let tenant = match to.scope() {
            Scope::Tenant(t) => Some(t.as_str()),
            _ => None,
        };
        for user in to.users() {
            if to.excluded().contains(user) {
                continue;
            }
            for stream in self.registry.streams_of(user) {
                if tenant.is_some_and(|t| stream.id.tenant.as_deref() != Some(t)) {
                    continue;
                }
                let mut st = stream.lock();
                // Not only streams without a connection: one may have come since the
                // recipients were resolved (every stream reached through a connection is in
                // the set, named users following).
                if !st.dead && reached.insert(Arc::as_ptr(&stream)) {
                    each(&stream, &mut st, few);
                }
            }
        }
    }

    /// Delivers a durable event to each recipient user's stream on this node (see
    /// [`super::stream`], "Numbering"): queued unnumbered, without the stream's lock, to a
    /// user's only connection, whose session numbers it as it takes it — the emitting thread
    /// then touches nothing of the stream; numbered under the stream's lock and queued to
    /// every connection otherwise, and always in an event to a few connections (written
    /// directly to those idle, see [`DIRECT_WRITES`]).
    fn deliver_durable(&self, to: &Recipients, body: Arc<str>, offline: bool) -> Delivered {
        let now = Instant::now();
        let event = Unnumbered {
            body,
            at_ms: super::stream::clock_ms(now),
        };
        let walk = next_ticket();
        let mut queued = 0;
        let mut d = Delivered::default();
        self.each_durable_stream(
            walk,
            to,
            offline,
            |c, direct| {
                // A full queue is counted by the locked path, which meets it again.
                let taken = !direct && c.push_unlocked(event.clone(), walk).is_ok();
                queued += usize::from(taken);
                taken
            },
            |_, st, direct| {
                if !st.dead {
                    let part = st.route(event.clone(), &self.history, (now, direct));
                    d.connections += part.connections;
                    d.dropped += part.dropped;
                }
            },
        );
        d.connections += queued;
        d
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::hub::conn::Unlocked;
    use crate::hub::outbox::Frame;
    use crate::hub::Limits;
    use crate::schema::Delivery;
    use crate::{JsonEvent, Position, Principal};

    /// Each event's id in a connection's queue, with its number, in queue order.
    fn numbered(hub: &Hub, conn: &Conn) -> Vec<(u64, String)> {
        let mut frames = Vec::new();
        conn.take(&mut frames, usize::MAX, &hub.inner.history);
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Numbered { seq, body } => {
                    let v: serde_json::Value =
                        serde_json::from_str(&format!("{{{body}")).expect("a JSON frame");
                    (seq, v["id"].as_str().unwrap_or_default().to_owned())
                }
                Frame::Text(t) => panic!("an unnumbered frame: {t}"),
            })
            .collect()
    }

    /// Registers a connection of `user`, resuming from `resume`.
    async fn connect(
        hub: &Hub,
        user: impl Into<String>,
        resume: Option<&Position>,
    ) -> (Arc<Conn>, Position) {
        hub.register(Principal::user(user), resume)
            .await
            .expect("registered")
    }

    /// A hub whose queues hold `queue` frames, with five users who only make a broadcast
    /// larger than [`DIRECT_WRITES`] (so that it is queued, not written directly).
    async fn hub_with_bystanders(queue: usize) -> (Hub, Vec<Arc<Conn>>) {
        let hub = Hub::builder()
            .limits(Limits {
                outbound_queue: queue,
                ..Limits::default()
            })
            .build();
        let mut others = Vec::new();
        for u in 0..=DIRECT_WRITES {
            let (conn, _) = connect(&hub, format!("other{u}"), None).await;
            others.push(conn);
        }
        (hub, others)
    }

    /// One source of recipients (everyone on the platform or in a tenant, one role) is walked
    /// in place: each selected connection lent once, no reference taken. Several sources are
    /// de-duplicated; the excluded user and other tenants are left out either way.
    #[tokio::test]
    async fn a_walk_lends_each_selected_connection_once() {
        let hub = Hub::builder().build();
        let mut conns = Vec::new();
        for (user, tenant, role) in [
            ("a", "t1", "ops"),
            ("a", "t1", "ops"),
            ("b", "t1", "dev"),
            ("c", "t1", "ops"),
            ("d", "t2", "ops"),
        ] {
            let p = Principal::user(user).in_tenant(tenant).with_role(role);
            conns.push(hub.register(p, None).await.expect("registered").0);
        }
        // The references the indexes, the streams and the test hold.
        let held: std::collections::HashMap<u64, usize> =
            conns.iter().map(|c| (c.id, Arc::strong_count(c))).collect();
        // Users named are collected from their streams first (one reference each, for the
        // walk); the indexes' connections are lent.
        let walk = |to: &Recipients| {
            let mut seen = Vec::new();
            let collected = usize::from(!to.users().is_empty());
            hub.inner.registry.each_resolved(to, |c| {
                assert_eq!(
                    Arc::strong_count(c),
                    held[&c.id] + collected,
                    "lent, none taken"
                );
                seen.push(c.id);
            });
            seen.sort_unstable();
            seen
        };
        let ids = |pick: &[usize]| pick.iter().map(|&i| conns[i].id).collect::<Vec<_>>();
        assert_eq!(walk(&crate::to_platform()), ids(&[0, 1, 2, 3, 4]));
        assert_eq!(walk(&crate::to_tenant("t1").except("c")), ids(&[0, 1, 2]));
        assert_eq!(
            walk(&crate::to_role("ops").in_tenant("t1")),
            ids(&[0, 1, 3])
        );
        let (mut seen, mut once) = (Vec::new(), HashSet::new());
        assert_eq!(
            walk(&crate::to_users(["a", "d"]).in_tenant("t1")),
            ids(&[0, 1])
        );
        assert_eq!(walk(&crate::to_users(["d"]).in_tenant("t2")), ids(&[4]));
        let two = crate::to_role("ops").to_users(["a", "b"]).in_tenant("t1");
        hub.inner.registry.each_resolved(&two, |c| {
            assert!(once.insert(c.id), "each once");
            seen.push(c.id);
        });
        seen.sort_unstable();
        assert_eq!(seen, ids(&[0, 1, 2, 3]));
        assert_eq!(hub.audience(&two), 4);
    }

    fn broadcast(hub: &Hub, n: usize) {
        for _ in 0..n {
            let event = JsonEvent {
                name: "test:tick",
                delivery: Delivery::Durable,
                data: "{}",
            };
            hub.emit_json(event, &crate::to_platform())
                .expect("emitted");
        }
    }

    /// Each frame a connection takes: its number, or `None` for a control frame.
    fn taken(hub: &Hub, conn: &Conn) -> Vec<Option<u64>> {
        let mut frames = Vec::new();
        conn.take(&mut frames, usize::MAX, &hub.inner.history);
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Numbered { seq, .. } => Some(seq),
                Frame::Text(_) => None,
            })
            .collect()
    }

    fn numbers(from: std::ops::RangeInclusive<u64>) -> Vec<Option<u64>> {
        from.map(Some).collect()
    }

    /// Events queued unnumbered to a user's only connection are numbered as its session takes
    /// them; a second connection that comes meanwhile gets them, and those emitted after it
    /// came, in the stream's order after its replay.
    #[tokio::test]
    async fn a_tab_that_comes_while_events_wait_unnumbered_gets_them_in_order() {
        let (hub, _others) = hub_with_bystanders(1024).await;
        let (first, at) = connect(&hub, "u", None).await;
        broadcast(&hub, 10);
        assert_eq!(first.stream.position().seq, 0, "not numbered yet");
        let (second, joined) = connect(&hub, "u", Some(&at)).await;
        assert_eq!(joined.seq, 0);
        broadcast(&hub, 5);
        assert_eq!(taken(&hub, &first), numbers(1..=15));
        let second = taken(&hub, &second);
        assert_eq!(second[0], None, "the replay's end comes first");
        assert_eq!(second[1..], numbers(1..=15));
        // Two connections now: numbered as they are emitted.
        broadcast(&hub, 2);
        assert_eq!(first.stream.position().seq, 17);
    }

    /// The connection that numbers its user's stream goes while events wait unnumbered in its
    /// queue: they go on, in order, to the next connection, and into the history.
    #[tokio::test]
    async fn events_waiting_in_a_connection_that_goes_are_handed_on() {
        let (hub, _others) = hub_with_bystanders(1024).await;
        let (first, at) = connect(&hub, "u", None).await;
        broadcast(&hub, 3);
        let (second, _) = connect(&hub, "u", None).await;
        broadcast(&hub, 3);
        hub.unregister(&first, crate::hub::DisconnectReason::ClientClosed);
        broadcast(&hub, 2);
        assert_eq!(taken(&hub, &second), numbers(1..=8));
        let (later, _) = connect(&hub, "u", Some(&at)).await;
        let replayed = taken(&hub, &later);
        assert_eq!(replayed[..8], numbers(1..=8), "from the history");
        assert_eq!(replayed[8], None, "then the replay's end");
    }

    /// The path without the stream's lock takes an event only through a user's only
    /// connection, only for a walk that began after it became the only one, and never while
    /// the stream's lock-holder has it shut to place an event of its own.
    #[tokio::test]
    async fn the_unlocked_path_is_only_for_an_only_connection_and_shuts() {
        let (hub, _others) = hub_with_bystanders(1024).await;
        let event = || Unnumbered {
            body: Arc::from("\"type\":\"test:tick\"}"),
            at_ms: 0,
        };
        let before = next_ticket();
        let (first, _) = connect(&hub, "u", None).await;
        let refused = |r: Result<(), (Unlocked, Unnumbered)>| r.err().map(|(why, _)| why);
        assert_eq!(
            refused(first.push_unlocked(event(), before)),
            Some(Unlocked::Locked),
            "a walk from before it came may have resolved to another connection"
        );
        assert_eq!(refused(first.push_unlocked(event(), next_ticket())), None);
        assert_eq!(
            first.shut_unlocked(),
            (1, true),
            "one queued, and it was open"
        );
        assert_eq!(
            refused(first.push_unlocked(event(), next_ticket())),
            Some(Unlocked::Locked),
            "shut"
        );
        first.open_unlocked();
        assert_eq!(refused(first.push_unlocked(event(), next_ticket())), None);
        let (second, _) = connect(&hub, "u", None).await;
        for conn in [&first, &second] {
            assert_eq!(
                refused(conn.push_unlocked(event(), next_ticket())),
                Some(Unlocked::Locked),
                "two connections"
            );
        }
        assert_eq!(taken(&hub, &first), numbers(1..=2));
        assert_eq!(taken(&hub, &second), numbers(1..=2));
    }

    /// The only connection of a user fills its queue with events it has not numbered: it is
    /// cut off as a slow consumer, and nothing is lost from its stream — what it held and
    /// what came after are numbered in order, into the history it resumes from.
    #[tokio::test]
    async fn a_slow_consumer_cut_off_loses_nothing_from_its_stream() {
        let (hub, _others) = hub_with_bystanders(4).await;
        let (slow, at) = connect(&hub, "u", None).await;
        broadcast(&hub, 3);
        assert!(slow.kill_requested().is_none());
        broadcast(&hub, 4);
        assert!(slow.kill_requested().is_some(), "cut off");
        hub.unregister(&slow, crate::hub::DisconnectReason::SlowConsumer);
        let (back, _) = connect(&hub, "u", Some(&at)).await;
        let replayed = taken(&hub, &back);
        assert_eq!(replayed[..7], numbers(1..=7));
        assert_eq!(replayed[7..], [None]);
    }

    /// A connection cut off as a slow consumer stays listed in the registry until its session
    /// is unregistered: meanwhile a walk resolves to it and to the user's next connection,
    /// and the stream is reached once (the next connection does not pass for the only one),
    /// and once it is unregistered, the next one is.
    #[tokio::test]
    async fn a_connection_cut_off_but_still_listed_leaves_no_one_alone() {
        let (hub, _others) = hub_with_bystanders(4).await;
        let (cut, at) = connect(&hub, "u", None).await;
        broadcast(&hub, 7);
        assert!(cut.kill_requested().is_some(), "cut off");
        let (next, _) = connect(&hub, "u", Some(&at)).await;
        let mut replayed = numbers(1..=7);
        replayed.push(None);
        assert_eq!(taken(&hub, &next), replayed);
        broadcast(&hub, 3);
        assert_eq!(taken(&hub, &next), numbers(8..=10), "each event once");
        hub.unregister(&cut, crate::hub::DisconnectReason::SlowConsumer);
        broadcast(&hub, 2);
        assert_eq!(
            next.stream.position().seq,
            10,
            "queued unnumbered: alone now"
        );
        assert_eq!(taken(&hub, &next), numbers(11..=12));
    }

    /// A stream whose last connection leaves it as its session ends is kept for the history's
    /// age from then, not from when the connection came, while the session closes and after:
    /// the client that resumes finds it.
    #[tokio::test]
    async fn a_stream_is_kept_from_its_last_connections_leaving() {
        let hub = Hub::builder()
            .history(crate::History::new(
                16,
                std::time::Duration::from_millis(40),
            ))
            .build();
        let (only, _) = connect(&hub, "u", None).await;
        std::thread::sleep(std::time::Duration::from_millis(80));
        hub.leave_stream(&only);
        assert_eq!(hub.sweep(), 0, "kept while its session closes");
        hub.unregister(&only, crate::hub::DisconnectReason::ClientClosed);
        assert_eq!(hub.sweep(), 0, "kept for the history's age");
        assert_eq!(hub.stream_count(), 1);
    }

    /// Durable events emitted from several threads at once — to users with one connection,
    /// with two (each reached through both), and with two whose first goes midway (handing
    /// on what it held unnumbered) — while other connections of the same users come and go
    /// and every connection's session takes its frames: every stream numbers each event once,
    /// and a connection that stays gets each event once, numbered without a gap.
    #[tokio::test]
    async fn concurrent_durable_emits_reach_each_stream_once() {
        let hub = Hub::builder()
            .limits(Limits {
                outbound_queue: 100_000,
                ..Limits::default()
            })
            .build();
        const USERS: usize = 40;
        const PER_THREAD: usize = 300;
        // Users with one connection that stays, and with two.
        let users: Vec<(String, usize)> =
            (0..USERS).map(|u| (format!("u{u}"), 1 + u % 2)).collect();
        let mut kept = Vec::new();
        let register = |user: String| {
            let hub = &hub;
            async move { connect(hub, user, None).await.0 }
        };
        for (user, tabs) in &users {
            for _ in 0..*tabs {
                kept.push(register(user.clone()).await);
            }
        }
        // Users whose first connection goes midway; their second stays.
        let mut going = Vec::new();
        for u in 0..USERS / 4 {
            going.push(register(format!("h{u}")).await);
            kept.push(register(format!("h{u}")).await);
        }
        let got: Vec<std::sync::Mutex<Vec<(u64, String)>>> =
            kept.iter().map(|_| Default::default()).collect();
        let emitting = std::sync::atomic::AtomicUsize::new(3);
        let churn = tokio::runtime::Handle::current();
        let every: Vec<String> = users
            .iter()
            .map(|(user, _)| user.clone())
            .chain((0..USERS / 4).map(|u| format!("h{u}")))
            .collect();
        let recipients = [crate::to_platform(), crate::to_users(every.clone())];
        std::thread::scope(|s| {
            for to in &recipients {
                let (hub, emitting) = (&hub, &emitting);
                s.spawn(move || {
                    for _ in 0..PER_THREAD {
                        let event = JsonEvent {
                            name: "test:tick",
                            delivery: Delivery::Durable,
                            data: "{}",
                        };
                        hub.emit_json(event, to).expect("emitted");
                    }
                    emitting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                });
            }
            // Events to one user at a time: numbered by the emitter under the stream's lock (a
            // few recipients), between the broadcasts queued unnumbered.
            let (hub, emitting, every) = (&hub, &emitting, &every);
            s.spawn(move || {
                for user in every.iter().cycle().take(PER_THREAD) {
                    let event = JsonEvent {
                        name: "test:tick",
                        delivery: Delivery::Durable,
                        data: "{}",
                    };
                    hub.emit_json(event, &crate::to_user(user.clone()))
                        .expect("emitted");
                }
                emitting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            });
            let (users, going) = (&users, &going);
            s.spawn(move || {
                for i in 0..4 * PER_THREAD {
                    let user = users[i % USERS].0.clone();
                    let (conn, _) = churn
                        .block_on(hub.register(Principal::user(user), None))
                        .expect("registered");
                    hub.unregister(&conn, crate::hub::DisconnectReason::ClientClosed);
                    if i == 2 * PER_THREAD {
                        for conn in going {
                            hub.unregister(conn, crate::hub::DisconnectReason::ClientClosed);
                        }
                    }
                }
            });
            // The sessions: each connection's frames taken as they come, until the end.
            let (kept, got) = (&kept, &got);
            s.spawn(move || loop {
                let last = emitting.load(std::sync::atomic::Ordering::Acquire) == 0;
                for (conn, got) in kept.iter().zip(got) {
                    got.lock().expect("lock").extend(numbered(hub, conn));
                }
                for conn in going {
                    numbered(hub, conn);
                }
                if last {
                    break;
                }
                std::thread::yield_now();
            });
        });
        for (conn, got) in kept.iter().zip(got) {
            let alone = (0..PER_THREAD)
                .filter(|i| every[i % every.len()] == conn.user())
                .count();
            let total = (recipients.len() * PER_THREAD + alone) as u64;
            let got = got.into_inner().expect("lock");
            let ids: HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
            assert_eq!(
                (got.len() as u64, ids.len() as u64),
                (total, total),
                "user {}: each event once",
                conn.user()
            );
            let gaps = got.iter().zip(1..).filter(|((seq, _), n)| seq != n).count();
            assert_eq!(gaps, 0, "user {}: numbered 1, 2, 3, …", conn.user());
        }
    }
}
