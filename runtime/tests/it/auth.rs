//! Authentication before the upgrade, expiry mid-session, and in-band refresh.

use tidings::protocol::close;
use tidings::Hub;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::{hub_builder, Client, TestServer};

#[cfg(feature = "jwt")]
const SECRET: &[u8] = b"test secret";

#[cfg(feature = "jwt")]
fn token(sub: &str, tenant: &str, roles: &[&str], ttl: std::time::Duration) -> String {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::time::{SystemTime, UNIX_EPOCH};
    let exp = (SystemTime::now() + ttl)
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = serde_json::json!({ "sub": sub, "tenant": tenant, "roles": roles, "exp": exp });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("encode")
}

fn status_of(err: WsError) -> u16 {
    match err {
        WsError::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn refused_before_the_upgrade_with_a_clear_status() {
    let server = TestServer::start(hub_builder().build()).await;
    assert_eq!(
        status_of(
            Client::try_connect(server.addr, "")
                .await
                .err()
                .expect("refused")
        ),
        401
    );
    assert_eq!(
        status_of(
            Client::try_connect(server.addr, "user=banned")
                .await
                .err()
                .expect("refused")
        ),
        403
    );
    assert_eq!(server.hub.metrics().connections_rejected, 2);
    assert_eq!(server.hub.connection_count(), 0);
}

#[tokio::test]
async fn a_hub_without_authenticator_refuses_everyone() {
    let server = TestServer::start(Hub::new()).await;
    assert_eq!(
        status_of(
            Client::try_connect(server.addr, "user=u")
                .await
                .err()
                .expect("refused")
        ),
        401
    );
}

#[tokio::test]
async fn expiry_mid_session_closes_with_the_documented_code() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=u1&ttl_ms=300").await;
    assert_eq!(c.close_code().await, Some(close::AUTH_EXPIRED));
    drop(c);
    // Counted once the server has read the client's last frames (or given up on them).
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    while server
        .hub
        .metrics()
        .disconnects_for(tidings::DisconnectReason::AuthExpired)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "not counted");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let m = server.hub.metrics();
    assert_eq!(m.disconnects_for(tidings::DisconnectReason::AuthExpired), 1);
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn jwt_tokens_authenticate_and_refresh_in_band() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tidings::JwtAuthenticator;

    let hub = Hub::builder()
        .authenticator(JwtAuthenticator::hs256(SECRET))
        .build();
    let server = TestServer::start(hub).await;

    let expired = token("u1", "acme", &[], Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = Client::try_connect(server.addr, &format!("token={expired}"))
        .await
        .err()
        .expect("expired");
    assert_eq!(status_of(err), 401);
    let forged = {
        let exp = (SystemTime::now() + Duration::from_secs(60))
            .duration_since(UNIX_EPOCH)
            .expect("t")
            .as_secs();
        encode(
            &Header::default(),
            &json!({ "sub": "u1", "exp": exp }),
            &EncodingKey::from_secret(b"wrong"),
        )
        .expect("encode")
    };
    assert_eq!(
        status_of(
            Client::try_connect(server.addr, &format!("token={forged}"))
                .await
                .err()
                .expect("forged")
        ),
        401
    );

    // A short-lived token, refreshed before it expires: the session outlives the first token.
    let short = token("u1", "acme", &["agent"], Duration::from_secs(2));
    let mut c = server.client(&format!("token={short}")).await;
    assert_eq!(c.connected["user"], "u1");
    assert_eq!(c.connected["tenant"], "acme");
    assert_eq!(c.connected["roles"], json!(["agent"]));

    let other_user = token("u2", "acme", &[], Duration::from_secs(60));
    let refused = c
        .request(json!({ "type": "$auth", "cid": 1, "token": other_user }))
        .await;
    assert_eq!(refused["code"], "forbidden", "{refused}");

    let fresh = token("u1", "acme", &["agent", "admin"], Duration::from_secs(60));
    let refreshed = c
        .request(json!({ "type": "$auth", "cid": 2, "token": fresh }))
        .await;
    assert_eq!(refreshed["type"], "$reply", "{refreshed}");
    assert_eq!(refreshed["data"]["roles"], json!(["agent", "admin"]));

    // The new role is indexed: an admin-only event reaches the session.
    let to_admins = tidings::to_role("admin").in_tenant("acme");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server
        .hub
        .emit_to(
            &crate::events::Announcement {
                tenant_id: "acme".into(),
                title: "still here".into(),
            },
            &to_admins,
        )
        .expect("emit");
    let frame = c.recv_app().await;
    assert_eq!(
        frame["data"]["title"], "still here",
        "the session outlived its first token: {frame}"
    );
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn rs256_tokens_are_verified_with_the_public_key() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tidings::JwtAuthenticator;

    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let private = std::fs::read(format!("{fixtures}/rs256_private.pem")).expect("private key");
    let public = std::fs::read(format!("{fixtures}/rs256_public.pem")).expect("public key");
    let auth = JwtAuthenticator::rs256_pem(&public)
        .expect("an RSA public key")
        .tenant_claim("org");
    let server = TestServer::start(Hub::builder().authenticator(auth).build()).await;

    let exp = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(UNIX_EPOCH)
        .expect("t")
        .as_secs();
    let claims = serde_json::json!({ "sub": "u9", "org": "acme", "roles": ["admin"], "exp": exp });
    let key = EncodingKey::from_rsa_pem(&private).expect("an RSA private key");
    let token = encode(&Header::new(Algorithm::RS256), &claims, &key).expect("encode");
    let c = server.client(&format!("token={token}")).await;
    assert_eq!(
        (c.connected["user"].as_str(), c.connected["tenant"].as_str()),
        (Some("u9"), Some("acme"))
    );

    // An HS256 token is refused by an RS256 authenticator, whatever its secret.
    let hs = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(&public),
    )
    .expect("encode");
    assert_eq!(
        status_of(
            Client::try_connect(server.addr, &format!("token={hs}"))
                .await
                .err()
                .expect("refused")
        ),
        401
    );
    assert!(JwtAuthenticator::rs256_pem(b"not a key").is_err());
}

