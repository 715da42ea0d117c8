//! The rule registry: every rule's stable id, the severity of its findings when they break
//! nothing, and its documentation. docs/compat.md's table of rules is [`markdown_table`]; the
//! config file's rule ids are checked against [`RuleId::ALL`].

use serde::Serialize;

use super::Impact;

macro_rules! rules {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $id:literal, $quiet:ident,
            detects: $detects:literal,
            breaks: $breaks:literal,
            instead: $instead:literal;
    )*) => {
        /// A compatibility rule, by its stable id (`field-removed`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($(#[$doc])* $variant,)*
        }

        impl RuleId {
            /// Every rule, in the order of docs/compat.md.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The stable id, as written in reports and in `tidings-compat.toml`.
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// The severity of a finding that breaks no deployed side; one that does is
            /// [`Impact::Breaking`].
            pub fn quiet_severity(self) -> Impact {
                match self { $(RuleId::$variant => Impact::$quiet,)* }
            }

            /// What the rule detects (docs/compat.md).
            pub fn detects(self) -> &'static str {
                match self { $(RuleId::$variant => $detects,)* }
            }

            /// Why it breaks, and whom, when it does (docs/compat.md).
            pub fn breaks(self) -> &'static str {
                match self { $(RuleId::$variant => $breaks,)* }
            }

            /// How to make the change safely instead (docs/compat.md).
            pub fn instead(self) -> &'static str {
                match self { $(RuleId::$variant => $instead,)* }
            }
        }
    };
}

