//! The hub as a backplane's node: the calls a [`Broker`] makes back into it ([`NodeEvents`]),
//! and the loading of a delivery stream from the broker when this node starts serving its user.

use std::sync::Arc;
use std::time::Instant;

use super::error::Delivered;
use super::outbox::widest_frame;
use super::stream::{clock_ms, next_ticket, Stored, StreamState, UserStream};
use super::Inner;
use crate::broker::{Applied, Broker, BrokerError, Envelope, Membership, NodeEvents, Target};
use crate::delivery::{History, Position, StreamId};

impl NodeEvents for Inner {
    fn history(&self) -> History {
        self.history
    }

    fn receive(&self, envelope: &Envelope) -> Vec<Target> {
        // The emitting node checked the size against its own limit; a node configured with a
        // lower one sends no frame wider than its own. An ephemeral event is not delivered here
        // (it promises no delivery); a durable one is numbered in its streams all the same, so
        // that their connections here are told (`apply_locked` resyncs them at its `seq`)
        // rather than miss it unawares.
        let bytes = widest_frame(&envelope.body, envelope.durable);
        if bytes > self.limits.max_outbound_frame_bytes {
            tracing::warn!(
                event_id = %envelope.event_id,
                bytes,
                limit = self.limits.max_outbound_frame_bytes,
                durable = envelope.durable,
                "an event from another node is larger than this node's max_outbound_frame_bytes; not sent here (a durable one: its streams' connections here resync)"
            );
            if !envelope.durable {
                return Vec::new();
            }
        }
        if !envelope.durable {
            let d = self.deliver_ephemeral(&envelope.recipients, &envelope.body);
            self.count_delivered(d);
            return Vec::new();
        }
        let walk = next_ticket();
        let mut targets = Vec::new();
        self.each_durable_stream(
            walk,
            &envelope.recipients,
            false,
            |_, _| false,
            |stream, _, _| {
                targets.push(Target {
                    stream: stream.id.clone(),
                    offline: false,
                });
            },
        );
        targets
    }

    fn apply_run(
        &self,
        tenant: Option<&str>,
        user: &str,
        epoch: &str,
        first: u64,
        bodies: &mut dyn Iterator<Item = Arc<str>>,
    ) -> Applied {
        let Some(stream) = self.registry.stream_in(tenant, user) else {
            return Applied::NotHere;
        };
        let mut st = stream.lock();
        if st.dead {
            return Applied::NotHere;
        }
        let mut position = Position {
            epoch: epoch.to_owned(),
            seq: first,
        };
        let mut outcome = Applied::NotHere;
        let mut delivered = Delivered::default();
        // One reading of the clock for the run's events.
        let now = Instant::now();
        let now = (now, clock_ms(now));
        for body in bodies {
            if !st.hydrated {
                st.waiting.push((position.clone(), body));
                outcome = Applied::Held;
            } else {
                let (applied, d) = apply_locked(
                    &mut st,
                    &position,
                    body,
                    &self.history,
                    now,
                    self.limits.max_outbound_frame_bytes,
                );
                if let Some(d) = d {
                    delivered.connections += d.connections;
                    delivered.dropped += d.dropped;
                }
                outcome = applied;
                if let Applied::Gap { .. } = applied {
                    break;
                }
            }
            position.seq += 1;
        }
        drop(st);
        self.count_delivered(delivered);
        outcome
    }

    fn holds_streams(&self) -> bool {
        self.registry.holds_streams()
    }

    fn positions(&self) -> Vec<(StreamId, Position)> {
        self.registry
            .streams()
            .into_iter()
            .map(|s| (s.id.clone(), s.position()))
            .collect()
    }

    fn restart(&self, stream: &StreamId, position: &Position, reason: &str) {
        if let Some(stream) = self.registry.stream(stream) {
            stream
                .lock()
                .restart(position.epoch.clone(), position.seq, reason);
        }
    }

    fn memberships(&self) -> Vec<Membership> {
        self.registry
            .all_connections()
            .into_iter()
            .flat_map(|conn| {
                conn.rooms().into_iter().map(move |room| Membership {
                    tenant: conn.tenant().map(str::to_owned),
                    room,
                    connection: conn.id,
                    user: conn.user().to_owned(),
                })
            })
            .collect()
    }
}

