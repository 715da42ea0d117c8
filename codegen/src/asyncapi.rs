//! The AsyncAPI 3.0.0 backend: the whole event system as one document, seen from the server.
//!
//! Channels are the delivery streams a client listens on — a user's stream, a room, a tenant,
//! the platform — and the server's inbound channel for events clients send. Each event the
//! server sends is a `send` operation on every channel its recipient rules reach; each event
//! clients send is a `receive` operation on the inbound channel, with a `reply` when it has one.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use tidings::schema::{EventDef, Module, Rule, Schema, Scope, TypeRef};

use crate::catalog::PROTOCOL_URL;
use crate::jsonschema::{def_schema, key, object_schema, type_schema, Refs};
use crate::project::Project;

/// A channel: id, address, description, and its parameters (name, description).
type Channel = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The channels of the document.
const CHANNELS: [Channel; 5] = [
    ("users", "users/{userId}", "The delivery stream of one user, shared by all the user's connections. Durable events are numbered in it.", &[("userId", "The user's id.")]),
    ("rooms", "tenants/{tenantId}/rooms/{room}", "Connections that joined a room of a tenant.", &[("tenantId", "The tenant's id."), ("room", "The room's name, built from the event's payload (`chat:{chat_id}`).")]),
    ("tenants", "tenants/{tenantId}", "Connections of one tenant, selected by role or all of them.", &[("tenantId", "The tenant's id.")]),
    ("platform", "platform", "Connections of every tenant, selected by role or all of them.", &[]),
    ("server", "server", "Events clients send to the server, with their replies.", &[]),
];

/// The id of an event's message: `<module>.<key>`. Module names and event keys have no `.`,
/// so ids are unique by construction (`chat` + `room_created` and `chat_room` + `created` once
/// both made `chat_room_created`), and so are the ids built from them: `<id>.reply` (its reply
/// message), `<id>.send.<channel>` and `<id>.receive` (its operations). AsyncAPI 3.0 allows
/// `^[a-zA-Z0-9\.\-_]+$` for component and operation keys.
fn message_id(e: &EventDef, m: &Module) -> String {
    format!("{}.{}", m.name, e.key)
}

/// The channels an event the server sends reaches.
fn channels_of(e: &EventDef) -> Vec<&'static str> {
    let Some(r) = &e.recipients else {
        // Targets chosen at emit time: any stream may carry it; the user stream always can.
        return vec!["users"];
    };
    let mut out = Vec::new();
    let scoped = |out: &mut Vec<&'static str>| {
        let c = if r.scope == Scope::Platform {
            "platform"
        } else {
            "tenants"
        };
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for rule in &r.rules {
        match rule {
            Rule::User { .. } | Rule::Users { .. } => {
                if !out.contains(&"users") {
                    out.push("users");
                }
            }
            Rule::Room { .. } => {
                if !out.contains(&"rooms") {
                    out.push("rooms");
                }
            }
            Rule::Role { .. } | Rule::Everyone => scoped(&mut out),
        }
    }
    out.sort_unstable();
    out
}

fn message(m: &Module, e: &EventDef, payload: Value) -> Value {
    let mut msg = json!({
        "name": e.name,
        "title": e.name,
        "summary": e.doc.clone().unwrap_or_else(|| format!("The `{}` event.", e.name)),
        "contentType": "application/json",
        "payload": payload,
    });
    if e.deprecated.is_some() {
        msg["deprecated"] = json!(true);
    }
    msg["x-tidings"] = json!({
        "module": m.name,
        "direction": e.direction.as_str(),
        "delivery": e.delivery.as_str(),
        "recipients": crate::summary::recipients(e),
    });
    if let Some(kind) = e.presence {
        msg["x-tidings"]["presence"] = json!(kind.as_str());
    }
    msg
}

/// Generates the AsyncAPI document (JSON), named and described from the schemas alone (see
/// [`generate_for`]).
pub fn generate(schema: &Schema) -> String {
    generate_for(schema, &Project::default())
}

