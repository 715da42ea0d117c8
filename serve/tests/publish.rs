//! The publish API against the shipped schemas: real WebSocket clients on 127.0.0.1 receive
//! what a backend publishes over HTTP, by the declared rules; bad publishes are refused with
//! the field's path and deliver nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tidings_serve::config::{Config, JwtConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::Ws;

const SECRET_ENV: &str = "TIDINGS_SERVE_TEST_SECRET";
const SECRET: &str = "a test secret of at least thirty-two bytes";
const KEYS_ENV: &str = "TIDINGS_SERVE_TEST_KEYS";
const KEY: &str = "test-api-key-0123456789";

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const ALICE: &str = "a0000000-0000-4000-8000-00000000000a";
const BOB: &str = "b0000000-0000-4000-8000-00000000000b";
const CAROL: &str = "c0000000-0000-4000-8000-00000000000c";
const DAVE: &str = "d0000000-0000-4000-8000-00000000000d";
const ADMIN1: &str = "e0000000-0000-4000-8000-00000000000e";
const ADMIN2: &str = "f0000000-0000-4000-8000-00000000000f";
const CHAT: &str = "c4a70000-0000-4000-8000-000000000001";

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

async fn start() -> SocketAddr {
    // Both variables hold the same values in every test of this binary.
    std::env::set_var(SECRET_ENV, SECRET);
    std::env::set_var(KEYS_ENV, format!("another-key-abcdefghij,{KEY}"));
    let mut config = Config {
        schemas: vec![schemas()],
        ..Config::default()
    };
    config.auth.jwt = Some(JwtConfig {
        hs256_secret_env: Some(SECRET_ENV.to_owned()),
        ..JwtConfig::default()
    });
    config.api.keys_env = Some(KEYS_ENV.to_owned());
    config.rooms.allow = vec!["chat:*".to_owned()];
    common::start(&config).await
}

async fn connect(addr: SocketAddr, user: &str, tenant: &str, roles: &[&str]) -> Ws {
    let token = tidings::JwtIssuer::hs256(SECRET.as_bytes())
        .issue(user, Some(tenant), roles, Duration::from_secs(600))
        .expect("token");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .expect("connects");
    let hello = next_frame(&mut ws).await.expect("$connected");
    assert_eq!(hello["type"], "$connected");
    ws
}

/// The next frame other than a heartbeat, within a second.
async fn next_frame(ws: &mut Ws) -> Option<Value> {
    common::next_frame(ws, Duration::from_secs(1)).await
}

/// POSTs `body` to `path` with `headers`: the status, the response's headers (lowercase) and
/// its JSON.
async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .collect();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, headers, json)
}

async fn publish(addr: SocketAddr, body: &Value) -> (u16, Value) {
    let auth = format!("Bearer {KEY}");
    let (status, _, json) = post(
        addr,
        "/api/publish",
        &[("Authorization", &auth)],
        &body.to_string(),
    )
    .await;
    (status, json)
}

fn ticket(title: &str) -> Value {
    json!({
        "id": "7e000000-0000-4000-8000-000000000001",
        "tenant_id": T1,
        "title": title,
        "status": "open",
        "created_by": ALICE,
        "assignee_id": BOB,
        "participant_ids": [CAROL],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    })
}

fn ticket_created(title: &str) -> Value {
    json!({ "event": "ticket:created", "data": { "ticket": ticket(title), "actor_id": ALICE } })
}

#[tokio::test]
async fn a_publish_reaches_whom_the_rules_name_within_the_tenant() {
    let addr = start().await;
    let mut alice = connect(addr, ALICE, T1, &[]).await;
    let mut bob = connect(addr, BOB, T1, &[]).await;
    let mut carol = connect(addr, CAROL, T1, &[]).await;
    let mut dave = connect(addr, DAVE, T1, &[]).await;
    let mut admin1 = connect(addr, ADMIN1, T1, &["admin"]).await;
    let mut admin2 = connect(addr, ADMIN2, T2, &["admin"]).await;

    let (status, answer) = publish(addr, &ticket_created("Printer on fire")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["connections"], 3,
        "bob, carol and the tenant's admin: {answer}"
    );
    let id = answer["id"].as_str().expect("the event's id").to_owned();

    for (who, ws) in [
        ("bob", &mut bob),
        ("carol", &mut carol),
        ("admin1", &mut admin1),
    ] {
        let frame = next_frame(ws)
            .await
            .unwrap_or_else(|| panic!("{who} gets it"));
        assert_eq!(frame["type"], "ticket:created", "{who}: {frame}");
        assert_eq!(frame["id"], id.as_str());
        assert_eq!(frame["data"]["ticket"]["title"], "Printer on fire");
        // Defaults are filled in as the generated decoder fills them.
        assert_eq!(frame["data"]["ticket"]["priority"], "normal");
        assert!(
            frame["seq"].is_u64(),
            "durable: numbered in the user's stream: {frame}"
        );
    }
    // The actor, a user the rules do not name, and an admin of another tenant get nothing.
    for (who, ws) in [
        ("alice", &mut alice),
        ("dave", &mut dave),
        ("admin2", &mut admin2),
    ] {
        assert_eq!(next_frame(ws).await, None, "{who} must not get it");
    }
}