/// A correctly signed token with claims no one should honour: `nbf` ahead, an `exp` past what
/// the clock holds. Refused with a reason, never a panic.
#[cfg(feature = "jwt")]
#[test]
fn tokens_not_valid_yet_or_with_absurd_expiries_are_refused() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::time::{SystemTime, UNIX_EPOCH};
    use tidings::JwtAuthenticator;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let sign = |claims: serde_json::Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode")
    };
    let auth = JwtAuthenticator::hs256(SECRET);
    let early = sign(serde_json::json!({ "sub": "u", "exp": now + 7200, "nbf": now + 3600 }));
    let err = auth.verify(&early).expect_err("not valid yet");
    assert!(err.to_string().contains("not valid yet"), "{err}");
    for exp in [1u64 << 63, u64::MAX] {
        let far = sign(serde_json::json!({ "sub": "u", "exp": exp }));
        let err = auth.verify(&far).expect_err("an exp out of range");
        assert!(err.to_string().contains("`exp`"), "{err}");
    }
    for exp in [1.8e19, 1e300] {
        let far = sign(serde_json::json!({ "sub": "u", "exp": exp }));
        let err = auth.verify(&far).expect_err("a decimal exp out of range");
        assert!(err.to_string().contains("`exp`"), "{err}");
    }
    let fine = sign(serde_json::json!({ "sub": "u", "exp": now + 60 }));
    assert!(auth.verify(&fine).is_ok());
    // A decimal NumericDate (RFC 7519 §2, `time.time() + 60` in Python) expires like a whole one.
    let decimal = sign(serde_json::json!({ "sub": "u", "exp": now as f64 + 60.5 }));
    let expires = auth
        .verify(&decimal)
        .expect("a decimal exp")
        .expires_at
        .expect("an expiry, not none");
    let left = expires
        .duration_since(SystemTime::now())
        .expect("in the future");
    assert!(
        left > std::time::Duration::from_secs(55) && left < std::time::Duration::from_secs(62),
        "{left:?}"
    );
    // To the fraction: a decimal exp half a second past, or nbf half a second ahead, is refused
    // (the library compares whole seconds).
    let now_f = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs_f64();
    let just_expired = sign(serde_json::json!({ "sub": "u", "exp": now_f - 0.5 }));
    assert!(auth.verify(&just_expired).is_err(), "exp 0.5 s ago");
    let almost = sign(serde_json::json!({ "sub": "u", "exp": now_f + 60.0, "nbf": now_f + 0.5 }));
    assert!(auth.verify(&almost).is_err(), "nbf 0.5 s ahead");
    // Claims of the wrong type are refused, not read as absent.
    for claims in [
        serde_json::json!({ "sub": "u", "exp": now + 60, "tenant": { "a": 1 } }),
        serde_json::json!({ "sub": "u", "exp": now + 60, "roles": ["admin", { "x": 1 }] }),
    ] {
        let err = auth.verify(&sign(claims.clone())).expect_err("refused");
        assert!(err.to_string().contains("claim"), "{claims}: {err}");
    }
}

