//! A connection's bounded outbound queue, and the direct write that skips it.
//!
//! **Two queues, one lock held for an instant.** A push appends to a queue behind a lock of
//! its own, on a cache line of its own ([`Pushed`]); the session never works under that lock:
//! it swaps the whole queue for its own emptied one (O(1), [`Outbox::drain_into`]) and takes
//! the frames from there, numbering durable events, without it. So the lock is held for a
//! few dozen instructions by either side, once per batch by the session, and a session
//! preempted while holding it (two cores shared with the load generator) is rare enough not
//! to hold a broadcast up. It was not so when the session drained frame by frame and shrank
//! the queue under the lock: the emitting thread slept on it for a scheduler's time slice,
//! dozens of times a broadcast (BENCHMARKS.md, "Frames written below tungstenite, pushes
//! without a lock"). A lock-free queue (crossbeam's `SegQueue`) fixed that, at ~220
//! instructions a frame for the push and the take together, against ~150 for these two
//! queues ("A queue swapped whole"). The count that bounds the queue is an atomic word
//! ([`Counted`]), read without the lock. Idle connections are the common case, so an empty
//! outbox allocates nothing: the queues' memory is freed when the session finds nothing left
//! to write ([`Outbox::release`]).
//!
//! **Direct writes.** A frame offered with [`Outbox::offer`] to a connection whose queue is
//! empty and whose socket has nothing in flight is written by the offering thread itself,
//! without waking the session's task (what Node's `ws` does inside its `send`): the latency of
//! an event to a few connections is then one `write` call, not a task wake-up on another
//! worker. The write never waits: when the socket would block (or the session task holds it),
//! the frame goes first in line (a slot ahead of the queue) and the session writes it. Frames
//! keep their order because a direct write starts only when nothing is queued or held, and
//! while one runs the session takes nothing from the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use futures_util::task::AtomicWaker;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A frame in a connection's queue.
#[derive(Debug)]
pub(crate) enum Frame {
    /// Text ready to write, shared by every recipient.
    Text(Utf8Bytes),
    /// A durable event numbered in the user's stream: `{"seq":N,` and the shared body, written
    /// out by the session that sends it ([`Frame::into_text`]).
    Numbered { seq: u64, body: Arc<str> },
}

impl Frame {
    /// The frame's text, as the bytes of the parts it is made of (whole, when they are
    /// concatenated): the shared text, or `{"seq":N,` (ASCII, written on the stack) and the
    /// shared body. A socket that takes a frame in parts writes it without building it first
    /// (see [`crate::connection::TextParts`]). Two parts, not four (`{"seq":`, the digits and
    /// `,` apart): each part is a copy call of its own, ~30 instructions however short.
    pub(crate) fn with_parts<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        match self {
            Frame::Text(text) => f(&[text.as_bytes()]),
            Frame::Numbered { seq, body } => {
                let mut prefix = NumberPrefix::default();
                f(&[prefix.format(*seq), body.as_bytes()])
            }
        }
    }

    /// Bytes the frame takes on the wire at most: its payload at its widest and the longest
    /// frame header (RFC 6455 §5.2, 10 bytes for a server's unmasked frame).
    pub(crate) fn wire_bytes(&self) -> usize {
        10 + match self {
            Frame::Text(text) => text.len(),
            Frame::Numbered { body, .. } => widest_frame(body, true),
        }
    }

    /// The frame's text.
    pub(crate) fn into_text(self) -> Utf8Bytes {
        match self {
            Frame::Text(text) => text,
            Frame::Numbered { seq, body } => {
                let mut digits = itoa::Buffer::new();
                Utf8Bytes::from(joined(&["{\"seq\":", digits.format(seq), ",", &body]))
            }
        }
    }
}

/// A durable event queued to the connection that numbers its user's stream, not yet numbered:
/// the connection's session numbers it in the stream as it takes it (see `super::stream`).
/// `at_ms` is when it was emitted, on the history's clock.
#[derive(Debug, Clone)]
pub(crate) struct Unnumbered {
    pub(crate) body: Arc<str>,
    pub(crate) at_ms: u64,
}

/// What a connection's queue holds: frames, and durable events its session numbers.
#[derive(Debug)]
enum Queued {
    Frame(Frame),
    Unnumbered(Unnumbered),
}

impl From<Utf8Bytes> for Frame {
    fn from(text: Utf8Bytes) -> Frame {
        Frame::Text(text)
    }
}

/// `text` as a frame's text that every recipient shares: each clone one increment of one
/// reference count (`Bytes` over its owner). `Bytes` made from a `String` directly are
/// "promotable": the first clone allocates the count, and every clone looks first at which
/// kind they are (~14 instructions against ~8, for every recipient of a broadcast).
pub(crate) fn shared_text(text: String) -> Utf8Bytes {
    // The check is of bytes a `String` holds: UTF-8, by its invariant.
    Utf8Bytes::try_from(bytes::Bytes::from_owner(text)).expect("a String is UTF-8")
}

/// `{"seq":` and `,`: what a numbered frame adds to the body besides the number's digits.
const NUMBER_AROUND: usize = 8;

