//! Authentication: from the upgrade request (or an in-band token) to a [`Principal`].

use std::future::Future;

use futures_util::future::BoxFuture;
use http::{HeaderMap, StatusCode, Uri};

use crate::Principal;

/// The subprotocol a client offers to speak this protocol; the server echoes it.
pub const SUBPROTOCOL: &str = "tidings.v1";
/// The prefix of the subprotocol that carries a bearer token (`tidings.bearer.<token>`), for
/// browsers, which cannot set headers on a WebSocket.
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "tidings.bearer.";
/// The prefix of the subprotocol that carries a bearer token which is not made of subprotocol
/// characters (an opaque token with `/`, `+`, `=` …): `tidings.bearer64.<base64url of its UTF-8,
/// without padding>` (RFC 4648 §5).
pub const BEARER64_SUBPROTOCOL_PREFIX: &str = "tidings.bearer64.";
/// The prefix of the subprotocol that carries the position a reconnecting client resumes from
/// (`tidings.resume.<epoch>.<seq>`).
pub const RESUME_SUBPROTOCOL_PREFIX: &str = "tidings.resume.";

/// What an [`Authenticator`] sees of the HTTP upgrade request.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    uri: Uri,
    headers: HeaderMap,
}

impl UpgradeRequest {
    /// A request with this URI and these headers.
    pub fn new(uri: Uri, headers: HeaderMap) -> UpgradeRequest {
        UpgradeRequest { uri, headers }
    }

    /// The request URI (path and query).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    }

    /// The bearer token, looked for in order in the `Authorization: Bearer` header, a
    /// `tidings.bearer.<token>` or `tidings.bearer64.<base64url>` subprotocol (see
    /// [`bearer_subprotocol`]), and the `token` query parameter. A `tidings.bearer64.` value
    /// that is not base64url of UTF-8 text counts as no token.
    pub fn token(&self) -> Option<String> {
        if let Some(v) = self
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(t) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
            {
                return Some(t.trim().to_owned());
            }
        }
        for v in self.headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
            for proto in v.to_str().unwrap_or_default().split(',') {
                let proto = proto.trim();
                if let Some(t) = proto.strip_prefix(BEARER64_SUBPROTOCOL_PREFIX) {
                    use base64::Engine as _;
                    return base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(t)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok());
                }
                if let Some(t) = proto.strip_prefix(BEARER_SUBPROTOCOL_PREFIX) {
                    return Some(t.to_owned());
                }
            }
        }
        self.query("token")
    }

    /// Where the client's delivery stream left off, when it is reconnecting: a
    /// `tidings.resume.<epoch>.<seq>` subprotocol, or the `resume=<epoch>.<seq>` query parameter.
    ///
    /// # Errors
    /// When one is given but malformed; the upgrade is then refused with 400.
    pub fn resume(&self) -> Result<Option<crate::delivery::Position>, String> {
        let mut given = None;
        for v in self.headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
            for proto in v.to_str().unwrap_or_default().split(',') {
                if let Some(p) = proto.trim().strip_prefix(RESUME_SUBPROTOCOL_PREFIX) {
                    given = Some(p.to_owned());
                }
            }
        }
        let Some(text) = given.or_else(|| self.query("resume")) else {
            return Ok(None);
        };
        crate::delivery::Position::parse(&text).map(Some).ok_or_else(|| {
            format!("malformed resume position `{text}`: expected `<epoch>.<seq>` as sent in `$connected`")
        })
    }

    /// Whether the client offered the [`SUBPROTOCOL`].
    pub fn offers_subprotocol(&self) -> bool {
        self.headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL)
    }
}

