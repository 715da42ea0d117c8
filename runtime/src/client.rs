//! A Rust client of the Tidings protocol: connects, reconnects with backoff, resumes its delivery
//! stream, and hands each durable event to the app exactly once and in order.
//!
//! ```no_run
//! # async fn run() -> Result<(), tidings::client::ClientError> {
//! use tidings::client::{Client, ClientEvent};
//!
//! let mut client = Client::builder("ws://127.0.0.1:8080/ws").token("a jwt").connect();
//! while let Some(event) = client.next().await {
//!     match event {
//!         ClientEvent::Event(e) => println!("{} #{:?}: {}", e.name, e.seq, e.data),
//!         ClientEvent::Resync { reason, .. } => println!("refetch state: {reason}"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Durable events carry the sequence number of the user's stream; the client remembers the last
//! one it handed over and sends it when it reconnects (`tidings.resume.<epoch>.<seq>`), so the
//! server replays what was missed before any live event. A sequence number at or below the last
//! one is a duplicate and is dropped; one that skips ahead (which the server never sends) makes
//! the client reconnect and resume, so a gap is never handed to the app. A server silent for
//! longer than the heartbeat's interval plus timeout (from `$connected`) counts as gone: the
//! client closes (4000) and reconnects. The ids of the last
//! [`RECENT_IDS`] durable events are remembered too: an event numbered again in a new epoch
//! (in flight when Redis lost its data, then sent again) is not handed over a second time.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::delivery::Position;
use crate::protocol::frame;

/// Why the client could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client has stopped (closed, or its task ended).
    #[error("the client is closed")]
    Closed,
    /// A frame could not be encoded.
    #[error("cannot encode the frame: {0}")]
    Encode(#[from] serde_json::Error),
}

/// An event the server sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The event's wire name (`ticket:created`).
    pub name: String,
    /// Its number in the user's delivery stream; `None` for ephemeral events.
    pub seq: Option<u64>,
    /// Its id.
    pub id: String,
    /// Its payload.
    pub data: Value,
}

/// What the client reports, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A session started (the first connection or a reconnect).
    Connected {
        /// The session id.
        session: String,
        /// Whether this is a reconnect that resumed the stream.
        resumed: bool,
    },
    /// An event.
    Event(Received),
    /// Everything missed while away has been delivered (`replayed` events, before this).
    Caught {
        /// How many events were replayed.
        replayed: u64,
    },
    /// What was missed cannot be replayed: refetch the app's state. The stream continues from
    /// `position`.
    Resync {
        /// Where the stream continues.
        position: Position,
        /// Why.
        reason: String,
    },
    /// A frame the client does not handle itself (`$reply`, `$error`, …), as sent.
    Frame(Value),
    /// The connection dropped; the client reconnects after a backoff.
    Disconnected {
        /// The close code, when the server sent one.
        code: Option<u16>,
    },
}

/// Configures a [`Client`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    urls: Vec<String>,
    token: Option<String>,
    initial_backoff: Duration,
    max_backoff: Duration,
    buffer: usize,
    resume: Option<Position>,
}

impl ClientBuilder {
    /// Another server of the same system (a node behind the same backplane): each reconnect
    /// tries the next URL in turn, so a client whose node died resumes on another.
    pub fn fallback(mut self, url: impl Into<String>) -> ClientBuilder {
        self.urls.push(url.into());
        self
    }

    /// Resumes the stream from `position` (one the app kept from an earlier client, see
    /// [`Client::position`]) on the first connection too.
    pub fn resume_from(mut self, position: Position) -> ClientBuilder {
        self.resume = Some(position);
        self
    }

    /// A bearer token, sent as the `tidings.bearer.<token>` subprotocol (or, for a token with
    /// other characters, `tidings.bearer64.<base64url>`: [`crate::auth::bearer_subprotocol`]).
    pub fn token(mut self, token: impl Into<String>) -> ClientBuilder {
        self.token = Some(token.into());
        self
    }

    /// The backoff between reconnects: from `initial` doubling up to `max`, with full jitter.
    /// Default 100 ms to 10 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> ClientBuilder {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How many reported events wait for the app before the client stops reading the socket
    /// (the server then cuts it off as a slow consumer, and it resumes). Default 1024.
    pub fn buffer(mut self, events: usize) -> ClientBuilder {
        self.buffer = events.max(1);
        self
    }

    /// Starts the client; it connects in the background. Needs a tokio runtime.
    pub fn connect(self) -> Client {
        let (events_tx, events) = mpsc::channel(self.buffer);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (position_tx, position) = watch::channel(self.resume.clone());
        tokio::spawn(run(self, events_tx, commands_rx, position_tx));
        Client {
            events,
            commands,
            position,
        }
    }
}

enum Command {
    Send(String),
    Drop,
    Close,
}

/// A connected (or reconnecting) client. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    events: mpsc::Receiver<ClientEvent>,
    commands: mpsc::UnboundedSender<Command>,
    position: watch::Receiver<Option<Position>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Send(_) => "Send",
            Command::Drop => "Drop",
            Command::Close => "Close",
        })
    }
}

