//! Presence events: the `joined` / `left` announcements the hub makes itself when a user
//! enters or leaves a room (`presence = "joined"` in a schema, `#[event(presence = "joined")]`
//! on a derived event).
//!
//! The hub builds such an event from the room name and the connection alone, so its declaration
//! is narrow, and [`spec`] is the one rule list every route applies: the TOML front end (with
//! the error at the offending key), [`crate::describe::schema`] for derived events, and
//! [`HubBuilder::presence_event`](crate::HubBuilder::presence_event) when the hub takes one.

use std::fmt;

use super::event::{Direction, EventDef, PresenceKind};
use super::recipients::{FieldPath, Recipients, RoomPart, RoomTemplate, Rule, Scope};
use super::types::{Field, Primitive, TypeRef};

/// The payload field a presence event carries the user in (a `string` or `uuid` field).
pub const USER_FIELD: &str = "user_id";

/// What the hub needs to announce a presence event, read from its declaration by [`spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceSpec {
    /// The change announced.
    pub kind: PresenceKind,
    /// The rooms announced: every room whose name this template reads back.
    pub room: RoomTemplate,
    /// The payload field that gets the connection's tenant (events declared with `tenant`).
    pub tenant: Option<String>,
}

/// Where a presence event's declaration breaks the rules, with the part to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceError {
    /// The event is not sent by the server alone.
    Direction(Direction),
    /// The recipients are not exactly one room rule.
    NotOneRoom,
    /// The event is not scoped by `tenant` or `platform = true`.
    NoScope,
    /// The tenant field is nested (`chat.tenant_id`).
    NestedTenant(FieldPath),
    /// A room placeholder names a nested field (`{chat.id}`).
    NestedPlaceholder(FieldPath),
    /// Two placeholders follow each other with no text between them (`{a}{b}`).
    AdjacentPlaceholders,
    /// The room template has no placeholder: every join would be announced under one room.
    NoPlaceholder,
    /// A placeholder's field is neither a string, a uuid, an enum nor an integer.
    PlaceholderType(String, TypeRef),
    /// The payload has no `user_id` field.
    NoUser,
    /// `user_id` is not a required `string` or `uuid`.
    UserType(TypeRef),
    /// `except` names a field other than `user_id`.
    Except(FieldPath),
    /// A required field that the hub cannot fill.
    Unfillable(String),
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresenceError::Direction(d) => write!(
                f,
                "a presence event is sent by the hub, so its direction is `to_client`, not `{}`",
                d.as_str()
            ),
            PresenceError::NotOneRoom => f.write_str(
                "a presence event goes to the room it announces: its recipients are one room (`rooms = [\"chat:{chat_id}\"]`) and no other rule",
            ),
            PresenceError::NoScope => f.write_str(
                "a presence event resolves its room in a tenant (`tenant = \"<field>\"`) or across every tenant (`platform = true`)",
            ),
            PresenceError::NestedTenant(p) => write!(
                f,
                "the tenant field of a presence event is a field of the payload itself, not `{p}`: the hub fills it from the connection"
            ),
            PresenceError::NestedPlaceholder(p) => write!(
                f,
                "the room placeholder `{{{p}}}` of a presence event names a nested field; the hub fills payload fields of its own from the room name"
            ),
            PresenceError::AdjacentPlaceholders => f.write_str(
                "two placeholders of a presence event's room follow each other with no text between them, so a room name cannot be read back into them",
            ),
            PresenceError::NoPlaceholder => f.write_str(
                "the room of a presence event has no placeholder; announce joins of a room family such as `chat:{chat_id}`",
            ),
            PresenceError::PlaceholderType(name, ty) => write!(
                f,
                "the room placeholder `{name}` of a presence event is `{ty}`; the hub reads it from a room name, so it is a `string`, a `uuid`, an enum or an integer"
            ),
            PresenceError::NoUser => write!(
                f,
                "a presence event carries the user who joined or left in a field `{USER_FIELD}` (`string` or `uuid`)"
            ),
            PresenceError::UserType(ty) => write!(
                f,
                "`{USER_FIELD}` of a presence event is `{ty}`; it holds the connection's user id, so it is a required `string` or `uuid`"
            ),
            PresenceError::Except(p) => write!(
                f,
                "a presence event can only leave out the user it announces (`except = \"{USER_FIELD}\"`), not `{p}`"
            ),
            PresenceError::Unfillable(name) => write!(
                f,
                "the hub cannot fill the required field `{name}` of a presence event: its payload holds the room's placeholders, `{USER_FIELD}` and the tenant field; make `{name}` optional or remove it"
            ),
        }
    }
}

impl std::error::Error for PresenceError {}

/// For a presence event, what the hub needs to announce it; `None` for other events.
///
/// # Errors
/// When the event is declared `presence` but breaks a rule of [`spec`].
pub fn of(event: &EventDef) -> Result<Option<PresenceSpec>, PresenceError> {
    event
        .presence
        .map(|kind| {
            spec(
                kind,
                event.direction,
                event.recipients.as_ref(),
                &event.payload,
            )
        })
        .transpose()
}