/// `{"seq":N,` in ASCII, on the stack.
#[derive(Default)]
struct NumberPrefix([u8; NUMBER_AROUND + 20]);

impl NumberPrefix {
    fn format(&mut self, seq: u64) -> &[u8] {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(seq).as_bytes();
        let end = 7 + digits.len();
        self.0[..7].copy_from_slice(b"{\"seq\":");
        self.0[7..end].copy_from_slice(digits);
        self.0[end] = b',';
        &self.0[..=end]
    }
}

/// The longest frame a body takes: `{` and the body, or when `numbered` `{"seq":N,` with `N` at
/// its widest (20 digits, `u64::MAX`) and the body — the length a size limit checks before the
/// event is numbered.
pub(crate) fn widest_frame(body: &str, numbered: bool) -> usize {
    if numbered {
        body.len() + NUMBER_AROUND + 20
    } else {
        body.len() + 1
    }
}

/// The parts joined in one allocation of exactly their length — so that turning it into the
/// frame's `Bytes` reuses the allocation instead of adding one.
fn joined(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// The bit of [`Outbox`]'s count that marks it closed: set once, by [`Outbox::close_with`], in
/// the same atomic operation pushes count themselves in with, so that every push is either
/// counted in before the close (and queued, and found by it) or refused.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

/// What a direct write did with its frame.
#[derive(Debug)]
pub(crate) enum Written {
    /// Written and flushed to the socket.
    Flushed,
    /// Taken by the socket; the session flushes the rest (and meets any failure of the
    /// socket).
    Unflushed,
    /// Not taken: the socket would block, is in use, or failed (the session writes the frame
    /// and meets the failure itself). The frame is handed back.
    Busy(Frame),
}

/// A session's socket, writable from the thread that emits an event.
pub(crate) trait DirectWrite: Send + Sync {
    /// Writes `frame` if the socket takes it without waiting; never blocks on the socket.
    fn try_write(&self, frame: Frame) -> Written;
}

/// A connection's queue. `W` is what its owner keeps on the cache line of the queue's count
/// ([`beside`](Outbox::beside)): words a push of the owner's reads or writes with the count.
pub(crate) struct Outbox<W = ()> {
    /// The count, the bound, and the owner's words.
    counted: Counted<W>,
    /// The queue pushes append to.
    pushed: Pushed,
    /// The state a direct write and the session agree on.
    state: Mutex<State>,
    /// Frames the session took from [`Pushed`] in one swap and has not moved out yet, oldest
    /// first, ahead of everything pushed since: the session's side, locked by the session's
    /// drains and by a close only (never by a push).
    taken: Mutex<VecDeque<Queued>>,
}

/// The queue pushes append to, oldest first, behind the frames the session took
/// ([`Outbox::taken`]): its lock and its header on a cache line of their own (64 bytes on
/// x86-64 and most 64-bit processors), which only pushes and the session's swap (once per
/// batch) write — not the session's other steps ([`State`]), which would move the line to
/// the session's core between two pushes.
#[repr(align(64))]
struct Pushed(Mutex<VecDeque<Queued>>);

/// What a push reads and writes besides the queue itself, on one cache line of its own (64
/// bytes on x86-64 and most 64-bit processors). The session writes the count once per batch
/// it takes, so an emitter pushing to the connection next finds the line in the session's
/// core: one line to fetch from there, not one per word. A durable push also reads and writes
/// its owner's words ([`Outbox::beside`]); on a line of their own, they were a second line
/// the session had written (BENCHMARKS.md, "The push's words on one line").
#[repr(C, align(64))]
struct Counted<W> {
    /// Frames counted in, and the [`CLOSED`] bit: a push counts its frame before it queues it,
    /// a drain counts out what it took, so this is never less than what the queue holds (the
    /// bound's check).
    len: AtomicUsize,
    capacity: usize,
    /// The session's waker: woken by the push that finds nothing counted in, and when a direct
    /// write leaves work. On this line because that push is most pushes when the session keeps
    /// up: it takes every frame as it comes.
    ready: AtomicWaker,
    beside: W,
}

#[derive(Default)]
struct State {
    /// A frame a direct write could not write: first in line, ahead of everything queued.
    front: Option<Frame>,
    /// The session holds frames taken from the queue and has not flushed them yet, or is
    /// answering a client's frame (see [`Outbox::hold`]).
    batch: bool,
    /// An emitting thread is writing a frame directly.
    direct: bool,
    /// A direct write left bytes for the session to flush.
    flush: bool,
    /// The session's socket, once its `$connected` frame is written.
    socket: Option<Arc<dyn DirectWrite>>,
}

/// Frames a queue makes room for at its first push: a burst's first frames without a doubling
/// from 4 under the lock (40 bytes each).
const FIRST_ROOM: usize = 64;

/// Bytes of the count's cache line left to the owner's words ([`Outbox::beside`]) after the
/// count, the bound and the waker.
pub(crate) const BESIDE_BYTES: usize = 16;

const _: () = assert!(std::mem::size_of::<Counted<[u64; BESIDE_BYTES / 8]>>() == 64);

impl Outbox {
    /// An empty outbox holding up to `capacity` frames (at least one), with nothing beside
    /// its count.
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox::with(capacity, ())
    }
}

