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

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) events_emitted: AtomicU64,
    pub(crate) frames_delivered: AtomicU64,
    pub(crate) frames_dropped: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    disconnects: [AtomicU64; DisconnectReason::ALL.len()],
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn disconnected(&self, reason: DisconnectReason) {
        self.disconnects[reason.index()].fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
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
