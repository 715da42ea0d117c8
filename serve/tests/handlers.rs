//! The handler proxy against the shipped schemas: a real WebSocket client on 127.0.0.1 sends
//! `chat:sendMessage`; `tidings serve` POSTs it to a small HTTP app, and the app's reply (or
//! error) comes back as the `$reply` (or `$error`), checked by the declared reply type.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tidings_serve::config::{Config, JwtConfig};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{frame, start, Ws};

const SECRET_ENV: &str = "TIDINGS_HANDLERS_TEST_SECRET";
const SECRET: &str = "a test secret of at least thirty-two bytes";
const KEYS_ENV: &str = "TIDINGS_HANDLERS_TEST_KEYS";
const APP_SECRET_ENV: &str = "TIDINGS_HANDLERS_TEST_APP_SECRET";
const APP_SECRET: &str = "the-app-secret-0123456789";

const T1: &str = "11111111-1111-4111-8111-111111111111";
const ALICE: &str = "a0000000-0000-4000-8000-00000000000a";
const CHAT: &str = "c4a70000-0000-4000-8000-000000000001";
const MESSAGE: &str = "4e000000-0000-4000-8000-000000000001";

/// What the app saw: each call's `Authorization` header and body.
type Calls = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The app: answers `chat:sendMessage` by the message's text.
async fn app(
    calls: Calls,
    headers: HeaderMap,
    Json(call): Json<Value>,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    calls.lock().expect("calls").push((auth, call.clone()));
    let text = call["data"]["body"]["text"].as_str().unwrap_or_default();
    let stored = json!({
        "id": MESSAGE,
        "chat_id": call["data"]["chat_id"],
        "tenant_id": call["principal"]["tenant"],
        "sender_id": call["principal"]["user_id"],
        "body": call["data"]["body"],
        "sent_at": "2026-12-02T10:00:00Z",
        "unknown": "dropped",
    });
    match text {
        "refuse" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": { "code": "chat_closed", "message": "the chat is closed", "field": "chat_id" } })),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({ "reply": stored })).into_response()
        }
        "break" => Json(json!({ "reply": { "id": "not a uuid" } })).into_response(),
        "crash" => (StatusCode::INTERNAL_SERVER_ERROR, "Traceback …").into_response(),
        "bad code" => Json(json!({ "error": { "code": "no spaces allowed" } })).into_response(),
        // The reply not wrapped in `{"reply": …}`.
        "unwrapped" => Json(stored).into_response(),
        _ => Json(json!({ "reply": stored })).into_response(),
    }
}

/// A running app, and the calls it got.
async fn start_app() -> (SocketAddr, Calls) {
    let calls: Calls = Arc::default();
    let seen = Arc::clone(&calls);
    let router = axum::Router::new().route(
        "/chat",
        axum::routing::post(move |headers: HeaderMap, body: Json<Value>| {
            app(Arc::clone(&seen), headers, body)
        }),
    );
    (common::serve_app(router).await, calls)
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("addr")
}

fn config(app: SocketAddr, down: SocketAddr) -> Config {
    std::env::set_var(SECRET_ENV, SECRET);
    std::env::set_var(KEYS_ENV, "test-api-key-0123456789");
    std::env::set_var(APP_SECRET_ENV, APP_SECRET);
    let mut config = Config {
        schemas: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")],
        ..Config::default()
    };
    config.auth.jwt = Some(JwtConfig {
        hs256_secret_env: Some(SECRET_ENV.to_owned()),
        ..JwtConfig::default()
    });
    config.api.keys_env = Some(KEYS_ENV.to_owned());
    config.handlers.modules = [("chat".to_owned(), format!("http://{app}/chat"))].into();
    config.handlers.events = [(
        "notification:markRead".to_owned(),
        format!("http://{down}/read"),
    )]
    .into();
    config.handlers.timeout_ms = Some(1_000);
    config.handlers.secret_env = Some(APP_SECRET_ENV.to_owned());
    config
}

