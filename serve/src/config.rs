//! The server's configuration: a TOML file (`--config tidings-serve.toml`), then flags, which
//! override it. Every key is optional; docs/serve.md lists them with their defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or not the configuration's shape (the message says where:
    /// line, column and key).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// A value is out of place: the key and why.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The key, as written in the file (`auth.jwt.hs256_secret_env`).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The schema files or directories (`schemas`), relative to the configuration file.
    #[serde(default)]
    pub schemas: Vec<PathBuf>,
    /// Where to listen (default `127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// The WebSocket endpoint's path (default `/ws`).
    pub ws_path: Option<String>,
    /// The origins (`https://app.example.com`) whose pages may open a WebSocket; empty lets
    /// any page (and clients that send no `Origin`, which are not browsers) connect.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A Redis URL: several nodes share rooms, presence and delivery streams through it.
    pub redis: Option<String>,
    /// How clients authenticate.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Where the app handles the events clients send (the handler proxy).
    #[serde(default)]
    pub handlers: crate::handlers::HandlersConfig,
    /// The HTTP API for the app's backend.
    #[serde(default)]
    pub api: ApiConfig,
    /// Which rooms clients may join themselves (`$join`).
    #[serde(default)]
    pub rooms: RoomsConfig,
    /// How much history delivery streams keep for replay.
    #[serde(default)]
    pub history: HistoryConfig,
    /// Per-connection limits.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[auth]`: how clients authenticate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `[auth.jwt]`: JSON Web Tokens.
    pub jwt: Option<JwtConfig>,
    /// `[auth.proxy]`: the app says who each connection is (the connect proxy).
    pub proxy: Option<crate::proxy::ConnectProxyConfig>,
}

/// `[auth.jwt]`: the key (exactly one of the key settings) and the claims.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The environment variable holding the HS256 secret.
    pub hs256_secret_env: Option<String>,
    /// A PEM file with the RS256 public key.
    pub rs256_public_key: Option<PathBuf>,
    /// A PEM file with the ES256 (P-256) public key.
    pub es256_public_key: Option<PathBuf>,
    /// A JSON Web Key Set file (RFC 7517 §5): tokens name their key with `kid`.
    pub jwks_file: Option<PathBuf>,
    /// The claim holding the user id (default `sub`).
    pub user_claim: Option<String>,
    /// The claim holding the tenant (default `tenant`).
    pub tenant_claim: Option<String>,
    /// The claim holding the roles (default `roles`).
    pub roles_claim: Option<String>,
    /// The issuer tokens must name (`iss`).
    pub issuer: Option<String>,
    /// The audience tokens must name (`aud`).
    pub audience: Option<String>,
    /// The clock skew allowed between the token's issuer and this server, in seconds, on
    /// `exp` and `nbf` (default 5; 0 to 300).
    pub leeway_seconds: Option<u64>,
}

/// `[api]`: the HTTP API the app's backend calls.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The environment variable holding the API keys, separated by commas (default
    /// `TIDINGS_API_KEYS`). Several keys let one be replaced without downtime.
    pub keys_env: Option<String>,
    /// How long a publish's `Idempotency-Key` is remembered, in seconds (default 86,400).
    pub idempotency_seconds: Option<u64>,
    /// How many `Idempotency-Key`s are remembered at most (default 100,000; the oldest go
    /// first).
    pub idempotency_keys: Option<usize>,
    /// The largest request body, in bytes (default 1 MiB).
    pub max_body_bytes: Option<usize>,
    /// The most events in one batch (default 100).
    pub max_batch: Option<usize>,
}

/// `[rooms]`: which rooms clients may join by asking.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomsConfig {
    /// Room patterns clients may join: a name (`lobby`), or a prefix ending in `*`
    /// (`chat:*`). Empty (the default): clients join no room by a pattern.
    #[serde(default)]
    pub allow: Vec<String>,
    /// `[rooms.proxy]`: the app decides each `$join` no pattern allows (the join proxy).
    pub proxy: Option<crate::proxy::JoinProxyConfig>,
}

/// `[history]`: each user's delivery stream keeps at most this much for replay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Events kept per stream (the runtime's default unless set).
    pub max_events: Option<usize>,
    /// How long an event is kept, in seconds.
    pub max_age_seconds: Option<u64>,
}