/// Checks a presence event's declaration and returns what the hub needs to announce it.
///
/// The rules: sent by the server only; recipients are exactly one room rule, scoped by a
/// top-level `tenant` field or `platform = true`, optionally `except = "user_id"`; the room
/// template has at least one placeholder, each naming a top-level `string`, `uuid`, enum or
/// integer field, with literal text between placeholders; the payload has a required `user_id`
/// (`string` or `uuid`); every other required field is a placeholder or the tenant field.
///
/// # Errors
/// The first rule broken ([`problems`] has them all).
pub fn spec(
    kind: PresenceKind,
    direction: Direction,
    recipients: Option<&Recipients>,
    payload: &[Field],
) -> Result<PresenceSpec, PresenceError> {
    problems(kind, direction, recipients, payload).map_err(|mut all| all.swap_remove(0))
}

/// As [`spec`], with every rule broken (for diagnostics that say them all in one run), in the
/// order of the rules.
///
/// # Errors
/// Every rule broken; never an empty list.
pub fn problems(
    kind: PresenceKind,
    direction: Direction,
    recipients: Option<&Recipients>,
    payload: &[Field],
) -> Result<PresenceSpec, Vec<PresenceError>> {
    let mut broken = Vec::new();
    if direction != Direction::ServerToClient {
        broken.push(PresenceError::Direction(direction));
    }
    let template = match recipients.map(|r| r.rules.as_slice()) {
        Some([Rule::Room { template }]) => Some(template),
        // An event the server never sends has no recipients: its direction is the one mistake.
        None if direction != Direction::ServerToClient => None,
        _ => {
            broken.push(PresenceError::NotOneRoom);
            None
        }
    };
    let mut tenant = None;
    if let Some(r) = recipients {
        match &r.scope {
            Scope::Tenant { field } => match field.segments() {
                [name] => tenant = Some(name.clone()),
                _ => broken.push(PresenceError::NestedTenant(field.clone())),
            },
            Scope::Platform => {}
            Scope::Users => broken.push(PresenceError::NoScope),
        }
        if let Some(except) = &r.except {
            if except.segments() != [USER_FIELD] {
                broken.push(PresenceError::Except(except.clone()));
            }
        }
    }
    let field = |name: &str| payload.iter().find(|f| f.name == name);
    // The placeholders (without a room, unknown: the fields they would fill are not judged).
    let mut placeholders = Vec::new();
    if let Some(template) = template {
        let mut after_placeholder = false;
        for part in &template.parts {
            match part {
                RoomPart::Literal(text) => after_placeholder = text.is_empty() && after_placeholder,
                RoomPart::Field(path) => {
                    if after_placeholder {
                        broken.push(PresenceError::AdjacentPlaceholders);
                    }
                    after_placeholder = true;
                    let [name] = path.segments() else {
                        broken.push(PresenceError::NestedPlaceholder(path.clone()));
                        // Its outer field is said to be wrong here, not again as unfillable.
                        if let Some(outer) = path.segments().first() {
                            placeholders.push(outer.as_str());
                        }
                        continue;
                    };
                    if let Some(f) = field(name) {
                        if placeholder_kind(&f.ty).is_none() {
                            broken.push(PresenceError::PlaceholderType(name.clone(), f.ty.clone()));
                        }
                    }
                    placeholders.push(name.as_str());
                }
            }
        }
        if placeholders.is_empty() {
            broken.push(PresenceError::NoPlaceholder);
        }
    }
    match field(USER_FIELD) {
        None => broken.push(PresenceError::NoUser),
        Some(user)
            if !user.is_required()
                || !matches!(
                    user.ty,
                    TypeRef::Primitive(Primitive::String | Primitive::Uuid)
                ) =>
        {
            broken.push(PresenceError::UserType(user.ty.clone()));
        }
        Some(_) => {}
    }
    if template.is_some() {
        for f in payload.iter().filter(|f| {
            f.is_required()
                && f.name != USER_FIELD
                && tenant.as_deref() != Some(f.name.as_str())
                && !placeholders.contains(&f.name.as_str())
        }) {
            broken.push(PresenceError::Unfillable(f.name.clone()));
        }
    }
    match template {
        Some(template) if broken.is_empty() => Ok(PresenceSpec {
            kind,
            room: template.clone(),
            tenant,
        }),
        _ => Err(broken),
    }
}

/// How a room placeholder's text becomes a JSON value: `Some(true)` a number, `Some(false)` a
/// string, `None` when the type cannot be read from a room name.
pub(crate) fn placeholder_kind(ty: &TypeRef) -> Option<bool> {
    match ty {
        TypeRef::Primitive(p) if p.is_integer() => Some(true),
        TypeRef::Primitive(Primitive::String | Primitive::Uuid) => Some(false),
        // An enum (the only named type a room may hold): its value is the text.
        TypeRef::Named { .. } => Some(false),
        _ => None,
    }
}