async fn connect(addr: SocketAddr) -> Ws {
    let token = tidings::JwtIssuer::hs256(SECRET.as_bytes())
        .issue(ALICE, Some(T1), &["agent"], Duration::from_secs(600))
        .expect("token");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .expect("connects");
    let hello = frame(&mut ws).await;
    assert_eq!(hello["type"], "$connected");
    ws
}

async fn send(ws: &mut Ws, event: &str, cid: u32, data: Value) -> Value {
    let request = json!({ "type": event, "cid": cid, "data": data });
    ws.send(Message::text(request.to_string()))
        .await
        .expect("send");
    let answer = frame(ws).await;
    assert_eq!(answer["cid"], cid, "{answer}");
    answer
}

fn message(text: &str) -> Value {
    json!({ "chat_id": CHAT, "body": { "type": "text", "text": text } })
}

#[tokio::test]
async fn a_client_event_reaches_the_app_and_its_reply_comes_back_checked() {
    let (app, calls) = start_app().await;
    let server = start(&config(app, closed_port().await)).await;
    let mut ws = connect(server).await;

    // The reply, written as the declared type: the member it does not declare is dropped.
    let reply = send(&mut ws, "chat:sendMessage", 1, message("hello")).await;
    assert_eq!(reply["type"], "$reply", "{reply}");
    assert_eq!(
        reply["data"],
        json!({
            "id": MESSAGE, "chat_id": CHAT, "tenant_id": T1, "sender_id": ALICE,
            "body": { "type": "text", "text": "hello" }, "sent_at": "2026-12-02T10:00:00Z",
        })
    );
    {
        let calls = calls.lock().expect("calls");
        let (auth, call) = calls.last().expect("the app was called");
        assert_eq!(auth.as_deref(), Some(&*format!("Bearer {APP_SECRET}")));
        assert_eq!(call["event"], "chat:sendMessage");
        assert_eq!(call["data"], message("hello"));
        assert_eq!(
            call["principal"],
            json!({ "user_id": ALICE, "roles": ["agent"], "tenant": T1 })
        );
    }

    // The app's error, with its code and field.
    let refused = send(&mut ws, "chat:sendMessage", 2, message("refuse")).await;
    assert_eq!(refused["type"], "$error");
    assert_eq!(refused["code"], "chat_closed");
    assert_eq!(refused["message"], "the chat is closed");
    assert_eq!(refused["field"], "chat_id");

    // A reply that breaks the declared type is not sent.
    let broken = send(&mut ws, "chat:sendMessage", 3, message("break")).await;
    assert_eq!(broken["code"], "internal", "{broken}");
    assert!(!broken.to_string().contains("not a uuid"), "{broken}");

    // A failure without an answer, and an error code that is not one.
    let crashed = send(&mut ws, "chat:sendMessage", 4, message("crash")).await;
    assert_eq!(crashed["code"], "internal", "{crashed}");
    assert!(
        crashed["message"]
            .as_str()
            .expect("a message")
            .contains("500"),
        "{crashed}"
    );
    let bad = send(&mut ws, "chat:sendMessage", 5, message("bad code")).await;
    assert_eq!(bad["code"], "internal", "{bad}");

    let unwrapped = send(&mut ws, "chat:sendMessage", 9, message("unwrapped")).await;
    assert!(
        unwrapped["message"]
            .as_str()
            .expect("a message")
            .contains("neither `reply` nor `error`"),
        "{unwrapped}"
    );

    // Past the timeout: `timeout`; the connection goes on.
    let slow = send(&mut ws, "chat:sendMessage", 6, message("slow")).await;
    assert_eq!(slow["code"], "timeout", "{slow}");

    // The app away: `internal`, and the URL is not told.
    let down = send(
        &mut ws,
        "notification:markRead",
        7,
        json!({ "notification_ids": [MESSAGE] }),
    )
    .await;
    assert_eq!(down["code"], "internal", "{down}");
    assert!(!down.to_string().contains("127.0.0.1"), "{down}");

    let again = send(&mut ws, "chat:sendMessage", 8, message("still here")).await;
    assert_eq!(again["type"], "$reply", "{again}");
}

