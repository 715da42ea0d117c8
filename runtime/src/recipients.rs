//! Who receives an emitted event: built from the declared rules by generated code, or by hand.

/// Where role, room and everyone rules resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// No tenant: only user rules apply (user ids are global).
    #[default]
    Users,
    /// Inside one tenant: every rule selects only connections of this tenant.
    Tenant(String),
    /// Across every tenant.
    Platform,
}

/// The recipients of one emit: the union of its rules, inside its scope, minus the excluded users.
///
/// ```
/// use tidings::{to_user, Recipients};
///
/// // The `sendToUser / sendToRoom / sendToTenant / sendToPlatform` of hand-written apps:
/// let r = to_user("u1").to_role("admin").in_tenant("acme").except("u2");
/// assert_eq!(r.users(), ["u1"]);
/// let everyone_in_acme = Recipients::new().to_tenant("acme");
/// assert!(everyone_in_acme.is_everyone());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Recipients {
    scope: Scope,
    users: Vec<String>,
    roles: Vec<String>,
    rooms: Vec<String>,
    everyone: bool,
    except: Vec<String>,
}

/// Recipients: the user `user_id` (each of their connections).
pub fn to_user(user_id: impl Into<String>) -> Recipients {
    Recipients::new().to_user(user_id)
}

/// Recipients: these users.
pub fn to_users<I, U>(user_ids: I) -> Recipients
where
    I: IntoIterator<Item = U>,
    U: Into<String>,
{
    Recipients::new().to_users(user_ids)
}

/// Recipients: connections holding `role` — add a scope with [`Recipients::in_tenant`] or
/// [`Recipients::across_platform`].
pub fn to_role(role: impl Into<String>) -> Recipients {
    Recipients::new().to_role(role)
}

/// Recipients: connections in `room` — add a scope with [`Recipients::in_tenant`] or
/// [`Recipients::across_platform`].
pub fn to_room(room: impl Into<String>) -> Recipients {
    Recipients::new().to_room(room)
}

/// Recipients: every connection of `tenant`.
pub fn to_tenant(tenant: impl Into<String>) -> Recipients {
    Recipients::new().to_tenant(tenant)
}

/// Recipients: every connection of every tenant.
pub fn to_platform() -> Recipients {
    Recipients::new().to_platform()
}

impl Recipients {
    /// No one yet.
    pub fn new() -> Recipients {
        Recipients::default()
    }

    /// Adds a user.
    pub fn to_user(mut self, user_id: impl Into<String>) -> Recipients {
        self.users.push(user_id.into());
        self
    }

    /// Adds a user when there is one (for optional fields).
    pub fn to_user_opt(self, user_id: Option<impl Into<String>>) -> Recipients {
        match user_id {
            Some(u) => self.to_user(u),
            None => self,
        }
    }

    /// Adds users.
    pub fn to_users<I, U>(mut self, user_ids: I) -> Recipients
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        self.users.extend(user_ids.into_iter().map(Into::into));
        self
    }

    /// Adds a role (resolved inside the scope).
    pub fn to_role(mut self, role: impl Into<String>) -> Recipients {
        self.roles.push(role.into());
        self
    }

    /// Adds a room (resolved inside the scope).
    pub fn to_room(mut self, room: impl Into<String>) -> Recipients {
        self.rooms.push(room.into());
        self
    }

    /// Everyone in `tenant`: sets the scope to the tenant and selects all its connections.
    pub fn to_tenant(self, tenant: impl Into<String>) -> Recipients {
        let mut r = self.in_tenant(tenant);
        r.everyone = true;
        r
    }

    /// Everyone on the platform: sets the scope to the platform and selects every connection.
    pub fn to_platform(self) -> Recipients {
        let mut r = self.across_platform();
        r.everyone = true;
        r
    }

    /// Everyone in the scope.
    pub fn to_everyone(mut self) -> Recipients {
        self.everyone = true;
        self
    }

    /// Resolves every rule inside `tenant`.
    pub fn in_tenant(mut self, tenant: impl Into<String>) -> Recipients {
        self.scope = Scope::Tenant(tenant.into());
        self
    }

    /// Resolves every rule across all tenants.
    pub fn across_platform(mut self) -> Recipients {
        self.scope = Scope::Platform;
        self
    }

    /// Never delivers to `user_id`, even when a rule selects them (the actor).
    pub fn except(mut self, user_id: impl Into<String>) -> Recipients {
        self.except.push(user_id.into());
        self
    }

    /// Adds the rules of `other` (its scope wins when this one has none).
    pub fn merge(mut self, other: Recipients) -> Recipients {
        if self.scope == Scope::Users {
            self.scope = other.scope;
        }
        self.users.extend(other.users);
        self.roles.extend(other.roles);
        self.rooms.extend(other.rooms);
        self.everyone |= other.everyone;
        self.except.extend(other.except);
        self
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The users selected by id.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// The roles selected.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The rooms selected.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// Whether everyone in the scope is selected.
    pub fn is_everyone(&self) -> bool {
        self.everyone
    }

    /// The users excluded.
    pub fn excluded(&self) -> &[String] {
        &self.except
    }

    /// Whether no rule selects anyone.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.roles.is_empty() && self.rooms.is_empty() && !self.everyone
    }

    /// Whether the rules need a scope they lack: roles, rooms and everyone exist per tenant.
    pub fn lacks_scope(&self) -> bool {
        self.scope == Scope::Users
            && (!self.roles.is_empty() || !self.rooms.is_empty() || self.everyone)
    }
}

