//! One live connection as the hub sees it: identity, delivery stream, rooms and outbound queue.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use std::task::Poll;

use super::outbox::{Frame, Outbox, Refused, Unnumbered};
use super::stream::UserStream;
use super::Delivered;
use crate::delivery::History;
use crate::Principal;

/// Why the hub asks a session to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kill {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

/// A registered connection.
pub(crate) struct Conn {
    pub(crate) id: u64,
    principal: RwLock<Arc<Principal>>,
    pub(crate) stream: Arc<UserStream>,
    /// Its queue, with the words of the durable path without the stream's lock on the line of
    /// the queue's count ([`UnlockedPath`]).
    pub(crate) outbox: Outbox<UnlockedPath>,
    rooms: Mutex<Rooms>,
    /// The request to close: the session's task is woken through its outbox's waker, the one
    /// waker it registers while idle (see [`next_signal`](Self::next_signal)).
    kill: OnceLock<Kill>,
    /// The ticket of its attaching to its stream (`stream::next_ticket`; 0 before), written
    /// under the stream's lock before the connection is indexed: a walk whose ticket is older
    /// passes it over (see `Inner::each_durable_stream`).
    attached: AtomicU64,
}

/// The words of a connection's durable path without its stream's lock (see `super::stream`,
/// "Numbering"), kept on the cache line of its queue's count ([`Outbox::beside`]): a push on
/// that path reads and writes them with the count.
pub(crate) struct UnlockedPath {
    /// The ticket (`stream::next_ticket`) of the change of its stream's connections since
    /// which this one is the only one; 0 while it is not. Written under the stream's lock.
    alone_since: AtomicU64,
    /// Durable events queued to it unnumbered, counted in before they are queued, and the
    /// [`SHUT`] bit: while that is set, emitters queue none without the stream's lock.
    unnumbered: AtomicUsize,
}

// They fit beside the queue's count, bound and waker on its 64-byte line.
const _: () = assert!(std::mem::size_of::<UnlockedPath>() <= super::outbox::BESIDE_BYTES);

impl UnlockedPath {
    /// Not alone, the path shut: a connection's words until its stream opens the path.
    fn shut() -> UnlockedPath {
        UnlockedPath {
            alone_since: AtomicU64::new(0),
            unnumbered: AtomicUsize::new(SHUT),
        }
    }
}

/// What an idle session has to do next ([`Conn::next_signal`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// Close as asked.
    Kill(Kill),
    /// Close: the hub is shutting down.
    ShuttingDown,
    /// Write what is queued.
    Work,
}

/// The bit of [`UnlockedPath`]'s count of unnumbered events that shuts the path without the
/// stream's lock: set and cleared under the lock, in the atomic operation that emitters count
/// themselves in with, so an emitter either counts in before it is set or is refused.
const SHUT: usize = 1 << (usize::BITS - 1);

/// Why [`Conn::push_unlocked`] handed an event back: the emitter takes the stream's lock then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unlocked {
    /// Not its stream's only connection since before the walk, or the path is shut.
    Locked,
    /// Its queue is full: the connection is being cut off as a slow consumer.
    Full,
    /// Its session has ended.
    Gone,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("user", &self.user())
            .field("tenant", &self.tenant())
            .finish_non_exhaustive()
    }
}

/// The rooms of a connection; once it is unregistered, closed to joins (a session handle kept
/// past the connection's end cannot put it back into a room index).
#[derive(Default)]
struct Rooms {
    names: Vec<String>,
    closed: bool,
    /// Its session has started (`on_connect` succeeded): its joins and leaves are announced
    /// by presence events. Before, a connection that is then refused is never announced.
    live: bool,
}

/// What happened to a frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    Queued,
    /// The queue was full: the connection is being cut off as a slow consumer.
    Dropped,
    /// The session has ended.
    Gone,
}

impl Push {
    /// Counts what happened to the frame in an emit's tally.
    #[inline]
    pub(crate) fn add_to(self, d: &mut Delivered) {
        match self {
            Push::Queued => d.connections += 1,
            Push::Dropped => d.dropped += 1,
            Push::Gone => {}
        }
    }
}