/// An app that reads each request and closes the connection without answering.
async fn dropping_app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
        }
    });
    addr
}

#[tokio::test]
async fn an_app_that_dies_after_the_call_may_have_acted() {
    let (app, _) = start_app().await;
    let mut config = config(app, closed_port().await);
    let dropper = dropping_app().await;
    config.handlers.events.insert(
        "chat:setTyping".to_owned(),
        format!("http://{dropper}/typing"),
    );
    let server = start(&config).await;
    let mut ws = connect(server).await;
    let dropped = send(
        &mut ws,
        "chat:setTyping",
        1,
        json!({ "chat_id": CHAT, "is_typing": true }),
    )
    .await;
    assert_eq!(dropped["code"], "internal", "{dropped}");
    assert!(
        dropped["message"]
            .as_str()
            .expect("a message")
            .contains("may have acted"),
        "{dropped}"
    );
}

#[tokio::test]
async fn a_payload_the_contract_refuses_never_reaches_the_app() {
    let (app, calls) = start_app().await;
    let server = start(&config(app, closed_port().await)).await;
    let mut ws = connect(server).await;
    let empty = send(&mut ws, "chat:sendMessage", 1, message("")).await;
    assert_eq!(empty["code"], "constraint_violated", "{empty}");
    assert_eq!(empty["field"], "body.text");
    let shape = send(
        &mut ws,
        "chat:sendMessage",
        2,
        json!({ "chat_id": 42, "body": { "type": "text", "text": "x" } }),
    )
    .await;
    assert_eq!(shape["code"], "invalid_payload", "{shape}");
    assert_eq!(shape["field"], "chat_id");
    // An event clients send that no endpoint covers has no handler.
    let typing = send(
        &mut ws,
        "chat:setTyping",
        3,
        json!({ "chat_id": CHAT, "is_typing": true }),
    )
    .await;
    assert_eq!(
        typing["type"], "$reply",
        "chat: covers the whole module: {typing}"
    );
    // It declares no reply: the answer is `null`, whatever the app said.
    assert_eq!(typing["data"], Value::Null, "{typing}");
    // An event the server sends cannot be sent to it.
    let server_only = send(&mut ws, "chat:message", 4, json!({})).await;
    assert_eq!(server_only["code"], "unknown_event", "{server_only}");
    let called: Vec<String> = calls
        .lock()
        .expect("calls")
        .iter()
        .map(|(_, c)| c["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(called, ["chat:setTyping"]);
}

#[tokio::test]
async fn handler_endpoints_that_name_nothing_are_refused_at_start() {
    let (app, _) = start_app().await;
    let down = closed_port().await;
    let refused = |config: Config| match tidings_serve::Server::new(&config) {
        Ok(_) => panic!("started"),
        Err(e) => e.to_string(),
    };
    let mut typo = config(app, down);
    typo.handlers.events = [(
        "chat:sendMesage".to_owned(),
        "http://127.0.0.1:1/".to_owned(),
    )]
    .into();
    assert!(refused(typo).contains("no event `chat:sendMesage`"));
    let mut outbound = config(app, down);
    outbound.handlers.events =
        [("chat:message".to_owned(), "http://127.0.0.1:1/".to_owned())].into();
    assert!(refused(outbound).contains("sent by the server only"));
    let mut module = config(app, down);
    module.handlers.modules = [("chats".to_owned(), "http://127.0.0.1:1/".to_owned())].into();
    assert!(refused(module).contains("no module `chats`"));
    let mut scheme = config(app, down);
    scheme.handlers.url = Some("ftp://127.0.0.1/".to_owned());
    assert!(refused(scheme).contains("http or https"));
    let mut no_client_events = config(app, down);
    no_client_events.handlers.modules =
        [("ticket".to_owned(), "http://127.0.0.1:1/".to_owned())].into();
    assert!(refused(no_client_events).contains("no event clients send"));
    let mut timeout = config(app, down);
    timeout.handlers.timeout_ms = Some(0);
    assert!(refused(timeout).contains("handlers.timeout_ms"));
}