impl RoomTemplate {
    /// Reads a room name back into the template's placeholders: each placeholder's text, in
    /// template order, or `None` when the name does not have the template's form. A placeholder
    /// takes the shortest non-empty text up to the literal that follows it (the rest of the name
    /// for the last part).
    ///
    /// ```
    /// use tidings::schema::{FieldPath, RoomPart, RoomTemplate};
    /// let t = RoomTemplate {
    ///     template: "chat:{chat_id}".into(),
    ///     parts: vec![
    ///         RoomPart::Literal("chat:".into()),
    ///         RoomPart::Field(FieldPath(vec!["chat_id".into()])),
    ///     ],
    /// };
    /// let values = t.read("chat:42").expect("a chat room");
    /// assert_eq!(values[0].1, "42");
    /// assert_eq!(t.read("ticket:42"), None);
    /// assert_eq!(t.read("chat:"), None);
    /// ```
    pub fn read<'t, 'r>(&'t self, room: &'r str) -> Option<Vec<(&'t FieldPath, &'r str)>> {
        let mut rest = room;
        let mut values = Vec::new();
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                RoomPart::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                RoomPart::Field(path) => {
                    let end = match parts.peek() {
                        Some(RoomPart::Literal(next)) if !next.is_empty() => {
                            // Non-empty: search past the first character.
                            let skip = rest.chars().next()?.len_utf8();
                            skip + rest[skip..].find(next.as_str())?
                        }
                        _ => rest.len(),
                    };
                    if end == 0 {
                        return None;
                    }
                    values.push((path, &rest[..end]));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> RoomTemplate {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c).expect("closed");
            if open > 0 {
                parts.push(RoomPart::Literal(rest[..open].to_owned()));
            }
            parts.push(RoomPart::Field(
                FieldPath::parse(&rest[open + 1..close]).expect("a path"),
            ));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(RoomPart::Literal(rest.to_owned()));
        }
        RoomTemplate {
            template: text.to_owned(),
            parts,
        }
    }

    fn read(t: &str, room: &str) -> Option<Vec<String>> {
        let t = template(t);
        t.read(room)
            .map(|v| v.into_iter().map(|(_, text)| text.to_owned()).collect())
    }

    #[test]
    fn a_room_name_reads_back_into_its_placeholders() {
        assert_eq!(read("chat:{id}", "chat:42"), Some(vec!["42".into()]));
        assert_eq!(read("chat:{id}", "chat:"), None, "empty placeholder");
        assert_eq!(read("chat:{id}", "ticket:42"), None);
        assert_eq!(
            read("t:{a}:c:{b}", "t:acme:c:7"),
            Some(vec!["acme".into(), "7".into()])
        );
        // A placeholder takes the shortest text up to the next literal; the last takes the rest.
        assert_eq!(
            read("t:{a}:c:{b}", "t:x:c:y:c:z"),
            Some(vec!["x".into(), "y:c:z".into()])
        );
        assert_eq!(read("{a}:room", "x:room"), Some(vec!["x".into()]));
        assert_eq!(
            read("{a}:room", "x:room:more"),
            None,
            "text after the template"
        );
        assert_eq!(read("{a}:room", ":room"), None);
        assert_eq!(
            read("é{a}ü", "éßü"),
            Some(vec!["ß".into()]),
            "UTF-8 boundaries"
        );
        assert_eq!(read("r:{a}:", "r:::"), Some(vec![":".into()]));
        assert_eq!(read("r:{a}:", "r::::"), None);
    }

    fn field(name: &str, ty: TypeRef) -> Field {
        Field {
            name: name.into(),
            doc: None,
            ty,
            constraints: Default::default(),
            default: None,
            deprecated: None,
            location: None,
        }
    }

    #[test]
    fn the_rules_accept_a_room_family_and_refuse_a_fixed_room() {
        let string = TypeRef::Primitive(Primitive::String);
        let payload = [
            field("chat_id", TypeRef::Primitive(Primitive::U64)),
            field("t", string.clone()),
            field(USER_FIELD, string.clone()),
            field("note", TypeRef::Optional(Box::new(string))),
        ];
        let recipients = |room: &str| Recipients {
            scope: Scope::Tenant {
                field: FieldPath(vec!["t".into()]),
            },
            rules: vec![Rule::Room {
                template: template(room),
            }],
            except: Some(FieldPath(vec![USER_FIELD.into()])),
        };
        let ok = spec(
            PresenceKind::Left,
            Direction::ServerToClient,
            Some(&recipients("chat:{chat_id}")),
            &payload,
        )
        .expect("valid");
        assert_eq!(ok.tenant.as_deref(), Some("t"));
        assert_eq!(placeholder_kind(&payload[0].ty), Some(true));
        assert_eq!(
            spec(
                PresenceKind::Left,
                Direction::ServerToClient,
                Some(&recipients("chat:lobby")),
                &payload,
            ),
            Err(PresenceError::NoPlaceholder)
        );
        assert_eq!(
            spec(PresenceKind::Joined, Direction::Both, None, &payload),
            Err(PresenceError::Direction(Direction::Both))
        );
    }
}
