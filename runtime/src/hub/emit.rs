//! Emitting: an event is checked and encoded once, then queued to the connections its
//! recipients select on this node — numbered in each user's delivery stream when durable — or
//! handed to the backplane.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::conn::Conn;
use super::error::{Delivered, EmitError, Emitted, JsonEvent, PreparedEvent};
use super::outbox::widest_frame;
use super::stream::{next_ticket, StreamState, UserStream};
use super::{Hub, Inner};
use crate::broker::Envelope;
use crate::event::Event;
use crate::ids;
use crate::protocol::{encode_body, event_body, rfc3339, unnumbered};
use crate::recipients::{Recipients, Scope};
use crate::schema::{Delivery, Direction};

/// An event that reaches at most this many connections is written by the emitting thread to
/// those of them that are idle (see [`super::outbox`]): one `write` call each instead of a
/// wake-up of each session's task. Larger fan-outs leave the writes to the sessions' tasks,
/// which spread over the runtime's workers and batch frames.
const DIRECT_WRITES: usize = 4;

impl Hub {
    /// Emits an event to the recipients its declared rules select.
    ///
    /// The payload is serialized once, whatever the number of recipients; the frame is queued to
    /// each recipient connection without waiting. Durable events are numbered in each recipient
    /// user's delivery stream.
    ///
    /// # Errors
    /// When the event is one clients send, violates a constraint, its rules lack a scope, its
    /// frame is larger than [`Limits::max_outbound_frame_bytes`](crate::Limits), or the
    /// backplane cannot take it now ([`EmitError`]); nothing is sent then.
    pub fn emit<E: Event>(&self, event: &E) -> Result<Delivered, EmitError> {
        self.emit_to(event, &event.recipients())
    }

    /// Emits an event to explicit recipients, ignoring its declared rules.
    ///
    /// # Errors
    /// As [`Hub::emit`].
    pub fn emit_to<E: Event>(&self, event: &E, to: &Recipients) -> Result<Delivered, EmitError> {
        if E::DIRECTION == Direction::ClientToServer {
            return Err(EmitError::WrongDirection(E::NAME));
        }
        if to.lacks_scope() {
            return Err(EmitError::MissingScope(E::NAME));
        }
        let _span = tracing::debug_span!("emit", event = E::NAME).entered();
        let (id, body) = encode_body(event)?;
        self.emit_body(E::NAME, E::DELIVERY == Delivery::Durable, id, body, to)
    }

    /// Emits an event known by its name rather than a Rust type — one read from a schema at
    /// run time — to `to`: [`prepare_json`](Self::prepare_json), then
    /// [`emit_prepared`](Self::emit_prepared). Recipients for the event's declared rules:
    /// [`Recipients::declared`].
    ///
    /// # Errors
    /// As the two steps.
    pub fn emit_json(&self, event: JsonEvent<'_>, to: &Recipients) -> Result<Emitted, EmitError> {
        self.emit_prepared(self.prepare_json(event)?, to)
    }

    /// Frames an event known by its name (`event.data` is the payload's JSON text, which the
    /// caller has checked against the event's [`Contract`](crate::validate::Contract), and
    /// must only be for a server → client event) with a fresh id and the current time, and
    /// checks the frame's size — without sending anything. Preparing every event of a batch
    /// first sends the batch whole or not at all (the publish API of `tidings serve`); each
    /// frame is built once.
    ///
    /// # Errors
    /// [`EmitError::TooLarge`] when the frame is larger than
    /// [`Limits::max_outbound_frame_bytes`](crate::Limits).
    pub fn prepare_json(&self, event: JsonEvent<'_>) -> Result<PreparedEvent, EmitError> {
        let id = ids::next();
        let body = event_body(event.name, &id, &rfc3339(SystemTime::now()), event.data);
        let durable = event.delivery == Delivery::Durable;
        self.inner.fits(event.name, &body, durable)?;
        Ok(PreparedEvent {
            name: event.name,
            durable,
            id,
            body,
        })
    }

    /// Delivers a prepared event to `to`, exactly as [`Hub::emit_to`] delivers a typed event.
    ///
    /// # Errors
    /// When the recipients lack a scope, or the backplane cannot take it now
    /// ([`EmitError`]); nothing is sent then.
    pub fn emit_prepared(
        &self,
        event: PreparedEvent,
        to: &Recipients,
    ) -> Result<Emitted, EmitError> {
        if to.lacks_scope() {
            return Err(EmitError::MissingScope(event.name));
        }
        let _span = tracing::debug_span!("emit", event = event.name).entered();
        let PreparedEvent {
            name,
            durable,
            id,
            body,
        } = event;
        let delivered = self.emit_body(name, durable, id.clone(), body, to)?;
        Ok(Emitted { id, delivered })
    }

