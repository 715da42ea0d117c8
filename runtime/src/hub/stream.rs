//! A user's delivery stream: the durable events that reached the user, numbered in order, with a
//! bounded history for replay, and the user's live connections on this node.
//!
//! Everything that must be ordered with respect to the stream — numbering, storing, queueing to
//! the connections, registering a connection and replaying to it — happens under the stream's one
//! lock, so a connection sees its user's stream gap-free and in order, and a connection that
//! registers while events are being emitted gets each of them exactly once: by replay or live.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::Conn;
use super::outbox::Frame;
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

#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) epoch: String,
    /// The last sequence number of the stream.
    pub(crate) seq: u64,
    pub(crate) conns: Vec<Arc<Conn>>,
    pub(crate) history: VecDeque<Stored>,
    /// The last time the stream had a connection or an event.
    pub(crate) active: Instant,
    /// Removed from the registry: an emitter holding it must look the stream up again.
    pub(crate) dead: bool,
    /// For a backplane: the stream's position is not yet known from it; numbered frames that
    /// arrive meanwhile wait here.
    pub(crate) hydrated: bool,
    pub(crate) waiting: Vec<(Position, Arc<str>)>,
    /// The last walk over recipients ([`next_walk`]) that reached the stream: a walk that finds
    /// it marked with its own ticket has reached it already, through another of the user's
    /// connections.
    pub(crate) walk: u64,
}

/// A ticket for one walk over the streams a durable event reaches: unique in the process, never
/// 0 (the mark of a stream no walk reached yet).
pub(crate) fn next_walk() -> u64 {
    static WALKS: AtomicU64 = AtomicU64::new(0);
    WALKS.fetch_add(1, Ordering::Relaxed) + 1
}

/// A user's delivery stream on this node.
#[derive(Debug)]
pub(crate) struct UserStream {
    pub(crate) id: StreamId,
    state: Mutex<StreamState>,
}

impl UserStream {
    pub(crate) fn new(id: StreamId, hydrated: bool) -> UserStream {
        UserStream {
            id,
            state: Mutex::new(StreamState {
                epoch: crate::ids::epoch(),
                seq: 0,
                conns: Vec::new(),
                history: VecDeque::new(),
                active: Instant::now(),
                dead: false,
                hydrated,
                waiting: Vec::new(),
                walk: 0,
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

    /// Numbers an event `seq` (the next one), stores it and queues it to every connection;
    /// `direct` writes it on this thread to idle connections ([`Conn::offer`]). The
    /// queues hold the number and the shared body: each connection's session writes the frame
    /// out, so a broadcast's per-recipient copies are made on every worker, not on the emitting
    /// thread.
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
        self.active = now;
        if limits.max_events > 0 {
            self.history.push_back(Stored {
                body: body.clone(),
                at_ms,
            });
            self.trim_at(limits, at_ms);
        }
        let mut d = Delivered::default();
        for c in &self.conns {
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
        for c in &self.conns {
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
