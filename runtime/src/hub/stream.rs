//! A user's delivery stream: the durable events that reached the user, numbered in order, with a
//! bounded history for replay, and the user's live connections on this node.
//!
//! Everything that must be ordered with respect to the stream — numbering, storing, queueing to
//! the connections, registering a connection and replaying to it — happens under the stream's one
//! lock, so a connection sees its user's stream gap-free and in order, and a connection that
//! registers while events are being emitted gets each of them exactly once: by replay or live.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::{Conn, Push};
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
}

/// A user's delivery stream on this node.
#[derive(Debug)]
pub(crate) struct UserStream {
    pub(crate) id: StreamId,
    state: Mutex<StreamState>,
}

/// `{"seq":N,` followed by the shared body, in one allocation of exactly its length — so that
/// turning it into the frame's `Bytes` reuses the allocation instead of adding one.
pub(crate) fn numbered(seq: u64, body: &str) -> String {
    let mut buf = [0u8; 20];
    let digits = seq_digits(seq, &mut buf);
    let mut frame = String::with_capacity(8 + digits.len() + body.len());
    frame.push_str("{\"seq\":");
    for d in digits {
        frame.push(char::from(*d));
    }
    frame.push(',');
    frame.push_str(body);
    frame
}

/// Numbered frames of one event for many streams, carved from shared buffers of
/// [`FrameSlab::FRAMES`] frames each: one allocation per that many recipients instead of one
/// each (and one free, on whichever thread writes the last of them). A connection's queue can
/// so hold on to at most `FRAMES` frames' worth of memory per queued frame.
pub(crate) struct FrameSlab {
    buf: bytes::BytesMut,
    frame_len: usize,
}

impl FrameSlab {
    /// Frames per shared buffer.
    pub(crate) const FRAMES: usize = 8;

    pub(crate) fn new(body_len: usize) -> FrameSlab {
        FrameSlab {
            buf: bytes::BytesMut::new(),
            // `{"seq":` + up to 20 digits + `,` + body
            frame_len: body_len + 28,
        }
    }

    /// `{"seq":N,` followed by `body`, as a frame sharing this slab's current buffer.
    pub(crate) fn numbered(&mut self, seq: u64, body: &str) -> Utf8Bytes {
        if self.buf.capacity() < self.frame_len {
            self.buf = bytes::BytesMut::with_capacity(self.frame_len * Self::FRAMES);
        }
        let mut digits = [0u8; 20];
        self.buf.extend_from_slice(b"{\"seq\":");
        self.buf.extend_from_slice(seq_digits(seq, &mut digits));
        self.buf.extend_from_slice(b",");
        self.buf.extend_from_slice(body.as_bytes());
        let bytes = self.buf.split().freeze();
        // Built from ASCII and a `str`, so always UTF-8; checking it costs a scan of the frame.
        Utf8Bytes::try_from(bytes).unwrap_or_else(|_| Utf8Bytes::from(numbered(seq, body)))
    }
}

/// The decimal digits of `n`, written at the end of `buf`.
fn seq_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
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

    /// Numbers an event `seq` (the next one), stores it and queues it to every connection.
    pub(crate) fn deliver(
        &mut self,
        seq: u64,
        body: Arc<str>,
        limits: &History,
        now: Instant,
    ) -> Delivered {
        let frame = Utf8Bytes::from(numbered(seq, &body));
        self.deliver_frame(seq, body, frame, limits, now, false)
    }

    /// As [`deliver`](Self::deliver), with the numbered frame already built (see [`FrameSlab`]);
    /// `direct` writes it on this thread to idle connections ([`Conn::push_direct`]).
    pub(crate) fn deliver_frame(
        &mut self,
        seq: u64,
        body: Arc<str>,
        frame: Utf8Bytes,
        limits: &History,
        now: Instant,
        direct: bool,
    ) -> Delivered {
        self.seq = seq;
        self.active = now;
        if limits.max_events > 0 {
            let at_ms = clock_ms(now);
            self.history.push_back(Stored { body, at_ms });
            self.trim_at(limits, at_ms);
        }
        let mut d = Delivered::default();
        // The last connection (usually the only one) takes the frame itself: a clone of bytes
        // built from a `String` would allocate their shared header.
        let mut count = |push: Push| match push {
            Push::Queued => d.connections += 1,
            Push::Dropped => d.dropped += 1,
            Push::Gone => {}
        };
        let push = |c: &Conn, frame| {
            if direct {
                c.push_direct(frame)
            } else {
                c.push(frame)
            }
        };
        if let Some((last, others)) = self.conns.split_last() {
            for c in others {
                count(push(c, frame.clone()));
            }
            count(push(last, frame));
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
                    conn.push_control(Utf8Bytes::from(numbered(seq, &e.body)));
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

    #[test]
    fn numbered_frames_are_exactly_sized() {
        for seq in [0, 7, 10, 99, 12_345, u64::MAX] {
            let f = numbered(seq, "\"type\":\"x\"}");
            assert_eq!(f, format!("{{\"seq\":{seq},\"type\":\"x\"}}"));
            assert_eq!(f.len(), f.capacity(), "{seq}");
        }
    }

    #[test]
    fn slab_frames_equal_numbered_frames_across_buffers() {
        let body = "\"type\":\"x\",\"data\":{\"é\":1}}";
        let mut slab = FrameSlab::new(body.len());
        let frames: Vec<Utf8Bytes> = (0..(FrameSlab::FRAMES as u64 * 3 + 1))
            .map(|i| slab.numbered(i * 997, body))
            .collect();
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.as_str(), numbered(i as u64 * 997, body));
        }
        let big = slab.numbered(u64::MAX, body);
        assert_eq!(big.as_str(), numbered(u64::MAX, body));
    }
}
