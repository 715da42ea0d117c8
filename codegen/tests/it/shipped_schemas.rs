//! The schemas shipped in `schemas/` are clean and say what the product promises.

use std::path::Path;

use tidings_codegen::schema::{Delivery, Direction, Number, Rule, Scope};

fn shipped() -> tidings_codegen::Checked {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let (sources, result) = tidings_codegen::check_paths(&[dir]).expect("schemas/ is readable");
    match result {
        Ok(checked) => {
            assert!(
                checked.warnings.is_empty(),
                "{}",
                checked.warnings.render(&sources)
            );
            checked
        }
        Err(diags) => panic!("{}", diags.render(&sources)),
    }
}

#[test]
fn shipped_schemas_are_clean() {
    let schema = shipped().schema;
    let names: Vec<_> = schema.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ai",
            "chat",
            "common",
            "notification",
            "operation",
            "tenant",
            "ticket"
        ]
    );
}

#[test]
fn ticket_events_reach_everyone_involved_but_the_actor() {
    let schema = shipped().schema;
    for wire in [
        "ticket:created",
        "ticket:updated",
        "ticket:statusChanged",
        "ticket:deleted",
    ] {
        let (_, e) = schema.event_by_wire_name(wire).expect(wire);
        let r = e
            .recipients
            .as_ref()
            .expect("ticket events declare recipients");
        assert!(matches!(r.scope, Scope::Tenant { .. }), "{wire}");
        assert!(r.except.is_some(), "{wire} excludes the actor");
        let roles: Vec<_> = r
            .rules
            .iter()
            .filter_map(|rule| match rule {
                Rule::Role { role } => Some(role.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(roles, ["admin", "super_admin"], "{wire}");
        assert_eq!(
            r.rules
                .iter()
                .filter(|r| matches!(r, Rule::User { .. }))
                .count(),
            2,
            "{wire}: creator and assignee"
        );
        assert!(
            r.rules.iter().any(|r| matches!(r, Rule::Users { .. })),
            "{wire}: participants"
        );
    }
}

#[test]
fn typing_is_ephemeral_and_sending_a_message_replies() {
    let schema = shipped().schema;
    let (_, typing) = schema.event_by_wire_name("chat:typing").expect("typing");
    assert_eq!(typing.delivery, Delivery::Ephemeral);
    let (_, send) = schema.event_by_wire_name("chat:sendMessage").expect("send");
    assert_eq!(send.direction, Direction::ClientToServer);
    assert_eq!(
        send.reply.as_ref().map(ToString::to_string).as_deref(),
        Some("chat.ChatMessage")
    );
}

#[test]
fn operation_progress_is_bounded_to_a_percentage() {
    let schema = shipped().schema;
    let (_, progress) = schema
        .event_by_wire_name("operation:progress")
        .expect("progress");
    let pct = progress.field("percentage").expect("percentage");
    assert_eq!(
        (pct.constraints.min, pct.constraints.max),
        (Some(Number::Int(0)), Some(Number::Int(100)))
    );
}

#[test]
fn the_ir_round_trips_through_json() {
    let schema = shipped().schema;
    let json = serde_json::to_string(&schema).expect("serializes");
    let back: tidings_codegen::schema::Schema = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, schema);
}