impl Conn {
    pub(crate) fn new(
        id: u64,
        principal: Principal,
        stream: Arc<UserStream>,
        outbound_queue: usize,
    ) -> Conn {
        Conn {
            id,
            principal: RwLock::new(Arc::new(principal)),
            stream,
            outbox: Outbox::with(outbound_queue, UnlockedPath::shut()),
            rooms: Mutex::new(Rooms::default()),
            kill: OnceLock::new(),
            attached: AtomicU64::new(0),
        }
    }

    /// Reads the words an emitter's push reads first — the queue's count and bound, with the
    /// durable path's words beside them on one line, and the queue's tail ([`Outbox::warm`])
    /// — and nothing else: plain loads, whose values are dropped.
    ///
    /// A broadcast's walk warms the next few recipients this way before it pushes to any of
    /// them (see `registry::each_warmed`). The loads have no atomic read-modify-write between
    /// them, so the processor fetches their lines at once; a push's first read of a connection
    /// no cache holds is otherwise a wait of its own, and a push's locked instructions keep
    /// the next connection's reads from starting before it ends.
    pub(crate) fn warm(&self) {
        self.outbox.warm();
    }

    /// The words of its durable path without the stream's lock.
    fn path(&self) -> &UnlockedPath {
        self.outbox.beside()
    }

    /// Queues a durable event unnumbered without its stream's lock — for its session to
    /// number — when the connection has been its stream's only one since before `walk` (a
    /// ticket `stream::next_ticket` gave) and the path is open; hands it back otherwise.
    #[inline]
    pub(crate) fn push_unlocked(
        &self,
        event: Unnumbered,
        walk: u64,
    ) -> Result<(), (Unlocked, Unnumbered)> {
        let since = self.path().alone_since.load(Ordering::Acquire);
        if since == 0 || since >= walk {
            return Err((Unlocked::Locked, event));
        }
        if self.path().unnumbered.fetch_add(1, Ordering::AcqRel) & SHUT != 0 {
            self.path().unnumbered.fetch_sub(1, Ordering::AcqRel);
            return Err((Unlocked::Locked, event));
        }
        self.outbox
            .push_unnumbered(event)
            .map_err(|(refused, event)| {
                self.path().unnumbered.fetch_sub(1, Ordering::AcqRel);
                match refused {
                    Refused::Full => {
                        self.kill(crate::protocol::close::SLOW_CONSUMER, "outbound queue full");
                        (Unlocked::Full, event)
                    }
                    Refused::Closed => (Unlocked::Gone, event),
                }
            })
    }

    /// Queues a durable event unnumbered under its stream's lock (past the shut path).
    pub(crate) fn push_unnumbered(&self, event: Unnumbered) -> Result<(), (Refused, Unnumbered)> {
        self.path().unnumbered.fetch_add(1, Ordering::AcqRel);
        self.outbox.push_unnumbered(event).inspect_err(|_| {
            self.path().unnumbered.fetch_sub(1, Ordering::AcqRel);
        })
    }

    /// Shuts the path without the stream's lock (under the lock); how many unnumbered events
    /// it has queued or counted in, and whether the path was open.
    pub(crate) fn shut_unlocked(&self) -> (usize, bool) {
        let before = self.path().unnumbered.fetch_or(SHUT, Ordering::AcqRel);
        (before & !SHUT, before & SHUT == 0)
    }

    /// Opens the path without the stream's lock (under the lock).
    pub(crate) fn open_unlocked(&self) {
        self.path().unnumbered.fetch_and(!SHUT, Ordering::AcqRel);
    }

