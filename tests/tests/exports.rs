//! The exports, checked with a real validator (the `jsonschema` crate): JSON the Rust types
//! produce validates against the exported JSON Schemas, and constraint-violating JSON does not;
//! the JSON Schema of the schema format accepts every shipped schema file and refuses mistakes.

use std::path::Path;

use serde_json::{json, Value};
use tidings_examples::events::{chat, operation, ticket};
use tidings_tests::{repo_root, shipped_schema};

fn schemas() -> std::collections::BTreeMap<std::path::PathBuf, String> {
    tidings_codegen::jsonschema::generate(&shipped_schema())
}

fn validator(file: &str) -> jsonschema::Validator {
    let files = schemas();
    let text = files
        .get(Path::new(file))
        .unwrap_or_else(|| panic!("{file} is exported"));
    let schema: Value = serde_json::from_str(text).expect("JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid JSON Schema")
}

fn ticket_json() -> Value {
    let t = ticket::Ticket {
        id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        tenant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
        title: "Printer on fire".into(),
        description: None,
        status: ticket::TicketStatus::InProgress,
        priority: ticket::TicketPriority::High,
        created_by: "16fd2706-8baf-433b-82eb-8c7fada847da".into(),
        assignee_id: Some("886313e1-3b8a-5372-9b90-0c9aee199e5d".into()),
        participant_ids: vec!["886313e1-3b8a-5372-9b90-0c9aee199e5d".into()],
        tags: vec!["hardware".into()],
        created_at: "2026-11-22T09:30:00Z".into(),
        updated_at: "2026-11-22T09:31:00.250+01:00".into(),
    };
    serde_json::to_value(ticket::Created {
        ticket: t,
        actor_id: "16fd2706-8baf-433b-82eb-8c7fada847da".into(),
    })
    .expect("serializes")
}

#[test]
fn json_from_the_rust_types_validates_and_violations_do_not() {
    let v = validator("ticket/events/created.schema.json");
    let good = ticket_json();
    assert!(
        v.is_valid(&good),
        "{:?}",
        v.iter_errors(&good)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );

    let mut extra = good.clone();
    extra["ticket"]["future_field"] = json!(1);
    assert!(
        v.is_valid(&extra),
        "unknown properties are allowed: readers ignore them"
    );
    let mut null_optional = good.clone();
    null_optional["ticket"]["assignee_id"] = Value::Null;
    assert!(v.is_valid(&null_optional), "optional fields may be null");

    type Mutation = Box<dyn Fn(&mut Value)>;
    let bad: Vec<(&str, Mutation)> = vec![
        (
            "empty title",
            Box::new(|j| j["ticket"]["title"] = json!("")),
        ),
        (
            "title too long",
            Box::new(|j| j["ticket"]["title"] = json!("x".repeat(201))),
        ),
        (
            "unknown status",
            Box::new(|j| j["ticket"]["status"] = json!("archived")),
        ),
        ("not a uuid", Box::new(|j| j["actor_id"] = json!("user-1"))),
        (
            "not a timestamp",
            Box::new(|j| j["ticket"]["created_at"] = json!("yesterday")),
        ),
        (
            "missing required field",
            Box::new(|j| {
                j["ticket"]
                    .as_object_mut()
                    .expect("object")
                    .remove("created_by");
            }),
        ),
        (
            "too many participants",
            Box::new(|j| {
                j["ticket"]["participant_ids"] =
                    json!(vec!["0f8fad5b-d9cb-469f-a165-70867728950e"; 501])
            }),
        ),
        (
            "wrong type",
            Box::new(|j| j["ticket"]["tags"] = json!("hardware")),
        ),
    ];
    for (what, mutate) in bad {
        let mut j = good.clone();
        mutate(&mut j);
        assert!(!v.is_valid(&j), "{what} must be refused");
    }
}

#[test]
fn constraints_unions_and_defaults_are_in_the_schemas() {
    let progress = validator("operation/events/progress.schema.json");
    let p = |pct: u8| {
        serde_json::to_value(operation::Progress {
            operation_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            operation_type: "export".into(),
            user_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
            stage: "rows".into(),
            percentage: pct,
            message: None,
        })
        .expect("serializes")
    };
    assert!(progress.is_valid(&p(100)));
    assert!(!progress.is_valid(&p(101)), "a percentage of 101");

    let body = validator("chat/MessageBody.schema.json");
    let text = serde_json::to_value(chat::MessageBody::Text(chat::TextBody {
        text: "hi".into(),
    }))
    .expect("serializes");
    let deleted = serde_json::to_value(chat::MessageBody::Deleted).expect("serializes");
    assert!(body.is_valid(&text), "{text}");
    assert!(body.is_valid(&deleted), "{deleted}");
    assert!(
        !body.is_valid(&json!({ "type": "video" })),
        "unknown variant"
    );
    assert!(
        !body.is_valid(&json!({ "type": "image", "url": "x" })),
        "variant fields are required"
    );
    assert!(
        !body.is_valid(&json!({ "type": "text", "text": "" })),
        "variant constraints apply"
    );

    let files = schemas();
    let ticket_schema: Value =
        serde_json::from_str(&files[Path::new("ticket/Ticket.schema.json")]).expect("JSON");
    assert_eq!(
        ticket_schema["$defs"]["ticket.Ticket"]["properties"]["priority"]["default"],
        "normal"
    );
    assert_eq!(
        ticket_schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

fn toml_as_json(text: &str) -> Value {
    let value: toml::Value = toml::from_str(text).expect("TOML");
    serde_json::to_value(value).expect("JSON")
}

#[test]
fn the_schema_formats_own_schema_is_committed_and_accepts_every_shipped_file() {
    let committed = std::fs::read_to_string(repo_root().join("docs/tidings-schema.json"))
        .expect("docs/tidings-schema.json");
    assert_eq!(
        committed,
        tidings_codegen::editor::schema_json(),
        "regenerate with `tidings export toml-schema --out docs/tidings-schema.json`"
    );
    let schema: Value = serde_json::from_str(&committed).expect("JSON");
    let v = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for dir in ["schemas", "examples/schemas"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let json = toml_as_json(&std::fs::read_to_string(&path).expect("read"));
            assert!(
                v.is_valid(&json),
                "{}: {:?}",
                path.display(),
                v.iter_errors(&json)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            );
        }
    }
    for (what, text) in [
        (
            "unknown event key",
            "module = \"m\"\n[events.e]\ntenat = \"t\"\n",
        ),
        (
            "unknown direction",
            "module = \"m\"\n[events.e]\ndirection = \"sideways\"\n",
        ),
        ("missing module", "[events.e]\ndoc = \"x\"\n"),
        (
            "field table without a type",
            "module = \"m\"\n[types.T]\nfields.a = { doc = \"x\" }\n",
        ),
        ("bad kind", "module = \"m\"\n[types.T]\nkind = \"record\"\n"),
    ] {
        assert!(!v.is_valid(&toml_as_json(text)), "{what} must be refused");
    }
}
