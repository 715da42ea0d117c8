//! The limits that keep every connection, and so the server, bounded, and the room policy.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::principal::Principal;

/// Limits that keep every connection, and so the server, bounded. Each has a documented
/// consequence (docs/protocol.md, "Limits").
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Largest inbound message, in bytes; larger closes the session with
    /// [`close::MESSAGE_TOO_BIG`](crate::protocol::close::MESSAGE_TOO_BIG). Default 64 KiB.
    pub max_frame_bytes: usize,
    /// Frames queued for one connection; when full, the connection is cut off with
    /// [`close::SLOW_CONSUMER`](crate::protocol::close::SLOW_CONSUMER). Default 1024.
    pub outbound_queue: usize,
    /// Connections one user may hold; more are refused with HTTP 429 (or closed with
    /// [`close::TOO_MANY_CONNECTIONS`](crate::protocol::close::TOO_MANY_CONNECTIONS)). Default 16.
    pub max_connections_per_user: usize,
    /// Sustained inbound frames per second per connection (token bucket refill). Default 20.
    pub rate_per_second: u32,
    /// Inbound frames a connection may send in a burst. Default 40.
    pub rate_burst: u32,
    /// Frames dropped for rate in one flood episode before the session is closed with
    /// [`close::RATE_LIMITED`](crate::protocol::close::RATE_LIMITED); an episode ends when the
    /// connection has kept to the rate long enough to refill its burst. Default 100.
    pub flood_close_after: u32,
    /// Requests of one connection handled at once; more get a `busy` error. Default 32.
    pub max_in_flight: usize,
    /// How often the server sends `$ping`. Default 25 s.
    pub heartbeat_interval: Duration,
    /// How long the server waits for any frame before closing with
    /// [`close::HEARTBEAT_TIMEOUT`](crate::protocol::close::HEARTBEAT_TIMEOUT). Default 60 s.
    pub heartbeat_timeout: Duration,
    /// How long a client may take over each part of the handshake that it controls: the TLS
    /// handshake (with TLS), then sending its request head (request line and headers), counted
    /// from the connection's opening or the end of TLS. A client that overruns either (a
    /// slowloris, an idle socket) is disconnected without an answer. Authentication is the
    /// server's part, bounded by [`auth_timeout`](Limits::auth_timeout) instead; the answer to
    /// the upgrade must then be taken within this timeout again. Default 10 s.
    ///
    /// [`Server`](crate::Server) applies its hub's value. On axum, `tidings::axum::serve`
    /// (feature `axum`) applies the same rule with its own `Serve::handshake_timeout`, which
    /// does not see the hub: default the same 10 s; pass `hub.limits().handshake_timeout` to
    /// keep one value.
    pub handshake_timeout: Duration,
    /// How long authentication may take (an
    /// [`AsyncAuthenticator`](crate::AsyncAuthenticator) that asks a database): an upgrade
    /// whose authentication overruns is refused with HTTP 503, a `$auth` refresh with an
    /// `auth_failed` error frame. Default 5 s.
    pub auth_timeout: Duration,
    /// How long the app's room policy may take to decide on a `$join`
    /// ([`HubBuilder::allow_join_async`](crate::HubBuilder::allow_join_async)); past it the
    /// join is refused with a `timeout` error frame. Default 5 s.
    pub join_timeout: Duration,
    /// How long the app's `on_connect` and `on_disconnect` hooks may run. An `on_connect` that
    /// takes longer fails the connection with
    /// [`close::SERVER_ERROR`](crate::protocol::close::SERVER_ERROR); an `on_disconnect` is
    /// abandoned (and logged). Default 5 s.
    pub hook_timeout: Duration,
    /// Bytes per second a connection may send, in bursts of twice `max_frame_bytes`: the bound
    /// on the work of floods that counting messages cannot see (empty fragments of a message
    /// that never ends). Past it the server reads more slowly and TCP pushes back on the
    /// client; nothing is dropped or closed. [`Server`](crate::Server) applies it (behind
    /// axum, use your proxy's rate limit). Default 256 KiB/s.
    pub inbound_bytes_per_second: usize,
    /// Bytes of tungstenite's read buffer per connection, allocated when the connection opens
    /// and read into by the socket in steps of this size. Default 2 KiB: most inbound frames
    /// are small client events, and an idle connection costs what it holds (a 64 KiB frame
    /// takes 32 reads instead of 16).
    pub read_buffer_bytes: usize,
    /// Bytes of outbound frames gathered before they are written to the socket in one call (a
    /// write also happens at the end of each batch of queued frames). Default 128 KiB, the
    /// write buffer tungstenite itself defaults to: a burst of ~300-byte events costs one
    /// `write` per ~400 frames instead of one per frame (system calls are most of a
    /// broadcast's cost; at 64 KiB a burst of 200 such events, ~67 KB, took two writes on a
    /// connection whose session found it all queued, BENCHMARKS.md). With
    /// [`Server`](crate::Server) the gathered bytes are freed once written out (kept for the
    /// next batch while more frames are already queued), so an idle connection holds no write
    /// buffer;
    /// on axum, where tungstenite gathers them in a buffer that keeps its size, at most 4 KiB
    /// are gathered. 0 writes every frame at once. What a blocked connection may hold is this
    /// at most (a frame is gathered only while it fits beside what is gathered) plus one frame
    /// of `max_outbound_frame_bytes` in tungstenite's buffer (and a frame header and a control
    /// frame's room), besides its queue's frames, which it shares with the other recipients.
    /// Those are bytes held: the allocations that hold them may be up to twice as large, as a
    /// buffer that grows doubles.
    pub write_buffer_bytes: usize,
    /// Largest frame the server sends, in bytes of JSON text: an event's frame (a durable one
    /// counted with its sequence number at its widest, 20 digits), a handler's reply or error.
    /// An emit of a larger event fails with
    /// [`EmitError::TooLarge`](crate::EmitError::TooLarge) and reaches no one; a handler's
    /// larger reply or error is answered with an `internal` error instead. Default 256 KiB.
    pub max_outbound_frame_bytes: usize,
    /// How long graceful shutdown waits for sessions to drain their queues. Default 5 s.
    pub drain_timeout: Duration,
    /// Rooms one connection may be in through `$join`; a join past it is refused with a
    /// `too_many_rooms` error (the connection stays). Rooms the server joins the connection to
    /// itself (`Session::join`, an `on_connect` hook, `Hub::join_user`) are not refused, but
    /// count toward it for the client's later joins. Default 256.
    pub max_rooms_per_connection: usize,
    /// Longest room name a client may `$join`, in bytes; a longer one is refused with a
    /// `bad_frame` error on `room`. Default 256.
    pub max_room_name_bytes: usize,
    /// Most users a room (of a tenant, on this node) may hold for a join to be announced by
    /// presence events ([`HubBuilder::presence_event`](crate::HubBuilder::presence_event)); a
    /// join that makes the room larger is not (read [`Hub::presence`](crate::Hub::presence)
    /// instead), and a user's leave is announced exactly when their join was. Announcements
    /// grow with the square of a room's size: a join in a room of `n` users is `n` frames.
    /// Default 100.
    pub presence_max_users: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            outbound_queue: 1024,
            max_connections_per_user: 16,
            rate_per_second: 20,
            rate_burst: 40,
            flood_close_after: 100,
            max_in_flight: 32,
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(5),
            join_timeout: Duration::from_secs(5),
            hook_timeout: Duration::from_secs(5),
            inbound_bytes_per_second: 256 * 1024,
            read_buffer_bytes: 2 * 1024,
            write_buffer_bytes: 128 * 1024,
            max_outbound_frame_bytes: 256 * 1024,
            drain_timeout: Duration::from_secs(5),
            max_rooms_per_connection: 256,
            max_room_name_bytes: 256,
            presence_max_users: 100,
        }
    }
}

/// Decides whether a principal may join a room when its client asks to (`$join`): the
/// synchronous form, as [`HubBuilder::allow_join`](crate::HubBuilder::allow_join) takes it.
pub type RoomPolicy = Arc<dyn Fn(&Principal, &str) -> bool + Send + Sync>;

/// The room policy as the hub runs it. A synchronous one decides inside the session, in order
/// with the connection's other frames; an asynchronous one (a database) is decided off the
/// session's loop, so that events keep flowing while it runs.
#[derive(Clone)]
pub(crate) enum JoinPolicy {
    /// Decided at once.
    Sync(RoomPolicy),
    /// Decided by a future, within `Limits::join_timeout`.
    Async(Arc<dyn Fn(Arc<Principal>, String) -> BoxFuture<'static, bool> + Send + Sync>),
}
