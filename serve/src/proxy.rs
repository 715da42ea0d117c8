//! Calls to the app: what the connect proxy (who is this connection?), the join proxy (may
//! this user join this room?) and the handler proxy ([`crate::handlers`]) share — the HTTP
//! client, the secret the app checks, and reading an answer within a bound.

use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Value};
use tidings::{AsyncAuthenticator, AuthError, Principal, UpgradeRequest};

use crate::config::ConfigError;

/// The latest `expires_at` taken: the year 9999.
const MAX_SECONDS: f64 = 253_402_300_799.0;

/// The longest answer the connect and join proxies read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What every call to the app shares: an HTTP client whose calls take at most a timeout and
/// follow no redirect (a POST redirected would become a GET: an endpoint that moved is an
/// error), and the secret each call carries as `Authorization: Bearer`, for the app to refuse
/// calls that are not the server's.
#[derive(Debug)]
pub struct Caller {
    client: reqwest::Client,
    secret: Option<String>,
}

impl Caller {
    /// A caller whose calls take at most `timeout` and carry `secret`, if any.
    ///
    /// # Errors
    /// When the client cannot be built (no TLS roots could be loaded).
    pub fn new(timeout: Duration, secret: Option<String>) -> Result<Caller, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tidings-serve/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Caller { client, secret })
    }

    /// A caller for the proxy configured under `key` (`auth.proxy`, `rooms.proxy`): its
    /// `timeout_ms` (default 3,000) and `secret_env`.
    ///
    /// # Errors
    /// When the secret is not one, or the client cannot be built, by key.
    fn configured(
        key: &'static str,
        secret_key: &'static str,
        timeout_ms: Option<u64>,
        secret_env: Option<&str>,
    ) -> Result<Caller, ConfigError> {
        let secret = secret(secret_key, secret_env)?;
        Caller::new(Duration::from_millis(timeout_ms.unwrap_or(3_000)), secret).map_err(|e| {
            ConfigError::Invalid {
                key,
                message: e.to_string(),
            }
        })
    }

    /// Whether calls carry a secret.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// A POST of `body`, as JSON, to `url`, with the secret.
    pub fn post(&self, url: &Url, body: &Value) -> reqwest::RequestBuilder {
        let request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        match &self.secret {
            Some(secret) => request.bearer_auth(secret),
            None => request,
        }
    }
}

/// Parses an endpoint's URL: `http` or `https` only.
///
/// # Errors
/// When it is not such a URL, by `key`.
pub fn endpoint_url(key: &'static str, url: &str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|e| ConfigError::Invalid {
        key,
        message: format!("`{url}` is not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid {
            key,
            message: format!("`{url}` must be an http or https URL"),
        });
    }
    Ok(parsed)
}

/// The secret in the environment variable `var`, at least 16 characters.
///
/// # Errors
/// When the variable is unset or holds less, by `key`.
pub fn secret(key: &'static str, var: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(var) = var else {
        return Ok(None);
    };
    let secret = std::env::var(var).unwrap_or_default();
    if secret.len() < 16 {
        return Err(ConfigError::Invalid {
            key,
            message: format!(
                "the environment variable `{var}` must hold a secret of at least 16 characters, it holds {}",
                secret.len()
            ),
        });
    }
    Ok(Some(secret))
}

/// Why an answer could not be read.
#[derive(Debug)]
pub enum Failure {
    /// No answer within the timeout.
    Timeout,
    /// The app cannot be reached: nothing was sent.
    Unreachable(reqwest::Error),
    /// The request was sent, or may have been, and no whole answer came (the app closed the
    /// connection, or died): the app may have acted on it.
    Broken(reqwest::Error),
    /// The answer is longer than allowed.
    TooLong(usize),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer in time"),
            Failure::Unreachable(e) => write!(f, "cannot be reached: {e}"),
            Failure::Broken(e) => write!(f, "gave no whole answer: {e}"),
            Failure::TooLong(max) => write!(f, "the answer is longer than {max} bytes"),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Unreachable(e)
        } else {
            Failure::Broken(e)
        }
    }
}

