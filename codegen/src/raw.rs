//! The raw layer: schema files as written, deserialized with serde and carrying source spans.
//!
//! Every section (the header keys, each type, each event) is deserialized on its own, so one
//! mistake does not hide the others: a file with three misspelled keys in three events reports
//! all three. Nothing here knows what the names mean; that is [`crate::lower`]'s work.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use schemars::JsonSchema;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::names;
use crate::source::{FileId, SourceFile};

/// Keys allowed at the top of a schema file.
const MODULE_KEYS: &[&str] = &[
    "module",
    "description",
    "version",
    "imports",
    "types",
    "events",
];

/// A schema file as written.
#[derive(Debug)]
pub(crate) struct RawModule {
    pub(crate) file: FileId,
    pub(crate) module: Option<Spanned<String>>,
    /// Whether the file has a `module` key at all (one with a value of the wrong type has its
    /// own error, not also "names no module").
    pub(crate) module_given: bool,
    /// Whether `imports` was given but could not be read (`imports = "b"`): uses of other
    /// modules' types are then not also reported as not imported.
    pub(crate) imports_unreadable: bool,
    pub(crate) description: Option<String>,
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) imports: Vec<Spanned<String>>,
    pub(crate) types: Vec<(Spanned<String>, Spanned<RawType>)>,
    pub(crate) events: Vec<(Spanned<String>, Spanned<RawEvent>)>,
    /// Types and events that lost a key their meaning rests on (`tag`, `tenant` …) to an
    /// error of its own: they are known by name, but not checked further, so one mistake is
    /// reported once. An item that lost any other key is checked with the keys it has left.
    pub(crate) damaged: HashSet<Item>,
    /// Fields dropped from an item for an error of their own (`Some("x")`), or all of them
    /// (`None`) when a misspelled `fields`/`payload` key took them with it: references to them
    /// are not reported again.
    pub(crate) lost_fields: HashSet<(Item, Option<String>)>,
    /// Keys dropped for a value of the wrong TOML type whose loss the lowering works around;
    /// see [`Dropped`].
    pub(crate) dropped: HashSet<(Item, Dropped)>,
}

/// A type or an event of a file, by its key: the items the sets of [`RawModule`] speak of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Item {
    /// `[types.Ticket]`.
    Type(String),
    /// `[events.created]`.
    Event(String),
}

/// A key dropped for an error of its own, which the lowering works around so that the rest is
/// checked without a second error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dropped {
    /// `kind`: the type is checked as the kind its other keys imply.
    Kind,
    /// `direction`: the event is checked with every direction allowed.
    Direction,
    /// A recipients rule (`recipients.everyone = "yes"`): the recipients are not also said to
    /// declare no rule.
    Rule,
}

/// Keys whose loss changes what the rest of a section means: a section that lost one is known
/// by name only. (`kind` and `direction` are inferred or relaxed instead: see
/// [`RawModule::dropped`].)
const STRUCTURAL_KEYS: &[&str] = &[
    "tag",
    "values",
    "variants",
    "tenant",
    "platform",
    "recipients",
    "reply",
];

/// Keys of a named type that belong to the other kinds, for a type of kind `kind` (`struct`,
/// the default, `enum` or `union`).
pub(crate) fn keys_of_other_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "enum" => &["fields", "tag", "variants"],
        "union" => &["fields", "values"],
        _ => &["values", "tag", "variants", "open"],
    }
}

/// What a table of a section is, for the keys that apply to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Type,
    Event,
    Other,
}