/// Generates the AsyncAPI document (JSON) of `project` (`tidings.toml`'s `[project]`): its name,
/// version, description, contact, licence and servers, each defaulting to what the schemas say
/// (no contact, licence or server is invented).
pub fn generate_for(schema: &Schema, project: &Project) -> String {
    let version = project.version_for(schema);
    let mut channel_messages: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut components_messages = Map::new();
    let mut operations = Map::new();
    for m in &schema.modules {
        for e in &m.events {
            let id = message_id(e, m);
            components_messages.insert(
                id.clone(),
                message(m, e, object_schema(&e.payload, Refs::Components)),
            );
            let msg_ref = json!({ "$ref": format!("#/components/messages/{id}") });
            if e.direction.server_sends() {
                for ch in channels_of(e) {
                    channel_messages
                        .entry(ch)
                        .or_default()
                        .insert(id.clone(), msg_ref.clone());
                    operations.insert(
                        format!("{id}.send.{ch}"),
                        json!({
                            "action": "send",
                            "channel": { "$ref": format!("#/channels/{ch}") },
                            "summary": format!("The server emits `{}` to {}.", e.name, crate::summary::recipients(e)),
                            "messages": [{ "$ref": format!("#/channels/{ch}/messages/{id}") }],
                        }),
                    );
                }
            }
            if e.direction.client_sends() {
                channel_messages
                    .entry("server")
                    .or_default()
                    .insert(id.clone(), msg_ref.clone());
                let mut op = json!({
                    "action": "receive",
                    "channel": { "$ref": "#/channels/server" },
                    "summary": format!("A client sends `{}`; the server handles it.", e.name),
                    "messages": [{ "$ref": format!("#/channels/server/messages/{id}") }],
                });
                if let Some(reply) = &e.reply {
                    let reply_id = format!("{id}.reply");
                    components_messages.insert(
                        reply_id.clone(),
                        json!({
                            "name": format!("{}.reply", e.name),
                            "title": format!("Reply to {}", e.name),
                            "summary": format!("The server's reply to `{}` (a `$reply` frame's `data`).", e.name),
                            "contentType": "application/json",
                            "payload": reply_schema(reply),
                        }),
                    );
                    channel_messages.entry("server").or_default().insert(
                        reply_id.clone(),
                        json!({ "$ref": format!("#/components/messages/{reply_id}") }),
                    );
                    op["reply"] = json!({
                        "channel": { "$ref": "#/channels/server" },
                        "messages": [{ "$ref": format!("#/channels/server/messages/{reply_id}") }],
                    });
                }
                operations.insert(format!("{id}.receive"), op);
            }
        }
    }
    let mut channels = Map::new();
    for (id, address, description, params) in CHANNELS {
        let Some(messages) = channel_messages.remove(id) else {
            continue;
        };
        let mut ch =
            json!({ "address": address, "description": description, "messages": messages });
        if !params.is_empty() {
            let p: Map<String, Value> = params
                .iter()
                .map(|(n, d)| ((*n).to_owned(), json!({ "description": d })))
                .collect();
            ch["parameters"] = Value::Object(p);
        }
        channels.insert(id.to_owned(), ch);
    }
    let schemas: Map<String, Value> = schema
        .modules
        .iter()
        .flat_map(|m| {
            m.types
                .iter()
                .map(move |t| (key(&m.name, &t.name), def_schema(t, Refs::Components)))
        })
        .collect();
    let description = schema
        .modules
        .iter()
        .map(|m| {
            format!(
                "- `{}`: {}",
                m.name,
                m.description
                    .clone()
                    .unwrap_or_else(|| "(no description)".to_owned())
                    .replace('\n', " ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut info = Map::new();
    info.insert("title".into(), json!(project.name_for(schema)));
    info.insert("version".into(), json!(version));
    let about = project.description.clone().map_or_else(
        || format!("Modules:\n{description}"),
        |d| format!("{d}\n\nModules:\n{description}"),
    );
    info.insert(
        "description".into(),
        json!(format!("{about}\n\nRealtime events over WebSocket: JSON text frames of the Tidings protocol ({PROTOCOL_URL}).")),
    );
    if let Some(contact) = &project.contact {
        info.insert("contact".into(), json!(contact));
    }
    if let Some(license) = &project.license {
        info.insert("license".into(), json!(license));
    }
    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": { "schemas": schemas, "messages": components_messages },
    });
    if !project.servers.is_empty() {
        let servers: Map<String, Value> = project
            .servers
            .iter()
            .map(|(name, s)| {
                let mut server = json!(s);
                if s.description.is_none() {
                    server["description"] = json!(AUTH_NOTE);
                }
                (name.clone(), server)
            })
            .collect();
        doc["servers"] = Value::Object(servers);
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// How clients authenticate to a Tidings server.
const AUTH_NOTE: &str = "A Tidings server; authenticate with `Authorization: Bearer`, the `tidings.bearer.<token>` subprotocol, or `?token=`.";

fn reply_schema(reply: &TypeRef) -> Value {
    type_schema(reply, None, Refs::Components)
}