/// The subprotocol that carries `token`: `tidings.bearer.<token>` when the token is made of the
/// characters a subprotocol may hold (RFC 6455 §4.1: an RFC 7230 `token`, as a JWT is), else
/// `tidings.bearer64.<base64url>` ([`BEARER64_SUBPROTOCOL_PREFIX`]), which
/// [`UpgradeRequest::token`] decodes. The TypeScript client encodes the same way.
pub fn bearer_subprotocol(token: &str) -> String {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !token.is_empty() && token.bytes().all(tchar) {
        return format!("{BEARER_SUBPROTOCOL_PREFIX}{token}");
    }
    use base64::Engine as _;
    format!(
        "{BEARER64_SUBPROTOCOL_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why authentication failed: the HTTP status of the refused upgrade, and a message for the
/// client (never the secret details).
///
/// It displays as its message (`the token has expired`); the status is a field. With the `axum`
/// feature it is an `axum` response too (the status, the message as text), so an HTTP route
/// that verifies the same token (`JwtAuthenticator::verify`) can return it with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    /// 401 for missing or invalid credentials, 403 for valid ones that may not connect.
    pub status: StatusCode,
    /// What the client is told.
    pub message: String,
}

impl AuthError {
    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> AuthError {
        AuthError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> AuthError {
        AuthError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
}

/// Turns an upgrade request into a principal, or refuses it before the upgrade: the synchronous
/// form, for what needs no I/O — verify a token (as
/// [`JwtAuthenticator`](crate::JwtAuthenticator) does) or look up a cache. A closure
/// `Fn(&UpgradeRequest) -> Result<Principal, AuthError>` is an authenticator. Every
/// `Authenticator` is an [`AsyncAuthenticator`]; implement that one to look the connection up
/// in a database or ask an identity service.
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates an upgrade request.
    ///
    /// # Errors
    /// The refusal, sent as the HTTP response of the upgrade.
    fn authenticate(&self, request: &UpgradeRequest) -> Result<Principal, AuthError>;

    /// Authenticates a token sent in-band (`$auth`) to refresh a live session's credentials.
    /// The default refuses: refresh needs an authenticator that understands tokens.
    ///
    /// # Errors
    /// The refusal, sent as an `auth_failed` error frame.
    fn refresh(&self, token: &str) -> Result<Principal, AuthError> {
        let _ = token;
        Err(AuthError::unauthorized(
            "this server does not refresh tokens in-band",
        ))
    }
}

impl<F> Authenticator for F
where
    F: Fn(&UpgradeRequest) -> Result<Principal, AuthError> + Send + Sync + 'static,
{
    fn authenticate(&self, request: &UpgradeRequest) -> Result<Principal, AuthError> {
        self(request)
    }
}

/// The asynchronous form of [`Authenticator`], for authentication that does I/O: a session
/// store, a database, an identity service. The hub bounds each call by
/// [`Limits::auth_timeout`](crate::Limits::auth_timeout) (5 s): an upgrade whose
/// authentication overruns is refused with HTTP 503, a `$auth` refresh with an `auth_failed`
/// error frame. [`from_async_fn`] turns an async closure into one.
pub trait AsyncAuthenticator: Send + Sync + 'static {
    /// Authenticates an upgrade request.
    ///
    /// # Errors
    /// The refusal, sent as the HTTP response of the upgrade.
    fn authenticate<'a>(
        &'a self,
        request: &'a UpgradeRequest,
    ) -> BoxFuture<'a, Result<Principal, AuthError>>;

    /// Authenticates a token sent in-band (`$auth`) to refresh a live session's credentials.
    ///
    /// # Errors
    /// The refusal, sent as an `auth_failed` error frame.
    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Principal, AuthError>>;
}

impl<A: Authenticator> AsyncAuthenticator for A {
    fn authenticate<'a>(
        &'a self,
        request: &'a UpgradeRequest,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(std::future::ready(Authenticator::authenticate(
            self, request,
        )))
    }

    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(std::future::ready(Authenticator::refresh(self, token)))
    }
}