/// Keys of the table at `path` inside a section that do not apply to it as its own keys
/// declare it: a did-you-mean never offers one (`valuse` on a struct is not "did you mean
/// `values`?"). The facts are the lowering's: [`keys_of_other_kinds`], [`Direction`]'s
/// senders, and which field types have bounds or lengths.
fn not_applying(section: Section, path: &[String], table: &DeTable<'_>) -> Vec<&'static str> {
    use tidings::schema::{Direction, Primitive};
    let text = |key: &str| match table.get(key).map(|v| v.get_ref()) {
        Some(DeValue::String(s)) => Some(s.to_string()),
        _ => None,
    };
    match (section, path) {
        (Section::Type, []) => {
            keys_of_other_kinds(text("kind").as_deref().unwrap_or("struct")).to_vec()
        }
        (Section::Event, []) => {
            // No `direction`: the default, `to_client`.
            let Some(direction) = Some(text("direction").unwrap_or_else(|| "to_client".to_owned()))
                .and_then(|d| {
                    [
                        Direction::ServerToClient,
                        Direction::ClientToServer,
                        Direction::Both,
                    ]
                    .into_iter()
                    .find(|x| x.as_str() == d)
                })
            else {
                return Vec::new();
            };
            let mut keys = Vec::new();
            if !direction.server_sends() {
                keys.extend(["delivery", "recipients", "presence"]);
            }
            if !direction.client_sends() {
                keys.push("reply");
            }
            keys
        }
        (_, [fields, _]) if fields == "fields" || fields == "payload" => {
            let Some(ty) = text("type") else {
                return Vec::new();
            };
            let mut expr = match crate::typeexpr::parse(&ty) {
                Ok(expr) => expr,
                Err(_) => return Vec::new(),
            };
            while let crate::typeexpr::TypeExpr::Optional(inner, _) = expr {
                expr = *inner;
            }
            let (bounds, length) = match &expr {
                crate::typeexpr::TypeExpr::List(_) | crate::typeexpr::TypeExpr::Map(_) => {
                    (false, true)
                }
                crate::typeexpr::TypeExpr::Name {
                    module: None, name, ..
                } => {
                    match Primitive::from_name(name) {
                        Some(p) => (p.is_number(), p == Primitive::String),
                        // A named type (struct, enum or union) has neither.
                        None => (false, false),
                    }
                }
                crate::typeexpr::TypeExpr::Name { .. } => (false, false),
                crate::typeexpr::TypeExpr::Optional(..) => return Vec::new(),
            };
            let mut keys = Vec::new();
            if !bounds {
                keys.extend(["min", "max"]);
            }
            if !length {
                keys.extend(["min_length", "max_length"]);
            }
            keys
        }
        _ => Vec::new(),
    }
}

/// The table at `path` inside `value`, when there is one.
fn table_at<'a, 'v>(value: &'a DeValue<'v>, path: &[String]) -> Option<&'a DeTable<'v>> {
    let mut table = match value {
        DeValue::Table(t) => t,
        _ => return None,
    };
    for key in path {
        table = match table.get(key.as_str())?.get_ref() {
            DeValue::Table(t) => t,
            _ => return None,
        };
    }
    Some(table)
}

/// A named type: a struct (the default), a string enum, or a tagged union.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawType {
    /// `struct` (the default), `enum` or `union`.
    #[schemars(with = "Option<Kind>")]
    pub(crate) kind: Option<Spanned<String>>,
    /// The type's previous name, so `tidings compat` reports a rename.
    #[schemars(with = "Option<String>")]
    pub(crate) renamed_from: Option<Spanned<String>>,
    /// Documentation, carried into generated code.
    pub(crate) doc: Option<String>,
    /// `true`, or a note saying what to use instead.
    #[schemars(with = "Option<RawDeprecated>")]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
    /// Structs: the fields, `name = "type"` or `name = { type = "...", ... }`.
    #[schemars(with = "Option<OrderedMap<RawField>>")]
    pub(crate) fields: Option<Spanned<OrderedMap<RawField>>>,
    /// Enums: the allowed strings, each `"value"` or `{ name, doc, deprecated }`.
    #[schemars(with = "Option<Vec<RawEnumValue>>")]
    pub(crate) values: Option<Spanned<Vec<Spanned<RawEnumValue>>>>,
    /// Unions: the JSON key naming the variant (default `type`).
    #[schemars(with = "Option<String>")]
    pub(crate) tag: Option<Spanned<String>>,
    /// Unions: `name = "StructType"`, or `{ type, doc, deprecated }`, or `{}`.
    #[schemars(with = "Option<OrderedMap<RawVariant>>")]
    pub(crate) variants: Option<Spanned<OrderedMap<RawVariant>>>,
    /// Enums and unions: `true` when readers accept values (variants) not declared yet, as
    /// an unknown value, so that adding one breaks no deployed reader.
    #[schemars(with = "Option<bool>")]
    pub(crate) open: Option<Spanned<bool>>,
}

/// The kinds of named types.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum Kind {
    /// A JSON object with declared fields.
    Struct,
    /// A string enum.
    Enum,
    /// An internally tagged union.
    Union,
}

/// A field: `"uuid?"`, or a table with the type and its options.
pub(crate) type RawField = OrTable<RawFieldFull>;

