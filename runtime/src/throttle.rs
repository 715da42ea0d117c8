//! A byte-rate bound on what a connection may send: a token bucket over its reads. Past the
//! rate the server reads more slowly, so TCP pushes back on the client; nothing is dropped. It
//! bounds the work a connection can cause where counting messages cannot: a flood of empty
//! fragments of one message costs the server a parse per frame but never completes a message.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose reads are bounded to `rate` bytes per second, in bursts of `burst`.
pub(crate) struct Throttle<S> {
    inner: S,
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    /// Set while waiting for the bucket to refill.
    wait: Option<Pin<Box<Sleep>>>,
}

impl<S> Throttle<S> {
    /// `rate` bytes per second, bursts of `burst` bytes (at least 1).
    pub(crate) fn new(inner: S, rate: usize, burst: usize) -> Throttle<S> {
        let burst = burst.max(1) as f64;
        Throttle {
            inner,
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            at: Instant::now(),
            wait: None,
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(wait) = this.wait.as_mut() {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
        }
        this.refill();
        if this.tokens < 1.0 {
            // Wait until a read's worth (a tenth of the burst, at least a byte) has refilled.
            let want = (this.burst / 10.0).max(1.0) - this.tokens;
            let wait = Duration::from_secs_f64(want / this.rate);
            let mut sleep = Box::pin(tokio::time::sleep(wait));
            if sleep.as_mut().poll(cx).is_pending() {
                this.wait = Some(sleep);
                return Poll::Pending;
            }
            this.refill();
        }
        // Read at most what the bucket holds, straight into the caller's buffer: its unfilled
        // part, initialized first where it is not (tungstenite's is, so nothing is zeroed per
        // read — a zeroed buffer of our own cost a 4 KiB memset on every poll of an idle
        // connection's read half).
        let allowed = (this.tokens as usize).clamp(1, buf.remaining().clamp(1, CHUNK));
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(allowed));
        let polled = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        if let Poll::Ready(Ok(())) = polled {
            let n = limited.filled().len();
            buf.advance(n);
            this.tokens -= n as f64;
        }
        polled
    }
}

/// The most a read takes at once.
const CHUNK: usize = 4096;

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn reads_are_bounded_to_the_rate_after_the_burst() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut throttled = Throttle::new(server, 100_000, 20_000);
        let writer = tokio::spawn(async move {
            client.write_all(&vec![7u8; 520_000]).await.expect("write");
            client
        });
        let started = tokio::time::Instant::now();
        let mut got = vec![0u8; 520_000];
        throttled.read_exact(&mut got).await.expect("read");
        // 20,000 bytes of burst, then 500,000 at 100,000 per second: about 5 s.
        let took = started.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(4_800)
                && took <= std::time::Duration::from_millis(5_600),
            "{took:?}"
        );
        assert!(got.iter().all(|b| *b == 7));
        drop(writer);
    }

    /// Reads land in the caller's buffer whatever its state: uninitialized room (a `Vec`'s
    /// spare capacity) is initialized first, and what was filled before is kept; each read
    /// takes at most what the bucket holds.
    #[tokio::test]
    async fn reads_fill_the_callers_buffer_in_place() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut throttled = Throttle::new(server, 1_000_000, 100);
        let sent: Vec<u8> = (0..=255u8).cycle().take(1_000).collect();
        client.write_all(&sent).await.expect("write");
        drop(client);
        let mut got = Vec::with_capacity(16);
        got.push(1u8);
        let first = throttled.read_buf(&mut got).await.expect("read");
        assert!(
            (1..=100).contains(&first),
            "a read within the burst: {first}"
        );
        assert_eq!(got[0], 1, "what was filled before is kept");
        throttled.read_to_end(&mut got).await.expect("read");
        assert_eq!(got[1..], sent[..]);
    }
}