/// Sends `request` and reads the answer's status and body, at most `max` bytes of it.
///
/// # Errors
/// When there is no whole answer in time, or it is longer ([`Failure`]).
pub async fn send(
    request: reqwest::RequestBuilder,
    max: usize,
) -> Result<(StatusCode, Vec<u8>), Failure> {
    let mut response = request.send().await?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > max {
            return Err(Failure::TooLong(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, bytes))
}

/// The headers the connect proxy forwards from the upgrade request by default: the cookie of
/// the app's session.
pub const DEFAULT_FORWARDED: [&str; 1] = ["cookie"];

/// Headers the connect proxy never forwards: they frame or route the server's own request
/// (the connection's hop-by-hop headers, RFC 9110 §7.6.1; the message's length and body, RFC
/// 9112 §6), or name the WebSocket upgrade itself.
pub const NOT_FORWARDED: [&str; 17] = [
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-extensions",
    "sec-websocket-version",
];

/// `[auth.proxy]`: the app's endpoint that says who a connection is (the connect proxy),
/// instead of a JWT.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectProxyConfig {
    /// The endpoint (`http://127.0.0.1:3000/tidings/connect`).
    pub url: String,
    /// How long the app has to answer, in milliseconds (default 3,000; 10 to 5,000, the
    /// runtime's `auth_timeout`).
    pub timeout_ms: Option<u64>,
    /// The environment variable holding a secret sent as `Authorization: Bearer <secret>`.
    pub secret_env: Option<String>,
    /// The upgrade request's headers sent on to the app, by name (default `["cookie"]`, so the
    /// app's own session middleware recognises its users).
    pub forward_headers: Option<Vec<String>>,
}

/// What the app's connect endpoint answers for a connection it knows.
#[derive(Debug, Deserialize)]
struct Identity {
    user_id: String,
    #[serde(default)]
    tenant: Option<String>,
    /// `null` or absent: none.
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// When the identity expires, in seconds since the Unix epoch (a fraction allowed, as
    /// Python's `time.time()` gives): the session is closed then unless refreshed (`$auth`).
    #[serde(default)]
    expires_at: Option<f64>,
}

/// The connect proxy: an [`AsyncAuthenticator`] that asks the app.
#[derive(Debug)]
pub struct ConnectProxy {
    caller: Caller,
    url: Url,
    forward: Vec<axum::http::HeaderName>,
}

impl ConnectProxy {
    /// The connect proxy `config` describes.
    ///
    /// # Errors
    /// When the URL, the secret or a header name is not one, or the secret would be sent in
    /// a forwarded `Authorization` header ([`ConfigError`]).
    pub fn new(config: &ConnectProxyConfig) -> Result<ConnectProxy, ConfigError> {
        let url = endpoint_url("auth.proxy.url", &config.url)?;
        let caller = Caller::configured(
            "auth.proxy",
            "auth.proxy.secret_env",
            config.timeout_ms,
            config.secret_env.as_deref(),
        )?;
        let names: Vec<String> = match &config.forward_headers {
            Some(names) => names.clone(),
            None => DEFAULT_FORWARDED.iter().map(|&n| n.to_owned()).collect(),
        };
        let mut forward = Vec::new();
        for name in names {
            let header = axum::http::HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::Invalid {
                    key: "auth.proxy.forward_headers",
                    message: format!("`{name}` is not a header name"),
                }
            })?;
            if NOT_FORWARDED.contains(&header.as_str()) {
                return Err(ConfigError::Invalid {
                    key: "auth.proxy.forward_headers",
                    message: format!(
                        "`{name}` cannot be forwarded: it frames or routes the server's own request to the app (RFC 9110 §7.6.1, RFC 9112 §6)"
                    ),
                });
            }
            if header == axum::http::header::AUTHORIZATION && caller.has_secret() {
                return Err(ConfigError::Invalid {
                    key: "auth.proxy.forward_headers",
                    message: "`authorization` carries the server's secret (`secret_env`); the app gets the client's token as `token`".to_owned(),
                });
            }
            forward.push(header);
        }
        Ok(ConnectProxy {
            caller,
            url,
            forward,
        })
    }

    async fn ask(
        &self,
        headers: &[(axum::http::HeaderName, axum::http::HeaderValue)],
        body: Value,
    ) -> Result<Principal, AuthError> {
        let mut request = self.caller.post(&self.url, &body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        let unavailable = |why: String| {
            tracing::warn!(url = %self.url, "the connect proxy failed: {why}");
            AuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the server cannot authenticate connections now; try again".to_owned(),
            }
        };
        let (status, bytes) = send(request, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
            return Err(AuthError { status, message });
        }
        if !status.is_success() {
            return Err(unavailable(format!("it answered {status}")));
        }
        let identity: Identity = serde_json::from_slice(&bytes).map_err(|e| {
            unavailable(format!(
                "its answer is not `{{\"user_id\": …, \"tenant\": …, \"roles\": […]}}`: {e}"
            ))
        })?;
        if identity.user_id.is_empty() {
            return Err(unavailable("its answer has an empty `user_id`".to_owned()));
        }
        if identity.tenant.as_deref() == Some("") {
            return Err(unavailable(
                "its answer has an empty `tenant` (leave it out, or null, for none)".to_owned(),
            ));
        }
        let expires_at = match identity.expires_at {
            None => None,
            Some(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => {
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s))
            }
            Some(s) => {
                return Err(unavailable(format!(
                    "its `expires_at` ({s}) is not seconds since 1970"
                )))
            }
        };
        if expires_at.is_some_and(|at| at <= SystemTime::now()) {
            return Err(AuthError::unauthorized(
                "the session has expired: sign in again",
            ));
        }
        let mut principal = Principal::user(identity.user_id);
        principal.tenant = identity.tenant;
        principal.roles = identity.roles.unwrap_or_default();
        principal.expires_at = expires_at;
        Ok(principal)
    }
}

