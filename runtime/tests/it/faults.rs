//! A fault-injecting TCP proxy for the chaos tests: a partition, latency and packet loss between
//! two real endpoints on 127.0.0.1.
//!
//! Why a proxy: `tc netem` needs the `sch_netem` qdisc, which unprivileged network namespaces on
//! the CI machines do not have. What the endpoints observe is what TCP shows its users of each
//! fault, which is all the code under test can see:
//!
//! - **partition**: nothing crosses in either direction (bytes and connection ends are held, as
//!   TCP holds unacknowledged segments) until the partition heals, then everything arrives in
//!   order; a connection opened meanwhile is accepted but reaches the upstream only after the
//!   heal, as a SYN retransmitted past the partition would.
//! - **reset**: every connection open through the proxy is closed at once, as when a
//!   partition outlasts TCP's retransmissions or a middlebox forgets the connections; the
//!   endpoints must reconnect.
//! - **latency**: every chunk arrives a fixed time after it was sent, in order.
//! - **loss**: a lost segment is retransmitted after the retransmission timeout (at least 200 ms
//!   on Linux, doubling while losses repeat), and TCP delivers nothing after it until it
//!   arrives: each chunk is lost with the given probability and delays itself and what follows
//!   (head-of-line blocking), never reordered or dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The minimum retransmission timeout of Linux TCP (`TCP_RTO_MIN`).
const RTO_MIN: Duration = Duration::from_millis(200);

/// The faults in force, changed while the proxy runs.
struct Faults {
    partitioned: watch::Sender<bool>,
    /// Incremented by a reset: connections opened before it end.
    resets: watch::Sender<u64>,
    latency_us: AtomicU64,
    /// Loss probability in millionths.
    loss_ppm: AtomicU32,
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    /// Extra delay of one chunk for loss: zero, or the retransmission timeouts of the
    /// consecutive losses it suffered.
    fn loss_delay(&self) -> Duration {
        let p = self.loss_ppm.load(Ordering::Relaxed);
        if p == 0 {
            return Duration::ZERO;
        }
        let mut rng = self.rng.lock().expect("rng");
        let mut delay = Duration::ZERO;
        let mut rto = RTO_MIN;
        while rng.u32(0..1_000_000) < p && rto <= Duration::from_secs(8) {
            delay += rto;
            rto *= 2;
        }
        delay
    }

    async fn healed(&self) {
        let mut rx = self.partitioned.subscribe();
        let _ = rx.wait_for(|p| !*p).await;
    }
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`, with faults that can be changed at any time.
pub(crate) struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port; every connection to it is forwarded to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("addr");
        let faults = Arc::new(Faults {
            partitioned: watch::Sender::new(false),
            resets: watch::Sender::new(0),
            latency_us: AtomicU64::new(0),
            loss_ppm: AtomicU32::new(0),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        });
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = shared.clone();
                tokio::spawn(async move {
                    faults.healed().await;
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pipe(cr, sw, faults.clone()));
                    tokio::spawn(pipe(sr, cw, faults));
                });
            }
        });
        FaultProxy { addr, faults, task }
    }

    /// The address to connect to instead of the upstream.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts (`true`) or heals (`false`) a partition.
    pub(crate) fn partition(&self, on: bool) {
        self.faults.partitioned.send_replace(on);
    }

    /// Sets the one-way latency added to every chunk.
    pub(crate) fn latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.faults.latency_us.store(us, Ordering::Relaxed);
    }

    /// Sets the probability (0.0–1.0) that a chunk is lost and retransmitted.
    pub(crate) fn loss(&self, probability: f64) {
        let ppm = (probability.clamp(0.0, 1.0) * 1_000_000.0) as u32;
        self.faults.loss_ppm.store(ppm, Ordering::Relaxed);
    }

    /// Closes every connection open through the proxy (both ends see it end).
    pub(crate) fn reset(&self) {
        self.faults.resets.send_modify(|n| *n += 1);
    }

    /// No fault.
    pub(crate) fn clear(&self) {
        self.latency(Duration::ZERO);
        self.loss(0.0);
        self.partition(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the reading side hands the writing side: a chunk and when it may be delivered, or the
/// end of the stream.
enum Segment {
    Data(Vec<u8>, Instant),
    End(Instant),
}

/// One direction: reads chunks as they come, stamps each with its delivery time, and writes
/// them in order once due and while no partition is in force.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    faults: Arc<Faults>,
) {
    let mut resets = faults.resets.subscribe();
    resets.mark_unchanged();
    // Bounded: a slow writer stops the reader, as a full TCP window stops the sender.
    let (tx, mut rx) = mpsc::channel::<Segment>(256);
    let stamp = faults.clone();
    let reader = tokio::spawn(async move {
        let mut last = Instant::now();
        let mut due = move |faults: &Faults| {
            let latency = Duration::from_micros(faults.latency_us.load(Ordering::Relaxed));
            let at = (Instant::now() + latency + faults.loss_delay()).max(last);
            last = at;
            at
        };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Segment::End(due(&stamp))).await;
                    return;
                }
                Ok(n) => {
                    let at = due(&stamp);
                    if tx.send(Segment::Data(buf[..n].to_vec(), at)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let forward = async {
        while let Some(segment) = rx.recv().await {
            let at = match &segment {
                Segment::Data(_, at) | Segment::End(at) => *at,
            };
            tokio::time::sleep_until(at).await;
            faults.healed().await;
            match segment {
                Segment::Data(bytes, _) => {
                    if to.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Segment::End(_) => {
                    let _ = to.shutdown().await;
                    break;
                }
            }
        }
    };
    tokio::select! {
        () = forward => {}
        _ = resets.changed() => {}
    }
    reader.abort();
}