#[tokio::test]
async fn bad_publishes_are_refused_with_the_field_and_deliver_nothing() {
    let addr = start().await;
    let mut bob = connect(addr, BOB, T1, &[]).await;
    let long = "x".repeat(201);
    let cases = [
        (
            ticket_created(&long),
            422,
            "constraint_violated",
            Some("ticket.title"),
        ),
        (
            json!({ "event": "ticket:created", "data": { "ticket": ticket("t") } }),
            422,
            "invalid_payload",
            Some("actor_id"),
        ),
        (
            json!({ "event": "ticket:created", "data": { "ticket": ticket("t"), "actor_id": "not-a-uuid" } }),
            422,
            "constraint_violated",
            Some("actor_id"),
        ),
        (
            json!({ "event": "ticket:nope", "data": {} }),
            404,
            "unknown_event",
            None,
        ),
        (
            json!({ "event": "chat:sendMessage", "data": { "chat_id": CHAT, "body": { "type": "deleted" } } }),
            422,
            "wrong_direction",
            None,
        ),
        (json!({ "data": {} }), 400, "bad_request", None),
        (json!([1, 2]), 400, "bad_request", None),
        (
            json!({ "event": "ticket:created", "data": {}, "extra": 1 }),
            400,
            "bad_request",
            None,
        ),
    ];
    for (body, status, code, path) in cases {
        let (got, answer) = publish(addr, &body).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
        if let Some(path) = path {
            assert_eq!(answer["error"]["path"], path, "{body} -> {answer}");
        }
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Not JSON at all, and no or a wrong API key.
    let auth = format!("Bearer {KEY}");
    let (status, _, answer) = post(addr, "/api/publish", &[("Authorization", &auth)], "{").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let body = ticket_created("t").to_string();
    let (status, _, answer) = post(addr, "/api/publish", &[], &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let wrong = [("Authorization", "Bearer test-api-key-0123456780")];
    let (status, _, _) = post(addr, "/api/publish", &wrong, &body).await;
    assert_eq!(status, 401);
    // A batch with one bad event publishes none of them.
    let batch = json!({ "events": [ticket_created("first"), ticket_created(&long)] });
    let (status, answer) = publish(addr, &batch).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["index"], 1);
    assert_eq!(answer["error"]["path"], "ticket.title");
    assert_eq!(next_frame(&mut bob).await, None, "nothing was delivered");
    // A good batch publishes every event, in order.
    let batch = json!({ "events": [ticket_created("one"), ticket_created("two")] });
    let (status, answer) = publish(addr, &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(2));
    for title in ["one", "two"] {
        let frame = next_frame(&mut bob).await.expect("delivered");
        assert_eq!(frame["data"]["ticket"]["title"], title);
    }
}

#[tokio::test]
async fn a_retried_publish_with_its_idempotency_key_publishes_once() {
    let addr = start().await;
    let mut bob = connect(addr, BOB, T1, &[]).await;
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Idempotency-Key", "order-42"),
    ];
    let body = ticket_created("once").to_string();
    let (s1, h1, a1) = post(addr, "/api/publish", &headers, &body).await;
    let (s2, h2, a2) = post(addr, "/api/publish", &headers, &body).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a1, a2, "the same answer, the same event id");
    assert!(!h1.iter().any(|(n, _)| n == "idempotent-replayed"));
    assert!(h2
        .iter()
        .any(|(n, v)| n == "idempotent-replayed" && v == "true"));
    assert!(next_frame(&mut bob).await.is_some());
    assert_eq!(next_frame(&mut bob).await, None, "delivered once");
    // The key with another body is refused.
    let other = ticket_created("another").to_string();
    let (status, _, answer) = post(addr, "/api/publish", &headers, &other).await;
    assert_eq!(status, 422);
    assert_eq!(answer["error"]["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn rooms_a_client_joins_get_the_events_routed_to_them() {
    let addr = start().await;
    let mut bob = connect(addr, BOB, T1, &[]).await;
    let mut carol = connect(addr, CAROL, T1, &[]).await;
    bob.send(Message::Text(
        json!({ "type": "$join", "cid": 1, "room": format!("chat:{CHAT}") })
            .to_string()
            .into(),
    ))
    .await
    .expect("join");
    let reply = next_frame(&mut bob).await.expect("the join's reply");
    assert_eq!(reply["type"], "$reply", "{reply}");
    // A room outside `rooms.allow` is refused.
    carol
        .send(Message::Text(
            json!({ "type": "$join", "cid": 1, "room": "secret" })
                .to_string()
                .into(),
        ))
        .await
        .expect("join");
    let refused = next_frame(&mut carol).await.expect("the refusal");
    assert_eq!(refused["type"], "$error", "{refused}");
    let typing = json!({ "event": "chat:typing", "data": {
        "chat_id": CHAT, "tenant_id": T1, "user_id": ALICE, "is_typing": true,
    }});
    let (status, answer) = publish(addr, &typing).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["connections"], 1);
    let frame = next_frame(&mut bob).await.expect("bob is in the room");
    assert_eq!(frame["type"], "chat:typing");
    assert!(frame.get("seq").is_none(), "ephemeral: not numbered");
    assert_eq!(next_frame(&mut carol).await, None);
}

