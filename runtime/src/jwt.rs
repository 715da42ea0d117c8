//! The built-in JWT authenticator: HS256, RS256 or ES256 (a key, or a JWKS), with expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};

use crate::auth::{AuthError, Authenticator, UpgradeRequest};
use crate::Principal;

/// Verifies a JWT (from the `Authorization` header, the `tidings.bearer.<token>` subprotocol or
/// the `token` query parameter) and reads the principal from its claims: `sub` is the user,
/// `roles` (an array of strings) the roles, `tenant` the tenant, `exp` the expiry. Claim names
/// are configurable. Keys: an HS256 secret, an RS256 or ES256 public key, or a JSON Web Key
/// Set (RFC 7517 §5) whose key is picked by the token header's `kid`.
///
/// `exp` is required and `nbf` honoured: NumericDates (RFC 7519 §2), seconds since 1970 as a
/// whole or a decimal number (`time.time() + 3600` from Python). A token not valid yet, expired,
/// or with an `exp` past what the clock holds is refused (401); a session closes with 4001 when
/// its token's `exp` passes.
///
/// ```
/// let auth = tidings::JwtAuthenticator::hs256(b"a shared secret")
///     .tenant_claim("org_id")
///     .issuer("https://auth.example.com");
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct JwtAuthenticator {
    keys: Keys,
    validation: Validation,
    user_claim: String,
    roles_claim: String,
    tenant_claim: String,
}

/// The keys a token may be signed with.
#[derive(Clone)]
enum Keys {
    /// One key, of the validation's one algorithm.
    One(DecodingKey),
    /// A key set: each key with its id (`kid`) and algorithm.
    Set(Vec<(Option<String>, Algorithm, DecodingKey)>),
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithms", &self.validation.algorithms)
            .field("user_claim", &self.user_claim)
            .field("roles_claim", &self.roles_claim)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

impl JwtAuthenticator {
    fn new(key: DecodingKey, algorithm: Algorithm) -> JwtAuthenticator {
        JwtAuthenticator::with_keys(Keys::One(key), vec![algorithm])
    }