/// An [`AsyncAuthenticator`] made of an async closure over the upgrade request (which it owns,
/// so the future may hold it across awaits); in-band refreshes are refused.
///
/// ```
/// use tidings::{AuthError, Principal, UpgradeRequest};
///
/// let auth = tidings::auth::from_async_fn(|request: UpgradeRequest| async move {
///     let token = request.token().ok_or_else(|| AuthError::unauthorized("no token"))?;
///     // let user = sessions.lookup(&token).await?;  (a database, an identity service)
///     Ok(Principal::user(token))
/// });
/// let hub = tidings::Hub::builder().authenticator_async(auth).build();
/// ```
pub fn from_async_fn<F, Fut>(f: F) -> AsyncFnAuthenticator<F>
where
    F: Fn(UpgradeRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, AuthError>> + Send + 'static,
{
    AsyncFnAuthenticator(f)
}

/// See [`from_async_fn`].
#[derive(Debug, Clone, Copy)]
pub struct AsyncFnAuthenticator<F>(F);

impl<F, Fut> AsyncAuthenticator for AsyncFnAuthenticator<F>
where
    F: Fn(UpgradeRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, AuthError>> + Send + 'static,
{
    fn authenticate<'a>(
        &'a self,
        request: &'a UpgradeRequest,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin((self.0)(request.clone()))
    }

    fn refresh<'a>(&'a self, _token: &'a str) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(std::future::ready(Err(AuthError::unauthorized(
            "this server does not refresh tokens in-band",
        ))))
    }
}

/// Refuses every connection; the default until an authenticator is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl Authenticator for DenyAll {
    fn authenticate(&self, _: &UpgradeRequest) -> Result<Principal, AuthError> {
        Err(AuthError::unauthorized(
            "no authenticator is configured on this server",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #20: any token a server may issue travels in a subprotocol and comes back intact;
    /// the same encodings as the TypeScript client's (clients/ts/test/runtime.test.ts).
    #[test]
    fn every_token_travels_in_a_subprotocol_and_comes_back() {
        for (token, carried) in [
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln",
                "tidings.bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln",
            ),
            ("dGVzdA==", "tidings.bearer64.ZEdWemRBPT0"),
            ("a/b+c", "tidings.bearer64.YS9iK2M"),
            ("Bearer x y", "tidings.bearer64.QmVhcmVyIHggeQ"),
            ("clé€", "tidings.bearer64.Y2zDqeKCrA"),
        ] {
            assert_eq!(bearer_subprotocol(token), carried);
            let r = req(
                "/ws",
                &[("sec-websocket-protocol", &format!("tidings.v1, {carried}"))],
            );
            assert_eq!(r.token().as_deref(), Some(token));
        }
        let broken = req(
            "/ws",
            &[("sec-websocket-protocol", "tidings.v1, tidings.bearer64.!!")],
        );
        assert_eq!(broken.token(), None);
        let not_utf8 = req("/ws", &[("sec-websocket-protocol", "tidings.bearer64._w")]);
        assert_eq!(not_utf8.token(), None);
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> UpgradeRequest {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        UpgradeRequest::new(uri.parse().expect("uri"), map)
    }

    #[test]
    fn tokens_come_from_header_subprotocol_or_query() {
        assert_eq!(
            req("/ws", &[("authorization", "Bearer abc")])
                .token()
                .as_deref(),
            Some("abc")
        );
        let r = req(
            "/ws",
            &[("sec-websocket-protocol", "tidings.v1, tidings.bearer.x.y.z")],
        );
        assert_eq!(r.token().as_deref(), Some("x.y.z"));
        assert!(r.offers_subprotocol());
        assert_eq!(
            req("/ws?a=1&token=t%2Bk+n", &[]).token().as_deref(),
            Some("t+k n")
        );
        assert_eq!(
            req("/ws?token=%zz%4", &[]).token().as_deref(),
            Some("%zz%4")
        );
        assert_eq!(req("/ws", &[]).token(), None);
    }
}