impl<W> Outbox<W> {
    /// An empty outbox holding up to `capacity` frames (at least one), with `beside` on its
    /// count's cache line.
    pub(crate) fn with(capacity: usize, beside: W) -> Outbox<W> {
        Outbox {
            counted: Counted {
                len: AtomicUsize::new(0),
                capacity: capacity.max(1),
                ready: AtomicWaker::new(),
                beside,
            },
            pushed: Pushed(Mutex::new(VecDeque::new())),
            state: Mutex::new(State::default()),
            taken: Mutex::new(VecDeque::new()),
        }
    }

    /// The owner's words on the count's cache line.
    pub(crate) fn beside(&self) -> &W {
        &self.counted.beside
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn lock_taken(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.taken.lock()
    }

    #[inline]
    fn lock_pushed(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.pushed.0.lock()
    }

    /// Whether the session has work: frames queued or bytes to flush, and no direct write
    /// running (taking frames meanwhile could put them ahead of the direct write's frame).
    fn has_work(&self, st: &State) -> bool {
        !st.direct && (st.flush || st.front.is_some() || self.queued() > 0)
    }

    /// Reads the words a push reads first — the count and the bound, and the queue's lock (its
    /// word, without taking it) — so that their lines are on
    /// their way into this core's cache before the push (see [`Conn::warm`]).
    ///
    /// [`Conn::warm`]: super::conn::Conn::warm
    pub(crate) fn warm(&self) {
        std::hint::black_box((
            self.counted.len.load(Ordering::Relaxed),
            self.counted.capacity,
            self.pushed.0.is_locked(),
        ));
    }

    /// How many frames are queued (counted in; see [`queue`](Self::queue)).
    pub(crate) fn queued(&self) -> usize {
        self.counted.len.load(Ordering::Acquire) & !CLOSED
    }

    fn is_closed(&self) -> bool {
        self.counted.len.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether frames are waiting for the session: queued, or first in line.
    pub(crate) fn pending(&self) -> bool {
        self.queued() > 0 || self.lock().front.is_some()
    }

    /// Lets frames offered from now on be written directly to `socket`.
    pub(crate) fn attach(&self, socket: Arc<dyn DirectWrite>) {
        // Checked under the lock `close` takes after marking the outbox closed: a socket is
        // never attached to a closed outbox.
        let mut st = self.lock();
        if !self.is_closed() {
            st.socket = Some(socket);
        }
    }

    /// Queues a frame without waiting.
    #[inline]
    pub(crate) fn push(&self, frame: Frame) -> Result<(), Refused> {
        self.queue(frame, Queued::Frame, self.counted.capacity)
            .map_err(|(refused, _)| refused)
    }

    /// Queues a frame without the capacity check (frames whose number is bounded elsewhere).
    #[inline]
    pub(crate) fn push_unbounded(&self, frame: Frame) -> Result<(), Refused> {
        self.queue(frame, Queued::Frame, usize::MAX)
            .map_err(|(refused, _)| refused)
    }

    /// Queues a durable event for the session to number, within the capacity; a refused one
    /// is handed back.
    #[inline]
    pub(crate) fn push_unnumbered(&self, event: Unnumbered) -> Result<(), (Refused, Unnumbered)> {
        self.queue(event, Queued::Unnumbered, self.counted.capacity)
    }

    /// Counts `item` in (refused past `capacity`), queues it as `queued` makes it, and wakes the
    /// session when nothing was counted in before: the session takes everything queued before
    /// it waits again (`wait` checks the count first), so later frames need no wake-up of their
    /// own. The count never passes `capacity`; a push racing a refused one may see its count
    /// for an instant, and be refused a frame early. A refused item is handed back with the
    /// reason.
    #[inline]
    fn queue<T>(
        &self,
        item: T,
        queued: fn(T) -> Queued,
        capacity: usize,
    ) -> Result<(), (Refused, T)> {
        match self.admit(capacity) {
            Ok(before) => self
                .enqueue(item, queued, before)
                .map_err(|item| (Refused::Closed, item)),
            Err(refused) => Err((refused, item)),
        }
    }

    /// Counts a frame in, unless the outbox is closed or holds `capacity` already; the count
    /// before it.
    #[inline]
    fn admit(&self, capacity: usize) -> Result<usize, Refused> {
        let before = self.counted.len.fetch_add(1, Ordering::AcqRel);
        if before & CLOSED != 0 {
            self.counted.len.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Closed);
        }
        if before >= capacity {
            self.counted.len.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        Ok(before)
    }

    /// Queues an item [`admit`](Self::admit) counted in (`before`: the count it found) as
    /// `queued` makes it, unless the outbox was closed since: the item is handed back then,
    /// counted out again.
    #[inline]
    fn enqueue<T>(&self, item: T, queued: fn(T) -> Queued, before: usize) -> Result<(), T> {
        {
            let mut frames = self.lock_pushed();
            // Checked under the lock the close takes after marking the outbox closed: a frame
            // queued here is found by the close, one refused was counted in before it and is
            // not waited for.
            if self.is_closed() {
                drop(frames);
                self.counted.len.fetch_sub(1, Ordering::AcqRel);
                return Err(item);
            }
            if frames.capacity() == 0 {
                // Room for a burst's first frames at once, not a doubling from 4 under the
                // lock (the memory is freed when the connection is idle again, `release`).
                frames.reserve(FIRST_ROOM);
            }
            frames.push_back(queued(item));
        }
        if before == 0 {
            self.counted.ready.wake();
        }
        Ok(())
    }

    /// Writes a frame directly when the connection is idle (nothing queued, nothing held by the
    /// session, its socket attached and writable without waiting); queues it otherwise, as
    /// [`push`](Self::push) does.
    pub(crate) fn offer(&self, frame: Frame) -> Result<(), Refused> {
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        let socket = {
            let mut st = self.lock();
            let idle = !st.batch
                && !st.direct
                && !st.flush
                && st.front.is_none()
                && self.counted.len.load(Ordering::Acquire) == 0;
            match st.socket.clone() {
                Some(socket) if idle => {
                    st.direct = true;
                    socket
                }
                _ => {
                    drop(st);
                    return self.push(frame);
                }
            }
        };
        let written = socket.try_write(frame);
        let mut st = self.lock();
        st.direct = false;
        match written {
            Written::Flushed => {}
            Written::Unflushed => st.flush = true,
            // First in line: everything queued meanwhile was offered after it. Over the
            // capacity by at most this one frame, which was admitted on an empty queue.
            Written::Busy(frame) => st.front = Some(frame),
        }
        // Frames queued during the write were not taken (see `has_work`): wake the session.
        let wake = self.has_work(&st);
        drop(st);
        if wake {
            self.counted.ready.wake();
        }
        Ok(())
    }

    /// Whether the session has something to write now.
    pub(crate) fn has_work_now(&self) -> bool {
        self.has_work(&self.lock())
    }

    /// Registers the session's waker: woken by a push that finds nothing counted in, by a
    /// direct write that leaves work, and by [`wake`](Self::wake).
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.counted.ready.register(waker);
    }

    /// Wakes the session (a kill, the hub's shutdown: see `Conn::next_signal`).
    pub(crate) fn wake(&self) {
        self.counted.ready.wake();
    }

    /// Waits until there is something to write. The waker is registered before the second
    /// check, so a push between the check and the wait wakes it: no wake-up is lost.
    #[cfg(test)]
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.has_work(&self.lock()) {
                return std::task::Poll::Ready(());
            }
            self.counted.ready.register(cx.waker());
            if self.has_work(&self.lock()) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }

    /// Moves up to `max` queued frames into `out`, oldest first, and holds direct writes off
    /// until [`release`](Self::release): the session flushes what it feeds and what a direct
    /// write left. A durable event queued unnumbered takes its place in `out` as `number` frames
    /// it (or none, when `number` passes it on).
    pub(crate) fn drain_into(
        &self,
        out: &mut Vec<Frame>,
        max: usize,
        mut number: impl FnMut(Unnumbered) -> Option<Frame>,
    ) {
        self.drain(out, max, Some(&mut number));
    }

    /// Moves queued frames into `out` as [`drain_into`](Self::drain_into) does, but stops at
    /// the first durable event queued unnumbered and keeps it next in line: a session that has
    /// none to number takes its frames without its stream's lock. Returns how many frames it
    /// moved, and whether it stopped at such an event (the caller then drains again with
    /// `drain_into`, numbering).
    pub(crate) fn drain_frames(&self, out: &mut Vec<Frame>, max: usize) -> (usize, bool) {
        self.drain(out, max, None)
    }

    fn drain(
        &self,
        out: &mut Vec<Frame>,
        max: usize,
        mut number: Option<&mut dyn FnMut(Unnumbered) -> Option<Frame>>,
    ) -> (usize, bool) {
        let mut taken = self.lock_taken();
        let mut moved = 0;
        {
            let mut st = self.lock();
            if let Some(frame) = st.front.take() {
                out.push(frame);
                moved += 1;
            }
            // Set with the front taken, so that no direct write starts from here on: what is
            // offered meanwhile is pushed, behind the front.
            st.batch = true;
            st.flush = false;
        }
        // Frames taken from the queue, counted out below.
        let mut counted_out = 0;
        let mut stopped = false;
        while moved < max {
            // The session's side first; once it runs dry, everything pushed so far, in one
            // swap (the session's emptied queue, with its memory, goes back for the pushes to
            // fill) — so that a drain up to `max` takes all that is queued up to `max`, as a
            // closing session's last drain must (`drain_and_close`).
            let queued = match taken.pop_front() {
                Some(queued) => queued,
                None => {
                    std::mem::swap(&mut *taken, &mut *self.lock_pushed());
                    match taken.pop_front() {
                        Some(queued) => queued,
                        None => break,
                    }
                }
            };
            match (queued, number.as_mut()) {
                (Queued::Frame(frame), _) => out.push(frame),
                (Queued::Unnumbered(event), Some(number)) => out.extend(number(event)),
                (Queued::Unnumbered(event), None) => {
                    // Next in line, for a drain that numbers or for a close.
                    taken.push_front(Queued::Unnumbered(event));
                    stopped = true;
                    break;
                }
            }
            counted_out += 1;
            moved += 1;
        }
        if counted_out > 0 {
            self.counted.len.fetch_sub(counted_out, Ordering::AcqRel);
        }
        (moved, stopped)
    }