    fn with_keys(keys: Keys, algorithms: Vec<Algorithm>) -> JwtAuthenticator {
        let mut validation = Validation::new(algorithms.first().copied().unwrap_or_default());
        validation.algorithms = algorithms;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // A token not valid yet (`nbf` ahead, RFC 7519 §4.1.5) is refused like an expired one.
        validation.validate_nbf = true;
        validation.leeway = 0;
        JwtAuthenticator {
            keys,
            validation,
            user_claim: "sub".to_owned(),
            roles_claim: "roles".to_owned(),
            tenant_claim: "tenant".to_owned(),
        }
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> JwtAuthenticator {
        JwtAuthenticator::new(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// RS256 with a PEM-encoded RSA public key.
    ///
    /// # Errors
    /// When the PEM is not an RSA public key.
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<JwtAuthenticator, AuthError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|e| AuthError::unauthorized(format!("invalid RSA public key: {e}")))?;
        Ok(JwtAuthenticator::new(key, Algorithm::RS256))
    }

    /// ES256 (ECDSA on P-256 with SHA-256, RFC 7518 §3.4) with a PEM-encoded public key.
    ///
    /// # Errors
    /// When the PEM is not an EC public key.
    pub fn es256_pem(public_key_pem: &[u8]) -> Result<JwtAuthenticator, AuthError> {
        let key = DecodingKey::from_ec_pem(public_key_pem)
            .map_err(|e| AuthError::unauthorized(format!("invalid EC public key: {e}")))?;
        // The library takes a key of any curve here and would refuse every token later.
        if !pem_names_p256(public_key_pem) {
            return Err(AuthError::unauthorized(
                "the EC public key is not on P-256: ES256 is ECDSA on P-256 (RFC 7518 §3.4)",
            ));
        }
        Ok(JwtAuthenticator::new(key, Algorithm::ES256))
    }

    /// The public keys of a JSON Web Key Set (RFC 7517 §5: `{"keys": [...]}`, as an identity
    /// provider publishes at its `jwks_uri`): RSA keys (RS256) and P-256 EC keys (ES256), or
    /// those of the algorithm a key names (`alg`). A token is verified with the key its
    /// header's `kid` names — or the only key, when the set has one and the token names none.
    ///
    /// # Errors
    /// When the text is not a JWK Set, or holds no RSA or P-256 key.
    pub fn jwks(json: &[u8]) -> Result<JwtAuthenticator, AuthError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
        let set: JwkSet = serde_json::from_slice(json)
            .map_err(|e| AuthError::unauthorized(format!("not a JWK Set (RFC 7517 §5): {e}")))?;
        let mut keys = Vec::new();
        let mut algorithms = Vec::new();
        for jwk in &set.keys {
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(named), _) => match named.to_string().parse::<Algorithm>() {
                    Ok(a @ (Algorithm::RS256 | Algorithm::ES256)) => a,
                    _ => continue,
                },
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(ec))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                AuthError::unauthorized(format!(
                    "the JWK Set's key {} is invalid: {e}",
                    jwk.common.key_id.as_deref().unwrap_or("without a `kid`")
                ))
            })?;
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
            keys.push((jwk.common.key_id.clone(), algorithm, key));
        }
        if keys.is_empty() {
            return Err(AuthError::unauthorized(
                "the JWK Set holds no RSA (RS256) or P-256 (ES256) key",
            ));
        }
        Ok(JwtAuthenticator::with_keys(Keys::Set(keys), algorithms))
    }

    /// The claim holding the user id (default `sub`): a non-empty string, or a number.
    pub fn user_claim(mut self, name: impl Into<String>) -> JwtAuthenticator {
        self.user_claim = name.into();
        self.require_claims();
        self
    }

    /// The registered claims a token must hold (RFC 7519 §4.1): `exp`; `sub` when it holds
    /// the user; `iss` and `aud` when an issuer or audience is required — a token without
    /// them is refused, not let through unchecked.
    fn require_claims(&mut self) {
        let mut required = vec!["exp"];
        if self.user_claim == "sub" {
            required.push("sub");
        }
        if self.validation.iss.is_some() {
            required.push("iss");
        }
        if self.validation.aud.is_some() {
            required.push("aud");
        }
        self.validation.set_required_spec_claims(&required);
    }

    /// The claim holding the roles (default `roles`).
    pub fn roles_claim(mut self, name: impl Into<String>) -> JwtAuthenticator {
        self.roles_claim = name.into();
        self
    }

    /// The claim holding the tenant (default `tenant`).
    pub fn tenant_claim(mut self, name: impl Into<String>) -> JwtAuthenticator {
        self.tenant_claim = name.into();
        self
    }

    /// Requires this issuer (`iss`).
    pub fn issuer(mut self, issuer: &str) -> JwtAuthenticator {
        self.validation.set_issuer(&[issuer]);
        self.require_claims();
        self
    }

    /// Requires this audience (`aud`).
    pub fn audience(mut self, audience: &str) -> JwtAuthenticator {
        self.validation.set_audience(&[audience]);
        self.require_claims();
        self
    }

    /// Tolerates clocks this far apart when checking `exp` (default none).
    pub fn leeway(mut self, leeway: Duration) -> JwtAuthenticator {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// Verifies a token and reads its principal.
    ///
    /// # Errors
    /// When the token is malformed, badly signed, expired, not valid yet (`nbf`), has an `exp`
    /// or `nbf` out of range, lacks `sub` (or has an empty one), has an empty `tenant`, or has a `tenant` or `roles` claim of another type
    /// (a tenant is a string or a number; roles an array of them).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let (key, algorithm) = self.key_for(token)?;
        // A key set's key is checked with its own algorithm only: one validation naming
        // RS256 and ES256 refuses every key (a key must suit each algorithm it lists).
        let set_validation;
        let validation = match algorithm {
            Some(algorithm) => {
                let mut v = self.validation.clone();
                v.algorithms = vec![algorithm];
                set_validation = v;
                &set_validation
            }
            None => &self.validation,
        };
        let data = decode::<serde_json::Map<String, serde_json::Value>>(token, key, validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                AuthError::unauthorized(match e.kind() {
                    K::ExpiredSignature => "the token has expired".to_owned(),
                    K::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
                    K::InvalidSignature => "the token's signature is invalid".to_owned(),
                    K::InvalidIssuer => "the token's issuer is not accepted".to_owned(),
                    K::InvalidAudience => "the token's audience is not accepted".to_owned(),
                    K::MissingRequiredClaim(c) if c == "sub" => {
                        "the token lacks a `sub` claim that is a string".to_owned()
                    }
                    K::MissingRequiredClaim(c) => format!(
                    "the token lacks a valid `{c}` claim (seconds since 1970, RFC 7519 NumericDate)"
                ),
                    K::InvalidToken => {
                        "the token is not a JWT (three base64url parts joined by dots, RFC 7519)"
                            .to_owned()
                    }
                    K::Base64(_) => "a part of the token is not base64url".to_owned(),
                    K::Json(_) | K::Utf8(_) => {
                        "the token's header or claims are not a JSON object".to_owned()
                    }
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        "the token is signed with another algorithm than the server accepts"
                            .to_owned()
                    }
                    _ => "the token cannot be verified".to_owned(),
                })
            })?;
        let claims = data.claims;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let user = claims.get(&self.user_claim).and_then(text).ok_or_else(|| {
            AuthError::unauthorized(format!(
                "the token's `{}` claim is absent or not a string",
                self.user_claim
            ))
        })?;
        if user.is_empty() {
            return Err(AuthError::unauthorized(format!(
                "the token's `{}` claim is empty: it names no user",
                self.user_claim
            )));
        }
        // Claims of the wrong type are refused, never read as absent: a `tenant` that is an
        // object must not make a connection with no tenant at all.
        let roles = match claims.get(&self.roles_claim) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    text(item).ok_or_else(|| {
                        AuthError::unauthorized(format!(
                            "the token's `{}` claim holds an item that is not a string",
                            self.roles_claim
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(AuthError::unauthorized(format!(
                    "the token's `{}` claim is not an array",
                    self.roles_claim
                )))
            }
        };
        let tenant = match claims.get(&self.tenant_claim) {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(text(v).ok_or_else(|| {
                AuthError::unauthorized(format!(
                    "the token's `{}` claim is not a string",
                    self.tenant_claim
                ))
            })?),
        };
        // An empty tenant is a tenant nobody else names, not no tenant: a mistake of the
        // issuer, refused like an empty user.
        if tenant.as_deref() == Some("") {
            return Err(AuthError::unauthorized(format!(
                "the token's `{}` claim is empty: leave it out for no tenant",
                self.tenant_claim
            )));
        }
        // The library compares whole seconds; a decimal `exp` just past, or `nbf` just ahead,
        // is refused here to the fraction.
        let now = SystemTime::now();
        let leeway = Duration::from_secs(self.validation.leeway);
        let expires_at = match claims.get("exp") {
            None => None,
            Some(exp) => Some(numeric_date(exp).ok_or_else(|| {
                AuthError::unauthorized("the token's `exp` is not a time this server can hold")
            })?),
        };
        if expires_at.is_some_and(|exp| exp + leeway <= now) {
            return Err(AuthError::unauthorized("the token has expired"));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or_else(|| {
                AuthError::unauthorized("the token's `nbf` is not a time this server can hold")
            })?;
            if nbf > now + leeway {
                return Err(AuthError::unauthorized(
                    "the token is not valid yet (`nbf`)",
                ));
            }
        }
        Ok(Principal {
            user_id: user,
            roles,
            tenant,
            expires_at,
        })
    }
}

