//! The connect proxy (the app says who a connection is, from its cookie or token) and the join
//! proxy (the app decides a `$join`), against a small axum app on 127.0.0.1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tidings_serve::config::Config;
use tidings_serve::proxy::{ConnectProxyConfig, JoinProxyConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{frame, start, Ws};

const KEYS_ENV: &str = "TIDINGS_PROXIES_TEST_KEYS";
const SECRET_ENV: &str = "TIDINGS_PROXIES_TEST_SECRET";
const SECRET: &str = "the-proxy-secret-0123456789";
const T1: &str = "11111111-1111-4111-8111-111111111111";
const ALICE: &str = "a0000000-0000-4000-8000-00000000000a";
const BOB: &str = "b0000000-0000-4000-8000-00000000000b";

/// What the app was asked: the path, the `Authorization` and `Cookie` headers, the body.
type Calls = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Value)>>>;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn connect_endpoint(
    calls: Calls,
    headers: HeaderMap,
    body: Value,
) -> axum::response::Response {
    let cookie = header(&headers, "cookie");
    calls.lock().expect("calls").push((
        "/connect".to_owned(),
        header(&headers, "authorization"),
        cookie.clone(),
        body.clone(),
    ));
    let session = cookie.as_deref().and_then(|c| c.strip_prefix("session="));
    match (session, body["token"].as_str()) {
        (Some("alice"), _) => {
            Json(json!({ "user_id": ALICE, "tenant": T1, "roles": ["agent"] })).into_response()
        }
        (Some("banned"), _) => (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": { "message": "this account is banned" } })),
        )
            .into_response(),
        (Some("slow"), _) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({ "user_id": ALICE })).into_response()
        }
        (Some("garbage"), _) => "<html>login</html>".into_response(),
        (Some("expired"), _) => {
            Json(json!({ "user_id": ALICE, "expires_at": 1000 })).into_response()
        }
        // As a Python backend writes it: `roles` null, `expires_at` from `time.time() + 900`.
        (Some("python"), _) => {
            let soon = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs_f64()
                + 900.5;
            Json(json!({ "user_id": ALICE, "tenant": T1, "roles": null, "expires_at": soon }))
                .into_response()
        }
        (_, Some("bob-token")) => Json(json!({ "user_id": BOB, "tenant": T1 })).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn join_endpoint(calls: Calls, headers: HeaderMap, body: Value) -> axum::response::Response {
    calls.lock().expect("calls").push((
        "/join".to_owned(),
        header(&headers, "authorization"),
        None,
        body.clone(),
    ));
    let open = body["room"] == "chat:open" && body["principal"]["tenant"] == T1;
    Json(json!({ "allow": open })).into_response()
}

async fn start_app() -> (SocketAddr, Calls) {
    let calls: Calls = Arc::default();
    let (c, j) = (Arc::clone(&calls), Arc::clone(&calls));
    let router = axum::Router::new()
        .route(
            "/connect",
            axum::routing::post(move |h: HeaderMap, Json(b): Json<Value>| {
                connect_endpoint(Arc::clone(&c), h, b)
            }),
        )
        .route(
            "/join",
            axum::routing::post(move |h: HeaderMap, Json(b): Json<Value>| {
                join_endpoint(Arc::clone(&j), h, b)
            }),
        );
    (common::serve_app(router).await, calls)
}

fn config(app: SocketAddr) -> Config {
    std::env::set_var(KEYS_ENV, "test-api-key-0123456789");
    std::env::set_var(SECRET_ENV, SECRET);
    let mut config = Config {
        schemas: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")],
        ..Config::default()
    };
    config.api.keys_env = Some(KEYS_ENV.to_owned());
    config.auth.proxy = Some(ConnectProxyConfig {
        url: format!("http://{app}/connect"),
        timeout_ms: Some(1_000),
        secret_env: Some(SECRET_ENV.to_owned()),
        forward_headers: None,
    });
    config.rooms.allow = vec!["lobby".to_owned()];
    config.rooms.proxy = Some(JoinProxyConfig {
        url: format!("http://{app}/join"),
        timeout_ms: Some(1_000),
        secret_env: Some(SECRET_ENV.to_owned()),
    });
    config
}

