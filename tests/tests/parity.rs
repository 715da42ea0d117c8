//! One contract, two ways to declare it: the shipped ticket, chat and operation events declared
//! with `#[derive(Event)]` / `#[derive(Describe)]` describe the same IR as `schemas/*.toml`, and
//! generate byte-identical TypeScript.

#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]

use serde::{Deserialize, Serialize};
use tidings::{Describe, Event};

mod ticket {
    use super::*;

    /// Where a ticket is in its lifecycle.
    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "ticket")]
    #[serde(rename_all = "snake_case")]
    pub enum TicketStatus {
        Open,
        InProgress,
        WaitingOnCustomer,
        Resolved,
        Closed,
    }

    #[derive(Serialize, Deserialize, Describe, Default)]
    #[tidings(module = "ticket")]
    #[serde(rename_all = "lowercase")]
    pub enum TicketPriority {
        Low,
        #[default]
        Normal,
        High,
        Urgent,
    }

    /// A support ticket, as clients display it.
    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "ticket")]
    pub struct Ticket {
        #[tidings(uuid)]
        pub id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        /// One-line summary.
        #[tidings(min_length = 1, max_length = 200)]
        pub title: String,
        #[tidings(max_length = 20000)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub description: Option<String>,
        pub status: TicketStatus,
        #[serde(default)]
        pub priority: TicketPriority,
        /// The user who opened the ticket.
        #[tidings(uuid)]
        pub created_by: String,
        /// The agent working on the ticket, if any.
        #[tidings(uuid)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub assignee_id: Option<String>,
        /// Users following the ticket.
        #[tidings(uuid, max_length = 500)]
        pub participant_ids: Vec<String>,
        #[serde(default)]
        #[tidings(max_length = 20)]
        pub tags: Vec<String>,
        #[tidings(timestamp)]
        pub created_at: String,
        #[tidings(timestamp)]
        pub updated_at: String,
    }

    /// A ticket was opened.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "ticket",
        tenant = "ticket.tenant_id",
        user = "ticket.created_by",
        user = "ticket.assignee_id"
    )]
    #[event(
        users = "ticket.participant_ids",
        role = "admin",
        role = "super_admin",
        except = "actor_id"
    )]
    pub struct Created {
        pub ticket: Ticket,
        /// The user who opened it (on behalf of the creator, possibly).
        #[tidings(uuid)]
        pub actor_id: String,
    }

    /// Fields of a ticket other than its status changed.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "ticket",
        tenant = "ticket.tenant_id",
        user = "ticket.created_by",
        user = "ticket.assignee_id"
    )]
    #[event(
        users = "ticket.participant_ids",
        role = "admin",
        role = "super_admin",
        except = "actor_id"
    )]
    pub struct Updated {
        /// The ticket after the change.
        pub ticket: Ticket,
        /// Names of the fields that changed.
        #[tidings(min_length = 1)]
        pub changed: Vec<String>,
        /// The user who made the change.
        #[tidings(uuid)]
        pub actor_id: String,
    }

    /// A ticket moved to another status.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "ticket",
        name = "ticket:statusChanged",
        tenant = "ticket.tenant_id"
    )]
    #[event(
        user = "ticket.created_by",
        user = "ticket.assignee_id",
        users = "ticket.participant_ids"
    )]
    #[event(role = "admin", role = "super_admin", except = "actor_id")]
    pub struct StatusChanged {
        /// The ticket in its new status.
        pub ticket: Ticket,
        pub previous_status: TicketStatus,
        /// The user who changed the status.
        #[tidings(uuid)]
        pub actor_id: String,
    }

    /// A ticket was deleted; clients drop it from their lists.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "ticket",
        tenant = "tenant_id",
        user = "created_by",
        user = "assignee_id",
        users = "participant_ids"
    )]
    #[event(role = "admin", role = "super_admin", except = "actor_id")]
    pub struct Deleted {
        #[tidings(uuid)]
        pub ticket_id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        #[tidings(uuid)]
        pub created_by: String,
        #[tidings(uuid)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub assignee_id: Option<String>,
        #[tidings(uuid)]
        pub participant_ids: Vec<String>,
        /// The user who deleted the ticket.
        #[tidings(uuid)]
        pub actor_id: String,
    }
}