/// Whether a PEM public key (SubjectPublicKeyInfo, RFC 5280) names the curve P-256: its DER
/// holds the curve's object identifier, 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1).
fn pem_names_p256(pem: &[u8]) -> bool {
    use base64::Engine as _;
    const P256_OID: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    let text = String::from_utf8_lossy(pem);
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .is_ok_and(|der| der.windows(P256_OID.len()).any(|w| w == P256_OID))
}

impl JwtAuthenticator {
    /// The key to verify `token` with: the one key, or the set's key its header's `kid`
    /// names (the only one, when the token names none), of the algorithm the header states.
    fn key_for(&self, token: &str) -> Result<(&DecodingKey, Option<Algorithm>), AuthError> {
        let set = match &self.keys {
            Keys::One(key) => return Ok((key, None)),
            Keys::Set(set) => set,
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AuthError::unauthorized(
                "the token is not a JWT (three base64url parts joined by dots, RFC 7519)",
            )
        })?;
        let found = match &header.kid {
            Some(kid) => set.iter().find(|(id, _, _)| id.as_deref() == Some(kid)),
            None if set.len() == 1 => set.first(),
            None => None,
        };
        match found {
            Some((_, algorithm, key)) if *algorithm == header.alg => Ok((key, Some(*algorithm))),
            Some(_) => Err(AuthError::unauthorized(
                "the token is signed with another algorithm than its key's",
            )),
            None => Err(AuthError::unauthorized(match &header.kid {
                Some(kid) => format!("the token's key `{kid}` is not in the key set"),
                None => "the token names no key (`kid`) and the key set has several".to_owned(),
            })),
        }
    }
}

