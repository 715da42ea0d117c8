//! A connection's bounded outbound queue.
//!
//! Idle connections are the common case, so an empty outbox allocates nothing: a `VecDeque`
//! grows on the first frame and is trimmed back once drained after a burst.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Utf8Bytes>>,
    ready: Notify,
    capacity: usize,
    closed: AtomicBool,
}

/// Capacity kept after a burst has drained.
const KEEP: usize = 16;

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Utf8Bytes>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a frame without waiting.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> Result<(), Refused> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        {
            let mut q = self.lock();
            if q.len() >= self.capacity {
                return Err(Refused::Full);
            }
            q.push_back(frame);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Queues a frame without the capacity check (frames whose number is bounded elsewhere).
    pub(crate) fn push_unbounded(&self, frame: Utf8Bytes) -> Result<(), Refused> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        self.lock().push_back(frame);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits until a frame is queued. A push between the check and the wait leaves a permit in
    /// the `Notify`, so no wake-up is lost.
    pub(crate) async fn wait(&self) {
        loop {
            if !self.lock().is_empty() {
                return;
            }
            self.ready.notified().await;
        }
    }

    /// Moves up to `max` queued frames into `out`, oldest first.
    pub(crate) fn drain_into(&self, out: &mut Vec<Utf8Bytes>, max: usize) {
        let mut q = self.lock();
        let n = q.len().min(max);
        out.extend(q.drain(..n));
        if q.is_empty() && q.capacity() > KEEP {
            q.shrink_to(KEEP);
        }
    }

    /// Refuses further frames and frees what is queued.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        *self.lock() = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_fifo_that_wakes_its_reader() {
        let outbox = std::sync::Arc::new(Outbox::new(2));
        assert_eq!(outbox.push("a".into()), Ok(()));
        assert_eq!(outbox.push("b".into()), Ok(()));
        assert_eq!(outbox.push("c".into()), Err(Refused::Full));
        outbox.wait().await;
        let mut out = Vec::new();
        outbox.drain_into(&mut out, 10);
        assert_eq!(out, ["a", "b"]);

        let waiter = {
            let o = outbox.clone();
            tokio::spawn(async move {
                o.wait().await;
                let mut out = Vec::new();
                o.drain_into(&mut out, 10);
                out
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(outbox.push("d".into()), Ok(()));
        assert_eq!(waiter.await.expect("joins"), ["d"]);
        outbox.close();
        assert_eq!(outbox.push("e".into()), Err(Refused::Closed));
    }
}
