//! Building a hub: [`HubBuilder`].

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::dispatch::Dispatch;
use super::limits::{JoinPolicy, Limits};
use super::metrics::Counters;
use super::presence::Announcer;
use super::registry::Registry;
use super::{connect_hook, disconnect_hook, ConnectHook, DisconnectHook, Disconnected, Refusal};
use super::{Hub, Inner, Session};
use crate::auth::{AsyncAuthenticator, Authenticator, DenyAll};
use crate::broker::{Broker, Node, NodeEvents};
use crate::delivery::History;
use crate::event::Event;
use crate::principal::Principal;

/// Configures a [`Hub`].
#[must_use]
pub struct HubBuilder {
    limits: Limits,
    authenticator: Arc<dyn AsyncAuthenticator>,
    pub(crate) dispatch: Option<Arc<dyn Dispatch<Session>>>,
    room_policy: Option<JoinPolicy>,
    history: History,
    broker: Option<Arc<dyn Broker>>,
    on_connect: Option<ConnectHook<Session>>,
    on_disconnect: Option<DisconnectHook>,
    presence: Vec<Announcer<Hub>>,
}

impl std::fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubBuilder")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl HubBuilder {
    /// How connections are authenticated (default: every connection is refused).
    pub fn authenticator(mut self, a: impl Authenticator) -> HubBuilder {
        self.authenticator = Arc::new(a);
        self
    }

    /// How connections are authenticated, asynchronously (a database, an identity service),
    /// within [`Limits::auth_timeout`](crate::Limits::auth_timeout). See
    /// [`AsyncAuthenticator`] and [`from_async_fn`](crate::auth::from_async_fn).
    pub fn authenticator_async(mut self, a: impl AsyncAuthenticator) -> HubBuilder {
        self.authenticator = Arc::new(a);
        self
    }

    /// Which rooms a client may join by asking (`$join`). Without a policy, every request is
    /// refused; the server can always join connections to rooms itself.
    pub fn allow_join(
        mut self,
        policy: impl Fn(&Principal, &str) -> bool + Send + Sync + 'static,
    ) -> HubBuilder {
        self.room_policy = Some(JoinPolicy::Sync(Arc::new(policy)));
        self
    }

    /// Which rooms a client may join by asking (`$join`), decided asynchronously (is the user a
    /// member of this chat? ask the database), within
    /// [`Limits::join_timeout`](crate::Limits::join_timeout) (5 s): past it the join is refused
    /// with a `timeout` error frame and nothing changes. A connection's `$join`s and
    /// `$leave`s are handled one at a time, in the order sent, off the session's loop: events,
    /// heartbeats and other requests go on while the policy runs, so a client awaits a join's
    /// reply before it relies on the membership (the TypeScript client's `join` does). Up to
    /// [`Limits::max_in_flight`](crate::Limits::max_in_flight) changes wait their turn; more get
    /// a `busy` error.
    ///
    /// ```
    /// # let hub = tidings::Hub::builder()
    /// .allow_join_async(|who, room| async move {
    ///     // db.is_member(&who.user_id, &room).await
    ///     room.starts_with("chat:") && who.tenant.is_some()
    /// })
    /// # .build();
    /// ```
    pub fn allow_join_async<F, Fut>(mut self, policy: F) -> HubBuilder
    where
        F: Fn(Arc<Principal>, String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.room_policy = Some(JoinPolicy::Async(Arc::new(
            move |who: Arc<Principal>, room: String| Box::pin(policy(who, room)),
        )));
        self
    }

    /// Runs `hook` for every new connection, after it is authenticated and registered and
    /// before the client gets `$connected`: join it to rooms (`session.join(..)`), load state,
    /// send it a first event (`session.send(..)`), log. Events emitted meanwhile wait in its
    /// queue, so once the client has `$connected` it is in the rooms the hook joined; the queue
    /// holds [`Limits::outbound_queue`](crate::Limits::outbound_queue) frames, and past it the
    /// connection is cut off with 4008 as soon as its session starts, like any slow consumer.
    /// Rooms joined here are not limited by `max_rooms_per_connection`, but count toward it.
    ///
    /// - `Err(Refusal)`: the connection is closed with
    ///   [`close::REFUSED`](crate::protocol::close::REFUSED) (4003) and the refusal's message.
    /// - A panic, or a hook still running after
    ///   [`Limits::hook_timeout`](crate::Limits::hook_timeout) (5 s): closed with
    ///   [`close::SERVER_ERROR`](crate::protocol::close::SERVER_ERROR) (1011), logged.
    ///
    /// Either way the connection is counted under its [`DisconnectReason`](crate::DisconnectReason)
    /// (`Refused`, `HookFailed`) and `on_disconnect` does not run for it.
    ///
    /// ```
    /// # let hub = tidings::Hub::builder()
    /// .on_connect(|session: tidings::Session| async move {
    ///     let who = session.principal();
    ///     if who.has_role("admin") {
    ///         session.join("admins");
    ///     }
    ///     Ok(())
    /// })
    /// # .build();
    /// ```
    pub fn on_connect<F, Fut>(mut self, hook: F) -> HubBuilder
    where
        F: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), Refusal>> + Send + 'static,
    {
        self.on_connect = Some(connect_hook(hook));
        self
    }

    /// Runs `hook` once a connection has ended (it is already out of every room and index),
    /// on a task of its own, with who it was, its rooms and why it ended. Runs for every
    /// connection whose `on_connect` succeeded (or when there is none); a panic is caught and a
    /// hook still running after [`Limits::hook_timeout`](crate::Limits::hook_timeout) is
    /// abandoned, both logged.
    pub fn on_disconnect<F, Fut>(mut self, hook: F) -> HubBuilder
    where
        F: Fn(Disconnected) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_disconnect = Some(disconnect_hook(hook));
        self
    }

    /// Announces a presence event: `E` is declared `presence = "joined"` (or `"left"`) with
    /// one room, such as `chat:{chat_id}` (docs/schema.md, "Presence events"). Whenever a
    /// user's first connection on this node joins a room of that form (their last one leaves
    /// it, or closes, for `left`), the hub builds `E` from the room name, the user and the
    /// tenant, and emits it like any other event: to the room, in the tenant, minus the user
    /// when the event says `except = "user_id"`. A join that makes a room hold more than
    /// [`Limits::presence_max_users`](crate::Limits::presence_max_users) users is not
    /// announced, nor that user's leave; a room name that does not fit the event's payload (`chat:abc` for a `uuid`
    /// placeholder) is skipped. With a broker, each node announces its own connections: a
    /// user with connections on two nodes is announced by each, so clients keep a count per
    /// user (docs/rust.md, "Presence").
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Serialize, Deserialize, tidings::Event)]
    /// #[event(module = "chat", presence = "joined", tenant = "tenant_id",
    ///         room = "chat:{chat_id}", except = "user_id", delivery = "ephemeral")]
    /// struct MemberJoined {
    ///     chat_id: String,
    ///     tenant_id: String,
    ///     user_id: String,
    /// }
    /// let hub = tidings::Hub::builder().presence_event::<MemberJoined>().build();
    /// ```
    ///
    /// # Panics
    /// When `E` is not a presence event, or breaks a rule of
    /// [`schema::presence::spec`](crate::schema::presence::spec) (a derived event can; a
    /// schema that does fails `tidings check`): a mistake of the program, shown at start.
    pub fn presence_event<E: Event>(mut self) -> HubBuilder {
        let spec = match E::presence() {
            Some(Ok(spec)) => spec,
            Some(Err(e)) => panic!("`{}` cannot be a presence event: {e}", E::NAME),
            None => panic!(
                "`{}` is not a presence event: declare it with `presence = \"joined\"` or `\"left\"`",
                E::NAME
            ),
        };
        let fields = E::contract().map(|c| c.fields()).unwrap_or_default();
        self.presence.push(Announcer::new(
            spec,
            fields,
            Arc::new(|hub: &Hub, payload| hub.announce::<E>(payload)),
        ));
        self
    }

    /// Announces the presence event `event` of a schema read at run time, as
    /// [`presence_event`](Self::presence_event) announces a Rust type's: its payload is built
    /// from the room's name and the user, checked by `contract`, routed by the event's
    /// declared rules ([`Recipients::declared`](crate::Recipients::declared)) and emitted with
    /// [`Hub::emit_json`] under `name` (`event`'s wire name, interned by the caller). What
    /// `tidings serve` does for the presence events of its schemas. An event that is not a
    /// presence event (no `presence` kind) is left out.
    ///
    /// # Errors
    /// When `event` breaks a rule of
    /// [`schema::presence::spec`](crate::schema::presence::spec).
    pub fn presence_event_json(
        mut self,
        event: &crate::schema::EventDef,
        name: &'static str,
        contract: crate::validate::Contract,
    ) -> Result<HubBuilder, crate::schema::presence::PresenceError> {
        let Some(kind) = event.presence else {
            return Ok(self);
        };
        use crate::schema::presence::spec;
        let spec = spec(
            kind,
            event.direction,
            event.recipients.as_ref(),
            &event.payload,
        )?;
        let rules = event.recipients.clone();
        let delivery = event.delivery;
        let fields = contract.fields().to_vec();
        let emit = Arc::new(move |hub: &Hub, mut payload: serde_json::Value| {
            if let Err(refusal) = contract.check(&mut payload) {
                tracing::debug!(event = name, error = %refusal.violation(), "no presence event: the room does not fit its payload");
                return;
            }
            let to = rules
                .as_ref()
                .map(|r| crate::Recipients::declared(r, &payload))
                .unwrap_or_default();
            let data = payload.to_string();
            let event = crate::hub::JsonEvent {
                name,
                delivery,
                data: &data,
            };
            if let Err(error) = hub.emit_json(event, &to) {
                tracing::debug!(event = name, %error, "presence event not emitted");
            }
        });
        self.presence.push(Announcer::new(spec, &fields, emit));
        Ok(self)
    }

    /// The limits.
    pub fn limits(mut self, limits: Limits) -> HubBuilder {
        self.limits = limits;
        self
    }

    /// How much history each user's delivery stream keeps for replay (default: 256 events,
    /// 5 minutes).
    pub fn history(mut self, history: History) -> HubBuilder {
        self.history = history;
        self
    }

    /// The backplane that joins this node to others (default: none — this process is the
    /// whole system, and delivery streams live in its memory).
    pub fn broker(mut self, broker: impl Broker) -> HubBuilder {
        self.broker = Some(Arc::new(broker));
        self
    }

    /// The hub. When a tokio runtime is running, a task sweeps expired delivery streams, and
    /// the broker (if any) starts.
    pub fn build(self) -> Hub {
        let hub = Hub {
            inner: Arc::new(Inner {
                registry: Registry::new(),
                counters: Counters::default(),
                limits: self.limits,
                authenticator: self.authenticator,
                dispatch: self.dispatch,
                room_policy: self.room_policy,
                history: self.history,
                broker: self.broker,
                next_conn: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                on_connect: self.on_connect,
                on_disconnect: self.on_disconnect,
                presence: self.presence,
                spare_buffers: Arc::new(super::outbox::SpareBuffers::new()),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            hub.spawn_sweeper();
            if let Some(broker) = &hub.inner.broker {
                let inner: Weak<Inner> = Arc::downgrade(&hub.inner);
                let events: Weak<dyn NodeEvents> = inner;
                broker.start(Node::new(events));
            }
        }
        hub
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::builder().build()
    }
}

impl Hub {
    /// A hub with default limits, no router, and no authenticator (every connection refused).
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Configures a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            limits: Limits::default(),
            authenticator: Arc::new(DenyAll),
            dispatch: None,
            room_policy: None,
            history: History::default(),
            broker: None,
            on_connect: None,
            presence: Vec::new(),
            on_disconnect: None,
        }
    }

    fn spawn_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let every =
            (self.inner.history.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Hub { inner }.sweep();
            }
        });
    }
}
