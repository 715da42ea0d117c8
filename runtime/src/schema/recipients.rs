//! Recipient rules: who receives a server → client event.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The declared recipients of an event: the union of its rules, minus the actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipients {
    /// Where role, room and everyone rules resolve.
    pub scope: Scope,
    /// The rules; a connection receives the event once even when several rules match it.
    pub rules: Vec<Rule>,
    /// The payload field holding the acting user, who never receives the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<FieldPath>,
}

/// Where recipient rules resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// Inside the tenant held by this payload field: roles, rooms and everyone mean those of
    /// that tenant, and connections of other tenants (or of none) never receive the event.
    Tenant {
        /// The payload field holding the tenant id.
        field: FieldPath,
    },
    /// Across every tenant.
    Platform,
    /// No tenant: only user rules are allowed, since user ids are global.
    Users,
}

/// One recipient rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// The user whose id is in this field (skipped when an optional field is absent).
    User {
        /// The field holding one user id.
        field: FieldPath,
    },
    /// Every user whose id is in this list field.
    Users {
        /// The field holding a list of user ids.
        field: FieldPath,
    },
    /// Every connection holding this role, within the scope.
    Role {
        /// The role name (`admin`).
        role: String,
    },
    /// Every connection that joined the room built from this template, within the scope.
    Room {
        /// The room name template.
        template: RoomTemplate,
    },
    /// Every connection within the scope: the whole tenant, or the whole platform.
    Everyone,
}

/// A path to a payload field, through nested struct fields (`ticket.assignee_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// Parses a dotted path. Returns `None` when a segment is empty.
    pub fn parse(dotted: &str) -> Option<FieldPath> {
        let segments: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(FieldPath(segments))
    }

    /// The path's segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A room name built from literal text and payload fields: `chat:{chat_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoomTemplate {
    /// The template as written.
    pub template: String,
    /// The template split into literal text and field references.
    pub parts: Vec<RoomPart>,
}

/// A piece of a room template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomPart {
    /// Literal text.
    Literal(String),
    /// The value of a payload field.
    Field(FieldPath),
}
