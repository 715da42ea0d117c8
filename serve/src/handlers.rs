//! The handler proxy: each event a client sends (`direction = "to_server"`) is POSTed to the
//! app's endpoint with the principal and the payload, and the app's answer comes back to the
//! client as the `$reply` (or the `$error`). docs/serve.md, "Events clients send", is the
//! app's side of it.
//!
//! The payload is checked by the event's contract before the app is called, and the app's
//! reply by the declared reply type before the client gets it, both by the runtime
//! ([`tidings::Router::on_json`]): the app only ever sees payloads the contract accepts, and
//! clients only replies it accepts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use tidings::protocol::ErrorCode;
use tidings::schema::{Direction, Schema};
use tidings::{HandlerError, Principal, Router};

use crate::catalog::Catalog;
use crate::config::ConfigError;
use crate::proxy::Failure;

/// `[handlers]`: where the app handles the events clients send. The most specific endpoint
/// wins: `events`, then `modules`, then `url`. An event clients send that none of them covers
/// has no handler: the client gets `unknown_event`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlersConfig {
    /// The app's endpoint for every event clients send (`http://127.0.0.1:3000/tidings`).
    pub url: Option<String>,
    /// Endpoints by module (`chat = "http://127.0.0.1:3000/chat"`).
    #[serde(default)]
    pub modules: BTreeMap<String, String>,
    /// Endpoints by event (`"chat:sendMessage" = "http://127.0.0.1:3000/messages"`).
    #[serde(default)]
    pub events: BTreeMap<String, String>,
    /// How long the app has to answer one call, in milliseconds, from sending the request to
    /// the answer's last byte (default 5,000; 10 to 300,000). Past it the client gets
    /// `timeout`.
    pub timeout_ms: Option<u64>,
    /// The environment variable holding a secret sent with every call as
    /// `Authorization: Bearer <secret>`, for the app to refuse calls that are not the
    /// server's. At least 16 characters.
    pub secret_env: Option<String>,
}

/// One event clients send, and the app's endpoint for it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The event's wire name.
    pub event: String,
    /// Where it is POSTed.
    pub url: Url,
}

/// The default time the app has to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5_000);

/// The longest error code the app may answer with, in bytes.
pub const MAX_CODE_BYTES: usize = 64;

impl HandlersConfig {
    /// The endpoint of each event of `schema` clients send, by the most specific key.
    ///
    /// # Errors
    /// When an endpoint is not an `http` or `https` URL, or `events` or `modules` names an
    /// event clients do not send or a module the schema does not have (a typo would leave
    /// the event without its handler), by key.
    pub fn routes(&self, schema: &Schema) -> Result<Vec<Route>, ConfigError> {
        let parse = crate::proxy::endpoint_url;
        let default = self
            .url
            .as_deref()
            .map(|u| parse("handlers.url", u))
            .transpose()?;
        let mut modules = BTreeMap::new();
        for (module, url) in &self.modules {
            if !schema.modules.iter().any(|m| &m.name == module) {
                return Err(ConfigError::Invalid {
                    key: "handlers.modules",
                    message: format!("the schemas have no module `{module}`"),
                });
            }
            modules.insert(module.as_str(), parse("handlers.modules", url)?);
        }
        let mut events = BTreeMap::new();
        for (event, url) in &self.events {
            match schema.event_by_wire_name(event) {
                None => {
                    return Err(ConfigError::Invalid {
                        key: "handlers.events",
                        message: format!("the schemas have no event `{event}`"),
                    })
                }
                Some((_, e)) if e.direction == Direction::ServerToClient => {
                    return Err(ConfigError::Invalid {
                        key: "handlers.events",
                        message: format!(
                            "`{event}` is sent by the server only (`direction = \"to_client\"`); clients cannot send it"
                        ),
                    })
                }
                Some(_) => {}
            }
            events.insert(event.as_str(), parse("handlers.events", url)?);
        }
        Ok(schema
            .events()
            .filter(|(_, e)| e.direction != Direction::ServerToClient)
            .filter_map(|(m, e)| {
                let url = events
                    .get(e.name.as_str())
                    .or_else(|| modules.get(m.name.as_str()))
                    .or(default.as_ref())?;
                Some(Route {
                    event: e.name.clone(),
                    url: url.clone(),
                })
            })
            .collect())
    }

    /// The time the app has to answer.
    pub fn timeout(&self) -> Duration {
        self.timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    }

    /// The secret sent to the app, from the environment variable `secret_env` names.
    ///
    /// # Errors
    /// When the variable is unset or holds fewer than 16 characters.
    pub fn secret(&self) -> Result<Option<String>, ConfigError> {
        crate::proxy::secret("handlers.secret_env", self.secret_env.as_deref())
    }
}

/// Calls the app's endpoints.
#[derive(Debug)]
pub struct Proxy {
    client: reqwest::Client,
    secret: Option<String>,
    timeout: Duration,
    max_answer_bytes: usize,
}