/// Issue #20: an opaque token with characters a subprotocol cannot hold (`/`, `+`, `=`) reaches
/// the authenticator intact, through the Rust client's encoding; `$connected` carries when the
/// credentials expire.
#[tokio::test]
async fn an_opaque_token_reaches_the_authenticator_and_connected_carries_its_expiry() {
    use std::time::{Duration, SystemTime};
    use tidings::client::{Client as RustClient, ClientEvent};
    use tidings::{AuthError, Principal, UpgradeRequest};
    const OPAQUE: &str = "dGVz/dA+==";
    let hub = Hub::builder()
        .authenticator(|req: &UpgradeRequest| match req.token().as_deref() {
            Some(OPAQUE) => Ok(Principal::user("opaque-user")
                .expires_at(SystemTime::now() + Duration::from_secs(3_600))),
            other => Err(AuthError::unauthorized(format!("unknown token {other:?}"))),
        })
        .build();
    let server = TestServer::start(hub).await;
    let mut c = RustClient::builder(format!("ws://{}/ws", server.addr))
        .token(OPAQUE)
        .connect();
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline, c.next())
            .await
            .expect("connected in time")
            .expect("the client runs");
        if let ClientEvent::Connected { .. } = event {
            break;
        }
    }
    // The same token by hand, to read `$connected` as it is on the wire.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .expect("a request");
    let protocols = format!("tidings.v1, {}", tidings::bearer_subprotocol(OPAQUE));
    request.headers_mut().insert(
        "sec-websocket-protocol",
        protocols.parse().expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("accepted");
    use futures_util::StreamExt;
    let first = tokio::time::timeout(crate::support::PATIENCE, ws.next())
        .await
        .expect("in time")
        .expect("a frame")
        .expect("valid");
    let connected: serde_json::Value =
        serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert_eq!(connected["user"], "opaque-user");
    let expires = connected["expires_at"].as_str().expect("expires_at");
    assert!(expires.ends_with('Z') && expires.len() >= 20, "{expires}");
    c.close();
}

/// A token that is not a JWT at all, reused in an app's own HTTP route: a message a person can
/// read, displayed without the status, and the status in the axum response.
#[cfg(all(feature = "jwt", feature = "axum"))]
#[test]
fn a_malformed_token_says_what_is_wrong_in_words_and_is_an_http_response() {
    use axum::response::IntoResponse;
    use tidings::JwtAuthenticator;
    let auth = JwtAuthenticator::hs256(SECRET);
    let err = auth.verify("not-a-jwt").expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the token is not a JWT (three base64url parts joined by dots, RFC 7519)"
    );
    let err = auth.verify("a.b.c").expect_err("refused");
    assert!(
        !err.to_string().contains("Base64") && !err.to_string().contains("401"),
        "{err}"
    );
    let response = err.into_response();
    assert_eq!(response.status(), axum::http::StatusCode::UNAUTHORIZED);
}

/// A token names a user: an empty `sub` (or tenant) is refused when verifying, and not issued.
#[cfg(feature = "jwt")]
#[test]
fn an_empty_user_is_neither_issued_nor_accepted() {
    use std::time::Duration;
    use tidings::{JwtAuthenticator, JwtIssuer};
    let auth = JwtAuthenticator::hs256(SECRET);
    let err = auth
        .verify(&token("", "acme", &[], Duration::from_secs(60)))
        .expect_err("an empty sub");
    assert!(err.to_string().contains("`sub` claim is empty"), "{err}");
    // An empty tenant is refused too: it is not "no tenant".
    let err = auth
        .verify(&token("alice", "", &[], Duration::from_secs(60)))
        .expect_err("an empty tenant");
    assert!(err.to_string().contains("`tenant` claim is empty"), "{err}");
    let issuer = JwtIssuer::hs256(SECRET);
    assert!(issuer
        .issue("alice", Some(""), &[], Duration::from_secs(60))
        .is_err());
    assert!(issuer
        .issue("", None, &[], Duration::from_secs(60))
        .is_err());
    assert!(issuer.issue("alice", None, &[], Duration::ZERO).is_err());
    let good = issuer
        .issue("alice", Some("acme"), &["agent"], Duration::from_secs(60))
        .expect("issued");
    let who = auth.verify(&good).expect("verified");
    assert_eq!(who.user_id, "alice");
}