    /// `count` unnumbered events were taken from the queue (under the stream's lock).
    pub(crate) fn took_unnumbered(&self, count: usize) {
        if count > 0 {
            self.path().unnumbered.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Moves up to `max` queued frames into `out` for the session to write, numbering the
    /// durable events queued unnumbered (`StreamState::number_taken`) under the stream's lock,
    /// which every change of who numbers the stream takes too. Frames come first without the
    /// lock, up to the first event to number ([`Outbox::drain_frames`]): a session with none —
    /// every ephemeral event, and every durable one numbered by its emitter — never takes its
    /// stream's lock (and never waits for an emitter or a backplane holding it). Returns how
    /// many connections were cut off as slow consumers meanwhile.
    pub(crate) fn take(&self, out: &mut Vec<Frame>, max: usize, limits: &History) -> usize {
        let (moved, stopped) = self.outbox.drain_frames(out, max);
        if !stopped {
            return 0;
        }
        let mut st = self.stream.lock();
        let (mut dropped, mut numbered) = (0, 0);
        self.outbox
            .drain_into(out, max.saturating_sub(moved), |event| {
                numbered += 1;
                st.number_taken(self, event, limits, &mut dropped)
            });
        // Counted out once for the batch, still under the lock: everything that reads the
        // count takes the lock first (`shut_unlocked`, `leave`), and an emitter pushing
        // meanwhile writes the same word, so one locked operation per batch, not per event,
        // moves its line between the cores.
        self.took_unnumbered(numbered);
        drop(st);
        dropped
    }

    /// Records the ticket of its attaching to its stream, under the stream's lock.
    pub(crate) fn set_attached(&self, ticket: u64) {
        self.attached.store(ticket, Ordering::Release);
    }

    /// Whether it attached to its stream after `walk` (a ticket) began.
    pub(crate) fn attached_after(&self, walk: u64) -> bool {
        self.attached.load(Ordering::Acquire) > walk
    }

    /// Marks the connection its stream's only one since `ticket` (0: not), under the lock.
    pub(crate) fn set_alone_since(&self, ticket: u64) {
        self.path().alone_since.store(ticket, Ordering::Release);
    }

    /// The user (the stream's: user and tenant are kept once, there).
    pub(crate) fn user(&self) -> &str {
        &self.stream.id.user
    }

    /// The tenant.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.stream.id.tenant.as_deref()
    }

    pub(crate) fn principal(&self) -> Arc<Principal> {
        self.principal
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_principal(&self, p: Principal) -> Arc<Principal> {
        let p = Arc::new(p);
        let mut slot = self
            .principal
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *slot, p)
    }

    /// Offers a frame to the outbound queue without waiting.
    pub(crate) fn push(&self, frame: impl Into<Frame>) -> Push {
        self.pushed(self.outbox.push(frame.into()))
    }

    /// Offers a frame as [`push`](Self::push) does; with `direct`, writes it on this thread
    /// when the connection is idle (see [`super::outbox`]): for events to a few connections,
    /// where the wake-up of the session's task would be most of the latency.
    #[inline]
    pub(crate) fn offer(&self, frame: impl Into<Frame>, direct: bool) -> Push {
        let frame = frame.into();
        self.pushed(if direct {
            self.outbox.offer(frame)
        } else {
            self.outbox.push(frame)
        })
    }

    #[inline]
    fn pushed(&self, result: Result<(), Refused>) -> Push {
        match result {
            Ok(()) => Push::Queued,
            Err(Refused::Full) => {
                self.kill(crate::protocol::close::SLOW_CONSUMER, "outbound queue full");
                Push::Dropped
            }
            Err(Refused::Closed) => Push::Gone,
        }
    }

    /// Queues a frame whatever the queue's length: replayed events and stream control frames,
    /// whose number is bounded by the history, not by the reader's speed.
    pub(crate) fn push_control(&self, frame: impl Into<Frame>) {
        let _ = self.outbox.push_unbounded(frame.into());
    }

    /// Asks the session to close with `code`; the first request wins.
    pub(crate) fn kill(&self, code: u16, reason: &'static str) {
        if self.kill.set(Kill { code, reason }).is_ok() {
            self.outbox.wake();
        }
    }

    /// Whether the session was asked to close, and how.
    pub(crate) fn kill_requested(&self) -> Option<Kill> {
        self.kill.get().copied()
    }

    /// Wakes the session to look again at what [`next_signal`](Self::next_signal) checks (the
    /// hub's shutdown: the hub sets its flag, then interrupts every session).
    pub(crate) fn interrupt(&self) {
        self.outbox.wake();
    }

    /// Resolves when the session was asked to close. For the session's own task only (the
    /// outbox holds one waker). The waker is registered before the second look, so a kill
    /// between the two wakes it: none is lost.
    pub(crate) async fn killed(&self) -> Kill {
        std::future::poll_fn(|cx| {
            if let Some(k) = self.kill.get() {
                return Poll::Ready(*k);
            }
            self.outbox.register(cx.waker());
            match self.kill.get() {
                Some(k) => Poll::Ready(*k),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Resolves with what an idle session has to do next, in this order: close as asked
    /// ([`kill`](Self::kill)), close as the hub shuts down (`shutting_down`, looked at after
    /// each [`interrupt`](Self::interrupt)), or write what is queued. One waker, the outbox's,
    /// is registered for all three, before the second look: none is missed. (Three futures,
    /// one per cause, registered two wakers and took and released a lock shared by every
    /// session on each turn of an idle session's loop.)
    pub(crate) async fn next_signal(&self, shutting_down: impl Fn() -> bool) -> Signal {
        let look = || {
            if let Some(k) = self.kill.get() {
                Some(Signal::Kill(*k))
            } else if shutting_down() {
                Some(Signal::ShuttingDown)
            } else if self.outbox.has_work_now() {
                Some(Signal::Work)
            } else {
                None
            }
        };
        std::future::poll_fn(|cx| {
            if let Some(signal) = look() {
                return Poll::Ready(signal);
            }
            self.outbox.register(cx.waker());
            look().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    fn rooms_lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `room` and runs `index` (which puts the connection in the room indexes) under the
    /// rooms' lock, so that unregistering, which takes the rooms, sees the room and removes
    /// those entries. `Some(false)`, and nothing run, when already in the room or unregistered;
    /// `None` when in `max` rooms already.
    /// `index` is told whether the connection is live.
    pub(crate) fn add_room(
        &self,
        room: &str,
        max: usize,
        index: impl FnOnce(bool),
    ) -> Option<bool> {
        let mut rooms = self.rooms_lock();
        if rooms.closed || rooms.names.iter().any(|r| r == room) {
            return Some(false);
        }
        if rooms.names.len() >= max {
            return None;
        }
        rooms.names.push(room.to_owned());
        index(rooms.live);
        Some(true)
    }

    /// Marks the session started and runs `announce` on its rooms, under the rooms' lock (so no
    /// join or leave slips between). Does nothing once unregistered.
    pub(crate) fn go_live(&self, announce: impl FnOnce(&[String])) {
        let mut rooms = self.rooms_lock();
        if rooms.closed || rooms.live {
            return;
        }
        rooms.live = true;
        announce(&rooms.names);
    }

    /// Removes `room`, running `unindex` under the rooms' lock when it was there.
    /// `unindex` is told whether the connection is live.
    pub(crate) fn remove_room(&self, room: &str, unindex: impl FnOnce(bool)) -> bool {
        let mut rooms = self.rooms_lock();
        let before = rooms.names.len();
        rooms.names.retain(|r| r != room);
        let removed = rooms.names.len() != before;
        if removed {
            unindex(rooms.live);
        }
        removed
    }

    /// The rooms, taken at unregistering: no room can be joined afterwards.
    /// Also whether the connection was live.
    pub(crate) fn take_rooms(&self) -> (Vec<String>, bool) {
        let mut rooms = self.rooms_lock();
        rooms.closed = true;
        (std::mem::take(&mut rooms.names), rooms.live)
    }

    /// Whether joining `room` keeps the connection within `max` rooms (it may be in it already).
    pub(crate) fn has_room_for(&self, room: &str, max: usize) -> bool {
        let rooms = self.rooms_lock();
        rooms.names.len() < max || rooms.names.iter().any(|r| r == room)
    }

    pub(crate) fn rooms(&self) -> Vec<String> {
        self.rooms_lock().names.clone()
    }
}