#[tokio::test]
async fn a_batch_with_an_event_too_large_for_clients_publishes_nothing() {
    let addr = start().await;
    let mut bob = connect(addr, BOB, T1, &[]).await;
    let complete = |result: &str| {
        json!({ "event": "operation:complete", "data": {
            "operation_id": "op-1", "operation_type": "export", "user_id": BOB, "result": result,
        }})
    };
    // 300 KB of result: past the 256 KiB a frame to clients may hold.
    let batch =
        json!({ "events": [complete("small"), complete(&"x".repeat(300_000)), complete("small")] });
    let (status, answer) = publish(addr, &batch).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "too_large");
    assert_eq!(answer["error"]["index"], 1);
    assert!(
        answer.get("results").is_none(),
        "nothing was published: {answer}"
    );
    assert_eq!(next_frame(&mut bob).await, None, "nothing was delivered");
}

#[tokio::test]
async fn every_answer_is_json_and_the_scheme_is_case_insensitive() {
    let addr = start().await;
    let lower = format!("bearer {KEY}");
    let body = ticket_created("t").to_string();
    let (status, _, _) = post(addr, "/api/publish", &[("Authorization", &lower)], &body).await;
    assert_eq!(status, 200, "RFC 9110: the scheme is case-insensitive");
    let (status, _, answer) =
        post(addr, "/api/publish/", &[("Authorization", &lower)], &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    tcp.write_all(
        format!("GET /api/publish HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    assert!(response.contains("\"method_not_allowed\""), "{response}");
}

#[tokio::test]
async fn the_schemas_presence_events_are_announced() {
    let addr = start().await;
    let room = format!("chat:{CHAT}");
    let join = |cid: u64| {
        Message::Text(
            json!({ "type": "$join", "cid": cid, "room": room })
                .to_string()
                .into(),
        )
    };
    let mut bob = connect(addr, BOB, T1, &[]).await;
    bob.send(join(1)).await.expect("join");
    assert_eq!(next_frame(&mut bob).await.expect("reply")["type"], "$reply");
    let mut carol = connect(addr, CAROL, T1, &[]).await;
    carol.send(join(1)).await.expect("join");
    let joined = next_frame(&mut bob).await.expect("carol's join, announced");
    assert_eq!(joined["type"], "chat:member_joined", "{joined}");
    assert_eq!(joined["data"]["user_id"], CAROL);
    assert_eq!(joined["data"]["chat_id"], CHAT);
    assert_eq!(joined["data"]["tenant_id"], T1);
    // A user of another tenant in a room of the same name hears nothing of it.
    let mut other = connect(addr, DAVE, T2, &[]).await;
    other.send(join(1)).await.expect("join");
    assert_eq!(
        next_frame(&mut other).await.expect("reply")["type"],
        "$reply"
    );
    drop(carol);
    let left = next_frame(&mut bob).await.expect("carol left, announced");
    assert_eq!(left["type"], "chat:member_left", "{left}");
    assert_eq!(left["data"]["user_id"], CAROL);
    assert_eq!(next_frame(&mut other).await, None);
}