/// A JSON Web Key Set with an RSA and a P-256 key: a token signed with either verifies with the
/// key its `kid` names, whatever other family of key the set holds; an unknown `kid`, or a
/// token naming the RSA key but signed ES256, is refused.
#[cfg(feature = "jwt")]
#[test]
fn a_key_set_of_rsa_and_ec_keys_verifies_tokens_of_each() {
    use base64::Engine as _;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tidings::JwtAuthenticator;

    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let rsa_private = std::fs::read(format!("{fixtures}/rs256_private.pem")).expect("key");
    let rsa_jwk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{fixtures}/rs256_public.jwk.json")).expect("jwk"),
    )
    .expect("JSON");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let raw = ec.public_key_raw(); // 0x04, X, Y (SEC 1 uncompressed)
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let ec_jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "kid": "e1", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
    });
    let set = serde_json::json!({ "keys": [rsa_jwk, ec_jwk] });
    let auth = JwtAuthenticator::jwks(set.to_string().as_bytes()).expect("a key set");

    let exp = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(UNIX_EPOCH)
        .expect("t")
        .as_secs();
    let claims = serde_json::json!({ "sub": "u1", "exp": exp });
    let token = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        encode(&header, &claims, key).expect("encode")
    };
    let rsa_key = EncodingKey::from_rsa_pem(&rsa_private).expect("RSA key");
    let ec_key = EncodingKey::from_ec_der(&ec.serialize_der());
    let rs = token(Algorithm::RS256, "r1", &rsa_key);
    let es = token(Algorithm::ES256, "e1", &ec_key);
    assert_eq!(auth.verify(&rs).expect("RS256 with r1").user_id, "u1");
    assert_eq!(auth.verify(&es).expect("ES256 with e1").user_id, "u1");
    assert!(auth
        .verify(&token(Algorithm::ES256, "r1", &ec_key))
        .is_err());
    assert!(auth
        .verify(&token(Algorithm::RS256, "nope", &rsa_key))
        .is_err());
}

/// With an issuer and an audience required, a token that leaves out `iss` or `aud` is refused,
/// not let through unchecked.
#[cfg(feature = "jwt")]
#[test]
fn a_required_issuer_or_audience_cannot_be_left_out() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tidings::JwtAuthenticator;

    let secret = b"a secret of at least thirty-two bytes!";
    let auth = JwtAuthenticator::hs256(secret)
        .issuer("https://idp.example.com/")
        .audience("tidings");
    let exp = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(UNIX_EPOCH)
        .expect("t")
        .as_secs();
    let sign = |claims: serde_json::Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("encode")
    };
    let iss = "https://idp.example.com/";
    let both = sign(serde_json::json!({ "sub": "u", "exp": exp, "iss": iss, "aud": "tidings" }));
    assert!(auth.verify(&both).is_ok());
    for claims in [
        serde_json::json!({ "sub": "u", "exp": exp, "iss": iss }),
        serde_json::json!({ "sub": "u", "exp": exp, "aud": "tidings" }),
        serde_json::json!({ "sub": "u", "exp": exp, "iss": iss, "aud": "another" }),
    ] {
        assert!(auth.verify(&sign(claims.clone())).is_err(), "{claims}");
    }
    // A custom user claim keeps them required.
    let auth = auth.user_claim("uid");
    let no_aud = sign(serde_json::json!({ "uid": "u", "exp": exp, "iss": iss }));
    assert!(auth.verify(&no_aud).is_err());
}

/// An ES256 key must be on P-256: a P-384 key is refused when the authenticator is made, not
/// by refusing every token afterwards.
#[cfg(feature = "jwt")]
#[test]
fn an_es256_key_of_another_curve_is_refused_at_once() {
    use base64::Engine as _;
    use tidings::JwtAuthenticator;
    // A public key as PEM (RFC 7468): its SubjectPublicKeyInfo, base64 in lines of 64.
    let pem = |key: &rcgen::KeyPair| {
        use rcgen::PublicKeyData as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.subject_public_key_info());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    };
    let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256");
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("P-384");
    assert!(JwtAuthenticator::es256_pem(pem(&p256).as_bytes()).is_ok());
    let refused =
        JwtAuthenticator::es256_pem(pem(&p384).as_bytes()).expect_err("P-384 is not ES256");
    assert!(refused.to_string().contains("P-256"), "{refused}");
}