/// Opens a WebSocket with `cookie` (and `query`): the session's `$connected`, or the HTTP
/// status of the refused upgrade.
async fn open(addr: SocketAddr, cookie: Option<&str>, query: &str) -> Result<(Ws, Value), u16> {
    let mut request = format!("ws://{addr}/ws{query}")
        .into_client_request()
        .expect("request");
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, _)) => {
            let hello = frame(&mut ws).await;
            Ok((ws, hello))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn the_app_says_who_a_connection_is() {
    let (app, calls) = start_app().await;
    let server = start(&config(app)).await;

    let (_alice, hello) = open(server, Some("session=alice"), "")
        .await
        .expect("alice connects");
    assert_eq!(hello["type"], "$connected");
    {
        let calls = calls.lock().expect("calls");
        let (path, auth, cookie, body) = calls.last().expect("the app was asked");
        assert_eq!(path, "/connect");
        assert_eq!(auth.as_deref(), Some(&*format!("Bearer {SECRET}")));
        assert_eq!(
            cookie.as_deref(),
            Some("session=alice"),
            "the cookie is forwarded"
        );
        assert_eq!(body["token"], Value::Null);
    }
    // A token in the query is sent on as `token`.
    let (mut bob, hello) = open(server, None, "?token=bob-token")
        .await
        .expect("bob connects");
    assert_eq!(hello["type"], "$connected");
    // `$auth` asks the app too: the same user renews; a token it refuses is `auth_failed`.
    for (cid, token, answer) in [(1, "bob-token", "$reply"), (2, "stolen", "$error")] {
        let frame = json!({ "type": "$auth", "cid": cid, "token": token }).to_string();
        bob.send(Message::text(frame)).await.expect("send");
        let got = frame_of(&mut bob, cid).await;
        assert_eq!(got["type"], answer, "{got}");
        if answer == "$error" {
            assert_eq!(got["code"], "auth_failed", "{got}");
        }
    }

    // The app's refusals keep their status; what is not an answer is 503, never a connection.
    assert_eq!(open(server, None, "").await.err(), Some(401));
    assert_eq!(
        open(server, Some("session=banned"), "").await.err(),
        Some(403)
    );
    assert_eq!(
        open(server, Some("session=garbage"), "").await.err(),
        Some(503)
    );
    assert_eq!(
        open(server, Some("session=slow"), "").await.err(),
        Some(503)
    );
    assert_eq!(
        open(server, Some("session=expired"), "").await.err(),
        Some(401),
        "expired already"
    );
    let (_py, hello) = open(server, Some("session=python"), "")
        .await
        .expect("a fractional expires_at and null roles are taken");
    assert_eq!(hello["type"], "$connected");
}

#[tokio::test]
async fn the_app_decides_joins_no_pattern_allows() {
    let (app, calls) = start_app().await;
    let server = start(&config(app)).await;
    let (mut ws, _) = open(server, Some("session=alice"), "")
        .await
        .expect("connects");
    let lobby = join(&mut ws, 1, "lobby").await;
    assert_eq!(lobby["type"], "$reply", "{lobby}");
    let asked = |calls: &Calls| {
        calls
            .lock()
            .expect("calls")
            .iter()
            .filter(|c| c.0 == "/join")
            .map(|c| c.3["room"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        asked(&calls).is_empty(),
        "a pattern allows `lobby`: the app is not asked"
    );
    let open_room = join(&mut ws, 2, "chat:open").await;
    assert_eq!(open_room["type"], "$reply", "{open_room}");
    let closed = join(&mut ws, 3, "chat:closed").await;
    assert_eq!(closed["code"], "forbidden", "{closed}");
    assert_eq!(asked(&calls), ["chat:open", "chat:closed"]);
    let calls = calls.lock().expect("calls");
    let (_, auth, _, body) = calls.last().expect("asked");
    assert_eq!(auth.as_deref(), Some(&*format!("Bearer {SECRET}")));
    assert_eq!(body["principal"]["user_id"], ALICE);
}

async fn join(ws: &mut Ws, cid: u32, room: &str) -> Value {
    let frame = json!({ "type": "$join", "cid": cid, "room": room }).to_string();
    ws.send(Message::text(frame)).await.expect("send");
    frame_of(ws, cid).await
}

async fn frame_of(ws: &mut Ws, cid: u32) -> Value {
    loop {
        let f = frame(ws).await;
        if f["cid"] == cid {
            return f;
        }
    }
}

#[tokio::test]
async fn proxies_that_are_not_configured_right_are_refused_at_start() {
    let (app, _) = start_app().await;
    let refused = |config: Config| match tidings_serve::Server::new(&config) {
        Ok(_) => panic!("started"),
        Err(e) => e.to_string(),
    };
    let mut both = config(app);
    both.auth.jwt = Some(tidings_serve::config::JwtConfig::default());
    assert!(refused(both).contains("not both"));
    let mut leak = config(app);
    if let Some(p) = &mut leak.auth.proxy {
        p.forward_headers = Some(vec!["Authorization".to_owned()]);
    }
    assert!(refused(leak).contains("server's secret"));
    for framing in [
        "content-length",
        "Transfer-Encoding",
        "connection",
        "host",
        "expect",
    ] {
        let mut smuggle = config(app);
        if let Some(p) = &mut smuggle.auth.proxy {
            p.forward_headers = Some(vec!["cookie".to_owned(), framing.to_owned()]);
        }
        assert!(
            refused(smuggle).contains("cannot be forwarded"),
            "{framing}"
        );
    }
    for pattern in ["*chat", "", "chat:*:admins*x"] {
        let mut bad = config(app);
        bad.rooms.allow = vec![pattern.to_owned()];
        assert!(refused(bad).contains("rooms.allow"), "{pattern:?}");
    }
    let mut slow = config(app);
    if let Some(p) = &mut slow.rooms.proxy {
        p.timeout_ms = Some(60_000);
    }
    assert!(refused(slow).contains("rooms.proxy.timeout_ms"));
    let mut at_join_timeout = config(app);
    if let Some(p) = &mut at_join_timeout.rooms.proxy {
        p.timeout_ms = Some(5_000);
    }
    assert!(
        refused(at_join_timeout).contains("rooms.proxy.timeout_ms"),
        "under the runtime's join_timeout, so that the proxy's timeout decides"
    );
    let mut scheme = config(app);
    if let Some(p) = &mut scheme.auth.proxy {
        p.url = "file:///etc/passwd".to_owned();
    }
    assert!(refused(scheme).contains("http or https"));
}