/// The table form of a field.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFieldFull {
    /// The type: `string`, `uuid?`, `[Ticket]`, `map<i64>`, `common.Link` …
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub(crate) ty: Spanned<String>,
    /// Documentation.
    pub(crate) doc: Option<String>,
    /// Smallest allowed number (inclusive).
    #[schemars(with = "Option<f64>")]
    pub(crate) min: Option<Spanned<toml::Value>>,
    /// Largest allowed number (inclusive).
    #[schemars(with = "Option<f64>")]
    pub(crate) max: Option<Spanned<toml::Value>>,
    /// Fewest characters or items.
    #[schemars(with = "Option<u64>")]
    pub(crate) min_length: Option<Spanned<i64>>,
    /// Most characters or items.
    #[schemars(with = "Option<u64>")]
    pub(crate) max_length: Option<Spanned<i64>>,
    /// The value readers use when the field is absent.
    #[schemars(with = "Option<serde_json::Value>")]
    pub(crate) default: Option<Spanned<toml::Value>>,
    /// `true`, or a note saying what to use instead.
    #[schemars(with = "Option<RawDeprecated>")]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
}

/// An enum value: `"open"`, or a table with a doc.
pub(crate) type RawEnumValue = OrTable<RawEnumValueFull>;

/// The table form of an enum value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnumValueFull {
    /// The string on the wire.
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    /// Documentation.
    pub(crate) doc: Option<String>,
    /// `true`, or a note.
    #[schemars(with = "Option<RawDeprecated>")]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
}

/// A union variant: `"TextBody"` (its payload type), or a table.
pub(crate) type RawVariant = OrTable<RawVariantFull>;

/// The table form of a union variant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVariantFull {
    /// The struct whose fields the variant carries; absent for a variant with no fields.
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
    pub(crate) ty: Option<Spanned<String>>,
    /// Documentation.
    pub(crate) doc: Option<String>,
    /// `true`, or a note.
    #[schemars(with = "Option<RawDeprecated>")]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
}

/// An event.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent {
    /// The wire name; default `module:key`.
    #[schemars(with = "Option<String>")]
    pub(crate) name: Option<Spanned<String>>,
    /// Documentation.
    pub(crate) doc: Option<String>,
    /// `to_client` (default), `to_server` or `both`.
    #[schemars(with = "Option<Direction>")]
    pub(crate) direction: Option<Spanned<String>>,
    /// `durable` (default) or `ephemeral`; for events the server sends.
    #[schemars(with = "Option<Delivery>")]
    pub(crate) delivery: Option<Spanned<String>>,
    /// The payload fields.
    #[schemars(with = "Option<OrderedMap<RawField>>")]
    pub(crate) payload: Option<Spanned<OrderedMap<RawField>>>,
    /// For events clients send: the type of the server's reply.
    #[schemars(with = "Option<String>")]
    pub(crate) reply: Option<Spanned<String>>,
    /// `true`, or a note.
    #[schemars(with = "Option<RawDeprecated>")]
    pub(crate) deprecated: Option<Spanned<RawDeprecated>>,
    /// The payload field holding the tenant; rules resolve inside it.
    #[schemars(with = "Option<String>")]
    pub(crate) tenant: Option<Spanned<String>>,
    /// `true`: rules resolve across every tenant.
    #[schemars(with = "Option<bool>")]
    pub(crate) platform: Option<Spanned<bool>>,
    /// Who receives the event when the server emits it.
    #[schemars(with = "Option<RawRecipients>")]
    pub(crate) recipients: Option<Spanned<RawRecipients>>,
    /// `joined` or `left`: the hub announces this change of a room's members itself.
    #[schemars(with = "Option<Presence>")]
    pub(crate) presence: Option<Spanned<String>>,
    /// The event's previous key, so `tidings compat` reports a rename.
    #[schemars(with = "Option<String>")]
    pub(crate) renamed_from: Option<Spanned<String>>,
}

/// Event directions.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum Direction {
    /// The server emits it.
    ToClient,
    /// Clients send it.
    ToServer,
    /// Both.
    Both,
}

/// Presence announcements.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum Presence {
    /// A user's first connection joined the room.
    Joined,
    /// A user's last connection left the room.
    Left,
}

/// Deliveries.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum Delivery {
    /// Replayed to clients that missed it.
    Durable,
    /// Never stored.
    Ephemeral,
}