mod chat {
    use super::*;

    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "chat")]
    pub struct TextBody {
        #[tidings(min_length = 1, max_length = 10000)]
        pub text: String,
    }

    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "chat")]
    pub struct ImageBody {
        #[tidings(min_length = 1, max_length = 2048)]
        pub url: String,
        pub width: u32,
        pub height: u32,
        #[tidings(max_length = 500)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub alt: Option<String>,
    }

    /// What a message holds.
    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "chat")]
    #[serde(tag = "type", rename_all = "lowercase")]
    pub enum MessageBody {
        Text(TextBody),
        Image(ImageBody),
        /// The message was deleted; only its place in the history remains.
        Deleted,
    }

    /// A stored chat message.
    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "chat")]
    pub struct ChatMessage {
        #[tidings(uuid)]
        pub id: String,
        #[tidings(uuid)]
        pub chat_id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        #[tidings(uuid)]
        pub sender_id: String,
        pub body: MessageBody,
        /// The sender's idempotency key, echoed back.
        #[tidings(max_length = 64)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client_id: Option<String>,
        #[tidings(timestamp)]
        pub sent_at: String,
        #[tidings(timestamp)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub edited_at: Option<String>,
    }

    /// A message was posted to a chat.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "chat",
        tenant = "message.tenant_id",
        room = "chat:{message.chat_id}"
    )]
    pub struct Message {
        pub message: ChatMessage,
    }

    /// Someone in a chat started or stopped typing.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "chat",
        delivery = "ephemeral",
        tenant = "tenant_id",
        room = "chat:{chat_id}",
        except = "user_id"
    )]
    pub struct Typing {
        #[tidings(uuid)]
        pub chat_id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        #[tidings(uuid)]
        pub user_id: String,
        pub is_typing: bool,
    }

    /// Someone opened the chat: their first connection joined its room. Announced by the hub itself.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "chat",
        presence = "joined",
        delivery = "ephemeral",
        tenant = "tenant_id",
        room = "chat:{chat_id}",
        except = "user_id"
    )]
    pub struct MemberJoined {
        #[tidings(uuid)]
        pub chat_id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        #[tidings(uuid)]
        pub user_id: String,
    }

    /// Someone left the chat: their last connection left its room, or closed. Announced by the hub itself.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "chat",
        presence = "left",
        delivery = "ephemeral",
        tenant = "tenant_id",
        room = "chat:{chat_id}"
    )]
    pub struct MemberLeft {
        #[tidings(uuid)]
        pub chat_id: String,
        #[tidings(uuid)]
        pub tenant_id: String,
        #[tidings(uuid)]
        pub user_id: String,
    }

    /// The client posts a message; the reply is the stored message.
    #[derive(Serialize, Deserialize, Event)]
    #[event(module = "chat", name = "chat:sendMessage", direction = "to_server", reply = ChatMessage)]
    pub struct SendMessage {
        #[tidings(uuid)]
        pub chat_id: String,
        pub body: MessageBody,
        /// An idempotency key: resending with the same key stores one message.
        #[tidings(max_length = 64)]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client_id: Option<String>,
    }

    /// The client says its user started or stopped typing.
    #[derive(Serialize, Deserialize, Event)]
    #[event(module = "chat", name = "chat:setTyping", direction = "to_server")]
    pub struct SetTyping {
        #[tidings(uuid)]
        pub chat_id: String,
        pub is_typing: bool,
    }
}

mod operation {
    use super::*;

    /// Why an operation failed.
    #[derive(Serialize, Deserialize, Describe)]
    #[tidings(module = "operation")]
    pub struct OperationError {
        /// A stable machine-readable code, such as `quota_exceeded`.
        #[tidings(min_length = 1)]
        pub code: String,
        /// A message for the user.
        pub message: String,
        /// Whether starting the operation again may succeed.
        #[serde(default)]
        pub retryable: bool,
    }

    /// An operation advanced. Percentages never decrease for one operation.
    #[derive(Serialize, Deserialize, Event)]
    #[event(module = "operation", user = "user_id")]
    pub struct Progress {
        /// The operation's id: a UUID, or the app's own (`export-42`).
        #[tidings(min_length = 1, max_length = 128)]
        pub operation_id: String,
        /// What kind of operation this is, such as `export_csv`.
        #[tidings(min_length = 1)]
        pub operation_type: String,
        /// The user who started the operation, as the server knows them.
        #[tidings(min_length = 1)]
        pub user_id: String,
        /// The current step, such as `reading rows`.
        pub stage: String,
        #[tidings(min = 0, max = 100)]
        pub percentage: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
    }

    /// An operation finished successfully.
    #[derive(Serialize, Deserialize, Event)]
    #[event(module = "operation", user = "user_id")]
    pub struct Complete {
        #[tidings(min_length = 1, max_length = 128)]
        pub operation_id: String,
        #[tidings(min_length = 1)]
        pub operation_type: String,
        #[tidings(min_length = 1)]
        pub user_id: String,
        /// What the operation produced; its shape depends on `operation_type`.
        pub result: serde_json::Value,
        /// Tables whose client-side caches are now stale.
        #[serde(default)]
        pub refresh_tables: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
    }

    /// An operation failed.
    #[derive(Serialize, Deserialize, Event)]
    #[event(
        module = "operation",
        key = "failed",
        name = "operation:error",
        user = "user_id"
    )]
    pub struct Failed {
        #[tidings(min_length = 1, max_length = 128)]
        pub operation_id: String,
        #[tidings(min_length = 1)]
        pub operation_type: String,
        #[tidings(min_length = 1)]
        pub user_id: String,
        pub error: OperationError,
    }
}