impl Client {
    /// Configures a client of the server at `url` (`ws://host:port/path`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            urls: vec![url.into()],
            token: None,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            buffer: 1024,
            resume: None,
        }
    }

    /// The next thing to report; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.events.recv().await
    }

    /// Sends an event or control frame (a JSON object with a `type`), now if connected, else
    /// once reconnected.
    ///
    /// # Errors
    /// When the client is closed or the frame cannot be encoded.
    pub fn send(&self, frame: &Value) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame)?;
        self.commands
            .send(Command::Send(text))
            .map_err(|_| ClientError::Closed)
    }

    /// The last stream position handed to the app (what a reconnect resumes from).
    pub fn position(&self) -> Option<Position> {
        self.position.borrow().clone()
    }

    /// Drops the connection without a close frame, as a network failure would; the client
    /// reconnects and resumes. For tests and failover drills.
    pub fn drop_connection(&self) {
        let _ = self.commands.send(Command::Drop);
    }

    /// Closes the connection for good.
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close);
    }
}

/// How a connection ended.
enum Ended {
    /// Reconnect after a backoff.
    Lost(Option<u16>),
    /// Reconnect at once (a gap was seen).
    Retry,
    /// Stop.
    Closed,
}

/// How many ids of durable events the client remembers, to hand an event over once even when
/// the server numbers it again in a new epoch.
pub const RECENT_IDS: usize = 1024;

/// The ids of the last [`RECENT_IDS`] durable events handed over, oldest first.
#[derive(Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    /// Remembers `id`; false when it was already remembered.
    fn insert(&mut self, id: &str) -> bool {
        if id.is_empty() {
            return true;
        }
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.set.insert(id.to_owned());
        true
    }
}

struct State {
    position: Option<Position>,
    recent: RecentIds,
    position_tx: watch::Sender<Option<Position>>,
    events: mpsc::Sender<ClientEvent>,
    /// Frames sent while disconnected, sent on the next connection.
    outbox: Vec<String>,
}

impl State {
    async fn report(&self, event: ClientEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    fn set_position(&mut self, p: Position) {
        self.position_tx.send_replace(Some(p.clone()));
        self.position = Some(p);
    }
}

async fn run(
    config: ClientBuilder,
    events: mpsc::Sender<ClientEvent>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    position_tx: watch::Sender<Option<Position>>,
) {
    let mut state = State {
        position: config.resume.clone(),
        position_tx,
        events,
        outbox: Vec::new(),
        recent: RecentIds::default(),
    };
    let mut attempt: u32 = 0;
    let mut turn = 0usize;
    loop {
        let url = &config.urls[turn % config.urls.len()];
        let ended = connection(&config, url, &mut state, &mut commands, &mut attempt).await;
        turn = turn.wrapping_add(1);
        let delay = match ended {
            Ended::Closed => return,
            Ended::Retry => Duration::ZERO,
            Ended::Lost(code) => {
                if !state.report(ClientEvent::Disconnected { code }).await {
                    return;
                }
                let ceiling = config
                    .initial_backoff
                    .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                    .min(config.max_backoff);
                attempt = attempt.saturating_add(1);
                ceiling.mul_f64(jitter())
            }
        };
        // Commands that arrive while waiting: sends are kept, a close ends the client.
        let wait = tokio::time::sleep(delay);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Close) => return,
                    Some(Command::Send(text)) => state.outbox.push(text),
                    Some(Command::Drop) => {}
                },
            }
        }
    }
}

/// A number in [0, 1) that differs between calls and processes (full-jitter backoff).
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let n = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (n >> 11) as f64 / (1u64 << 53) as f64
}

