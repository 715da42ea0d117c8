//! `tidings serve`: the Tidings realtime server from the schema alone.
//!
//! For backends in any language: clients connect over WebSocket exactly as to a Rust server
//! built with Tidings (auth by JWT, rooms, heartbeats, resume and history), and the app's
//! backend publishes events with `POST /api/publish`. Each payload is checked against the
//! schema's contract and routed by the event's declared recipient rules. Guide:
//! docs/serve.md.
//!
//! ```no_run
//! # async fn run() -> Result<(), tidings_serve::ServeError> {
//! let config = tidings_serve::config::Config::load("tidings-serve.toml".as_ref())?;
//! let server = tidings_serve::Server::new(&config)?;
//! let listener = tokio::net::TcpListener::bind(config.listen()).await.map_err(tidings_serve::ServeError::Listen)?;
//! server.serve(listener, std::future::pending()).await
//! # }
//! ```

pub mod api;
pub mod catalog;
pub mod config;
pub mod handlers;
pub mod proxy;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use tidings::{AsyncAuthenticator, AuthError, Hub, Principal, UpgradeRequest};

use crate::api::{Api, Idempotency};
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};

/// Why the server cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The schemas cannot be read.
    #[error("cannot read the schemas: {0}")]
    Schemas(String),
    /// The schemas have errors: the diagnostics, rendered (file:line:col).
    #[error("the schemas have errors:\n{0}")]
    Invalid(String),
    /// The Redis backplane cannot be set up.
    #[error("`redis`: {0}")]
    Redis(String),
    /// The HTTP client of the handler proxy cannot be built.
    #[error("`handlers`: {0}")]
    Handlers(String),
    /// The address cannot be listened on.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    /// At shutdown, the Redis backplane did not take every event the publish API had taken
    /// (answered with `connections: null`) within [`FLUSH_TIMEOUT`]: they are lost.
    #[error("published events not handed to Redis before shutdown, lost: {0}")]
    Lost(usize),
}

/// How long a stopping server waits for the Redis backplane to take the events it queued.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A server ready to serve: the hub, and the app with its routes.
#[derive(Debug)]
pub struct Server {
    hub: Hub,
    app: axum::Router,
    events: usize,
}