/// The IR without what only one route knows: source locations, module descriptions and versions.
fn comparable(mut schema: tidings::schema::Schema, modules: &[&str]) -> tidings::schema::Schema {
    schema
        .modules
        .retain(|m| modules.contains(&m.name.as_str()));
    let mut json = serde_json::to_value(&schema).expect("serializes");
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("location");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut json);
    let mut schema: tidings::schema::Schema = serde_json::from_value(json).expect("deserializes");
    for m in &mut schema.modules {
        m.description = None;
        m.version = None;
    }
    schema
}

const MODULES: [&str; 3] = ["chat", "operation", "ticket"];

fn from_toml() -> tidings::schema::Schema {
    comparable(tidings_tests::shipped_schema(), &MODULES)
}

fn from_derive() -> tidings::schema::Schema {
    comparable(
        tidings::describe::schema().expect("the derived events form one schema"),
        &MODULES,
    )
}

#[test]
fn derived_and_toml_declarations_describe_the_same_ir() {
    let toml = from_toml();
    let derived = from_derive();
    for (a, b) in toml.modules.iter().zip(&derived.modules) {
        assert_eq!(a.name, b.name);
        for (ta, tb) in a.types.iter().zip(&b.types) {
            assert_eq!(ta, tb, "type {}.{}", a.name, ta.name);
        }
        for (ea, eb) in a.events.iter().zip(&b.events) {
            assert_eq!(ea, eb, "event {}", ea.name);
        }
    }
    assert_eq!(toml, derived);
}

#[test]
fn derived_and_toml_declarations_generate_identical_typescript() {
    let options = tidings_codegen::ts::TsOptions {
        react: true,
        vue: true,
        publisher: true,
    };
    let toml = tidings_codegen::ts::generate(&from_toml(), &options);
    let derived = tidings_codegen::ts::generate(&from_derive(), &options);
    assert_eq!(
        toml.keys().collect::<Vec<_>>(),
        derived.keys().collect::<Vec<_>>()
    );
    for (name, content) in &toml {
        assert_eq!(content, &derived[name], "{} differs", name.display());
    }
}

#[test]
fn derived_events_behave_like_generated_ones() {
    use tidings::Event as _;
    let progress = operation::Progress {
        operation_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        operation_type: "export".into(),
        user_id: "9b2c1e6a-3f4d-4a8b-9c7d-1e2f3a4b5c6d".into(),
        stage: "rows".into(),
        percentage: 101,
        message: None,
    };
    let v = progress.validate().expect_err("101 is above the maximum");
    assert_eq!(
        (v.field.as_str(), v.message.as_str()),
        ("percentage", "must be at most 100, got 101")
    );
    assert_eq!(
        progress.recipients().users(),
        ["9b2c1e6a-3f4d-4a8b-9c7d-1e2f3a4b5c6d"]
    );
    assert_eq!(
        <chat::SendMessage as tidings::Event>::NAME,
        "chat:sendMessage"
    );

    let typing = chat::Typing {
        chat_id: "c".into(),
        tenant_id: "t".into(),
        user_id: "u".into(),
        is_typing: true,
    };
    let r = typing.recipients();
    assert_eq!(r.rooms(), ["chat:c"]);
    assert_eq!(r.scope(), &tidings::Scope::Tenant("t".into()));
    assert_eq!(r.excluded(), ["u"]);
    let _ = typing.validate().expect_err("`c` is not a UUID");
}

/// One set of value checks: the derived and the generated `ticket:created` refuse the same
/// values with the same place and message.
#[test]
fn derived_and_generated_events_refuse_alike() {
    use tidings::Event as _;
    use tidings_tests::events::ticket as generated;
    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
    type Change = fn(&mut serde_json::Value);
    let cases: [(&str, Change); 6] = [
        ("title too long", |v| {
            v["ticket"]["title"] = "x".repeat(201).into()
        }),
        ("title empty", |v| v["ticket"]["title"] = "".into()),
        ("a bad participant", |v| {
            v["ticket"]["participant_ids"] = serde_json::json!([ID, "nope"])
        }),
        ("too many tags", |v| {
            v["ticket"]["tags"] = serde_json::json!(vec!["t"; 21])
        }),
        ("a bad timestamp", |v| {
            v["ticket"]["created_at"] = "2025-02-29T00:00:00Z".into()
        }),
        ("a bad actor", |v| v["actor_id"] = "nope".into()),
    ];
    for (what, change) in cases {
        let mut v = serde_json::json!({
            "ticket": {
                "id": ID, "tenant_id": ID, "title": "t", "status": "open", "priority": "low",
                "created_by": ID, "participant_ids": [ID], "tags": [],
                "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
            },
            "actor_id": ID
        });
        change(&mut v);
        let derived: ticket::Created = serde_json::from_value(v.clone()).expect("derived decodes");
        let generated: generated::Created = serde_json::from_value(v).expect("generated decodes");
        let (d, g) = (derived.validate(), generated.validate());
        assert!(d.is_err(), "{what}: the derived event accepts it");
        assert_eq!(d, g, "{what}");
    }
}