    /// Delivers an encoded event (`id`, and its frame's `body`) to `to`: on this node, or
    /// through the backplane.
    fn emit_body(
        &self,
        name: &'static str,
        durable: bool,
        id: String,
        body: String,
        to: &Recipients,
    ) -> Result<Delivered, EmitError> {
        self.inner.fits(name, &body, durable)?;
        self.inner.counters.emitted(name);
        if let Some(broker) = &self.inner.broker {
            let envelope = Envelope {
                origin: ids::node_id(),
                event_id: id,
                durable,
                recipients: to.clone(),
                body: Arc::from(body),
            };
            broker
                .forward(envelope)
                .map_err(|source| EmitError::Unavailable {
                    event: name,
                    source,
                })?;
            return Ok(Delivered {
                forwarded: true,
                ..Delivered::default()
            });
        }
        let delivered = if durable {
            self.inner.deliver_durable(to, Arc::from(body), true)
        } else {
            self.inner.deliver_ephemeral(to, &body)
        };
        tracing::trace!(
            event = name,
            connections = delivered.connections,
            dropped = delivered.dropped,
            "emitted"
        );
        if delivered.dropped > 0 {
            tracing::debug!(
                event = name,
                dropped = delivered.dropped,
                "slow consumers cut off"
            );
        }
        self.inner.count_delivered(delivered);
        Ok(delivered)
    }
}

