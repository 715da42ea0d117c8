//! A user's delivery stream: the durable events that reached the user, numbered in order, with a
//! bounded history for replay, and the user's live connections on this node.
//!
//! Everything that must be ordered with respect to the stream — numbering, storing, queueing to
//! the connections, registering a connection and replaying to it — happens under the stream's one
//! lock, so a connection sees its user's stream gap-free and in order, and a connection that
//! registers while events are being emitted gets each of them exactly once: by replay or live.
//!
//! # Numbering
//!
//! The stream's first connection (its oldest on this node) numbers it. A durable event is
//! numbered in one of two places, both under the stream's lock:
//! - **by the emitter**, as it places the event ([`StreamState::route`]): numbered, stored and
//!   queued to every connection; or, while the first connection has events queued
//!   unnumbered, queued unnumbered behind them. A stream without connection stores it.
//! - **by the first connection's session**, as it takes an event queued unnumbered from its
//!   queue ([`StreamState::number_taken`]): numbered, stored, queued numbered to the other
//!   connections, and written.
//!
//! The second place is what lets a broadcast skip the stream: an emitter queues the event
//! unnumbered to a user's *only* connection without the stream's lock
//! ([`Conn::push_unlocked`]), touching nothing of the stream, and the session numbers a whole
//! batch of its events under one lock, on its own worker. (Numbered by the emitter, a
//! broadcast to thousands of users visited each user's stream — its lock, number and history,
//! in memory no cache holds — once per event, on one thread: most of a durable broadcast's
//! time.) Two rules keep one order:
//! - **Only through an only connection, only for a walk that began after it became the only
//!   one** (`alone_since`, a ticket from [`next_ticket`]): then the walk reaches no other
//!   connection of the stream, so the stream gets the event once. (A walk goes through the
//!   registry's indexes in place, which show connections that come meanwhile: it passes over
//!   those attached to their stream after it began.)
//! - **Shut while the lock-holder places an event**: the emitter that numbers under the lock
//!   first shuts the unlocked path of the first connection ([`Conn::shut_unlocked`]), in the
//!   atomic operation that unlocked emitters count themselves in with, and numbers only when
//!   nothing unnumbered is queued or counted in. An event queued unnumbered is thus never
//!   ahead of one numbered after it, and the session's numbers follow the emitter's.
//!
//! A stream with several connections keeps the path shut: its events are numbered by the
//! emitter, once the first connection has numbered what it held (a connection that comes
//! while events wait unnumbered gets them, after its replay, as the first numbers them).
//! A connection leaves the stream as its session ends, before the close handshake, or as it
//! is cut off as a slow consumer ([`StreamState::cut`]); the first hands what it held
//! unnumbered to the next, or to the history, before any later event, so nothing is lost
//! from the stream. Until it is unregistered, the registry still lists it, and the stream
//! counts it as leaving: no other connection passes for the only one meanwhile.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::Conn;
use super::outbox::{Frame, Refused, Unnumbered};
use super::Delivered;
use crate::delivery::{History, Position, StreamId};
use crate::protocol::frame;

/// One stored event: the shared body and when it was stored (milliseconds on the process
/// clock). Its sequence number is implied: the history holds the events just before and up to
/// the stream's `seq`, contiguously, so 24 bytes per entry suffice.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) body: Arc<str>,
    pub(crate) at_ms: u64,
}

/// Milliseconds since this process first asked, on the monotonic clock.
pub(crate) fn clock_ms(now: Instant) -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    now.saturating_duration_since(start).as_millis() as u64
}