/// A whole schema file: one module.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "Tidings schema file",
    description = "One module of realtime events. See docs/schema.md."
)]
#[allow(dead_code)]
pub(crate) struct SchemaFile {
    /// The module name: lowercase letters, digits and `_`.
    pub(crate) module: String,
    /// What the module is about.
    pub(crate) description: Option<String>,
    /// The module's version, `MAJOR.MINOR.PATCH`.
    pub(crate) version: Option<String>,
    /// Modules whose types this file references as `module.Type`.
    #[serde(default)]
    pub(crate) imports: Vec<String>,
    /// Named types, `[types.Name]`.
    #[serde(default)]
    pub(crate) types: std::collections::BTreeMap<String, RawType>,
    /// Events, `[events.key]`.
    #[serde(default)]
    pub(crate) events: std::collections::BTreeMap<String, RawEvent>,
}

/// The recipient rules of an event.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRecipients {
    /// Fields each holding one user id (paths such as `ticket.assignee_id`).
    #[schemars(with = "Vec<String>")]
    pub(crate) user: Vec<Spanned<String>>,
    /// Fields each holding a list of user ids.
    #[schemars(with = "Vec<String>")]
    pub(crate) users: Vec<Spanned<String>>,
    /// Roles, resolved inside the scope.
    #[schemars(with = "Vec<String>")]
    pub(crate) roles: Vec<Spanned<String>>,
    /// Room templates such as `chat:{chat_id}`.
    #[schemars(with = "Vec<String>")]
    pub(crate) rooms: Vec<Spanned<String>>,
    /// Every connection of the scope.
    #[schemars(with = "Option<bool>")]
    pub(crate) everyone: Option<Spanned<bool>>,
    /// The field holding the acting user, who never receives the event.
    #[schemars(with = "Option<String>")]
    pub(crate) except: Option<Spanned<String>>,
}

/// `deprecated = true` or `deprecated = "use X instead"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawDeprecated {
    Flag(bool),
    Note(String),
}

impl<'de> Deserialize<'de> for RawDeprecated {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDeprecated;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or a note saying what to use instead")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawDeprecated, E> {
                Ok(RawDeprecated::Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDeprecated, E> {
                Ok(RawDeprecated::Note(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawDeprecated {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Deprecated".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`true`, or a note saying what to use instead.",
            "type": ["boolean", "string"]
        })
    }
}

impl<T: JsonSchema> JsonSchema for OrTable<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}OrShort", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<T>();
        schemars::json_schema!({ "anyOf": [{ "type": "string" }, table] })
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("MapOf{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<V>();
        schemars::json_schema!({ "type": "object", "additionalProperties": value })
    }
}