/// Applies one numbered frame under the stream's lock, received at `now` (the instant and its
/// [`clock_ms`]).
///
/// `limit` is this node's `max_outbound_frame_bytes`: an event emitted on a node whose limit
/// is higher, and wider than this one's, takes its `seq` here but is not stored or sent (this
/// node sends no frame wider than its limit; past its write buffer's bound the socket would
/// end the connection, and each resume would replay the event again): the stream's
/// connections here resync at it ([`TOO_LARGE_HERE`]).
fn apply_locked(
    st: &mut StreamState,
    position: &Position,
    body: Arc<str>,
    history: &History,
    now: (Instant, u64),
    limit: usize,
) -> (Applied, Option<Delivered>) {
    if position.epoch != st.epoch {
        // The broker's stream was started anew (its store lost it). Past its first event, the
        // new epoch's earlier events are read back from the broker first (a gap from 0): the
        // connections here then receive the epoch from its start, as those of the node that
        // numbered it did.
        if position.seq > 1 {
            return (Applied::Gap { after: 0 }, None);
        }
        st.restart(
            position.epoch.clone(),
            position.seq.saturating_sub(1),
            "the stream was restarted (new epoch)",
        );
    }
    if position.seq <= st.seq {
        // A number this node has delivered: the same event again (a duplicate), unless the
        // broker's stream went back (Redis restored from an older snapshot, a failover to a
        // lagging replica) and numbers another event with it — then what the connections
        // hold past it is not the broker's any more: they resync there.
        let rewound = st
            .stored()
            .find(|(seq, _)| *seq == position.seq)
            .is_some_and(|(_, stored)| stored.body != body);
        if !rewound {
            return (Applied::Duplicate, None);
        }
        st.restart(
            position.epoch.clone(),
            position.seq.saturating_sub(1),
            "the backplane's stream went back (restored from an older copy)",
        );
    }
    if position.seq > st.seq + 1 {
        return (Applied::Gap { after: st.seq }, None);
    }
    if widest_frame(&body, true) > limit {
        tracing::warn!(
            epoch = %st.epoch,
            seq = position.seq,
            bytes = widest_frame(&body, true),
            limit,
            "a numbered event from another node is larger than this node's max_outbound_frame_bytes; this node's connections of the stream resync"
        );
        // What came before it cannot be replayed past it from here either: the history goes.
        st.restart(position.epoch.clone(), position.seq, TOO_LARGE_HERE);
        return (Applied::Delivered, None);
    }
    let d = st.deliver(position.seq, body, history, now, false);
    (Applied::Delivered, Some(d))
}

/// The reason of the `$resync_required` a node sends at an event of the stream that is wider
/// than this node's `max_outbound_frame_bytes` (emitted on a node whose limit is higher).
const TOO_LARGE_HERE: &str =
    "an event was larger than this node's max_outbound_frame_bytes (emitted on a node with a higher limit)";

/// Makes a stream created on this node agree with the broker's: its epoch, position and
/// history, then the frames that arrived meanwhile. `limit` is this node's
/// `max_outbound_frame_bytes`: the history kept is the contiguous run after the newest event
/// wider than that (see [`apply_locked`]).
pub(super) async fn hydrate(
    broker: &dyn Broker,
    stream: &UserStream,
    history: &History,
    limit: usize,
) -> Result<(), BrokerError> {
    for _ in 0..3 {
        if stream.lock().hydrated {
            return Ok(());
        }
        let snapshot = broker.snapshot(&stream.id).await?;
        let now = Instant::now();
        let mut st = stream.lock();
        if st.hydrated {
            return Ok(());
        }
        st.epoch = snapshot.position.epoch.clone();
        st.seq = snapshot.position.seq;
        // The history must end at the stream's position without a hole: keep the contiguous
        // run of events that does, and that this node may send.
        let mut events = snapshot.events;
        let mut keep = events.len();
        let mut expect = snapshot.position.seq;
        for (i, (seq, _, body)) in events.iter().enumerate().rev() {
            if *seq != expect || widest_frame(body, true) > limit {
                break;
            }
            keep = i;
            expect = expect.saturating_sub(1);
        }
        if events.last().is_some_and(|e| e.0 != snapshot.position.seq) {
            keep = events.len();
        }
        st.history = events
            .drain(keep..)
            .map(|(_, age, body)| Stored {
                body,
                at_ms: clock_ms(now.checked_sub(age).unwrap_or(now)),
            })
            .collect();
        st.trim(history, now);
        let mut waiting = std::mem::take(&mut st.waiting);
        waiting.sort_by_key(|(p, _)| p.seq);
        let mut gap = false;
        let at = (now, clock_ms(now));
        for (position, body) in waiting {
            if let (Applied::Gap { .. }, _) =
                apply_locked(&mut st, &position, body, history, at, limit)
            {
                gap = true;
                break;
            }
        }
        if !gap {
            st.hydrated = true;
            return Ok(());
        }
        // Frames were lost between the snapshot and now: take a newer snapshot.
    }
    Err(BrokerError::Backend(
        "the stream kept moving while it was being loaded".to_owned(),
    ))
}
