//! Building a hub: [`HubBuilder`].

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::dispatch::Dispatch;
use super::limits::{Limits, RoomPolicy};
use super::metrics::Counters;
use super::registry::Registry;
use super::{Hub, Inner, Session};
use crate::auth::{Authenticator, DenyAll};
use crate::broker::{Broker, Node, NodeEvents};
use crate::delivery::History;
use crate::principal::Principal;

/// Configures a [`Hub`].
#[must_use]
pub struct HubBuilder {
    limits: Limits,
    authenticator: Arc<dyn Authenticator>,
    pub(crate) dispatch: Option<Arc<dyn Dispatch<Session>>>,
    room_policy: Option<RoomPolicy>,
    history: History,
    broker: Option<Arc<dyn Broker>>,
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

    /// Which rooms a client may join by asking (`$join`). Without a policy, every request is
    /// refused; the server can always join connections to rooms itself.
    pub fn allow_join(
        mut self,
        policy: impl Fn(&Principal, &str) -> bool + Send + Sync + 'static,
    ) -> HubBuilder {
        self.room_policy = Some(Arc::new(policy));
        self
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
                shutdown: watch::channel(false).0,
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