/// A value written either as a short string or as a table.
#[derive(Debug)]
pub(crate) enum OrTable<T> {
    Short(String),
    Full(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrTable<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrTable<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrTable<T>, E> {
                Ok(OrTable::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OrTable<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(OrTable::Full)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A table whose keys are names, in source order.
#[derive(Debug)]
pub(crate) struct OrderedMap<V>(pub(crate) Vec<(Spanned<String>, Spanned<V>)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// Parses one schema file, reporting every syntax error and every malformed section.
/// Returns `None` when the file is not valid TOML.
pub(crate) fn parse(
    file: FileId,
    source: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<RawModule> {
    let (root, errors) = DeTable::parse_recoverable(source.text());
    if !errors.is_empty() {
        // A key or table declared twice leaves the rest of the file well formed: reported,
        // and the first declaration checked with everything else.
        let duplicates_only = errors
            .iter()
            .all(|e| e.message().starts_with("duplicate key"));
        report_syntax(file, source, errors, diags);
        if !duplicates_only {
            return None;
        }
    }
    let mut raw = RawModule {
        file,
        module: None,
        module_given: false,
        imports_unreadable: false,
        description: None,
        version: None,
        imports: Vec::new(),
        types: Vec::new(),
        events: Vec::new(),
        damaged: HashSet::new(),
        lost_fields: HashSet::new(),
        dropped: HashSet::new(),
    };
    let mut cx = Reader { file, diags };
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "module" => {
                raw.module_given = true;
                raw.module = cx.de(value, "module");
            }
            "description" => raw.description = cx.de(value, "description"),
            "version" => raw.version = cx.de(value, "version"),
            "imports" => match cx.de(value, "imports") {
                Some(imports) => raw.imports = imports,
                None => raw.imports_unreadable = true,
            },
            "types" => {
                raw.types = cx.entries(
                    value,
                    "types",
                    "type",
                    &mut raw.damaged,
                    &mut raw.lost_fields,
                    &mut raw.dropped,
                );
            }
            "events" => {
                raw.events = cx.entries(
                    value,
                    "events",
                    "event",
                    &mut raw.damaged,
                    &mut raw.lost_fields,
                    &mut raw.dropped,
                );
            }
            other => {
                let d = Diagnostic::error(
                    crate::diag::Code::UnknownKey,
                    file,
                    key_span,
                    format!("unknown key `{other}` at the top of the schema file"),
                )
                .help(
                    match names::did_you_mean(other, MODULE_KEYS.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("the top-level keys are {}", list(MODULE_KEYS)),
                    },
                );
                cx.diags.push(d);
                // `modul = "shop"`: reported above; the file is checked as the module it meant,
                // rather than also as one that names no module.
                if raw.module.is_none()
                    && names::did_you_mean(other, MODULE_KEYS.iter().copied()) == Some("module")
                {
                    raw.module_given = true;
                    raw.module = cx.de(value, "module");
                }
            }
        }
    }
    Some(raw)
}

/// The module a file declares (`module = "chat"` on a line of its own), read without parsing
/// the file: for a file that is not valid TOML, so that its importers cause no second error.
pub(crate) fn declared_module(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("module")?
            .trim_start()
            .strip_prefix('=')?;
        let rest = rest.trim().strip_prefix('"')?;
        let name = &rest[..rest.find('"')?];
        (!name.is_empty()).then(|| name.to_owned())
    })
}

struct Reader<'a> {
    file: FileId,
    diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    /// Deserializes one value, reporting a failure as a diagnostic. When the value is a table,
    /// the entry at fault is dropped and deserialization retried, so that every mistake in the
    /// table is reported rather than only the first.
    fn de<T: DeserializeOwned>(&mut self, value: Spanned<DeValue<'_>>, what: &str) -> Option<T> {
        self.de_recovering(value, what, Section::Other, &mut Vec::new())
    }

    /// As [`Reader::de`], also giving the key paths of the entries lost on the way
    /// (`["fields", "x", "min_length"]`). A misspelled key (`vaules`) whose meant key is
    /// absent is given as the key it meant (`values`): its meaning is what was lost.
    fn de_recovering<T: DeserializeOwned>(
        &mut self,
        value: Spanned<DeValue<'_>>,
        what: &str,
        section: Section,
        removed: &mut Vec<Vec<String>>,
    ) -> Option<T> {
        let mut value = value;
        // Where earlier errors were: a key missing from a table that already lost that key to
        // an error is a consequence, not a second mistake.
        let mut reported: Vec<Range<usize>> = Vec::new();
        // Each retry removes one entry, so this ends; the bound guards against a bug looping.
        for _ in 0..64 {
            let span = value.span();
            match T::deserialize(ValueDeserializer::from(value.clone())) {
                // After a failure, the value without its faulty entries still goes on, so
                // that names it declares resolve and cause no further errors.
                Ok(v) => return Some(v),
                Err(e) => {
                    let at = e.span().unwrap_or(span.clone());
                    let path = remove_entry_at(&mut value, &at);
                    let key = path.as_ref().and_then(|p| p.last()).map(String::as_str);
                    let parent = path
                        .as_ref()
                        .and_then(|p| table_at(value.get_ref(), &p[..p.len().saturating_sub(1)]));
                    let not_here = match (&path, parent) {
                        (Some(p), Some(t)) => not_applying(section, &p[..p.len() - 1], t),
                        _ => Vec::new(),
                    };
                    let consequence = e.message().starts_with("missing field")
                        && reported
                            .iter()
                            .any(|r| at.start <= r.start && r.end <= at.end);
                    // A key inside a field or variant says whose it is.
                    let whose = match path.as_deref() {
                        Some([list, name, _, ..]) if list == "fields" || list == "payload" => {
                            format!("field `{name}` of {what}")
                        }
                        Some([list, name, _, ..]) if list == "variants" => {
                            format!("variant `{name}` of {what}")
                        }
                        // The value itself (`module = 5`): the key is `what`, at the top.
                        None if section == Section::Other => "the schema file".to_owned(),
                        _ => what.to_owned(),
                    };
                    let key = match (&path, section) {
                        (None, Section::Other) => Some(what),
                        _ => key,
                    };
                    let (diagnostic, meant) = serde_diagnostic(
                        self.file,
                        at.clone(),
                        e.message(),
                        &whose,
                        key,
                        &not_here,
                    );
                    if !consequence {
                        self.diags.push(diagnostic);
                    }
                    reported.push(at.clone());
                    match path {
                        Some(mut path) => {
                            if let (Some(meant), Some(parent)) = (meant, parent) {
                                if !parent.contains_key(meant) {
                                    if let Some(last) = path.last_mut() {
                                        *last = meant.to_owned();
                                    }
                                }
                            }
                            removed.push(path);
                        }
                        None => return None,
                    }
                }
            }
        }
        None
    }

    /// Deserializes each entry of a table of named items on its own.
    fn entries<T: DeserializeOwned>(
        &mut self,
        value: Spanned<DeValue<'_>>,
        section: &str,
        item: &str,
        damaged: &mut HashSet<Item>,
        lost_fields: &mut HashSet<(Item, Option<String>)>,
        dropped: &mut HashSet<(Item, Dropped)>,
    ) -> Vec<(Spanned<String>, Spanned<T>)> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            self.diags.push(
                Diagnostic::error(
                    crate::diag::Code::InvalidValue,
                    self.file,
                    span,
                    format!("`{section}` must be a table"),
                )
                .help(format!("declare each {item} as `[{section}.<name>]`")),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table {
            let name = key.get_ref().to_string();
            let key = Spanned::new(key.span(), name.clone());
            let section = match item {
                "type" => Item::Type(name.clone()),
                _ => Item::Event(name.clone()),
            };
            let mut removed = Vec::new();
            let kind = match item {
                "type" => Section::Type,
                "event" => Section::Event,
                _ => Section::Other,
            };
            match self.de_recovering::<Spanned<T>>(
                value,
                &format!("{item} `{name}`"),
                kind,
                &mut removed,
            ) {
                Some(v) => out.push((key, v)),
                None => {
                    damaged.insert(section.clone());
                }
            }
            for path in removed {
                let first = path.first().map_or("", String::as_str);
                match (first, path.get(1), path.len()) {
                    ("kind", _, 1) => {
                        dropped.insert((section.clone(), Dropped::Kind));
                    }
                    ("direction", _, 1) => {
                        dropped.insert((section.clone(), Dropped::Direction));
                    }
                    ("recipients", Some(_), 2) => {
                        dropped.insert((section.clone(), Dropped::Rule));
                    }
                    // The whole key lost (a sub-key or an item lost leaves the rest checked).
                    (k, _, 1) if STRUCTURAL_KEYS.contains(&k) => {
                        damaged.insert(section.clone());
                    }
                    // A whole field dropped: references to it are not reported again.
                    ("fields" | "payload", Some(field), 2) => {
                        lost_fields.insert((section.clone(), Some(field.clone())));
                    }
                    // All of them dropped (`payload = 5`).
                    ("fields" | "payload", None, _) => {
                        lost_fields.insert((section.clone(), None));
                    }
                    ("fields" | "payload", _, _) => {}
                    // A misspelled `fields`/`payload` took its fields with it.
                    (other, _, _)
                        if names::did_you_mean(other, ["fields", "payload"]).is_some() =>
                    {
                        lost_fields.insert((section.clone(), None));
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

/// Reports TOML syntax errors in source order. A table header declared twice is reported once,
/// not again for each key under it.
fn report_syntax(
    file: FileId,
    source: &SourceFile,
    errors: Vec<toml::de::Error>,
    diags: &mut Diagnostics,
) {
    let mut errors: Vec<(Range<usize>, String)> = errors
        .into_iter()
        .map(|e| (e.span().unwrap_or(0..0), e.message().trim_end().to_owned()))
        .collect();
    errors.sort_by_key(|(span, _)| (span.start, span.end));
    let text = source.text();
    let line_start = |at: usize| text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let header_before = |at: usize| {
        let mut start = line_start(at);
        loop {
            if text[start..].trim_start().starts_with('[') {
                return Some(start);
            }
            if start == 0 {
                return None;
            }
            start = line_start(start - 1);
        }
    };
    let mut duplicated_headers = Vec::new();
    let mut lone_cr_said = false;
    for (span, message) in errors {
        // A key left empty (`= 1`) is a syntax error of its own; its "duplicate" is not news.
        if message.starts_with("duplicate key") && span.is_empty() {
            continue;
        }
        // Lone carriage returns (old Mac line endings) fail at every line: said once.
        if message.starts_with("carriage return must be followed by newline") {
            if lone_cr_said {
                continue;
            }
            lone_cr_said = true;
            diags.push(
                Diagnostic::error(crate::diag::Code::Syntax, file, span, "invalid TOML")
                    .label("a carriage return that does not end a line")
                    .help("the file ends lines with a carriage return alone; save it with LF or CRLF line endings"),
            );
            continue;
        }
        let d = if message.starts_with("duplicate key") {
            let line = line_start(span.start);
            let is_header = text[line..].trim_start().starts_with('[');
            if is_header {
                duplicated_headers.push(line);
            } else if header_before(span.start).is_some_and(|h| duplicated_headers.contains(&h)) {
                continue;
            }
            if is_header {
                let header = text[line..].lines().next().unwrap_or_default().trim();
                let mut d = Diagnostic::error(
                    crate::diag::Code::DuplicateKey,
                    file,
                    span.clone(),
                    format!("the table `{header}` is declared twice"),
                )
                .label("declared again here")
                .help("each table is declared once; merge the two, or rename one");
                // Point at the first declaration: the first line with the same header.
                let mut offset = 0;
                for l in text.split_inclusive('\n') {
                    if offset >= line {
                        break;
                    }
                    if l.trim() == header {
                        let start = offset + (l.len() - l.trim_start().len());
                        d = d.note(file, start..start + header.len(), "first declared here");
                        break;
                    }
                    offset += l.len();
                }
                d
            } else {
                let d = Diagnostic::error(
                    crate::diag::Code::DuplicateKey,
                    file,
                    span.clone(),
                    format!("the key `{}` is declared twice", source.slice(&span)),
                )
                .label("declared again here")
                .help("each key appears once in a table; remove one");
                match first_key_declaration(text, &span, header_before(span.start).unwrap_or(0)) {
                    Some(first) => d.note(file, first, "first declared here"),
                    None => d,
                }
            }
        } else {
            Diagnostic::error(crate::diag::Code::Syntax, file, span, "invalid TOML").label(message)
        };
        diags.push(d);
    }
}

/// Where a key declared twice (`span`, the second time) was first declared: the same key
/// path earlier on the line (an inline table, `{ type = "u8", type = "u16" }`), or the same
/// dotted key at the start of an earlier line since `section` (the table's header).
fn first_key_declaration(text: &str, span: &Range<usize>, section: usize) -> Option<Range<usize>> {
    let line = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let key = &text[span.clone()];
    if key.is_empty() {
        return None;
    }
    let is_key_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-');
    let at_key = |start: usize| {
        let before = text[..start].chars().next_back();
        let after = text[start + key.len()..].trim_start();
        !before.is_some_and(is_key_char) && after.starts_with('=') && !after.starts_with("==")
    };
    // Earlier on the same line, after an opening brace or a comma: an inline table's key.
    let mut from = line;
    while let Some(i) = text[from..span.start].find(key) {
        let start = from + i;
        let prefix = text[line..start].trim_end();
        if at_key(start) && (prefix.ends_with('{') || prefix.ends_with(',')) {
            return Some(start..start + key.len());
        }
        from = start + key.len();
    }
    // The dotted path as written up to the key (`fields.b`), at the start of an earlier line.
    let written = text[line..span.end].trim_start();
    let mut offset = section;
    for l in text[section..line].split_inclusive('\n') {
        let trimmed = l.trim_start();
        if let Some(rest) = trimmed.strip_prefix(written) {
            if rest.trim_start().starts_with('=') {
                let start = offset + (l.len() - trimmed.len()) + written.len() - key.len();
                return Some(start..start + key.len());
            }
        }
        offset += l.len();
    }
    None
}

/// Removes the innermost table entry whose key or value holds `at`, giving its key path. Tables
/// made by dotted keys carry no useful span of their own, so every nested table is searched.
fn remove_entry_at(value: &mut Spanned<DeValue<'_>>, at: &Range<usize>) -> Option<Vec<String>> {
    let inside = |outer: Range<usize>| outer.start <= at.start && at.end <= outer.end;
    // In an array (`values = [...]`), the item holding `at`: an entry inside it, or the item.
    if let DeValue::Array(items) = value.get_mut() {
        let index = items.iter().position(|item| inside(item.span()))?;
        if let Some(mut path) = remove_entry_at(&mut (**items)[index], at) {
            path.insert(0, index.to_string());
            return Some(path);
        }
        let mut kept = toml::de::DeArray::new();
        for (i, item) in items.iter().enumerate() {
            if i != index {
                kept.push(item.clone());
            }
        }
        *items = kept;
        return Some(vec![index.to_string()]);
    }
    let DeValue::Table(table) = value.get_mut() else {
        return None;
    };
    let mut holder = None;
    for (index, (k, v)) in table.iter_mut().enumerate() {
        if let Some(mut path) = remove_entry_at(v, at) {
            path.insert(0, k.get_ref().to_string());
            return Some(path);
        }
        if holder.is_none() && (inside(k.span()) || inside(v.span())) {
            holder = Some(index);
        }
    }
    let key = holder.and_then(|index| table.keys().nth(index).cloned())?;
    table.remove(&key)?;
    Some(vec![key.get_ref().to_string()])
}

/// Turns a serde error into a diagnostic, recognising the common shapes of message. `key` is
/// the key whose value is at fault, when known; `not_here` the keys that do not apply where
/// it is. For an unknown key, also gives the key it is a misspelling of, when one is close.
fn serde_diagnostic<'m>(
    file: FileId,
    span: Range<usize>,
    message: &'m str,
    what: &str,
    key: Option<&str>,
    not_here: &[&str],
) -> (Diagnostic, Option<&'m str>) {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((name, expected)) = rest.split_once('`') {
            let expected: Vec<&str> = expected
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|k| !not_here.contains(k))
                .collect();
            let meant = names::did_you_mean(name, expected.iter().copied());
            let help = match meant {
                Some(close) => format!("did you mean `{close}`?"),
                None if expected.is_empty() => "remove it".to_owned(),
                None => format!("the keys allowed here are {}", list(&expected)),
            };
            let d = Diagnostic::error(
                crate::diag::Code::UnknownKey,
                file,
                span,
                format!("unknown key `{name}` in {what}"),
            )
            .help(help);
            return (d, meant);
        }
    }
    (serde_value_diagnostic(file, span, message, what, key), None)
}

/// [`serde_diagnostic`] for every error but an unknown key.
fn serde_value_diagnostic(
    file: FileId,
    span: Range<usize>,
    message: &str,
    what: &str,
    key: Option<&str>,
) -> Diagnostic {
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return Diagnostic::error(
            crate::diag::Code::MissingKey,
            file,
            span,
            format!("{what} is missing the key `{name}`"),
        )
        .help(format!("add `{name} = ...`"));
    }
    // "invalid type: string \"1\", expected i64": say which key, what it takes, how to write it.
    if let (Some(rest), Some(key)) = (message.strip_prefix("invalid type: "), key) {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let (takes, example) = match expected {
                e if e.starts_with('i') || e.starts_with('u') || e.contains("integer") => {
                    ("a whole number", format!("{key} = 1"))
                }
                e if e.contains("bool") => ("`true` or `false`", format!("{key} = true")),
                e if e.contains("sequence") || e.contains("array") => {
                    ("an array", format!("{key} = [\"...\"]"))
                }
                e if e.contains("a string or a table") => {
                    ("a string or a table", format!("{key} = \"...\""))
                }
                // Tables first: "struct RawRecipients" also contains "str".
                e if e.contains("map") || e.contains("table") || e.starts_with("struct") => {
                    let example = match key {
                        "recipients" => "recipients.everyone = true".to_owned(),
                        _ => format!("{key} = {{ ... }}"),
                    };
                    ("a table", example)
                }
                e if e.contains("string") || e.contains("str") => {
                    let value = match key {
                        "kind" => "enum",
                        "direction" => "to_server",
                        "delivery" => "ephemeral",
                        "type" => "uuid",
                        _ => "...",
                    };
                    ("a string", format!("{key} = \"{value}\""))
                }
                e => {
                    let example = match key {
                        "deprecated" => "deprecated = \"use ... instead\"".to_owned(),
                        _ => format!("{key} = ..."),
                    };
                    (e, example)
                }
            };
            return Diagnostic::error(
                crate::diag::Code::InvalidValue,
                file,
                span,
                format!("`{key}` in {what} takes {takes}, not {found}"),
            )
            .help(format!("write for example `{example}`"));
        }
    }
    Diagnostic::error(
        crate::diag::Code::InvalidValue,
        file,
        span,
        format!("invalid value in {what}"),
    )
    .label(message.to_owned())
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