    /// Holds direct writes off while the session answers a client's frame: what the answer's
    /// handling emits to this connection is queued behind the answer, as it always was.
    pub(crate) fn hold(&self) {
        self.lock().batch = true;
    }

    /// Holds direct writes off, as [`hold`](Self::hold) does, unless one is running: `false`
    /// then, and the caller tries again once it has ended (a direct write never waits: it
    /// lasts one non-blocking write). Once this returns `true` no direct write runs or starts,
    /// so a drain after it finds every frame offered before, a frame a direct write could not
    /// write included (first in line): what a session that is closing takes last.
    pub(crate) fn hold_unless_writing(&self) -> bool {
        let mut st = self.lock();
        if st.direct {
            return false;
        }
        st.batch = true;
        true
    }

    /// The session flushed what it took, or answered: direct writes may go again. When nothing
    /// is queued, the queues' memory is freed: an idle connection holds none.
    pub(crate) fn release(&self) {
        self.lock().batch = false;
        if self.queued() == 0 {
            let mut taken = self.lock_taken();
            if taken.is_empty() {
                *taken = VecDeque::new();
            }
            drop(taken);
            let freed = {
                let mut frames = self.lock_pushed();
                if frames.is_empty() {
                    std::mem::take(&mut *frames)
                } else {
                    VecDeque::new()
                }
            };
            // Freed outside the lock.
            drop(freed);
        }
    }

    /// Refuses further frames, frees what is queued and lets go of the socket.
    pub(crate) fn close(&self) {
        self.close_with(|_| {});
    }

    /// Refuses further frames, lets go of the socket, and takes everything queued: frames are
    /// freed, durable events still unnumbered are handed to `each`, oldest first. A push counted
    /// in before the close either queued its frame before the close took the queue (and the
    /// close takes it) or refuses it (and hands a durable event back to its emitter), so none
    /// is left behind.
    pub(crate) fn close_with(&self, mut each: impl FnMut(Unnumbered)) {
        self.counted.len.fetch_or(CLOSED, Ordering::AcqRel);
        // From here on a push refuses its frame under the lock (see `enqueue`): what the queue
        // holds once the lock is let go is all there will be.
        let front = {
            let mut st = self.lock();
            st.socket = None;
            st.front.take()
        };
        drop(front);
        let frames = std::mem::take(&mut *self.lock_pushed());
        let taken = std::mem::take(&mut *self.lock_taken());
        let n = taken.len() + frames.len();
        // The session's side first: it was taken from the queue before what is queued now.
        for queued in taken.into_iter().chain(frames) {
            if let Queued::Unnumbered(event) = queued {
                each(event);
            }
        }
        if n > 0 {
            self.counted.len.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// Gather buffers written out, emptied and handed back by the connections that used them, for
/// the next one of the hub that gathers (`server::Accepted`). The sessions of a burst write one
/// after the other on a few worker threads, so a few buffers serve them all; without these,
/// each session allocated its buffer for every burst and freed it after, growing and shrinking
/// the allocator's heaps under a broadcast (BENCHMARKS.md, "Rounds, lent connections, a
/// session's one waker").
pub(crate) struct SpareBuffers(crossbeam_queue::ArrayQueue<Vec<u8>>);

impl SpareBuffers {
    /// How many emptied buffers are kept at most: a few per worker thread. One handed back
    /// when as many are kept is freed.
    pub(crate) const KEPT: usize = 32;

    pub(crate) fn new() -> SpareBuffers {
        SpareBuffers(crossbeam_queue::ArrayQueue::new(Self::KEPT))
    }

    /// A spare buffer (empty), if one is kept.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.0.pop()
    }

    /// Keeps `buffer` (emptied) for the next taker, or frees it when as many are kept.
    pub(crate) fn hand_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        // Refused when full: the buffer is freed.
        let _ = self.0.push(buffer);
    }

    /// How many are kept now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.0.len()
    }
}