/// `[limits]`: per connection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections one user may hold on one node.
    pub max_connections_per_user: Option<usize>,
    /// Frames queued to one connection before it is cut off as a slow consumer.
    pub outbound_queue: Option<usize>,
    /// The largest frame a client may send, in bytes.
    pub max_frame_bytes: Option<usize>,
    /// Seconds between the server's `$ping`s.
    pub heartbeat_interval_seconds: Option<u64>,
    /// Seconds of silence after which a connection is closed (4009).
    pub heartbeat_timeout_seconds: Option<u64>,
}

impl Config {
    /// Reads the configuration from `path`; relative paths in it are read relative to the
    /// file's directory.
    ///
    /// # Errors
    /// When the file cannot be read or is not a configuration ([`ConfigError`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        config.schemas.iter_mut().for_each(rebase);
        if let Some(jwt) = &mut config.auth.jwt {
            for p in [
                &mut jwt.rs256_public_key,
                &mut jwt.es256_public_key,
                &mut jwt.jwks_file,
            ]
            .into_iter()
            .flatten()
            {
                rebase(p);
            }
        }
        Ok(config)
    }

    /// The address to listen on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The WebSocket endpoint's path.
    ///
    /// # Errors
    /// When it is not a plain path of its own ([`validate`](Self::validate)).
    pub fn ws_path(&self) -> Result<String, ConfigError> {
        let path = self.ws_path.clone().unwrap_or_else(|| "/ws".to_owned());
        let plain = path.len() > 1
            && path.starts_with('/')
            && !path.ends_with('/')
            && !path.contains("//")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        if !plain || path == "/healthz" || path == "/api" || path.starts_with("/api/") {
            return Err(ConfigError::Invalid {
                key: "ws_path",
                message: format!(
                    "`{path}` must be a plain path (`/ws`, `/realtime/ws`: letters, digits, `-`, `_`, `.` between slashes), not `/healthz` nor under `/api/`"
                ),
            });
        }
        Ok(path)
    }

    /// Checks the values the types alone do not: a path of its own for the WebSocket
    /// endpoint, and limits and history bounds in their ranges (a limit of 0 would refuse
    /// every connection or frame; a heartbeat of 0 would flood every client).
    ///
    /// # Errors
    /// The first value out of its range, by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ws_path()?;
        let within = |key: &'static str, value: Option<u64>, min: u64, max: u64| match value {
            Some(v) if v < min || v > max => Err(ConfigError::Invalid {
                key,
                message: format!("{v} is out of range: {min} to {max}"),
            }),
            _ => Ok(()),
        };
        let l = &self.limits;
        let n = |v: Option<usize>| v.map(|v| v as u64);
        within(
            "limits.max_connections_per_user",
            n(l.max_connections_per_user),
            1,
            1_000_000,
        )?;
        within("limits.outbound_queue", n(l.outbound_queue), 1, 10_000_000)?;
        within(
            "limits.max_frame_bytes",
            n(l.max_frame_bytes),
            1024,
            1 << 30,
        )?;
        within(
            "limits.heartbeat_interval_seconds",
            l.heartbeat_interval_seconds,
            1,
            3_600,
        )?;
        within(
            "limits.heartbeat_timeout_seconds",
            l.heartbeat_timeout_seconds,
            1,
            86_400,
        )?;
        let limits = self.limits();
        if limits.heartbeat_timeout <= limits.heartbeat_interval {
            return Err(ConfigError::Invalid {
                key: "limits.heartbeat_timeout_seconds",
                message: format!(
                    "must be longer than the heartbeat interval ({} s), or every connection is closed between two pings",
                    limits.heartbeat_interval.as_secs()
                ),
            });
        }
        within(
            "history.max_events",
            n(self.history.max_events),
            0,
            1_000_000,
        )?;
        within(
            "history.max_age_seconds",
            self.history.max_age_seconds,
            1,
            366 * 86_400,
        )?;
        within(
            "api.max_body_bytes",
            n(self.api.max_body_bytes),
            1024,
            1 << 30,
        )?;
        within("api.max_batch", n(self.api.max_batch), 1, 100_000)?;
        within("handlers.timeout_ms", self.handlers.timeout_ms, 10, 300_000)?;
        // Within the runtime's auth_timeout and join_timeout (5 s), which bound the whole call.
        within(
            "auth.proxy.timeout_ms",
            self.auth.proxy.as_ref().and_then(|p| p.timeout_ms),
            10,
            5_000,
        )?;
        // Under join_timeout, so that the proxy's own timeout decides (a refusal, logged).
        within(
            "rooms.proxy.timeout_ms",
            self.rooms.proxy.as_ref().and_then(|p| p.timeout_ms),
            10,
            4_500,
        )?;
        within(
            "auth.jwt.leeway_seconds",
            self.auth.jwt.as_ref().and_then(|j| j.leeway_seconds),
            0,
            300,
        )?;
        for pattern in &self.rooms.allow {
            let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern.is_empty() || prefix.contains('*') {
                return Err(ConfigError::Invalid {
                    key: "rooms.allow",
                    message: format!(
                        "`{pattern}` is not a room name or a prefix ending in `*` (`lobby`, `chat:*`)"
                    ),
                });
            }
        }
        within(
            "api.idempotency_seconds",
            self.api.idempotency_seconds,
            1,
            366 * 86_400,
        )?;
        within(
            "api.idempotency_keys",
            n(self.api.idempotency_keys),
            1,
            100_000_000,
        )?;
        Ok(())
    }

    /// The runtime's limits with the configured ones applied.
    pub fn limits(&self) -> tidings::Limits {
        let mut limits = tidings::Limits::default();
        let l = &self.limits;
        if let Some(v) = l.max_connections_per_user {
            limits.max_connections_per_user = v;
        }
        if let Some(v) = l.outbound_queue {
            limits.outbound_queue = v;
        }
        if let Some(v) = l.max_frame_bytes {
            limits.max_frame_bytes = v;
        }
        if let Some(v) = l.heartbeat_interval_seconds {
            limits.heartbeat_interval = Duration::from_secs(v);
        }
        if let Some(v) = l.heartbeat_timeout_seconds {
            limits.heartbeat_timeout = Duration::from_secs(v);
        }
        limits
    }

    /// The runtime's history bounds with the configured ones applied.
    pub fn history(&self) -> tidings::History {
        let mut history = tidings::History::default();
        if let Some(v) = self.history.max_events {
            history.max_events = v;
        }
        if let Some(v) = self.history.max_age_seconds {
            history.max_age = Duration::from_secs(v);
        }
        history
    }

    /// The API keys, from the environment variable `[api] keys_env` names.
    ///
    /// # Errors
    /// When no key is set: the publish API would refuse everything.
    pub fn api_keys(&self) -> Result<Vec<String>, ConfigError> {
        let var = self.api.keys_env.as_deref().unwrap_or("TIDINGS_API_KEYS");
        let keys: Vec<String> = std::env::var(var)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if keys.is_empty() {
            return Err(ConfigError::Invalid {
                key: "api.keys_env",
                message: format!(
                    "no API key in the environment variable `{var}`: set it to one or more keys separated by commas"
                ),
            });
        }
        if let Some(short) = keys.iter().find(|k| k.len() < 16) {
            return Err(ConfigError::Invalid {
                key: "api.keys_env",
                message: format!(
                    "an API key in `{var}` has {} characters; use at least 16 (32 random bytes, base64: `openssl rand -base64 32`)",
                    short.len()
                ),
            });
        }
        Ok(keys)
    }

    /// The client authenticator `[auth.jwt]` or `[auth.proxy]` describes.
    ///
    /// # Errors
    /// When neither or both are set, or the one set is wrong: no key or several, a key file
    /// that cannot be read or holds no key; a proxy URL or secret that is not one.
    pub fn authenticator(&self) -> Result<ClientAuth, ConfigError> {
        match (&self.auth.jwt, &self.auth.proxy) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                key: "auth",
                message: "set one of `[auth.jwt]` and `[auth.proxy]`, not both".to_owned(),
            }),
            (None, Some(proxy)) => Ok(ClientAuth::Proxy(crate::proxy::ConnectProxy::new(proxy)?)),
            (_, None) => Ok(ClientAuth::Jwt(self.jwt_authenticator()?)),
        }
    }

    fn jwt_authenticator(&self) -> Result<tidings::JwtAuthenticator, ConfigError> {
        let Some(jwt) = &self.auth.jwt else {
            return Err(ConfigError::Invalid {
                key: "auth",
                message: "clients must authenticate: set `[auth.jwt]` (one of `hs256_secret_env`, `rs256_public_key`, `es256_public_key` or `jwks_file`) or `[auth.proxy]` (your app's endpoint)".to_owned(),
            });
        };
        let set = [
            jwt.hs256_secret_env.is_some(),
            jwt.rs256_public_key.is_some(),
            jwt.es256_public_key.is_some(),
            jwt.jwks_file.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if set != 1 {
            return Err(ConfigError::Invalid {
                key: "auth.jwt",
                message: format!("set exactly one of `hs256_secret_env`, `rs256_public_key`, `es256_public_key` or `jwks_file` ({set} are set)"),
            });
        }
        let read = |key: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| ConfigError::Invalid {
                key,
                message: format!("cannot read {}: {e}", path.display()),
            })
        };
        let invalid = |key: &'static str| {
            move |e: tidings::AuthError| ConfigError::Invalid {
                key,
                message: e.to_string(),
            }
        };
        let mut auth = if let Some(var) = &jwt.hs256_secret_env {
            let secret = std::env::var(var).unwrap_or_default();
            if secret.len() < 32 {
                return Err(ConfigError::Invalid {
                    key: "auth.jwt.hs256_secret_env",
                    message: format!("the environment variable `{var}` must hold a secret of at least 32 bytes (RFC 7518 §3.2), it holds {}", secret.len()),
                });
            }
            tidings::JwtAuthenticator::hs256(secret.as_bytes())
        } else if let Some(path) = &jwt.rs256_public_key {
            let pem = read("auth.jwt.rs256_public_key", path)?;
            tidings::JwtAuthenticator::rs256_pem(&pem)
                .map_err(invalid("auth.jwt.rs256_public_key"))?
        } else if let Some(path) = &jwt.es256_public_key {
            let pem = read("auth.jwt.es256_public_key", path)?;
            tidings::JwtAuthenticator::es256_pem(&pem)
                .map_err(invalid("auth.jwt.es256_public_key"))?
        } else if let Some(path) = &jwt.jwks_file {
            let json = read("auth.jwt.jwks_file", path)?;
            tidings::JwtAuthenticator::jwks(&json).map_err(invalid("auth.jwt.jwks_file"))?
        } else {
            return Err(ConfigError::Invalid {
                key: "auth.jwt",
                message: "no key is set".to_owned(),
            });
        };
        if let Some(c) = &jwt.user_claim {
            auth = auth.user_claim(c.as_str());
        }
        if let Some(c) = &jwt.tenant_claim {
            auth = auth.tenant_claim(c.as_str());
        }
        if let Some(c) = &jwt.roles_claim {
            auth = auth.roles_claim(c.as_str());
        }
        if let Some(i) = &jwt.issuer {
            auth = auth.issuer(i);
        }
        if let Some(a) = &jwt.audience {
            auth = auth.audience(a);
        }
        auth = auth.leeway(Duration::from_secs(jwt.leeway_seconds.unwrap_or(5)));
        Ok(auth)
    }
}