impl Inner {
    /// Refuses an event whose frame (at its widest, see [`widest_frame`]) the connections'
    /// sockets would refuse: sent, it would end every recipient's connection, and a durable one
    /// every resume until the history drops it.
    pub(crate) fn fits(
        &self,
        event: &'static str,
        body: &str,
        durable: bool,
    ) -> Result<(), EmitError> {
        let bytes = widest_frame(body, durable);
        let limit = self.limits.max_outbound_frame_bytes;
        if bytes > limit {
            return Err(EmitError::TooLarge {
                event,
                bytes,
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn count_delivered(&self, delivered: Delivered) {
        self.counters
            .delivered(delivered.connections, delivered.dropped);
    }

    fn push_all(&self, conns: &[Arc<Conn>], frame: &Utf8Bytes) -> Delivered {
        let mut d = Delivered::default();
        let direct = conns.len() <= DIRECT_WRITES;
        for c in conns {
            c.offer(frame.clone(), direct).add_to(&mut d);
        }
        d
    }

    /// Queues an ephemeral event to the connections `to` selects on this node.
    pub(crate) fn deliver_ephemeral(&self, to: &Recipients, body: &str) -> Delivered {
        let conns = self.registry.resolve(to);
        self.push_all(&conns, &Utf8Bytes::from(unnumbered(body)))
    }

    /// Calls `each` once for every delivery stream a durable event goes to on this node, with
    /// the stream's state locked: the streams of the users with a connection in `conns` (what
    /// the registry resolved the recipients to, after `walk` was taken with [`next_ticket`]),
    /// and, when `offline` is set, those of users `to` names by id who have no connection but
    /// whose stream is retained, in the event's tenant.
    ///
    /// A user's connections share one stream, reached once, in the order found. A stream whose
    /// connections did not change since the walk's ticket, and which holds one, was resolved
    /// to through that one alone: it is reached without more ado (the common case, and a
    /// broadcast's: nothing allocated or hashed per recipient). Any other stream — several
    /// connections, or a change during the walk — is looked up in a set of the streams this
    /// walk reached, as is every stream when named users follow (`offline`). Walks on other
    /// threads at the same time keep sets of their own, so none is reached twice by a walk.
    pub(crate) fn each_durable_stream(
        &self,
        walk: u64,
        conns: &[Arc<Conn>],
        to: &Recipients,
        offline: bool,
        mut each: impl FnMut(&UserStream, &mut StreamState),
    ) {
        let offline = offline && !to.users().is_empty();
        // The streams reached that another connection or a named user may lead to again.
        let mut reached: HashSet<*const UserStream> = HashSet::new();
        for c in conns {
            let mut st = c.stream.lock();
            let alone = !offline && st.changed < walk && st.conns.len() == 1;
            if alone || reached.insert(Arc::as_ptr(&c.stream)) {
                each(&c.stream, &mut st);
            }
        }
        if !offline {
            return;
        }
        let tenant = match to.scope() {
            Scope::Tenant(t) => Some(t.as_str()),
            _ => None,
        };
        for user in to.users() {
            if to.excluded().contains(user) {
                continue;
            }
            for stream in self.registry.streams_of(user) {
                if tenant.is_some_and(|t| stream.id.tenant.as_deref() != Some(t)) {
                    continue;
                }
                let mut st = stream.lock();
                if st.conns.is_empty() && !st.dead && reached.insert(Arc::as_ptr(&stream)) {
                    each(&stream, &mut st);
                }
            }
        }
    }

    /// Numbers a durable event in each recipient user's stream and queues it to every
    /// connection of those users, under each stream's lock (see [`super::stream`]).
    fn deliver_durable(&self, to: &Recipients, body: Arc<str>, offline: bool) -> Delivered {
        let now = Instant::now();
        let clock = (now, super::stream::clock_ms(now));
        let mut d = Delivered::default();
        let walk = next_ticket();
        let conns = self.registry.resolve(to);
        let direct = conns.len() <= DIRECT_WRITES;
        self.each_durable_stream(walk, &conns, to, offline, |_, st| {
            if st.dead {
                return;
            }
            let next = st.seq + 1;
            let part = st.deliver(next, body.clone(), &self.history, clock, direct);
            d.connections += part.connections;
            d.dropped += part.dropped;
        });
        d
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::hub::outbox::Frame;
    use crate::hub::Limits;
    use crate::schema::Delivery;
    use crate::{JsonEvent, Principal};

    /// Each event's id in a connection's queue, with its number, in queue order.
    fn numbered(conn: &Conn) -> Vec<(u64, String)> {
        let mut frames = Vec::new();
        conn.outbox.drain_into(&mut frames, usize::MAX);
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Numbered { seq, body } => {
                    let v: serde_json::Value =
                        serde_json::from_str(&format!("{{{body}")).expect("a JSON frame");
                    (seq, v["id"].as_str().unwrap_or_default().to_owned())
                }
                Frame::Text(t) => panic!("an unnumbered frame: {t}"),
            })
            .collect()
    }

    /// Durable events emitted from several threads at once, to users with one connection and
    /// with two (each reached through both), while other connections of the same users come
    /// and go: every stream numbers each event once, and a connection that stays gets each
    /// event once, numbered without a gap.
    #[tokio::test]
    async fn concurrent_durable_emits_reach_each_stream_once() {
        let hub = Hub::builder()
            .limits(Limits {
                outbound_queue: 100_000,
                ..Limits::default()
            })
            .build();
        const USERS: usize = 40;
        const PER_THREAD: usize = 300;
        // Users with two connections that stay, and as many with one.
        let users: Vec<(String, usize)> =
            (0..USERS).map(|u| (format!("u{u}"), 1 + u % 2)).collect();
        let mut kept = Vec::new();
        for (user, tabs) in &users {
            for _ in 0..*tabs {
                let (conn, _) = hub
                    .register(Principal::user(user.clone()), None)
                    .await
                    .expect("registered");
                kept.push(conn);
            }
        }
        let churn = tokio::runtime::Handle::current();
        let recipients = [
            crate::to_platform(),
            crate::to_users(users.iter().map(|(user, _)| user.clone())),
        ];
        std::thread::scope(|s| {
            for to in &recipients {
                let hub = &hub;
                s.spawn(move || {
                    for _ in 0..PER_THREAD {
                        let event = JsonEvent {
                            name: "test:tick",
                            delivery: Delivery::Durable,
                            data: "{}",
                        };
                        hub.emit_json(event, to).expect("emitted");
                    }
                });
            }
            let (hub, users) = (&hub, &users);
            s.spawn(move || {
                for i in 0..4 * PER_THREAD {
                    let user = users[i % USERS].0.clone();
                    let (conn, _) = churn
                        .block_on(hub.register(Principal::user(user), None))
                        .expect("registered");
                    hub.unregister(&conn, crate::hub::DisconnectReason::ClientClosed);
                }
            });
        });
        let total = (recipients.len() * PER_THREAD) as u64;
        for conn in &kept {
            let got = numbered(conn);
            let ids: HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
            assert_eq!(
                (got.len() as u64, ids.len() as u64),
                (total, total),
                "user {}: each event once",
                conn.user()
            );
            let gaps = got.iter().zip(1..).filter(|((seq, _), n)| seq != n).count();
            assert_eq!(gaps, 0, "user {}: numbered 1, 2, 3, …", conn.user());
        }
    }
}