/// What the app answers (any HTTP status: a 4xx or 5xx with an `error` is the app's error).
#[derive(Debug, Deserialize)]
struct Answer {
    /// The reply, as the event declares it (`null` or absent when it declares none).
    #[serde(default)]
    reply: Value,
    /// The app's refusal, sent to the client as the `$error`.
    error: Option<AppError>,
}

#[derive(Debug, Deserialize)]
struct AppError {
    code: String,
    #[serde(default)]
    message: String,
    field: Option<String>,
}

impl Proxy {
    /// A proxy whose calls take at most `timeout`, carry `secret` (if any) as a bearer token,
    /// and refuse an answer longer than `max_answer_bytes`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots could be loaded).
    pub fn new(
        timeout: Duration,
        secret: Option<String>,
        max_answer_bytes: usize,
    ) -> Result<Proxy, reqwest::Error> {
        let client = crate::proxy::client(timeout)?;
        Ok(Proxy {
            client,
            secret,
            timeout,
            max_answer_bytes,
        })
    }

    /// The router that hands each routed event to the app.
    pub fn router(
        self: &Arc<Proxy>,
        routes: &[Route],
        schema: &Schema,
        catalog: &Catalog,
    ) -> Router {
        let mut router = Router::new();
        for route in routes {
            let (Some(published), Some((_, event))) = (
                catalog.get(&route.event),
                schema.event_by_wire_name(&route.event),
            ) else {
                continue;
            };
            let name = published.name;
            let url = Arc::new(route.url.clone());
            let proxy = Arc::clone(self);
            router = router.on_json(
                event,
                name,
                catalog.contracts(),
                move |(), session, data| {
                    let proxy = Arc::clone(&proxy);
                    let url = Arc::clone(&url);
                    async move { proxy.call(&url, name, &session.principal(), data).await }
                },
            );
        }
        router
    }

    /// POSTs `{ "event", "data", "principal" }` to `url` and returns the app's reply.
    ///
    /// # Errors
    /// The app's own error (its code, message and field), or: `timeout` when it did not answer
    /// in time; `internal` when it cannot be reached, answered a status other than 2xx without
    /// an `error`, or an answer that is not one (not JSON, too long, both or neither of
    /// `reply` and `error`). The client is told which, never the URL; the server logs it.
    pub async fn call(
        &self,
        url: &Url,
        event: &'static str,
        principal: &Principal,
        data: Value,
    ) -> Result<Value, HandlerError> {
        let body = serde_json::json!({ "event": event, "data": data, "principal": principal });
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret);
        }
        let (status, bytes) = match crate::proxy::send(request, self.max_answer_bytes).await {
            Ok(answer) => answer,
            Err(Failure::Timeout) => {
                tracing::warn!(event, %url, "the app did not answer in time");
                return Err(HandlerError::protocol(
                    ErrorCode::Timeout,
                    format!(
                        "the app did not answer `{event}` within {} ms; it may have acted on it",
                        self.timeout.as_millis()
                    ),
                ));
            }
            Err(e @ Failure::Unreachable(_)) => {
                tracing::warn!(event, %url, "the app {e}");
                return Err(HandlerError::internal(format!(
                    "the app's handler of `{event}` cannot be reached"
                )));
            }
            Err(e @ Failure::TooLong(_)) => {
                tracing::warn!(event, %url, "the app's answer: {e}");
                return Err(HandlerError::internal(format!(
                    "the app's answer to `{event}` is longer than {} bytes",
                    self.max_answer_bytes
                )));
            }
        };
        let bad = |why: String| {
            tracing::warn!(event, %url, %status, "the app's answer is not one: {why}");
            HandlerError::internal(format!("the app's answer to `{event}` is not one: {why}"))
        };
        let answer: Answer = if bytes.iter().all(u8::is_ascii_whitespace) {
            Answer {
                reply: Value::Null,
                error: None,
            }
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(answer) => answer,
                Err(_) if !status.is_success() => {
                    return Err(bad(format!("HTTP {status} without an `error`")))
                }
                Err(e) => {
                    return Err(bad(format!(
                        "not `{{\"reply\": …}}` or `{{\"error\": …}}`: {e}"
                    )))
                }
            }
        };
        match answer.error {
            Some(error) => {
                let code_ok = !error.code.is_empty()
                    && error.code.len() <= MAX_CODE_BYTES
                    && error.code.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
                    });
                if !code_ok {
                    return Err(bad(format!(
                        "`error.code` must be 1 to {MAX_CODE_BYTES} letters, digits, `_`, `-`, `.` or `:`"
                    )));
                }
                if !answer.reply.is_null() {
                    return Err(bad("both `reply` and `error`".to_owned()));
                }
                let mut e = HandlerError::new(error.code, error.message);
                if let Some(field) = error.field {
                    e = e.with_field(field);
                }
                Err(e)
            }
            None if !status.is_success() => Err(bad(format!("HTTP {status} without an `error`"))),
            None => Ok(answer.reply),
        }
    }
}
