//! Counters of what the hub and its sessions did, readable at any time through
//! [`Hub::metrics`](crate::Hub::metrics).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection (or it dropped).
    ClientClosed,
    /// The server shut down.
    Shutdown,
    /// The credentials expired.
    AuthExpired,
    /// The outbound queue filled up.
    SlowConsumer,
    /// No frame within the heartbeat timeout.
    HeartbeatTimeout,
    /// An inbound frame was too large.
    MessageTooBig,
    /// The client flooded past its rate limit.
    RateLimited,
    /// The user already held the maximum number of connections.
    TooManyConnections,
    /// A transport error.
    TransportError,
    /// The app's `on_connect` hook refused the connection.
    Refused,
    /// The app's `on_connect` hook failed: it panicked or did not finish within
    /// [`Limits::hook_timeout`](crate::Limits::hook_timeout).
    HookFailed,
}

impl DisconnectReason {
    /// Every reason, in a stable order.
    pub const ALL: [DisconnectReason; 11] = [
        DisconnectReason::ClientClosed,
        DisconnectReason::Shutdown,
        DisconnectReason::AuthExpired,
        DisconnectReason::SlowConsumer,
        DisconnectReason::HeartbeatTimeout,
        DisconnectReason::MessageTooBig,
        DisconnectReason::RateLimited,
        DisconnectReason::TooManyConnections,
        DisconnectReason::TransportError,
        DisconnectReason::Refused,
        DisconnectReason::HookFailed,
    ];

    /// A short name for logs and metrics (`slow_consumer`).
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientClosed => "client_closed",
            DisconnectReason::Shutdown => "shutdown",
            DisconnectReason::AuthExpired => "auth_expired",
            DisconnectReason::SlowConsumer => "slow_consumer",
            DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
            DisconnectReason::MessageTooBig => "message_too_big",
            DisconnectReason::RateLimited => "rate_limited",
            DisconnectReason::TooManyConnections => "too_many_connections",
            DisconnectReason::TransportError => "transport_error",
            DisconnectReason::Refused => "refused",
            DisconnectReason::HookFailed => "hook_failed",
        }
    }

    fn index(self) -> usize {
        DisconnectReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0)
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Connections open now.
    pub connections_open: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Upgrade requests refused (authentication failed, connection limit).
    pub connections_rejected: u64,
    /// Events emitted.
    pub events_emitted: u64,
    /// Event frames queued to connections (one event to ten connections counts ten).
    pub frames_delivered: u64,
    /// Frames dropped because a connection's queue was full.
    pub frames_dropped: u64,
    /// Frames received from clients.
    pub frames_received: u64,
    /// Error frames sent to clients.
    pub errors_sent: u64,
    /// Sessions ended, by reason.
    pub disconnects: Vec<(DisconnectReason, u64)>,
}

impl Metrics {
    /// How many sessions ended for `reason`.
    pub fn disconnects_for(&self, reason: DisconnectReason) -> u64 {
        self.disconnects
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

/// The hub's counters: what [`Hub::metrics`](crate::Hub::metrics) reads, and, at the same
/// places, the same facts recorded through the [`metrics`] facade for the app's exporter
/// (Prometheus, OpenTelemetry…; docs/rust.md "Metrics" lists the names). Without an installed
/// recorder the facade calls cost a check each.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    connections_rejected: AtomicU64,
    events_emitted: AtomicU64,
    frames_delivered: AtomicU64,
    frames_dropped: AtomicU64,
    frames_received: AtomicU64,
    errors_sent: AtomicU64,
    disconnects: [AtomicU64; DisconnectReason::ALL.len()],
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// A connection registered.
    pub(crate) fn opened(&self) {
        add(&self.connections_open, 1);
        add(&self.connections_total, 1);
        metrics::gauge!("tidings_connections_open").increment(1.0);
        metrics::counter!("tidings_connections_total").increment(1);
    }

    /// An upgrade or a registration refused (authentication, the connection limit, the
    /// backplane down).
    pub(crate) fn rejected(&self) {
        add(&self.connections_rejected, 1);
        metrics::counter!("tidings_connections_rejected_total").increment(1);
    }

    /// A session ended.
    pub(crate) fn disconnected(&self, reason: DisconnectReason) {
        add(&self.disconnects[reason.index()], 1);
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("tidings_connections_open").decrement(1.0);
        metrics::counter!("tidings_disconnects_total", "reason" => reason.as_str()).increment(1);
    }

    /// An event emitted on this node.
    pub(crate) fn emitted(&self, event: &'static str) {
        add(&self.events_emitted, 1);
        metrics::counter!("tidings_emits_total", "event" => event).increment(1);
    }

    /// Frames queued to connections (and dropped at full queues) for one event.
    pub(crate) fn delivered(&self, queued: usize, dropped: usize) {
        add(&self.frames_delivered, queued as u64);
        add(&self.frames_dropped, dropped as u64);
        metrics::counter!("tidings_deliveries_total").increment(queued as u64);
        if dropped > 0 {
            metrics::counter!("tidings_frames_dropped_total").increment(dropped as u64);
        }
    }

    /// A frame received from a client.
    pub(crate) fn received(&self) {
        add(&self.frames_received, 1);
        metrics::counter!("tidings_frames_received_total").increment(1);
    }

    /// An error frame sent, with its code.
    pub(crate) fn error_sent(&self, code: &str) {
        add(&self.errors_sent, 1);
        metrics::counter!("tidings_errors_sent_total", "code" => code.to_owned()).increment(1);
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            connections_open: get(&self.connections_open),
            connections_total: get(&self.connections_total),
            connections_rejected: get(&self.connections_rejected),
            events_emitted: get(&self.events_emitted),
            frames_delivered: get(&self.frames_delivered),
            frames_dropped: get(&self.frames_dropped),
            frames_received: get(&self.frames_received),
            errors_sent: get(&self.errors_sent),
            disconnects: DisconnectReason::ALL
                .iter()
                .map(|r| (*r, get(&self.disconnects[r.index()])))
                .collect(),
        }
    }
}

/// A resume answered with how many events were replayed (`$pending_complete`), or a stream
/// told to resync (`None`).
pub(crate) fn resumed(replayed: Option<u64>) {
    match replayed {
        Some(n) => metrics::histogram!("tidings_replay_events").record(n as f64),
        None => metrics::counter!("tidings_resyncs_total").increment(1),
    }
}

/// How long a handler took, for the event it handled.
pub(crate) fn handled(event: &str, took: std::time::Duration) {
    metrics::histogram!("tidings_handler_duration_seconds", "event" => event.to_owned())
        .record(took.as_secs_f64());
}
