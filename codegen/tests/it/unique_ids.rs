//! Ids the exports build from names are unique by construction: two events whose module and key
//! concatenate alike (`chat` + `room_created`, `chat_room` + `created`) get an AsyncAPI message,
//! operation and reply each, and a catalog section each.

use tidings_codegen::{check, Sources};

fn lookalikes() -> tidings_codegen::schema::Schema {
    let mut sources = Sources::new();
    sources.add(
        "chat.toml",
        r#"module = "chat"
[events.room_created]
recipients.user = ["user_id"]
payload.user_id = "uuid"
[events.ask]
direction = "both"
payload.user_id = "uuid"
reply = "string"
[events.ask_reply]
direction = "to_server"
payload.user_id = "uuid"
[events.chat]
name = "module:chat"
recipients.user = ["user_id"]
payload.user_id = "uuid"
"#,
    );
    sources.add(
        "chat_room.toml",
        r#"module = "chat_room"
[events.created]
direction = "both"
recipients.user = ["user_id"]
payload.user_id = "uuid"
"#,
    );
    match check(&sources) {
        Ok(c) => c.schema,
        Err(d) => panic!("{}", d.render(&sources)),
    }
}

#[test]
fn asyncapi_messages_and_operations_of_lookalike_events_are_distinct() {
    let doc: serde_json::Value =
        serde_json::from_str(&tidings_codegen::asyncapi::generate(&lookalikes())).expect("JSON");
    let messages = doc["components"]["messages"].as_object().expect("messages");
    let mut ids: Vec<&str> = messages.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "chat.ask",
            "chat.ask.reply",
            "chat.ask_reply",
            "chat.chat",
            "chat.room_created",
            "chat_room.created"
        ]
    );
    let operations = doc["operations"].as_object().expect("operations");
    let mut ops: Vec<&str> = operations.keys().map(String::as_str).collect();
    ops.sort_unstable();
    assert_eq!(
        ops,
        [
            "chat.ask.receive",
            "chat.ask.send.users",
            "chat.ask_reply.receive",
            "chat.chat.send.users",
            "chat.room_created.send.users",
            "chat_room.created.receive",
            "chat_room.created.send.users"
        ]
    );
    for id in ids.iter().chain(&ops) {
        assert!(is_asyncapi_key(id), "`{id}` is not an AsyncAPI key");
    }
}

/// `^[a-zA-Z0-9\.\-_]+$`, the keys AsyncAPI 3.0 allows for components and operations.
fn is_asyncapi_key(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[test]
fn catalog_sections_of_lookalike_events_have_distinct_ids() {
    let files = tidings_codegen::catalog::generate(&lookalikes());
    let html = files
        .iter()
        .find(|(p, _)| p.extension().is_some_and(|e| e == "html"))
        .map(|(_, t)| t)
        .expect("an HTML catalog");
    let ids: Vec<&str> = html
        .split(" id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicate ids in {ids:?}");
    // Both lookalikes, `module:chat` (which looks like the module's own id) and the others.
    assert_eq!(
        ids.iter()
            .filter(|i| i.starts_with("chat-room-created"))
            .count(),
        2
    );
    assert!(
        ids.contains(&"chat-ask"),
        "an id nobody shares is kept: {ids:?}"
    );
    assert!(ids.contains(&"module-chat-2"), "{ids:?}");
}