/// A stream's state. Laid out in declaration order (`repr(C)`), what a durable event reads and
/// writes first: the ticket of the last change of its connections, the number, the connections and the history, on the lines
/// just after the lock, then what connecting, resuming and the backplane use.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct StreamState {
    /// The ticket ([`next_ticket`]) of the last change of `conns`: a walk over a durable
    /// event's recipients whose ticket is later knows that the connections it resolved to of
    /// this stream are those the stream holds (see `Inner::each_durable_stream`).
    pub(crate) changed: u64,
    /// The last sequence number of the stream.
    pub(crate) seq: u64,
    /// Removed from the registry: an emitter holding it must look the stream up again.
    pub(crate) dead: bool,
    pub(crate) conns: Conns,
    pub(crate) history: VecDeque<Stored>,
    /// Since when the stream has had no connection and no event (what the sweeper's
    /// `max_age` counts from): set as its last connection goes, and by each event while it
    /// has none. An event to a connected stream leaves it alone: the stream is kept while
    /// connected, and its last connection's going sets it later than the event anyway.
    pub(crate) active: Instant,
    pub(crate) epoch: String,
    /// Connections cut from `conns` that the registry still lists, until they are
    /// unregistered ([`StreamState::cut`]).
    pub(crate) leaving: usize,
    /// For a backplane: the stream's position is not yet known from it; numbered frames that
    /// arrive meanwhile wait here.
    pub(crate) hydrated: bool,
    pub(crate) waiting: Vec<(Position, Arc<str>)>,
}

/// A ticket from the one counter that orders walks over a durable event's recipients and
/// changes of streams' connections: unique in the process and increasing, never 0 (the ticket
/// of a stream whose connections never changed).
///
/// Taken with acquire-release ordering, so that a change whose ticket is earlier than a walk's
/// happens before it: a walk that takes its ticket, then resolves its recipients, sees the
/// registry as every earlier change left it.
pub(crate) fn next_ticket() -> u64 {
    static TICKETS: AtomicU64 = AtomicU64::new(0);
    TICKETS.fetch_add(1, Ordering::AcqRel) + 1
}

/// A stream's live connections on this node, in the order they registered. The first is held
/// inline: most users have one connection, and delivering to it then reads no list of its own
/// (another cache line per user, per durable event).
#[derive(Debug, Default)]
pub(crate) struct Conns {
    first: Option<Arc<Conn>>,
    /// The others; empty whenever `first` is.
    more: Vec<Arc<Conn>>,
}

impl Conns {
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The first connection (the oldest): the one that numbers the stream's events.
    pub(crate) fn first(&self) -> Option<&Arc<Conn>> {
        self.first.as_ref()
    }

    fn push(&mut self, conn: Arc<Conn>) {
        if self.first.is_none() {
            self.first = Some(conn);
        } else {
            self.more.push(conn);
        }
    }

    /// Keeps the connections `keep` accepts, in their order.
    fn retain(&mut self, keep: impl Fn(&Conn) -> bool) {
        let kept: Vec<Arc<Conn>> = self
            .first
            .take()
            .into_iter()
            .chain(self.more.drain(..))
            .filter(|c| keep(c))
            .collect();
        let mut kept = kept.into_iter();
        self.first = kept.next();
        self.more = kept.collect();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Conn>> + '_ {
        self.first.iter().chain(self.more.iter())
    }
}

/// A user's delivery stream on this node. The lock and the state come first (`repr(C)`), ahead
/// of the id, and start a cache line (`align(64)`): what a durable event touches of the stream
/// is its first two lines.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct UserStream {
    state: Mutex<StreamState>,
    pub(crate) id: StreamId,
}