/// How clients authenticate: by a JWT, or by asking the app.
#[derive(Debug)]
pub enum ClientAuth {
    /// `[auth.jwt]`.
    Jwt(tidings::JwtAuthenticator),
    /// `[auth.proxy]`.
    Proxy(crate::proxy::ConnectProxy),
}

impl tidings::AsyncAuthenticator for ClientAuth {
    fn authenticate<'a>(
        &'a self,
        request: &'a tidings::UpgradeRequest,
    ) -> futures_util::future::BoxFuture<'a, Result<tidings::Principal, tidings::AuthError>> {
        match self {
            ClientAuth::Jwt(jwt) => tidings::AsyncAuthenticator::authenticate(jwt, request),
            ClientAuth::Proxy(proxy) => proxy.authenticate(request),
        }
    }

    fn refresh<'a>(
        &'a self,
        token: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<tidings::Principal, tidings::AuthError>> {
        match self {
            ClientAuth::Jwt(jwt) => tidings::AsyncAuthenticator::refresh(jwt, token),
            ClientAuth::Proxy(proxy) => proxy.refresh(token),
        }
    }
}

impl RoomsConfig {
    /// Whether a client may join `room` by asking.
    pub fn may_join(&self, room: &str) -> bool {
        self.allow
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => room.starts_with(prefix),
                None => room == pattern,
            })
    }
}