impl Server {
    /// Builds the server `config` describes: reads and checks the schemas, the client
    /// authenticator, the API keys and the backplane.
    ///
    /// # Errors
    /// When any of them is wrong ([`ServeError`]); nothing is served then.
    pub fn new(config: &Config) -> Result<Server, ServeError> {
        if config.schemas.is_empty() {
            return Err(ConfigError::Invalid {
                key: "schemas",
                message: "no schema: pass the schemas' directory (`tidings serve schemas/`) or set `schemas = [\"schemas\"]`".to_owned(),
            }
            .into());
        }
        config.validate()?;
        let (sources, checked) = tidings_codegen::check_paths(&config.schemas)
            .map_err(|e| ServeError::Schemas(e.to_string()))?;
        let checked = checked.map_err(|d| ServeError::Invalid(d.render(&sources)))?;
        let catalog = Catalog::new(&checked.schema);
        let keys = config.api_keys()?;
        let authenticator = Origins {
            allowed: config.allowed_origins.clone(),
            inner: config.authenticator()?,
        };
        let ws_path = config.ws_path()?;
        let rooms = config.rooms.clone();
        let mut builder = Hub::builder()
            .authenticator_async(authenticator)
            .limits(config.limits())
            .history(config.history());
        builder = match &config.rooms.proxy {
            None => builder.allow_join(move |_who: &Principal, room: &str| rooms.may_join(room)),
            Some(proxy) => {
                let proxy = Arc::new(proxy::JoinProxy::new(proxy)?);
                let rooms = Arc::new(rooms);
                builder.allow_join_async(move |who: Arc<Principal>, room: String| {
                    let proxy = Arc::clone(&proxy);
                    let rooms = Arc::clone(&rooms);
                    async move { rooms.may_join(&room) || proxy.allows(&who, &room).await }
                })
            }
        };
        // The schema's presence events, announced by the hub as a Rust server's are.
        for (_, event) in checked
            .schema
            .events()
            .filter(|(_, e)| e.presence.is_some())
        {
            if let Some(published) = catalog.get(&event.name) {
                builder = builder
                    .presence_event_json(event, published.name, published.contract.clone())
                    .map_err(|e| {
                        ServeError::Invalid(format!("presence event `{}`: {e}", event.name))
                    })?;
            }
        }
        if let Some(url) = &config.redis {
            let broker = tidings::broker::redis::RedisBroker::builder(url)
                .namespace("tidings-serve")
                .build()
                .map_err(|e| ServeError::Redis(e.to_string()))?;
            builder = builder.broker(broker);
        }
        let routes = config.handlers.routes(&checked.schema)?;
        if !routes.is_empty() {
            let proxy = handlers::Proxy::new(
                config.handlers.timeout(),
                config.handlers.secret()?,
                config.limits().max_outbound_frame_bytes,
            )
            .map_err(|e| ServeError::Handlers(e.to_string()))?;
            builder = builder.router(Arc::new(proxy).router(&routes, &checked.schema, &catalog));
        }
        let hub = builder.build();
        let api = Arc::new(Api {
            hub: hub.clone(),
            catalog,
            keys,
            max_body_bytes: config.api.max_body_bytes.unwrap_or(1024 * 1024),
            max_batch: config.api.max_batch.unwrap_or(100).max(1),
            idempotency: Idempotency::new(
                Duration::from_secs(config.api.idempotency_seconds.unwrap_or(86_400)),
                config.api.idempotency_keys.unwrap_or(100_000),
            ),
        });
        let events = api.catalog.len();
        let health = hub.clone();
        let app = axum::Router::new()
            .route(&ws_path, tidings::axum::websocket(hub.clone()))
            .route(
                "/api/publish",
                post(api::publish).with_state(api).fallback(api::not_found),
            )
            .route(
                "/healthz",
                get(move || {
                    let up = health
                        .broker_status()
                        .is_none_or(|s| s == tidings::broker::BrokerStatus::Healthy);
                    async move {
                        if up {
                            (axum::http::StatusCode::OK, "ok")
                        } else {
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "backplane down",
                            )
                        }
                    }
                })
                .fallback(api::not_found),
            )
            .fallback(api::not_found);
        Ok(Server { hub, app, events })
    }

    /// The hub: its metrics, connection counts.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// How many events the schemas declare.
    pub fn event_count(&self) -> usize {
        self.events
    }

    /// Serves on `listener` until `shutdown` completes; then every session is closed with
    /// 1001 ("going away") after its queue is drained, the backplane is given up to
    /// [`FLUSH_TIMEOUT`] to take what is queued for it, and this returns.
    ///
    /// # Errors
    /// When serving fails ([`ServeError::Serve`]), or events were lost at shutdown
    /// ([`ServeError::Lost`]).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let stopping = self.hub.clone();
        tidings::axum::serve(listener, self.app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stopping.begin_shutdown();
            })
            .await
            .map_err(ServeError::Serve)?;
        // The sessions are the hub's, not the HTTP server's: wait for them to deliver what is
        // queued and close with 1001, up to the drain timeout and a close handshake.
        let within = self.hub.limits().drain_timeout + Duration::from_secs(2);
        let left = self.hub.sessions_ended(within).await;
        if left > 0 {
            tracing::warn!(left, "sessions did not end within the drain timeout");
        }
        // Events the publish API answered for and the backplane has not taken yet (Redis
        // away): wait for it, bounded, and say what is lost.
        match self.hub.backplane_flushed(FLUSH_TIMEOUT).await {
            0 => Ok(()),
            lost => Err(ServeError::Lost(lost)),
        }
    }
}

/// Refuses a WebSocket upgrade from a page of another origin (403), then authenticates.
#[derive(Debug)]
struct Origins<A> {
    /// Empty: any origin.
    allowed: Vec<String>,
    inner: A,
}

impl<A: AsyncAuthenticator> AsyncAuthenticator for Origins<A> {
    fn authenticate<'a>(
        &'a self,
        request: &'a UpgradeRequest,
    ) -> futures_util::future::BoxFuture<'a, Result<Principal, AuthError>> {
        if !self.allowed.is_empty() {
            if let Some(origin) = request.headers().get(axum::http::header::ORIGIN) {
                let origin = origin.to_str().unwrap_or_default();
                if !self.allowed.iter().any(|a| a == origin) {
                    let refused = AuthError::forbidden(format!(
                        "pages of `{origin}` may not connect (`allowed_origins`)"
                    ));
                    return Box::pin(std::future::ready(Err(refused)));
                }
            }
        }
        self.inner.authenticate(request)
    }

    fn refresh<'a>(
        &'a self,
        token: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Principal, AuthError>> {
        self.inner.refresh(token)
    }
}