/// A NumericDate (RFC 7519 §2): seconds since 1970-01-01T00:00:00Z, a whole or a decimal
/// number, as a time; `None` for anything else, or a time past what the clock holds (2^63
/// seconds and more) — refused, never a panic, never read as "no expiry".
fn numeric_date(value: &serde_json::Value) -> Option<SystemTime> {
    let since = match value.as_u64() {
        Some(whole) => Duration::from_secs(whole),
        None => Duration::try_from_secs_f64(value.as_f64()?).ok()?,
    };
    UNIX_EPOCH.checked_add(since)
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, request: &UpgradeRequest) -> Result<Principal, AuthError> {
        let token = request
            .token()
            .ok_or_else(|| AuthError::unauthorized("no token: send `Authorization: Bearer <jwt>`, the `tidings.bearer.<jwt>` subprotocol or `?token=<jwt>`"))?;
        self.verify(&token)
    }

    fn refresh(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify(token)
    }
}

/// Signs HS256 tokens that a [`JwtAuthenticator::hs256`] with the same secret accepts — for the
/// app's own endpoint behind the client's `getToken` (after the app's login has said who the
/// user is). Claims: `sub` (the user), `tenant` and `roles` (under the claim names set here, by
/// default those the authenticator reads), `iat` and `exp` (RFC 7519 NumericDates).
///
/// ```
/// use std::time::Duration;
/// let issuer = tidings::JwtIssuer::hs256(b"a shared secret");
/// let token = issuer.issue("alice", Some("acme"), &["agent"], Duration::from_secs(3600))?;
/// let who = tidings::JwtAuthenticator::hs256(b"a shared secret").verify(&token)?;
/// assert_eq!(who.user_id, "alice");
/// # Ok::<(), tidings::AuthError>(())
/// ```
#[derive(Clone)]
pub struct JwtIssuer {
    key: jsonwebtoken::EncodingKey,
    roles_claim: String,
    tenant_claim: String,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("roles_claim", &self.roles_claim)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// HS256 with a shared secret (the authenticator's).
    pub fn hs256(secret: &[u8]) -> JwtIssuer {
        JwtIssuer {
            key: jsonwebtoken::EncodingKey::from_secret(secret),
            roles_claim: "roles".to_owned(),
            tenant_claim: "tenant".to_owned(),
        }
    }

    /// The claim holding the roles (as [`JwtAuthenticator::roles_claim`]).
    pub fn roles_claim(mut self, name: impl Into<String>) -> JwtIssuer {
        self.roles_claim = name.into();
        self
    }

    /// The claim holding the tenant (as [`JwtAuthenticator::tenant_claim`]).
    pub fn tenant_claim(mut self, name: impl Into<String>) -> JwtIssuer {
        self.tenant_claim = name.into();
        self
    }

    /// A token for `user`, valid for `ttl` from now.
    ///
    /// # Errors
    /// When `user` or `tenant` is empty (a token must name a user: [`JwtAuthenticator::verify`]
    /// refuses an empty `sub`, and an empty tenant), `ttl` is zero (the token would be expired when issued), the clock is
    /// before 1970 or the token cannot be signed — an `unauthorized` error saying why.
    pub fn issue(
        &self,
        user: &str,
        tenant: Option<&str>,
        roles: &[&str],
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if user.is_empty() {
            return Err(AuthError::unauthorized(
                "cannot issue a token for an empty user name",
            ));
        }
        if tenant == Some("") {
            return Err(AuthError::unauthorized(
                "cannot issue a token for an empty tenant: give `None` for no tenant",
            ));
        }
        if ttl.is_zero() {
            return Err(AuthError::unauthorized(
                "cannot issue a token valid for no time: give a `ttl` above zero",
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AuthError::unauthorized("the clock is before 1970"))?;
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), user.into());
        claims.insert("iat".into(), now.as_secs().into());
        claims.insert("exp".into(), now.saturating_add(ttl).as_secs().into());
        claims.insert(self.roles_claim.clone(), roles.into());
        if let Some(tenant) = tenant {
            claims.insert(self.tenant_claim.clone(), tenant.into());
        }
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &self.key)
            .map_err(|e| AuthError::unauthorized(format!("cannot sign the token: {e}")))
    }
}