impl UserStream {
    pub(crate) fn new(id: StreamId, hydrated: bool) -> UserStream {
        UserStream {
            id,
            state: Mutex::new(StreamState {
                changed: 0,
                seq: 0,
                dead: false,
                conns: Conns::default(),
                history: VecDeque::new(),
                active: Instant::now(),
                epoch: crate::ids::epoch(),
                leaving: 0,
                hydrated,
                waiting: Vec::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn position(&self) -> Position {
        let s = self.lock();
        Position {
            epoch: s.epoch.clone(),
            seq: s.seq,
        }
    }
}

impl StreamState {
    /// Adds a connection, last, with a new ticket for the change.
    pub(crate) fn attach(&mut self, conn: Arc<Conn>) {
        let ticket = next_ticket();
        conn.set_attached(ticket);
        self.conns.push(conn);
        self.changed = ticket;
        self.lead();
    }

    /// Removes a connection as it is unregistered (no longer listed in the registry's
    /// indexes): see [`leave`](Self::leave). One [`cut`](Self::cut) before is no longer
    /// counted as leaving.
    pub(crate) fn detach(&mut self, conn: &Conn, limits: &History) {
        self.leave(conn, limits, false);
    }

    /// Removes a connection whose session is ending, while the registry still lists it (until
    /// it is unregistered): a slow consumer cut off, or a session closing. Counted in
    /// `leaving` until [`detach`](Self::detach), so that a walk that resolves to it does not
    /// take the stream's other connection for its only one. Cutting one twice does nothing.
    pub(crate) fn cut(&mut self, conn: &Conn, limits: &History) {
        self.leave(conn, limits, true);
    }

    /// Removes `conn` from the connections, with a new ticket for the change, and closes its
    /// queue. When it numbered the stream, the events it held unnumbered go on, in their
    /// order, before any later event: routed while the next connection's path without the
    /// lock is still shut (it was never first), then [`lead`](Self::lead) opens it.
    fn leave(&mut self, conn: &Conn, limits: &History, listed: bool) {
        let member = self.conns.iter().any(|c| c.id == conn.id);
        match (member, listed) {
            (true, true) => self.leaving += 1,
            (true, false) => {}
            // Cut before, unregistered now.
            (false, false) => self.leaving = self.leaving.saturating_sub(1),
            // Cut already.
            (false, true) => return,
        }
        self.conns.retain(|c| c.id != conn.id);
        self.changed = next_ticket();
        if self.conns.is_empty() {
            // The stream's retention (`max_age`) counts from its last connection's going.
            self.active = Instant::now();
        }
        let mut held = Vec::new();
        conn.outbox.close_with(|event| held.push(event));
        conn.took_unnumbered(held.len());
        conn.set_alone_since(0);
        let now = Instant::now();
        for event in held {
            self.route(event, limits, (now, false));
        }
        self.lead();
    }

    /// Whether the one connection is the only one the registry lists for the stream: none is
    /// [`leaving`](Self::cut).
    pub(crate) fn alone(&self) -> bool {
        self.conns.len() == 1 && self.leaving == 0
    }

    /// Lets the first connection number the stream, and opens the path without the lock to
    /// it while it is the only one (since this change). The others were never first: their
    /// path is shut from the start.
    fn lead(&mut self) {
        let alone = self.alone();
        if let Some(first) = self.conns.first() {
            first.set_alone_since(if alone { self.changed } else { 0 });
            if alone {
                first.open_unlocked();
            } else {
                first.shut_unlocked();
            }
        }
    }

    /// Gives an event the stream's next number and stores it.
    fn number(&mut self, event: &Unnumbered, limits: &History) -> u64 {
        self.seq += 1;
        if limits.max_events > 0 {
            self.store(
                Stored {
                    body: event.body.clone(),
                    at_ms: event.at_ms,
                },
                limits,
            );
        }
        self.seq
    }

    /// Delivers a durable event to the stream, under its lock: numbered now and queued to every
    /// connection (written directly to those idle, with `direct`: see [`Conn::offer`]) — or,
    /// while the first connection has events queued unnumbered, queued unnumbered behind them,
    /// for its session to number. A stream without connection stores it.
    ///
    /// When the first connection's queue is full, the connection is cut off as a slow
    /// consumer; what it held unnumbered goes first to the next (see [`detach`](Self::detach)),
    /// then this event.
    pub(crate) fn route(
        &mut self,
        event: Unnumbered,
        limits: &History,
        (now, direct): (Instant, bool),
    ) -> Delivered {
        let mut d = Delivered::default();
        let mut event = event;
        // At most twice: a connection that takes over numbering has nothing unnumbered queued.
        loop {
            let Some(first) = self.conns.first().cloned() else {
                self.active = now;
                self.number(&event, limits);
                return d;
            };
            // Shut while this event is placed, so that nothing unnumbered is queued to the
            // first connection between the look at its count and this event's frames.
            let (unnumbered, open) = first.shut_unlocked();
            if unnumbered == 0 {
                let seq = self.number(&event, limits);
                for c in self.conns.iter() {
                    let frame = Frame::Numbered {
                        seq,
                        body: event.body.clone(),
                    };
                    c.offer(frame, direct).add_to(&mut d);
                }
                if open {
                    first.open_unlocked();
                }
                return d;
            }
            match first.push_unnumbered(event) {
                Ok(()) => {
                    if open {
                        first.open_unlocked();
                    }
                    d.connections += self.conns.len();
                    return d;
                }
                Err((refused, back)) => {
                    if refused == Refused::Full {
                        first.kill(crate::protocol::close::SLOW_CONSUMER, "outbound queue full");
                        d.dropped += 1;
                    }
                    event = back;
                    self.cut(&first, limits);
                }
            }
        }
    }

    /// Numbers an event the first connection (`taker`) took from its queue, stores it and
    /// queues it numbered to the other connections; returns its frame for `taker` to write.
    /// Counts in `dropped` the connections cut off as slow consumers meanwhile. The caller
    /// counts the event out of `taker`'s unnumbered ones ([`Conn::took_unnumbered`]) before it
    /// lets the lock go: once per drain, not per event (see [`Conn::take`]).
    pub(crate) fn number_taken(
        &mut self,
        taker: &Conn,
        event: Unnumbered,
        limits: &History,
        dropped: &mut usize,
    ) -> Option<Frame> {
        if self.conns.first().is_none_or(|c| c.id != taker.id) {
            // Not queued by the rules above; should it happen, the event still goes to the
            // stream once.
            *dropped += self.route(event, limits, (Instant::now(), false)).dropped;
            return None;
        }
        let seq = self.number(&event, limits);
        let mut d = Delivered::default();
        for c in self.conns.iter().skip(1) {
            let frame = Frame::Numbered {
                seq,
                body: event.body.clone(),
            };
            c.push(frame).add_to(&mut d);
        }
        *dropped += d.dropped;
        Some(Frame::Numbered {
            seq,
            body: event.body,
        })
    }

    /// Drops what is past either bound of the history.
    pub(crate) fn trim(&mut self, limits: &History, now: Instant) {
        self.trim_at(limits, clock_ms(now));
    }

    /// [`trim`](Self::trim) at `now` on the history's clock ([`clock_ms`]).
    fn trim_at(&mut self, limits: &History, now: u64) {
        while self.history.len() > limits.max_events {
            self.history.pop_front();
        }
        let max = limits.max_age.as_millis() as u64;
        while self
            .history
            .front()
            .is_some_and(|e| now.saturating_sub(e.at_ms) > max)
        {
            self.history.pop_front();
        }
    }

    /// Stores the newest event, then drops what is past the history's age. A full history
    /// drops its oldest event first, so that the new one takes its slot: the deque never
    /// holds more than `max_events` (its capacity grows to that and no further), and storing
    /// into a full history writes one slot where a push then a pop wrote two, half a deque
    /// apart (a cache line each, per user, per durable event).
    ///
    /// The age is looked at only when the event dropped was past it, or none was dropped: the
    /// history is in time order, so when its oldest event was recent enough, so is every other
    /// (and the next oldest, on another line, is not read).
    fn store(&mut self, event: Stored, limits: &History) {
        let at_ms = event.at_ms;
        let max_age = limits.max_age.as_millis() as u64;
        let len = self.history.len();
        let look = if len >= limits.max_events {
            self.history
                .pop_front()
                .is_none_or(|oldest| at_ms.saturating_sub(oldest.at_ms) > max_age)
        } else {
            if len == self.history.capacity() {
                self.history
                    .reserve_exact(len.max(4).min(limits.max_events - len));
            }
            true
        };
        self.history.push_back(event);
        if look {
            self.trim_at(limits, at_ms);
        }
    }

    /// The sequence number of the oldest stored event.
    pub(crate) fn first_stored(&self) -> u64 {
        self.seq + 1 - self.history.len() as u64
    }

    /// The stored events with their sequence numbers, oldest first.
    pub(crate) fn stored(&self) -> impl Iterator<Item = (u64, &Stored)> + '_ {
        let first = self.first_stored();
        self.history
            .iter()
            .enumerate()
            .map(move |(i, e)| (first + i as u64, e))
    }

    /// Numbers an event `seq` (the next one, which a backplane gave: see `super::backplane`),
    /// stores it and queues it to every connection; `direct` writes it on this thread to idle
    /// connections ([`Conn::offer`]). The queues hold the number and the shared body: each
    /// connection's session writes the frame out, so a broadcast's per-recipient copies are
    /// made on every worker, not on the emitting thread. With a backplane nothing is queued
    /// unnumbered (events are emitted through it, not delivered on this node), so no number
    /// given here can overtake one a session would give.
    ///
    /// `at_ms` is `now` on the history's clock ([`clock_ms`]): a broadcast reads the clock once,
    /// not once per stream.
    pub(crate) fn deliver(
        &mut self,
        seq: u64,
        body: Arc<str>,
        limits: &History,
        (now, at_ms): (Instant, u64),
        direct: bool,
    ) -> Delivered {
        self.seq = seq;
        if self.conns.is_empty() {
            self.active = now;
        }
        if limits.max_events > 0 {
            self.store(
                Stored {
                    body: body.clone(),
                    at_ms,
                },
                limits,
            );
        }
        let mut d = Delivered::default();
        for c in self.conns.iter() {
            let frame = Frame::Numbered {
                seq,
                body: body.clone(),
            };
            c.offer(frame, direct).add_to(&mut d);
        }
        d
    }

    /// Tells every connection that the stream restarted at `epoch`, `seq`: what they missed is
    /// gone; clients refetch.
    pub(crate) fn restart(&mut self, epoch: String, seq: u64, reason: &str) {
        self.epoch = epoch;
        self.seq = seq;
        self.history.clear();
        let text = Utf8Bytes::from(resync_frame(&self.epoch, seq, reason));
        for c in self.conns.iter() {
            c.push_control(text.clone());
        }
    }

    /// Queues to `conn` what it missed since `from`, then `$pending_complete`; or
    /// `$resync_required` when that is not in the history. Frames bypass the queue bound: their
    /// number is bounded by the history.
    pub(crate) fn replay(&mut self, conn: &Conn, from: &Position, limits: &History, now: Instant) {
        self.trim(limits, now);
        let frame = if from.epoch != self.epoch {
            resync_frame(
                &self.epoch,
                self.seq,
                "the stream was restarted (new epoch)",
            )
        } else if from.seq > self.seq {
            resync_frame(
                &self.epoch,
                self.seq,
                "the position is ahead of the stream (its history was lost)",
            )
        } else {
            // The history is contiguous, so it covers the gap when it holds as many events
            // after `from` as were missed.
            let missed = self.seq - from.seq;
            let kept = self.stored().filter(|(seq, _)| *seq > from.seq).count() as u64;
            if kept == missed {
                for (seq, e) in self.stored().filter(|(seq, _)| *seq > from.seq) {
                    conn.push_control(Frame::Numbered {
                        seq,
                        body: e.body.clone(),
                    });
                }
                super::resumed(Some(missed));
                pending_frame(&self.epoch, self.seq, missed)
            } else {
                resync_frame(
                    &self.epoch,
                    self.seq,
                    "the events missed are no longer available",
                )
            }
        };
        conn.push_control(Utf8Bytes::from(frame));
    }
}

fn pending_frame(epoch: &str, seq: u64, replayed: u64) -> String {
    crate::protocol::to_json(&serde_json::json!({
        "type": frame::PENDING_COMPLETE, "epoch": epoch, "seq": seq, "replayed": replayed,
    }))
}

pub(crate) fn resync_frame(epoch: &str, seq: u64, reason: &str) -> String {
    super::resumed(None);
    crate::protocol::to_json(&serde_json::json!({
        "type": frame::RESYNC_REQUIRED, "epoch": epoch, "seq": seq, "reason": reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A stream of user `u`, without tenant, whose position is known.
    fn user_stream() -> UserStream {
        UserStream::new(
            StreamId {
                tenant: None,
                user: "u".into(),
            },
            true,
        )
    }

    /// A full history drops its oldest event for each new one, in order, and its deque never
    /// grows past `max_events`, whatever that is.
    #[test]
    fn a_full_history_keeps_the_newest_in_place() {
        for max in [1, 3, 5, 256, 300] {
            let limits = History::new(max, Duration::from_secs(300));
            let stream = user_stream();
            let mut st = stream.lock();
            let now = Instant::now();
            let clock = (now, clock_ms(now));
            for seq in 1..=(3 * max as u64 + 7) {
                st.deliver(seq, Arc::from(seq.to_string()), &limits, clock, false);
                let kept: Vec<(u64, String)> =
                    st.stored().map(|(n, e)| (n, e.body.to_string())).collect();
                let first = seq.saturating_sub(max as u64) + 1;
                let expected: Vec<(u64, String)> =
                    (first..=seq).map(|n| (n, n.to_string())).collect();
                assert_eq!(kept, expected, "max {max}, after {seq}");
                assert!(
                    st.history.capacity() <= max.max(4),
                    "max {max}: {}",
                    st.history.capacity()
                );
            }
        }
    }

    /// The inline first connection and the others read as one list in registration order,
    /// through removals of the first, the last and all.
    #[test]
    fn connections_keep_their_order_through_removals() {
        let stream = Arc::new(user_stream());
        let conn = |id| {
            Arc::new(Conn::new(
                id,
                crate::Principal::user("u"),
                stream.clone(),
                4,
            ))
        };
        let ids = |c: &Conns| c.iter().map(|c| c.id).collect::<Vec<_>>();
        let mut conns = Conns::default();
        assert!(conns.is_empty());
        for id in 1..=4 {
            conns.push(conn(id));
        }
        assert_eq!((ids(&conns), conns.len()), (vec![1, 2, 3, 4], 4));
        conns.retain(|c| c.id != 1);
        assert_eq!(ids(&conns), [2, 3, 4]);
        conns.retain(|c| c.id != 4);
        conns.push(conn(5));
        assert_eq!(ids(&conns), [2, 3, 5]);
        conns.retain(|_| false);
        assert_eq!((conns.is_empty(), conns.len()), (true, 0));
        conns.push(conn(6));
        assert_eq!((ids(&conns), conns.len()), (vec![6], 1));
    }

    /// Events past the history's age are dropped as new ones come.
    #[test]
    fn old_events_go_as_new_ones_come() {
        let limits = History::new(10, Duration::from_millis(100));
        let stream = user_stream();
        let mut st = stream.lock();
        let now = Instant::now();
        st.deliver(1, Arc::from("a"), &limits, (now, 1_000), false);
        st.deliver(2, Arc::from("b"), &limits, (now, 1_050), false);
        st.deliver(3, Arc::from("c"), &limits, (now, 1_140), false);
        let kept: Vec<u64> = st.stored().map(|(n, _)| n).collect();
        assert_eq!(kept, [2, 3]);
        // Full, dropping its oldest: past the age too, the next oldest goes as well.
        let limits = History::new(3, Duration::from_millis(100));
        for (seq, at) in [(4, 1_150), (5, 1_160), (6, 1_300)] {
            st.deliver(seq, Arc::from("d"), &limits, (now, at), false);
        }
        let kept: Vec<u64> = st.stored().map(|(n, _)| n).collect();
        assert_eq!(kept, [6], "4 and 5 are 150 and 140 ms old");
    }
}