impl AsyncAuthenticator for ConnectProxy {
    fn authenticate<'a>(
        &'a self,
        request: &'a UpgradeRequest,
    ) -> futures_util::future::BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            let headers: Vec<_> = self
                .forward
                .iter()
                .flat_map(|name| {
                    request
                        .headers()
                        .get_all(name)
                        .iter()
                        .map(move |v| (name.clone(), v.clone()))
                })
                .collect();
            let origin = request
                .headers()
                .get(axum::http::header::ORIGIN)
                .and_then(|o| o.to_str().ok());
            self.ask(
                &headers,
                json!({ "token": request.token(), "origin": origin }),
            )
            .await
        })
    }

    fn refresh<'a>(
        &'a self,
        token: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            self.ask(&[], json!({ "token": token, "origin": null }))
                .await
        })
    }
}

/// `[rooms.proxy]`: the app's endpoint that decides a `$join` no pattern of `rooms.allow`
/// allows (the join proxy).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinProxyConfig {
    /// The endpoint (`http://127.0.0.1:3000/tidings/join`).
    pub url: String,
    /// How long the app has to answer, in milliseconds (default 3,000; 10 to 4,500, under the
    /// runtime's `join_timeout` of 5 s). No answer in time refuses the join (logged).
    pub timeout_ms: Option<u64>,
    /// The environment variable holding a secret sent as `Authorization: Bearer <secret>`.
    pub secret_env: Option<String>,
}

/// The join proxy.
#[derive(Debug)]
pub struct JoinProxy {
    caller: Caller,
    url: Url,
}

impl JoinProxy {
    /// The join proxy `config` describes.
    ///
    /// # Errors
    /// When the URL or the secret is not one ([`ConfigError`]).
    pub fn new(config: &JoinProxyConfig) -> Result<JoinProxy, ConfigError> {
        let url = endpoint_url("rooms.proxy.url", &config.url)?;
        let caller = Caller::configured(
            "rooms.proxy",
            "rooms.proxy.secret_env",
            config.timeout_ms,
            config.secret_env.as_deref(),
        )?;
        Ok(JoinProxy { caller, url })
    }

    /// Whether the app lets `who` join `room`: a 2xx answer `{"allow": true}`. Anything else
    /// refuses: `{"allow": false}`, another status, no answer (logged).
    pub async fn allows(&self, who: &Principal, room: &str) -> bool {
        let request = self
            .caller
            .post(&self.url, &json!({ "room": room, "principal": who }));
        match send(request, MAX_ANSWER_BYTES).await {
            Ok((status, bytes)) if status.is_success() => {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => v["allow"] == Value::Bool(true),
                    Err(e) => {
                        tracing::warn!(url = %self.url, room, "the join proxy's answer is not `{{\"allow\": …}}`: {e}");
                        false
                    }
                }
            }
            Ok((status, _)) => {
                if status != StatusCode::FORBIDDEN {
                    tracing::warn!(url = %self.url, room, %status, "the join proxy refused with an unexpected status");
                }
                false
            }
            Err(e) => {
                tracing::warn!(url = %self.url, room, "the join proxy failed: {e}");
                false
            }
        }
    }
}
