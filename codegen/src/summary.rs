//! Plain-words descriptions of IR items, for summaries and docs.

use std::fmt::Write as _;

use tidings::schema::{EventDef, PresenceKind, Recipients, Rule, Schema, Scope};

/// The first line of the documentation of an event's payload type, in every backend:
/// "Payload of `ticket:created`." and the event's own documentation.
pub fn payload_doc(e: &EventDef) -> String {
    format!(
        "Payload of `{}`.{}",
        e.name,
        e.doc
            .as_deref()
            .map(|d| format!(" {d}"))
            .unwrap_or_default()
    )
}

/// Who receives an event, in a short phrase: "user ticket.created_by, role admin (in tenant
/// tenant_id), except actor_id". Events clients send say who handles them.
pub fn recipients(e: &EventDef) -> String {
    match &e.recipients {
        Some(r) => match presence(e) {
            Some(when) => format!("{}; {when}", in_words(r)),
            None => in_words(r),
        },
        None if e.direction.server_sends() => "targets chosen at emit time".to_owned(),
        None => match &e.reply {
            Some(reply) => format!("handled by the server, replies `{reply}`"),
            None => "handled by the server".to_owned(),
        },
    }
}

/// When the hub announces a presence event, in words; `None` for other events.
pub fn presence(e: &EventDef) -> Option<&'static str> {
    e.presence.map(|kind| match kind {
        PresenceKind::Joined => {
            "announced by the hub when a user's first connection joins the room"
        }
        PresenceKind::Left => {
            "announced by the hub when a user's last connection leaves the room (or closes)"
        }
    })
}

/// Recipients in words: the rules, the scope, the actor excluded.
fn in_words(r: &Recipients) -> String {
    let rules: Vec<String> = r.rules.iter().map(rule).collect();
    let mut out = rules.join(", ");
    match &r.scope {
        Scope::Tenant { field } => out.push_str(&format!(" (in tenant {field})")),
        Scope::Platform => out.push_str(" (platform-wide)"),
        Scope::Users => {}
    }
    if let Some(except) = &r.except {
        out.push_str(&format!(", except {except}"));
    }
    out
}

/// One recipient rule in words: `user ticket.owner_id`, `room chat:{chat_id}`.
pub fn rule(r: &Rule) -> String {
    match r {
        Rule::User { field } => format!("user {field}"),
        Rule::Users { field } => format!("users in {field}"),
        Rule::Role { role } => format!("role {role}"),
        Rule::Room { template } => format!("room {}", template.template),
        Rule::Everyone => "everyone".to_owned(),
    }
}

/// A table of every module and event: wire name, direction, delivery and recipients.
pub fn summary(schema: &Schema) -> String {
    let mut out = String::new();
    let width = schema
        .events()
        .map(|(_, e)| e.name.len())
        .max()
        .unwrap_or(0);
    for m in &schema.modules {
        let _ = write!(out, "{}", m.name);
        if let Some(v) = &m.version {
            let _ = write!(out, " v{v}");
        }
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let _ = writeln!(
            out,
            " — {}, {}",
            plural(m.events.len(), "event"),
            plural(m.types.len(), "type")
        );
        for e in &m.events {
            let _ = writeln!(
                out,
                "  {:width$}  {:9}  {:9}  {}",
                e.name,
                e.direction.as_str(),
                if e.direction.server_sends() {
                    e.delivery.as_str()
                } else {
                    "-"
                },
                recipients(e)
            );
        }
    }
    let _ = writeln!(out, "{}", counts(schema));
    out
}

/// How much a schema holds: "6 modules, 24 events, 9 types".
pub fn counts(schema: &Schema) -> String {
    let events: usize = schema.modules.iter().map(|m| m.events.len()).sum();
    let types: usize = schema.modules.iter().map(|m| m.types.len()).sum();
    let plural = |n: usize, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    format!(
        "{}, {}, {}",
        plural(schema.modules.len(), "module"),
        plural(events, "event"),
        plural(types, "type")
    )
}