async fn connection(
    config: &ClientBuilder,
    url: &str,
    state: &mut State,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    attempt: &mut u32,
) -> Ended {
    let Ok(mut request) = url.into_client_request() else {
        tracing::warn!(%url, "not a WebSocket URL; the client stops");
        return Ended::Closed;
    };
    let mut protocols = vec![crate::SUBPROTOCOL.to_owned()];
    if let Some(t) = &config.token {
        protocols.push(crate::auth::bearer_subprotocol(t));
    }
    let resuming = state.position.clone();
    if let Some(p) = &resuming {
        protocols.push(format!("{}{p}", crate::RESUME_SUBPROTOCOL_PREFIX));
    }
    if let Ok(v) = http::HeaderValue::from_str(&protocols.join(", ")) {
        request
            .headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    let ws = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connect failed");
            return Ended::Lost(None);
        }
        Err(_) => return Ended::Lost(None),
    };
    let (mut sink, mut stream) = ws.split();
    let mut connected = false;
    // Silence past the heartbeat's interval plus timeout (from `$connected`) means the link is
    // dead: any frame is a sign of life. Until `$connected`, the connect timeout's bound.
    let mut silence = Duration::from_secs(10);
    let watchdog = tokio::time::sleep(silence);
    tokio::pin!(watchdog);
    loop {
        tokio::select! {
            () = &mut watchdog => {
                tracing::debug!(?silence, "no frame from the server; reconnecting");
                let close = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: 4000.into(),
                    reason: "heartbeat timeout".into(),
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(close)))).await;
                return Ended::Lost(None);
            }
            cmd = commands.recv() => match cmd {
                None | Some(Command::Close) => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Closed;
                }
                Some(Command::Drop) => return Ended::Lost(None),
                Some(Command::Send(text)) => {
                    if !connected {
                        state.outbox.push(text);
                    } else if sink.send(Message::Text(text.into())).await.is_err() {
                        return Ended::Lost(None);
                    }
                }
            },
            msg = stream.next() => {
                watchdog.as_mut().reset(tokio::time::Instant::now() + silence);
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        return Ended::Lost(frame.map(|f| u16::from(f.code)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Ended::Lost(None),
                };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    tracing::debug!("a frame is not JSON; ignored");
                    continue;
                };
                let ty = v["type"].as_str().unwrap_or_default().to_owned();
                match ty.as_str() {
                    frame::CONNECTED => {
                        connected = true;
                        *attempt = 0;
                        let interval = v["heartbeat"]["interval_ms"].as_u64().unwrap_or(25_000);
                        let timeout = v["heartbeat"]["timeout_ms"].as_u64().unwrap_or(60_000);
                        silence = Duration::from_millis(interval.saturating_add(timeout));
                        watchdog.as_mut().reset(tokio::time::Instant::now() + silence);
                        if resuming.is_none() {
                            if let Some(p) = position_of(&v["resume"]) {
                                state.set_position(p);
                            }
                        }
                        let session = v["session"].as_str().unwrap_or_default().to_owned();
                        if !state.report(ClientEvent::Connected { session, resumed: resuming.is_some() }).await {
                            return Ended::Closed;
                        }
                        for text in std::mem::take(&mut state.outbox) {
                            if sink.send(Message::Text(text.into())).await.is_err() {
                                return Ended::Lost(None);
                            }
                        }
                    }
                    frame::PING => {
                        if sink.send(Message::Text("{\"type\":\"$pong\"}".into())).await.is_err() {
                            return Ended::Lost(None);
                        }
                    }
                    frame::PONG => {}
                    frame::PENDING_COMPLETE => {
                        let replayed = v["replayed"].as_u64().unwrap_or(0);
                        if !state.report(ClientEvent::Caught { replayed }).await {
                            return Ended::Closed;
                        }
                    }
                    frame::RESYNC_REQUIRED => {
                        let Some(position) = position_of(&v) else { continue };
                        state.set_position(position.clone());
                        let reason = v["reason"].as_str().unwrap_or_default().to_owned();
                        if !state.report(ClientEvent::Resync { position, reason }).await {
                            return Ended::Closed;
                        }
                    }
                    name if !name.is_empty() && !name.starts_with('$') => {
                        let seq = v["seq"].as_u64();
                        if let Some(seq) = seq {
                            let last = state.position.as_ref().map_or(0, |p| p.seq);
                            if seq <= last {
                                continue; // processed already
                            }
                            if seq > last + 1 {
                                tracing::warn!(last, seq, "gap in the delivery stream; resuming");
                                return Ended::Retry;
                            }
                            if let Some(p) = &state.position {
                                let next = Position { epoch: p.epoch.clone(), seq };
                                state.set_position(next);
                            }
                            if !state.recent.insert(v["id"].as_str().unwrap_or_default()) {
                                continue; // handed over already, under another number
                            }
                        }
                        let received = Received {
                            name: name.to_owned(),
                            seq,
                            id: v["id"].as_str().unwrap_or_default().to_owned(),
                            data: v.get("data").cloned().unwrap_or(Value::Null),
                        };
                        if !state.report(ClientEvent::Event(received)).await {
                            return Ended::Closed;
                        }
                    }
                    _ => {
                        if !state.report(ClientEvent::Frame(v)).await {
                            return Ended::Closed;
                        }
                    }
                }
            }
        }
    }
}

fn position_of(v: &Value) -> Option<Position> {
    Some(Position {
        epoch: v["epoch"].as_str()?.to_owned(),
        seq: v["seq"].as_u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::{RecentIds, RECENT_IDS};

    #[test]
    fn recent_ids_remember_the_last_ones_only() {
        let mut recent = RecentIds::default();
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"), "a repeated id");
        assert!(recent.insert(""), "no id: never a duplicate");
        assert!(recent.insert(""));
        for n in 0..RECENT_IDS {
            assert!(recent.insert(&n.to_string()));
        }
        assert!(recent.insert("a"), "forgotten after RECENT_IDS others");
        assert_eq!(recent.order.len(), RECENT_IDS);
        assert_eq!(recent.set.len(), RECENT_IDS);
    }
}
