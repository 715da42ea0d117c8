//! A connection's bounded outbound queue, and the direct write that skips it.
//!
//! Idle connections are the common case, so an empty outbox allocates nothing: a `VecDeque`
//! grows on the first frame and is trimmed back once drained after a burst.
//!
//! **Direct writes.** A frame offered with [`Outbox::offer`] to a connection whose queue is
//! empty and whose socket has nothing in flight is written by the offering thread itself,
//! without waking the session's task (what Node's `ws` does inside its `send`): the latency of
//! an event to a few connections is then one `write` call, not a task wake-up on another
//! worker. The write never waits: when the socket would block (or the session task holds it),
//! the frame goes to the front of the queue and the session writes it. Frames keep their order
//! because a direct write starts only when nothing is queued or held, and while one runs the
//! session takes nothing from the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
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
    /// The frame's text, as the parts it is made of (whole, when they are concatenated): the
    /// shared text, or `{"seq":`, the number's digits, `,` and the shared body. A socket that
    /// takes a frame in parts writes it without building it first (see
    /// [`crate::connection::TextParts`]).
    pub(crate) fn with_parts<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
        match self {
            Frame::Text(text) => f(&[text.as_str()]),
            Frame::Numbered { seq, body } => {
                let mut digits = itoa::Buffer::new();
                f(&["{\"seq\":", digits.format(*seq), ",", body])
            }
        }
    }

    /// The frame's text.
    pub(crate) fn into_text(self) -> Utf8Bytes {
        match self {
            Frame::Text(text) => text,
            numbered @ Frame::Numbered { .. } => Utf8Bytes::from(numbered.with_parts(joined)),
        }
    }
}

impl From<Utf8Bytes> for Frame {
    fn from(text: Utf8Bytes) -> Frame {
        Frame::Text(text)
    }
}

/// `{"seq":` and `,`: what a numbered frame adds to the body besides the number's digits.
const NUMBER_AROUND: usize = 8;

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

pub(crate) struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
    closed: AtomicBool,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Frame>,
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

impl State {
    /// Whether the session has work: frames queued or bytes to flush, and no direct write
    /// running (taking frames meanwhile could put them ahead of the direct write's frame).
    fn has_work(&self) -> bool {
        !self.direct && (self.flush || !self.frames.is_empty())
    }
}

