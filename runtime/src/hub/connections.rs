//! Connections coming and going: admission before the upgrade (one rule for every transport),
//! registration in the user's delivery stream with replay, unregistration, and the sweeping of
//! streams that outlived their connections.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use std::time::Instant;

use http::StatusCode;

use super::backplane::hydrate;
use super::conn::Conn;
use super::error::RegisterError;
use super::hooks::{Disconnected, Failed};
use super::metrics::DisconnectReason;
use super::registry::Entered;
use super::Hub;
use super::Session;
use crate::auth::UpgradeRequest;
use crate::broker::Membership;
use crate::delivery::{Position, StreamId};
use crate::event::Event;
use crate::principal::Principal;
use crate::schema::PresenceKind;

/// An upgrade request the hub accepts: who connects, and where their stream resumes.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) principal: Principal,
    pub(crate) resume: Option<Position>,
}

/// An upgrade request the hub refuses: the HTTP response's status and body.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Hub {
    /// Decides on an upgrade request before the upgrade, for every transport: a malformed
    /// resume position is a 400; the authenticator's refusal is its status, its overrunning
    /// [`Limits::auth_timeout`](super::Limits::auth_timeout) a 503; a user at
    /// [`Limits::max_connections_per_user`](super::Limits::max_connections_per_user) gets 429.
    /// Refusals other than the 400 count as rejected connections.
    pub(crate) async fn admit(&self, request: &UpgradeRequest) -> Result<Admission, Refusal> {
        let resume = request.resume().map_err(|message| Refusal {
            status: StatusCode::BAD_REQUEST,
            message,
        })?;
        let rejected = |status: StatusCode, message: String| {
            self.inner.counters.rejected();
            Refusal { status, message }
        };
        let authenticating = self.inner.authenticator.authenticate(request);
        let principal = match tokio::time::timeout(self.inner.limits.auth_timeout, authenticating)
            .await
        {
            Ok(result) => result.map_err(|e| rejected(e.status, e.message))?,
            Err(_) => {
                tracing::warn!(timeout = ?self.inner.limits.auth_timeout, "authentication timed out");
                return Err(rejected(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "authentication timed out; try again".to_owned(),
                ));
            }
        };
        if self.user_connection_count(&principal.user_id)
            >= self.inner.limits.max_connections_per_user
        {
            return Err(rejected(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections for this user".to_owned(),
            ));
        }
        Ok(Admission { principal, resume })
    }

    /// Registers a connection: attaches it to its user's delivery stream — replaying what it
    /// missed since `resume`, under the stream's lock so that no live event overtakes the
    /// replay — then indexes it. Returns the connection and the stream's position at that
    /// moment (what `$connected` reports).
    pub(crate) async fn register(
        &self,
        principal: Principal,
        resume: Option<&Position>,
    ) -> Result<(Arc<Conn>, Position), RegisterError> {
        let history = self.inner.history;
        let id = StreamId {
            tenant: principal.tenant.clone(),
            user: principal.user_id.clone(),
        };
        let (conn, position) = loop {
            let stream = self
                .inner
                .registry
                .stream_or_new(&id, self.inner.broker.is_none());
            if let Some(broker) = &self.inner.broker {
                hydrate(
                    broker.as_ref(),
                    &stream,
                    &history,
                    self.inner.limits.max_outbound_frame_bytes,
                )
                .await
                .map_err(RegisterError::Unavailable)?;
            }
            let conn = Arc::new(Conn::new(
                self.inner.next_conn.fetch_add(1, Ordering::Relaxed),
                principal.clone(),
                stream.clone(),
                self.inner.limits.outbound_queue,
            ));
            let mut st = stream.lock();
            // Dropped from the registry since it was looked up (the sweeper, or the last
            // connection's going with a backplane): its successor takes the connection.
            if st.dead {
                continue;
            }
            if st.conns.len() >= self.inner.limits.max_connections_per_user {
                return Err(RegisterError::TooManyConnections);
            }
            let now = Instant::now();
            st.attach(conn.clone());
            st.active = now;
            if let Some(from) = resume {
                st.replay(&conn, from, &history, now);
            }
            let position = Position {
                epoch: st.epoch.clone(),
                seq: st.seq,
            };
            drop(st);
            break (conn, position);
        };
        self.inner.registry.index(&conn);
        self.inner.counters.opened();
        Ok((conn, position))
    }

    pub(crate) fn unregister(&self, conn: &Arc<Conn>, reason: DisconnectReason) {
        let (rooms, live) = self.inner.registry.remove(conn);
        for room in rooms {
            self.membership_changed(conn, &room, false, live);
        }
        let empty = {
            let mut st = conn.stream.lock();
            st.detach(conn, &self.inner.history);
            st.conns.is_empty()
        };
        // With a backplane the history lives there; this node keeps streams only for the
        // users it serves.
        if empty && self.inner.broker.is_some() {
            self.inner
                .registry
                .drop_stream_if(&conn.stream.id, |st| !st.conns.is_empty());
        }
        conn.outbox.close();
        self.inner.counters.disconnected(reason);
    }

    /// Takes `conn` out of its delivery stream as its session ends, before the close
    /// handshake (up to three `CLOSE_TIMEOUT`s): its queue closes, and what it held
    /// unnumbered goes on at once, in order, to the stream's next connection or its history
    /// (`StreamState::cut`), rather than when the connection is unregistered.
    pub(crate) fn leave_stream(&self, conn: &Conn) {
        conn.stream.lock().cut(conn, &self.inner.history);
    }

    /// Moves up to `max` frames queued to `conn` into `out` for its session to write,
    /// numbering the durable events queued unnumbered ([`Conn::take`]); connections cut off as
    /// slow consumers meanwhile count as dropped deliveries.
    pub(crate) fn take(&self, conn: &Conn, out: &mut Vec<super::outbox::Frame>, max: usize) {
        let dropped = conn.take(out, max, &self.inner.history);
        if dropped > 0 {
            self.inner.counters.delivered(0, dropped);
        }
    }

    /// Drops the delivery streams that have outlived their last connection and last event by
    /// the history's age. Runs periodically on its own when the hub was built in a runtime.
    pub fn sweep(&self) -> usize {
        let history = self.inner.history;
        let now = Instant::now();
        let mut dropped = 0;
        for stream in self.inner.registry.streams() {
            let idle = {
                let mut st = stream.lock();
                st.trim(&history, now);
                st.conns.is_empty()
                    && st.history.is_empty()
                    && now.duration_since(st.active) > history.max_age
            };
            if idle
                && self.inner.registry.drop_stream_if(&stream.id, |st| {
                    !st.conns.is_empty()
                        || !st.history.is_empty()
                        || now.duration_since(st.active) <= history.max_age
                })
            {
                dropped += 1;
            }
        }
        dropped
    }
}