rules! {
    /// An event no longer declared.
    EventRemoved = "event-removed", Info,
        detects: "an event no longer declared (matched by wire name, then `renamed_from`)",
        breaks: "deployed clients listen for it (server → client) or send it and get `unknown_event` (client → server): breaks deployed clients",
        instead: "deprecate it, wait until clients no longer use it, then remove";
    /// Removal of an event deprecated in the baseline.
    DeprecatedEventRemoved = "deprecated-event-removed", Warning,
        detects: "removal of an event deprecated in the baseline",
        breaks: "warning: the deprecation was the notice",
        instead: "—";
    /// A new event.
    EventAdded = "event-added", Info,
        detects: "a new event",
        breaks: "server → client: info (old clients ignore unknown events); client → server: new clients would send it to servers that do not handle it: breaks deployed servers",
        instead: "deploy servers first";
    /// An event declared `renamed_from` another, with another wire name.
    EventRenamed = "event-renamed", Info,
        detects: "an event declared `renamed_from` another, whose wire name changed",
        breaks: "its wire name changed: deployed peers on both sides use the old one",
        instead: "add the new event beside the old, deprecate the old";
    /// An event's wire name changed.
    WireNameChanged = "wire-name-changed", Info,
        detects: "an event's `name` changed while its key stayed",
        breaks: "as above",
        instead: "as above";
    /// An event's direction changed.
    DirectionChanged = "direction-changed", Info,
        detects: "an event's direction changed",
        breaks: "a flow that disappears breaks deployed clients (they listen for or send it); a client → server flow that appears breaks deployed servers",
        instead: "add a new event for the new direction";
    /// Durable ↔ ephemeral.
    DeliveryChanged = "delivery-changed", Info,
        detects: "durable ↔ ephemeral",
        breaks: "warning when it becomes ephemeral: reconnecting clients no longer get it replayed",
        instead: "—";
    /// An event clients send now declares a reply.
    ReplyAdded = "reply-added", Info,
        detects: "an event clients send now declares a reply",
        breaks: "new clients expect data deployed servers do not send (`null`): breaks deployed servers",
        instead: "deploy servers first";
    /// A declared reply was removed.
    ReplyRemoved = "reply-removed", Info,
        detects: "a declared reply was removed",
        breaks: "deployed clients expect the reply's data: breaks deployed clients",
        instead: "keep replying until clients no longer read it";
    /// The reply's type changed in a way that is not a change inside a named type.
    ReplyChanged = "reply-changed", Info,
        detects: "the reply's type changed (a change inside a named reply type is reported on that type)",
        breaks: "judged as a server → client type change (widened, narrowed, changed)",
        instead: "add a field to the reply instead of changing its type";
    /// More recipients.
    RecipientsWidened = "recipients-widened", Warning,
        detects: "more rules, platform instead of tenant, or the actor no longer excluded",
        breaks: "warning: more people see the data",
        instead: "review who may see it";
    /// Fewer recipients.
    RecipientsNarrowed = "recipients-narrowed", Warning,
        detects: "fewer rules, tenant instead of platform, or the actor now excluded",
        breaks: "warning: someone stops receiving it",
        instead: "—";
    /// Other recipients.
    RecipientsChanged = "recipients-changed", Warning,
        detects: "rules added and removed, the tenant or the excluded actor read from another field",
        breaks: "warning: other people receive it (rooms, roles and everyone resolve in another tenant; another user is excluded)",
        instead: "—";
    /// An event newly deprecated.
    EventDeprecated = "event-deprecated", Info,
        detects: "an event newly deprecated",
        breaks: "info",
        instead: "—";
    /// A field no longer declared.
    FieldRemoved = "field-removed", Info,
        detects: "a field no longer declared",
        breaks: "a required field `(false, true)`: old readers require it; an optional one breaks nothing",
        instead: "make it optional first, remove it later";
    /// A new field.
    FieldAdded = "field-added", Info,
        detects: "a new field",
        breaks: "a required field `(true, false)`: old writers do not send it; an optional one breaks nothing",
        instead: "add it as optional (or with a default), make it required later";
    /// Required → optional.
    FieldOptional = "field-optional", Info,
        detects: "required → optional (or gained a default)",
        breaks: "`(false, true)`: old readers require it",
        instead: "—";
    /// Optional → required.
    FieldRequired = "field-required", Info,
        detects: "optional → required",
        breaks: "`(true, false)`: old writers may omit it",
        instead: "—";
    /// A type whose values are not those of the old type.
    FieldTypeChanged = "field-type-changed", Info,
        detects: "a type whose values are not those of the old type",
        breaks: "`(false, false)`: breaks both sides of each flow",
        instead: "add a new field with the new type";
    /// The new type accepts every old value and more.
    FieldTypeWidened = "field-type-widened", Info,
        detects: "the new type accepts every old value and more (`u8`→`u32`, `uuid`→`string`, an enum → `string`, integer→float, `T`→`json`, list items becoming optional, a field with a default becoming `T?`: null); integers are judged on the values type and bounds admit together",
        breaks: "`(false, true)`: old readers (and their generated guards) reject the new values",
        instead: "deploy the readers first";
    /// The new type accepts a subset of the old values.
    FieldTypeNarrowed = "field-type-narrowed", Info,
        detects: "the new type accepts a subset (`u32`→`u8`, `string`→`uuid`, `string` → an enum, `json`→`T`, `T?` becoming a field with a default: no null)",
        breaks: "`(true, false)`: old writers may send values now refused",
        instead: "deploy the writers first";
    /// Bounds relaxed.
    ConstraintWidened = "constraint-widened", Info,
        detects: "`min` lowered, `max` raised, a length bound relaxed or removed (`min = 0` on a `u8` is no bound: the values are what counts)",
        breaks: "`(false, true)`: readers' generated checks reject the new values",
        instead: "deploy the readers first";
    /// Bounds tightened.
    ConstraintNarrowed = "constraint-narrowed", Info,
        detects: "`min` raised, `max` lowered (max 100 → 50), a bound added",
        breaks: "`(true, false)`: old writers may send values now refused",
        instead: "deploy the writers first";
    /// Bounds moved both ways.
    ConstraintChanged = "constraint-changed", Info,
        detects: "bounds moved both ways",
        breaks: "`(false, false)`",
        instead: "—";
    /// A default value changed.
    DefaultChanged = "default-changed", Warning,
        detects: "a default value changed",
        breaks: "warning: readers fill absent values differently",
        instead: "—";
    /// Struct ↔ enum ↔ union.
    TypeKindChanged = "type-kind-changed", Info,
        detects: "struct ↔ enum ↔ union, where the old type was used",
        breaks: "`(false, false)`",
        instead: "a new type";
    /// The type used in a place is another named type of the same shape.
    TypeRenamed = "type-renamed", Info,
        detects: "where a type was used, a type of another name (renamed, `renamed_from`, or moved to another module) is used",
        breaks: "info: the wire is unchanged (types are compared by shape), generated Rust and TypeScript names change",
        instead: "—";
    /// A type no longer declared.
    TypeRemoved = "type-removed", Info,
        detects: "a type no longer declared, and no longer used where it was",
        breaks: "info: each field that used it is reported where it changed",
        instead: "—";
    /// A new enum value.
    EnumValueAdded = "enum-value-added", Info,
        detects: "a new value of an enum used by a flow of both versions",
        breaks: "`(false, true)`: old readers reject it (clients' guards, exhaustive switches); `(true, true)` for an open enum",
        instead: "deploy readers first, or declare the enum `open`";
    /// An enum value removed.
    EnumValueRemoved = "enum-value-removed", Info,
        detects: "an enum value removed",
        breaks: "`(true, false)`: old writers may still send it; `(true, true)` for an open enum",
        instead: "deploy writers first";
    /// A union's tag key changed.
    UnionTagChanged = "union-tag-changed", Info,
        detects: "a union's tag key changed",
        breaks: "`(false, false)`",
        instead: "—";
    /// A new union variant.
    UnionVariantAdded = "union-variant-added", Info,
        detects: "a new union variant",
        breaks: "`(false, true)`; `(true, true)` for an open union",
        instead: "deploy readers first, or declare the union `open`";
    /// A union variant removed.
    UnionVariantRemoved = "union-variant-removed", Info,
        detects: "a union variant removed",
        breaks: "`(true, false)`; `(true, true)` for an open union",
        instead: "deploy writers first";
    /// An enum or union became open or closed.
    OpennessChanged = "openness-changed", Info,
        detects: "an enum or union declared `open` became closed, or the reverse",
        breaks: "closing: `(true, false)` (old writers rely on readers accepting unknown values); opening: info",
        instead: "—";
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;

    /// Parses a rule id; the error is a sentence with a did-you-mean when one is close.
    fn from_str(s: &str) -> Result<RuleId, String> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let hint = crate::names::suggestion(s, RuleId::ALL.iter().map(|r| r.as_str()))
                    .unwrap_or_else(|| "see docs/compat.md for the rules".to_owned());
                format!("unknown rule `{s}`; {hint}")
            })
    }
}

/// The table of rules of docs/compat.md, one row per rule, from the registry.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| rule | detects | why it breaks (when it does) | evolve safely instead |\n|---|---|---|---|\n",
    );
    for r in RuleId::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.as_str(),
            r.detects(),
            r.breaks(),
            r.instead()
        ));
    }
    out
}