/// Capacity kept after a burst has drained.
const KEEP: usize = 16;

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets frames offered from now on be written directly to `socket`.
    pub(crate) fn attach(&self, socket: Arc<dyn DirectWrite>) {
        // Checked under the lock `close` takes after marking the outbox closed: a socket is
        // never attached to a closed outbox.
        let mut st = self.lock();
        if !self.closed.load(Ordering::Acquire) {
            st.socket = Some(socket);
        }
    }

    /// Queues a frame without waiting.
    pub(crate) fn push(&self, frame: Frame) -> Result<(), Refused> {
        self.queue(frame, self.capacity)
    }

    /// Queues a frame without the capacity check (frames whose number is bounded elsewhere).
    pub(crate) fn push_unbounded(&self, frame: Frame) -> Result<(), Refused> {
        self.queue(frame, usize::MAX)
    }

    fn queue(&self, frame: Frame, capacity: usize) -> Result<(), Refused> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        let st = self.lock();
        self.queue_locked(st, frame, capacity)
    }

    /// Queues `frame` in the locked state. Only the first frame wakes the session: it takes
    /// everything queued before it waits again (`wait` checks the queue first), so later ones
    /// need no wake-up of their own.
    fn queue_locked(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        frame: Frame,
        capacity: usize,
    ) -> Result<(), Refused> {
        if st.frames.len() >= capacity {
            return Err(Refused::Full);
        }
        st.frames.push_back(frame);
        let wake = st.frames.len() == 1;
        drop(st);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Writes a frame directly when the connection is idle (nothing queued, nothing held by the
    /// session, its socket attached and writable without waiting); queues it otherwise, as
    /// [`push`](Self::push) does.
    pub(crate) fn offer(&self, frame: Frame) -> Result<(), Refused> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        let socket = {
            let mut st = self.lock();
            let idle = st.frames.is_empty() && !st.batch && !st.direct && !st.flush;
            match st.socket.clone() {
                Some(socket) if idle => {
                    st.direct = true;
                    socket
                }
                _ => return self.queue_locked(st, frame, self.capacity),
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
            Written::Busy(frame) => st.frames.push_front(frame),
        }
        // Frames queued during the write were not taken (see `has_work`): wake the session.
        let wake = st.has_work();
        drop(st);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Waits until there is something to write. A push between the check and the wait leaves a
    /// permit in the `Notify`, so no wake-up is lost.
    pub(crate) async fn wait(&self) {
        loop {
            if self.lock().has_work() {
                return;
            }
            self.ready.notified().await;
        }
    }

    /// Moves up to `max` queued frames into `out`, oldest first, and holds direct writes off
    /// until [`release`](Self::release): the session flushes what it feeds and what a direct
    /// write left.
    pub(crate) fn drain_into(&self, out: &mut Vec<Frame>, max: usize) {
        let mut st = self.lock();
        let n = st.frames.len().min(max);
        out.extend(st.frames.drain(..n));
        if st.frames.is_empty() && st.frames.capacity() > KEEP {
            st.frames.shrink_to(KEEP);
        }
        st.batch = true;
        st.flush = false;
    }

    /// Holds direct writes off while the session answers a client's frame: what the answer's
    /// handling emits to this connection is queued behind the answer, as it always was.
    pub(crate) fn hold(&self) {
        self.lock().batch = true;
    }

    /// The session flushed what it took, or answered: direct writes may go again.
    pub(crate) fn release(&self) {
        self.lock().batch = false;
    }

    /// Refuses further frames, frees what is queued and lets go of the socket.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut st = self.lock();
        st.frames = VecDeque::new();
        st.socket = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &'static str) -> Frame {
        Frame::Text(Utf8Bytes::from_static(text))
    }

    fn texts(frames: Vec<Frame>) -> Vec<String> {
        frames
            .into_iter()
            .map(|f| f.into_text().as_str().to_owned())
            .collect()
    }

    #[test]
    fn numbered_frames_are_exactly_sized() {
        for seq in [0, 7, 10, 99, 12_345, u64::MAX] {
            let numbered = |seq, body: &str| {
                Frame::Numbered {
                    seq,
                    body: Arc::from(body),
                }
                .with_parts(joined)
            };
            let f = numbered(seq, "\"type\":\"x\"}");
            assert_eq!(f, format!("{{\"seq\":{seq},\"type\":\"x\"}}"));
            assert_eq!(f.len(), f.capacity(), "{seq}");
            assert!(f.len() <= widest_frame("\"type\":\"x\"}", true), "{seq}");
            let frame = Frame::Numbered {
                seq,
                body: Arc::from("\"type\":\"x\"}"),
            };
            assert_eq!(frame.into_text().as_str(), f);
        }
        let widest = Frame::Numbered {
            seq: u64::MAX,
            body: Arc::from("}"),
        }
        .with_parts(joined);
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
        outbox.drain_into(&mut out, 10);
        outbox.release();
        assert_eq!(texts(out), ["a", "b"]);

        let waiter = {
            let o = outbox.clone();
            tokio::spawn(async move {
                o.wait().await;
                let mut out = Vec::new();
                o.drain_into(&mut out, 10);
                texts(out)
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(outbox.push(f("d")), Ok(()));
        assert_eq!(waiter.await.expect("joins"), ["d"]);
        outbox.close();
        assert_eq!(outbox.push(f("e")), Err(Refused::Closed));
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
                    self.taken.lock().expect("lock").push(frame.with_parts(joined));
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

    fn drained(outbox: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        outbox.drain_into(&mut out, usize::MAX);
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
        assert!(!outbox.lock().has_work());

        // The socket would block: the frame goes first in line, ahead of one another thread
        // queued during the attempt (which the session did not take meanwhile).
        *socket.answer.lock().expect("lock") = "busy";
        let other = outbox.clone();
        *socket.meanwhile.lock().expect("lock") = Some(Box::new(move || {
            assert_eq!(other.offer(f("e")), Ok(()));
            assert!(
                !other.lock().has_work(),
                "nothing taken during a direct write"
            );
        }));
        assert_eq!(outbox.offer(f("d")), Ok(()));
        assert!(outbox.lock().has_work());
        assert_eq!(drained(&outbox), ["d", "e"]);
        outbox.release();

        // Taken but not flushed: the session is asked to flush, and nothing goes directly
        // until it has.
        *socket.answer.lock().expect("lock") = "unflushed";
        assert_eq!(outbox.offer(f("f")), Ok(()));
        assert!(outbox.lock().has_work());
        *socket.answer.lock().expect("lock") = "flushed";
        assert_eq!(outbox.offer(f("g")), Ok(()));
        assert!(outbox.lock().flush);
        assert_eq!(drained(&outbox), ["g"]);
        assert!(!outbox.lock().has_work());
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
        assert!(outbox.lock().has_work());
        outbox.release();
        assert_eq!(drained(&outbox), ["while answering"]);
        outbox.release();
        let mut st = outbox.lock();
        st.direct = true;
        st.frames.push_back(f("queued meanwhile"));
        assert!(!st.has_work());
        st.direct = false;
        assert!(st.has_work());
    }
}