/// A value that holds at most one id (of a user or a tenant): strings, integers, and `Option`s
/// of them. Used by derived events' recipient rules.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a single id",
    label = "named by a `user`, `tenant` or `except` rule",
    note = "these rules need a field of type `String`, an integer, or an `Option` of those; for a list of users, use `users = \"...\"`"
)]
pub trait Id {
    /// The id, when there is one.
    fn id(&self) -> Option<String>;
}

/// A value that holds a list of user ids: `Vec`s (or slices, or `Option`s of them) of [`Id`]s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a list of user ids",
    label = "named by a `users` rule",
    note = "a `users` rule needs a field of type `Vec<String>` (or of integers); for a single user, use `user = \"...\"`"
)]
pub trait Ids {
    /// The ids.
    fn ids(&self) -> Vec<String>;
}

impl Id for String {
    fn id(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Id for str {
    fn id(&self) -> Option<String> {
        Some(self.to_owned())
    }
}

macro_rules! int_id {
    ($($ty:ty),*) => {
        $(impl Id for $ty {
            fn id(&self) -> Option<String> {
                Some(self.to_string())
            }
        })*
    };
}

int_id!(i8, i16, i32, i64, u8, u16, u32, u64);

impl<T: Id> Id for Option<T> {
    fn id(&self) -> Option<String> {
        self.as_ref().and_then(Id::id)
    }
}

impl<T: Id> Ids for [T] {
    fn ids(&self) -> Vec<String> {
        self.iter().filter_map(Id::id).collect()
    }
}

impl<T: Id> Ids for Vec<T> {
    fn ids(&self) -> Vec<String> {
        self.as_slice().ids()
    }
}

impl<T: Ids> Ids for Option<T> {
    fn ids(&self) -> Vec<String> {
        self.as_ref().map(Ids::ids).unwrap_or_default()
    }
}

impl Recipients {
    /// The recipients `declared` rules select for a payload given as JSON: what a generated
    /// or derived event's `recipients()` builds from its own fields, for an event known only
    /// from its schema (the publish API of `tidings serve`).
    ///
    /// The rules read the payload as the generated code reads its fields: a `user`, `tenant`
    /// or `except` field holds one id (a string, or an integer written in decimal); a `users`
    /// field a list of them; a room template's placeholders are replaced by their fields'
    /// values (strings as they are — an enum's wire value too — integers in decimal). A field
    /// that is absent or `null` (an optional one) adds nothing, as `None` does; so a tenant
    /// scope whose field is absent leaves the recipients without a scope
    /// ([`lacks_scope`](Self::lacks_scope)). The payload is expected to have passed the
    /// event's [`Contract`](crate::validate::Contract) check, which guarantees these shapes; a
    /// value of another shape adds nothing either.
    pub fn declared(
        declared: &crate::schema::Recipients,
        payload: &serde_json::Value,
    ) -> Recipients {
        use crate::schema::{RoomPart, Rule, Scope as DeclaredScope};
        let mut r = Recipients::new();
        for rule in &declared.rules {
            match rule {
                Rule::User { field } => {
                    if let Some(id) = json_field(payload, field).and_then(json_id) {
                        r = r.to_user(id);
                    }
                }
                Rule::Users { field } => {
                    if let Some(serde_json::Value::Array(ids)) = json_field(payload, field) {
                        r = r.to_users(ids.iter().filter_map(json_id));
                    }
                }
                Rule::Role { role } => r = r.to_role(role.as_str()),
                Rule::Room { template } => {
                    let mut room = String::new();
                    let complete = template.parts.iter().all(|part| match part {
                        RoomPart::Literal(text) => {
                            room.push_str(text);
                            true
                        }
                        RoomPart::Field(path) => json_field(payload, path)
                            .and_then(json_id)
                            .map(|value| room.push_str(&value))
                            .is_some(),
                    });
                    if complete {
                        r = r.to_room(room);
                    }
                }
                Rule::Everyone => r = r.to_everyone(),
            }
        }
        match &declared.scope {
            DeclaredScope::Tenant { field } => {
                if let Some(tenant) = json_field(payload, field).and_then(json_id) {
                    r = r.in_tenant(tenant);
                }
            }
            DeclaredScope::Platform => r = r.across_platform(),
            DeclaredScope::Users => {}
        }
        if let Some(field) = &declared.except {
            if let Some(actor) = json_field(payload, field).and_then(json_id) {
                r = r.except(actor);
            }
        }
        r
    }
}

/// The value at `path` in `payload`, through nested objects; `None` when a step is absent or
/// `null`.
fn json_field<'v>(
    payload: &'v serde_json::Value,
    path: &crate::schema::FieldPath,
) -> Option<&'v serde_json::Value> {
    path.segments()
        .iter()
        .try_fold(payload, |value, segment| value.get(segment))
        .filter(|value| !value.is_null())
}

/// A JSON value as an id, as [`Id`] renders the Rust value it decodes to: a string as it is,
/// an integer in decimal.
fn json_id(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}
