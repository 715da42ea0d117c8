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
            let Some(m) = schema.modules.iter().find(|m| &m.name == module) else {
                return Err(ConfigError::Invalid {
                    key: "handlers.modules",
                    message: format!("the schemas have no module `{module}`"),
                });
            };
            if !m
                .events
                .iter()
                .any(|e| e.direction != Direction::ServerToClient)
            {
                return Err(ConfigError::Invalid {
                    key: "handlers.modules",
                    message: format!("module `{module}` has no event clients send"),
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
    caller: crate::proxy::Caller,
    timeout: Duration,
    max_answer_bytes: usize,
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
        Ok(Proxy {
            caller: crate::proxy::Caller::new(timeout, secret)?,
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
        let request = self.caller.post(url, &body);
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
            Err(e @ Failure::Broken(_)) => {
                tracing::warn!(event, %url, "the app {e}");
                return Err(HandlerError::internal(format!(
                    "the app's handler of `{event}` failed without an answer; it may have acted on it"
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
        answer(status, &bytes).map_err(|refusal| match refusal {
            Answered::App(e) => e,
            Answered::NotAnAnswer { why, detail } => {
                tracing::warn!(event, %url, %status, "the app's answer is not one: {why}{detail}");
                HandlerError::internal(format!("the app's answer to `{event}` is not one: {why}"))
            }
        })
    }
}

/// Why an answer is not a reply.
#[derive(Debug)]
enum Answered {
    /// The app's error, for the client.
    App(HandlerError),
    /// Not an answer: why, for the client; the parser's detail, for the log only.
    NotAnAnswer { why: String, detail: String },
}

fn not_an_answer(why: impl Into<String>) -> Answered {
    Answered::NotAnAnswer {
        why: why.into(),
        detail: String::new(),
    }
}

/// Reads the app's answer: `{"reply": …}` (2xx; an empty body is `null`), or `{"error": {"code",
/// "message"?, "field"?}}` with any status.
fn answer(status: axum::http::StatusCode, bytes: &[u8]) -> Result<Value, Answered> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if status.is_success() {
            Ok(Value::Null)
        } else {
            Err(not_an_answer(format!("HTTP {status} without an `error`")))
        };
    }
    let body: Value = serde_json::from_slice(bytes).map_err(|e| Answered::NotAnAnswer {
        why: format!("HTTP {status} with a body that is not JSON"),
        detail: format!(" ({e})"),
    })?;
    let Value::Object(mut body) = body else {
        return Err(not_an_answer(format!(
            "HTTP {status} with a body that is not `{{\"reply\": …}}` or `{{\"error\": …}}`"
        )));
    };
    match (body.remove("reply"), body.remove("error")) {
        (Some(_), Some(_)) => Err(not_an_answer("both `reply` and `error`")),
        (None, None) => Err(not_an_answer(format!(
            "HTTP {status} with neither `reply` nor `error` (wrap the reply: `{{\"reply\": …}}`)"
        ))),
        (Some(_), None) if !status.is_success() => Err(not_an_answer(format!(
            "HTTP {status} with a `reply`: a reply comes with a 2xx status"
        ))),
        (Some(reply), None) => Ok(reply),
        (None, Some(error)) => Err(app_error(&error)),
    }
}

/// The app's `error`: a code the client can match, a message, the field at fault.
fn app_error(error: &Value) -> Answered {
    let Some(code) = error.get("code").and_then(Value::as_str) else {
        return not_an_answer("`error.code` is missing or not a string");
    };
    let code_ok = !code.is_empty()
        && code.len() <= MAX_CODE_BYTES
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if !code_ok {
        return not_an_answer(format!(
            "`error.code` must be 1 to {MAX_CODE_BYTES} letters, digits, `_`, `-`, `.` or `:`"
        ));
    }
    let message = match error.get("message") {
        None | Some(Value::Null) => "",
        Some(Value::String(m)) => m,
        Some(_) => return not_an_answer("`error.message` is not a string"),
    };
    let mut e = HandlerError::new(code.to_owned(), message);
    match error.get("field") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) => e = e.with_field(f.clone()),
        Some(_) => return not_an_answer("`error.field` is not a string"),
    }
    Answered::App(e)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;

    fn why(status: StatusCode, body: &str) -> String {
        match answer(status, body.as_bytes()) {
            Err(Answered::NotAnAnswer { why, .. }) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(answer(StatusCode::OK, b"").ok(), Some(Value::Null));
        assert_eq!(answer(StatusCode::NO_CONTENT, b" ").ok(), Some(Value::Null));
        assert_eq!(
            answer(StatusCode::OK, br#"{"reply": {"a": 1}}"#).ok(),
            Some(json!({"a": 1}))
        );
        assert!(why(StatusCode::OK, r#"{"ok": true}"#).contains("neither `reply` nor `error`"));
        assert!(why(StatusCode::OK, "[1,2]").contains("not `{\"reply\""));
        assert!(why(StatusCode::OK, "<html>").contains("not JSON"));
        assert!(why(StatusCode::FORBIDDEN, r#"{"error": {"message": "m"}}"#)
            .contains("`error.code` is missing"));
        assert!(why(
            StatusCode::BAD_REQUEST,
            r#"{"error": {"code": "x", "field": 5}}"#
        )
        .contains("`error.field`"));
        assert!(why(StatusCode::BAD_REQUEST, r#"{"error": "nope"}"#).contains("`error.code`"));
        assert!(why(StatusCode::INTERNAL_SERVER_ERROR, "").contains("500"));
        assert!(why(StatusCode::INTERNAL_SERVER_ERROR, r#"{"reply": 1}"#).contains("2xx"));
        match answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"error": {"code": "chat_closed", "field": "chat_id"}}"#,
        ) {
            Err(Answered::App(e)) => {
                assert_eq!(
                    (&*e.code, e.message.as_str(), e.field.as_deref()),
                    ("chat_closed", "", Some("chat_id"))
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