impl Hub {
    /// Runs the `on_connect` hook, if any, for a registered connection, within the hook
    /// timeout; a panic is caught.
    pub(crate) async fn run_connect_hook(&self, session: &Session) -> Result<(), Failed> {
        let Some(hook) = self.inner.on_connect.clone() else {
            return Ok(());
        };
        let run = AssertUnwindSafe(hook(session.clone())).catch_unwind();
        match tokio::time::timeout(self.limits().hook_timeout, run).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(refusal))) => Err(Failed::refused(&refusal)),
            Ok(Err(_)) => {
                tracing::error!(session = session.id(), "the on_connect hook panicked");
                Err(Failed::hook_failed(
                    "the server failed to set up the connection",
                ))
            }
            Err(_) => {
                tracing::error!(
                    session = session.id(),
                    timeout = ?self.limits().hook_timeout,
                    "the on_connect hook did not finish in time"
                );
                Err(Failed::hook_failed(
                    "the server took too long to set up the connection",
                ))
            }
        }
    }

    /// Runs the `on_disconnect` hook, if any, on a task of its own (within the hook timeout; a
    /// panic is caught and logged). Outside a runtime (a hub dropped at exit) it is skipped.
    pub(crate) fn run_disconnect_hook(&self, gone: Disconnected) {
        let Some(hook) = self.inner.on_disconnect.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.limits().hook_timeout;
        let id = gone.id;
        runtime.spawn(async move {
            let run = AssertUnwindSafe(hook(gone)).catch_unwind();
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!(session = id, "the on_disconnect hook panicked"),
                Err(_) => tracing::warn!(
                    session = id,
                    "the on_disconnect hook did not finish in time"
                ),
            }
        });
    }
}

impl Hub {
    /// Tells the broker, if any, that `conn` joined or left `room` (presence across nodes), and
    /// — when the connection is `live` (its session started) — announces the user's entry or
    /// exit through the presence events that cover the room. Runs under the connection's rooms
    /// lock, so one connection's changes are told in order.
    pub(crate) fn membership_changed(&self, conn: &Conn, room: &str, joined: bool, live: bool) {
        if let Some(broker) = &self.inner.broker {
            let membership = Membership {
                tenant: conn.tenant().map(str::to_owned),
                room: room.to_owned(),
                connection: conn.id,
                user: conn.user().to_owned(),
            };
            broker.presence_changed(&membership, joined);
        }
        if live {
            self.presence_changed(conn, room, joined);
        }
    }

    /// The session of `conn` has started (its `on_connect` succeeded): from now on its joins and
    /// leaves are announced, starting with the rooms it is in. A connection refused by its hook
    /// is never announced.
    pub(crate) fn session_started(&self, conn: &Conn) {
        conn.go_live(|rooms| {
            for room in rooms {
                self.presence_changed(conn, room, true);
            }
        });
    }

    /// Counts the user's entry into (or exit from) `room` and announces it through the presence
    /// events that cover the room.
    fn presence_changed(&self, conn: &Conn, room: &str, joined: bool) {
        if !self.inner.presence.iter().any(|a| a.covers(room)) {
            return;
        }
        let (tenant, user) = (conn.tenant(), conn.user());
        let max = self.inner.limits.presence_max_users;
        self.inner
            .registry
            .count_presence(tenant, room, user, joined, max, |changed| {
                let kind = match changed {
                    Some(Entered::First) => PresenceKind::Joined,
                    Some(Entered::Last) => PresenceKind::Left,
                    None => return,
                };
                for a in self.inner.presence.iter().filter(|a| a.kind() == kind) {
                    if a.covers(room) {
                        a.announce(self, room, user, tenant);
                    }
                }
            });
    }

    /// Emits the presence event `E` built from `payload`, once the payload meets the event's
    /// contract (a room placeholder that is not a valid `uuid` does not).
    pub(crate) fn announce<E: Event>(&self, mut payload: serde_json::Value) {
        if let Some(contract) = E::contract() {
            if let Err(refusal) = contract.check(&mut payload) {
                tracing::debug!(event = E::NAME, error = %refusal.violation(), "no presence event: the room does not fit its payload");
                return;
            }
        }
        let result = serde_json::from_value::<E>(payload)
            .map_err(|e| e.to_string())
            .and_then(|event| self.emit(&event).map_err(|e| e.to_string()));
        if let Err(error) = result {
            tracing::debug!(event = E::NAME, %error, "presence event not emitted");
        }
    }
}
