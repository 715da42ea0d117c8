//! Frames clients send: typed handlers with replies, and a table of bad frames, each answered
//! with an error frame while the session stays up.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{event_frame, hub_builder, TestServer};

#[tokio::test]
async fn a_typed_handler_replies_to_the_request() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=alice&tenant=acme").await;
    let joined = c
        .request(json!({ "type": "$join", "cid": 1, "room": "chat:7" }))
        .await;
    assert_eq!(joined["type"], "$reply");
    let reply = c
        .request(event_frame(
            "chat:sendMessage",
            2,
            json!({ "chat_id": "7", "text": "hello" }),
        ))
        .await;
    assert_eq!(reply["type"], "$reply", "{reply}");
    assert_eq!(reply["cid"], 2);
    assert_eq!(
        reply["data"],
        json!({ "id": 1, "chat_id": "7", "text": "hello", "sender": "alice" })
    );

    let reply = c
        .request(event_frame(
            "chat:sendMessage",
            3,
            json!({ "chat_id": "7", "text": "boom" }),
        ))
        .await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("$error"), Some("storage_down"))
    );

    let reply = c
        .request(event_frame(
            "chat:sendMessage",
            4,
            json!({ "chat_id": "8", "text": "hi" }),
        ))
        .await;
    assert_eq!(
        reply["code"], "forbidden",
        "handlers see the session's rooms: {reply}"
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_session_stays_up() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut c = server.client("user=alice&tenant=acme").await;
    let cases: Vec<(&str, Message, &str, Option<&str>)> = vec![
        ("malformed JSON", Message::Text("{not json".into()), "bad_frame", None),
        ("not an object", Message::Text("[1,2]".into()), "bad_frame", None),
        ("no type (named, and its cid echoed)", Message::Text(r#"{"cid":1}"#.into()), "bad_frame", Some("type")),
        ("binary frame", Message::Binary(vec![1, 2, 3].into()), "binary_unsupported", None),
        ("unknown event", Message::Text(r#"{"type":"chat:nope","cid":5,"data":{}}"#.into()), "unknown_event", None),
        ("unknown control frame", Message::Text(r#"{"type":"$nope","cid":6}"#.into()), "unknown_event", None),
        (
            "server-only event",
            Message::Text(r#"{"type":"ticket:created","cid":7,"data":{}}"#.into()),
            "unknown_event",
            None,
        ),
        (
            "wrong payload type",
            Message::Text(r#"{"type":"chat:sendMessage","cid":8,"data":{"chat_id":7,"text":"x"}}"#.into()),
            "invalid_payload",
            None,
        ),
        (
            "missing field",
            Message::Text(r#"{"type":"chat:sendMessage","cid":9,"data":{"text":"x"}}"#.into()),
            "invalid_payload",
            None,
        ),
        (
            "constraint violated",
            Message::Text(
                r#"{"type":"chat:sendMessage","cid":10,"data":{"chat_id":"7","text":"far too long for the limit of twenty"}}"#.into(),
            ),
            "constraint_violated",
            Some("text"),
        ),
        ("join without room", Message::Text(r#"{"type":"$join","cid":11}"#.into()), "bad_frame", Some("room")),
        ("join denied", Message::Text(r#"{"type":"$join","cid":12,"room":"secret"}"#.into()), "forbidden", Some("room")),
        ("refresh unsupported", Message::Text(r#"{"type":"$auth","cid":13,"token":"x"}"#.into()), "auth_failed", None),
    ];
    for (what, frame, code, field) in cases {
        c.send_raw(frame).await;
        let answer = c.recv_app().await;
        assert_eq!(answer["type"], "$error", "{what}: {answer}");
        assert_eq!(answer["code"], code, "{what}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {answer}"
        );
        assert_eq!(answer["field"].as_str(), field, "{what}: {answer}");
    }
    // Still up: a ping is answered.
    c.send_json(json!({ "type": "$ping" })).await;
    assert_eq!(c.recv_app().await["type"], "$pong");
    assert_eq!(server.hub.metrics().errors_sent, 13);
}