impl std::fmt::Debug for SpareBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpareBuffers")
            .field("kept", &self.0.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn f(text: &'static str) -> Frame {
        Frame::Text(Utf8Bytes::from_static(text))
    }

    /// The frame its parts make, which must be UTF-8.
    fn text_of(parts: &[&[u8]]) -> String {
        String::from_utf8(parts.concat()).expect("the parts make UTF-8 text")
    }

    /// Takes up to `max` frames; there are no durable events to number here.
    fn drain(outbox: &Outbox, out: &mut Vec<Frame>, max: usize) {
        outbox.drain_into(out, max, |_| panic!("no unnumbered events here"));
    }

    fn texts(frames: Vec<Frame>) -> Vec<String> {
        frames
            .into_iter()
            .map(|f| f.into_text().as_str().to_owned())
            .collect()
    }

    /// A numbered frame's parts and its whole text are the same text, at every width of the
    /// number, the whole text built in an allocation of exactly its length.
    #[test]
    fn numbered_frames_are_exactly_sized() {
        for seq in [0, 7, 10, 99, 12_345, u64::MAX] {
            let frame = || Frame::Numbered {
                seq,
                body: Arc::from("\"type\":\"x\",\"data\":\"é\"}"),
            };
            let f = frame().with_parts(text_of);
            assert_eq!(
                f,
                format!("{{\"seq\":{seq},\"type\":\"x\",\"data\":\"é\"}}")
            );
            assert!(
                f.len() <= widest_frame("\"type\":\"x\",\"data\":\"é\"}", true),
                "{seq}"
            );
            let whole = String::from(frame().into_text().as_str());
            assert_eq!(whole, f);
            let joined = joined(&["{\"seq\":", &seq.to_string(), ",", "}"]);
            assert_eq!(joined.len(), joined.capacity(), "{seq}");
        }
        let widest = Frame::Numbered {
            seq: u64::MAX,
            body: Arc::from("}"),
        }
        .with_parts(text_of);
        assert_eq!(widest.len(), widest_frame("}", true));
        assert_eq!(
            crate::protocol::unnumbered("}").len(),
            widest_frame("}", false)
        );
    }

    #[tokio::test]
    async fn bounded_fifo_that_wakes_its_reader() {
        let outbox = Arc::new(Outbox::new(2));
        assert_eq!(outbox.push(f("a")), Ok(()));
        assert_eq!(outbox.push(f("b")), Ok(()));
        assert_eq!(outbox.push(f("c")), Err(Refused::Full));
        outbox.wait().await;
        let mut out = Vec::new();
        drain(&outbox, &mut out, 10);
        outbox.release();
        assert_eq!(texts(out), ["a", "b"]);

        let waiter = {
            let o = outbox.clone();
            tokio::spawn(async move {
                o.wait().await;
                let mut out = Vec::new();
                drain(&o, &mut out, 10);
                texts(out)
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(outbox.push(f("d")), Ok(()));
        assert_eq!(waiter.await.expect("joins"), ["d"]);
        outbox.close();
        assert_eq!(outbox.push(f("e")), Err(Refused::Closed));
    }

    fn unnumbered(body: &str) -> Unnumbered {
        Unnumbered {
            body: Arc::from(body),
            at_ms: 0,
        }
    }

    /// A drain that does not number stops at the first event to number and keeps it next in
    /// line, for a drain that numbers or for a close, ahead of what is queued behind it.
    #[test]
    fn a_drain_without_numbering_stops_at_an_event_to_number() {
        let outbox = Outbox::new(8);
        let fill = |outbox: &Outbox| {
            assert_eq!(outbox.push(f("a")), Ok(()));
            assert!(outbox.push_unnumbered(unnumbered("1")).is_ok());
            assert_eq!(outbox.push(f("b")), Ok(()));
            assert!(outbox.push_unnumbered(unnumbered("2")).is_ok());
        };
        fill(&outbox);
        let mut out = Vec::new();
        assert_eq!(outbox.drain_frames(&mut out, 10), (1, true));
        assert_eq!(outbox.drain_frames(&mut out, 10), (0, true), "still held");
        assert!(work(&outbox) && outbox.pending());
        let mut seq = 0;
        outbox.drain_into(&mut out, 10, |event| {
            seq += 1;
            Some(Frame::Numbered {
                seq,
                body: event.body,
            })
        });
        assert_eq!(texts(out), ["a", "{\"seq\":1,1", "b", "{\"seq\":2,2"]);
        assert_eq!(outbox.queued(), 0);
        outbox.release();

        fill(&outbox);
        let mut out = Vec::new();
        assert_eq!(outbox.drain_frames(&mut out, 10), (1, true));
        let mut handed = Vec::new();
        outbox.close_with(|event| handed.push(event.body.to_string()));
        assert_eq!(handed, ["1", "2"], "the held one first");
        assert_eq!(outbox.drain_frames(&mut out, 10), (0, false));
        assert_eq!(outbox.queued(), 0);
    }

    /// Something another thread does while a direct write runs.
    type Meanwhile = Box<dyn FnOnce() + Send>;

    /// A socket that records what it takes and answers as told.
    struct Recorder {
        taken: Mutex<Vec<String>>,
        answer: Mutex<&'static str>,
        meanwhile: Mutex<Option<Meanwhile>>,
    }

    impl DirectWrite for Recorder {
        fn try_write(&self, frame: Frame) -> Written {
            if let Some(f) = self.meanwhile.lock().expect("lock").take() {
                f();
            }
            match *self.answer.lock().expect("lock") {
                "busy" => Written::Busy(frame),
                answer => {
                    self.taken
                        .lock()
                        .expect("lock")
                        .push(frame.with_parts(text_of));
                    if answer == "unflushed" {
                        Written::Unflushed
                    } else {
                        Written::Flushed
                    }
                }
            }
        }
    }

    fn recorder(answer: &'static str) -> Arc<Recorder> {
        Arc::new(Recorder {
            taken: Mutex::new(Vec::new()),
            answer: Mutex::new(answer),
            meanwhile: Mutex::new(None),
        })
    }

    fn work(outbox: &Outbox) -> bool {
        outbox.has_work(&outbox.lock())
    }

    fn drained(outbox: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        drain(outbox, &mut out, usize::MAX);
        texts(out)
    }

    #[test]
    fn an_idle_connection_is_written_directly_and_a_busy_one_queued_in_order() {
        let outbox = Arc::new(Outbox::new(4));
        // Before the socket is attached (the `$connected` frame goes first), frames queue.
        assert_eq!(outbox.offer(f("early")), Ok(()));
        let socket = recorder("flushed");
        outbox.attach(socket.clone());
        // Something queued: a later frame must not overtake it.
        assert_eq!(outbox.offer(f("a")), Ok(()));
        assert!(socket.taken.lock().expect("lock").is_empty());
        assert_eq!(drained(&outbox), ["early", "a"]);
        // The session holds a batch: still queued.
        assert_eq!(outbox.offer(f("b")), Ok(()));
        assert!(socket.taken.lock().expect("lock").is_empty());
        outbox.release();
        assert_eq!(drained(&outbox), ["b"]);
        outbox.release();
        // Idle: written by the caller, nothing for the session to do.
        assert_eq!(outbox.offer(f("c")), Ok(()));
        assert_eq!(*socket.taken.lock().expect("lock"), ["c"]);
        assert!(!work(&outbox));

        // The socket would block: the frame goes first in line, ahead of one another thread
        // queued during the attempt (which the session did not take meanwhile).
        *socket.answer.lock().expect("lock") = "busy";
        let other = outbox.clone();
        *socket.meanwhile.lock().expect("lock") = Some(Box::new(move || {
            assert_eq!(other.offer(f("e")), Ok(()));
            assert!(!work(&other), "nothing taken during a direct write");
        }));
        assert_eq!(outbox.offer(f("d")), Ok(()));
        assert!(work(&outbox));
        assert_eq!(drained(&outbox), ["d", "e"]);
        outbox.release();

        // Taken but not flushed: the session is asked to flush, and nothing goes directly
        // until it has.
        *socket.answer.lock().expect("lock") = "unflushed";
        assert_eq!(outbox.offer(f("f")), Ok(()));
        assert!(work(&outbox));
        *socket.answer.lock().expect("lock") = "flushed";
        assert_eq!(outbox.offer(f("g")), Ok(()));
        assert!(outbox.lock().flush);
        assert_eq!(drained(&outbox), ["g"]);
        assert!(!work(&outbox));
        outbox.release();

        outbox.close();
        assert_eq!(outbox.offer(f("i")), Err(Refused::Closed));
        assert!(outbox.lock().socket.is_none());
    }

    #[test]
    fn nothing_overtakes_an_answer_or_a_direct_write() {
        let outbox = Outbox::new(4);
        outbox.attach(recorder("flushed"));
        outbox.hold();
        assert_eq!(outbox.offer(f("while answering")), Ok(()));
        assert!(work(&outbox));
        outbox.release();
        assert_eq!(drained(&outbox), ["while answering"]);
        outbox.release();
        outbox.lock().direct = true;
        assert_eq!(outbox.push(f("queued meanwhile")), Ok(()));
        assert!(!work(&outbox));
        outbox.lock().direct = false;
        assert!(work(&outbox));
    }

    /// A session that closes takes its last frames once no direct write runs: a frame a
    /// running direct write could not write is first in line then, not lost behind the take.
    /// Held, the outbox lets no direct write start.
    #[test]
    fn a_closing_drain_waits_for_a_running_direct_write() {
        let outbox = Arc::new(Outbox::new(4));
        let socket = recorder("busy");
        outbox.attach(socket.clone());
        let other = outbox.clone();
        *socket.meanwhile.lock().expect("lock") = Some(Box::new(move || {
            assert!(!other.hold_unless_writing(), "a direct write runs");
        }));
        assert_eq!(outbox.offer(f("written directly, blocked")), Ok(()));
        assert!(outbox.hold_unless_writing());
        *socket.answer.lock().expect("lock") = "flushed";
        assert_eq!(outbox.offer(f("after")), Ok(()));
        assert!(
            socket.taken.lock().expect("lock").is_empty(),
            "held: queued"
        );
        assert_eq!(drained(&outbox), ["written directly, blocked", "after"]);
    }

    /// Many threads push to one outbox while its session drains it: every frame arrives once,
    /// each thread's in its order, and the count never goes wrong (a frame counted in is
    /// queued, never refused, while the outbox is open).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_arrive_once_in_each_threads_order() {
        const THREADS: usize = 4;
        const EACH: usize = 5_000;
        let outbox = Arc::new(Outbox::new(THREADS * EACH));
        let session = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while seen.len() < THREADS * EACH {
                    outbox.wait().await;
                    let mut batch = Vec::new();
                    drain(&outbox, &mut batch, 64);
                    seen.extend(texts(batch));
                    outbox.release();
                }
                seen
            })
        };
        let pushers: Vec<_> = (0..THREADS)
            .map(|t| {
                let outbox = outbox.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let text = Utf8Bytes::from(format!("{t} {i}"));
                        assert_eq!(outbox.push(Frame::Text(text)), Ok(()));
                    }
                })
            })
            .collect();
        for p in pushers {
            p.join().expect("pusher");
        }
        let seen = tokio::time::timeout(std::time::Duration::from_secs(30), session)
            .await
            .expect("every frame arrives")
            .expect("session");
        let mut next = [0usize; THREADS];
        for text in seen {
            let (t, i) = text.split_once(' ').expect("t i");
            let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(i, next[t], "thread {t}: its frames in order, once");
            next[t] += 1;
        }
        assert_eq!(next, [EACH; THREADS]);
        assert_eq!(outbox.counted.len.load(Ordering::Acquire), 0);
    }

    /// The queues' memory: kept while frames are queued, freed once the session finds none left
    /// when it releases the outbox (an idle connection holds none).
    #[test]
    fn an_idle_outbox_holds_no_queue_memory() {
        let outbox = Outbox::new(1024);
        let capacities = |outbox: &Outbox| {
            (
                outbox.lock_pushed().capacity(),
                outbox.lock_taken().capacity(),
            )
        };
        assert_eq!(
            capacities(&outbox),
            (0, 0),
            "nothing allocated before a push"
        );
        for text in ["a", "b", "c"] {
            assert_eq!(outbox.push(f(text)), Ok(()));
        }
        let mut out = Vec::new();
        drain(&outbox, &mut out, 2);
        // One frame left on the session's side, and one pushed behind it: both kept.
        assert_eq!(outbox.push(f("d")), Ok(()));
        outbox.release();
        let (frames, taken) = capacities(&outbox);
        assert!(frames > 0 && taken > 0, "{frames} {taken}");
        drain(&outbox, &mut out, usize::MAX);
        assert_eq!(texts(out), ["a", "b", "c", "d"]);
        outbox.release();
        assert_eq!(capacities(&outbox), (0, 0), "freed once idle");
    }

    /// A drain up to `max` takes everything queued up to `max`: the session's side, then what
    /// was pushed behind it — what a closing session's last drain relies on before the close
    /// frees the rest (`drain_and_close`). Found by a review: a drain stopped when the
    /// session's side ran dry, and the close freed frames pushed well before it.
    #[test]
    fn a_drain_takes_the_sessions_side_then_what_was_pushed_behind_it() {
        let outbox = Outbox::new(1024);
        for text in ["a", "b", "c", "d"] {
            assert_eq!(outbox.push(f(text)), Ok(()));
        }
        let mut out = Vec::new();
        drain(&outbox, &mut out, 2);
        outbox.release();
        assert_eq!(outbox.push(f("e")), Ok(()));
        assert!(outbox.hold_unless_writing());
        let mut last = Vec::new();
        drain(&outbox, &mut last, usize::MAX);
        assert_eq!(texts(last), ["c", "d", "e"]);
        assert_eq!(outbox.queued(), 0);
        // Across the two sides within one bound as well, in order.
        for text in ["f", "g", "h"] {
            assert_eq!(outbox.push(f(text)), Ok(()));
        }
        let mut first = Vec::new();
        drain(&outbox, &mut first, 1);
        assert_eq!(outbox.push(f("i")), Ok(()));
        let mut next = Vec::new();
        drain(&outbox, &mut next, 3);
        assert_eq!(texts(first), ["f"]);
        assert_eq!(texts(next), ["g", "h", "i"]);
        assert_eq!(outbox.queued(), 0);
        outbox.close();
    }

    /// Pushes racing a close: every durable event is either queued and handed to the close (or
    /// taken by the session before it) or refused and handed back to its emitter — none is
    /// lost, none is counted twice, and the count ends at zero.
    #[test]
    fn every_push_racing_a_close_is_taken_or_handed_back() {
        const THREADS: usize = 3;
        const EACH: usize = 2_000;
        for round in 0..20 {
            let outbox = Arc::new(Outbox::new(usize::MAX >> 2));
            let pushers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let outbox = outbox.clone();
                    std::thread::spawn(move || {
                        let mut refused = Vec::new();
                        for i in 0..EACH {
                            if let Err((why, event)) =
                                outbox.push_unnumbered(unnumbered(&format!("{t} {i}")))
                            {
                                assert_eq!(why, Refused::Closed);
                                refused.push(event.body.to_string());
                            }
                        }
                        refused
                    })
                })
                .collect();
            // The session takes some first, numbering them, then the close takes the rest.
            let mut seen = Vec::new();
            for _ in 0..round {
                let mut out = Vec::new();
                outbox.drain_into(&mut out, 50, |event| {
                    seen.push(event.body.to_string());
                    None
                });
                outbox.release();
            }
            outbox.close_with(|event| seen.push(event.body.to_string()));
            for p in pushers {
                seen.extend(p.join().expect("pusher"));
            }
            seen.sort();
            let mut all: Vec<String> = (0..THREADS)
                .flat_map(|t| (0..EACH).map(move |i| format!("{t} {i}")))
                .collect();
            all.sort();
            assert_eq!(seen, all, "round {round}");
            assert_eq!(outbox.queued(), 0, "round {round}");
        }
    }
}
