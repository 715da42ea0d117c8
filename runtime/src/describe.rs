//! Events declared in Rust describe themselves in the IR, so every backend (TypeScript, JSON
//! Schema, AsyncAPI, docs) and `tidings compat` serve them exactly as they serve TOML schemas.
//!
//! `#[derive(Event)]` and `#[derive(Describe)]` implement [`Describe`] and register each type in
//! a process-wide list; [`schema`] assembles the whole IR from it, with no hand-kept list of
//! types to forget.
//!
//! ```ignore
//! // src/bin/export-events.rs: `cargo run --bin export-events -- --ts web/src/generated`
//! fn main() -> std::process::ExitCode {
//!     tidings_codegen::export::run(tidings::describe::schema(), std::env::args())
//! }
//! ```

use std::collections::{BTreeMap, HashMap};

use crate::schema::{
    EventDef, Field, Module, Primitive, Schema, TypeDef, TypeRef, Value, IR_VERSION,
};

/// A Rust type that knows its wire form in the IR.
pub trait Describe {
    /// The IR type of a value of this type.
    fn type_ref() -> TypeRef;

    /// The fields of a struct (for `#[serde(flatten)]`); `None` for other types.
    fn struct_fields() -> Option<Vec<Field>> {
        None
    }

    /// Adds the definition of every named type a value of this type uses — itself, and the
    /// types of its fields and variants — to `types`, once each. This is how an event's
    /// [`Contract`](crate::validate::Contract) learns the types of its payload, with no
    /// registry: what `#[derive(Event)]`'s `Event::contract` does.
    fn define(types: &mut crate::validate::Types) {
        let _ = types;
    }
}

/// A struct deriving `Describe`: what `#[serde(flatten)]` may inline in a derived type (the
/// fields of a flattened map or enum are not known ahead of time, so they are refused).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be flattened into a payload",
    note = "`#[serde(flatten)]` inlines the fields of a struct deriving `Describe`; a map or enum has no fields known ahead of time"
)]
pub trait Struct: Describe {}

macro_rules! primitive {
    ($($ty:ty => $p:ident),* $(,)?) => {
        $(impl Describe for $ty {
            fn type_ref() -> TypeRef {
                TypeRef::Primitive(Primitive::$p)
            }
        })*
    };
}

primitive! {
    String => String, bool => Bool, i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, f32 => F32, f64 => F64,
    serde_json::Value => Json,
}

impl<T: Describe> Describe for Option<T> {
    fn type_ref() -> TypeRef {
        TypeRef::Optional(Box::new(T::type_ref()))
    }
    fn define(types: &mut crate::validate::Types) {
        T::define(types);
    }
}

impl<T: Describe> Describe for Vec<T> {
    fn type_ref() -> TypeRef {
        TypeRef::List(Box::new(T::type_ref()))
    }
    fn define(types: &mut crate::validate::Types) {
        T::define(types);
    }
}

impl<T: Describe> Describe for BTreeMap<String, T> {
    fn type_ref() -> TypeRef {
        TypeRef::Map(Box::new(T::type_ref()))
    }
    fn define(types: &mut crate::validate::Types) {
        T::define(types);
    }
}

impl<T: Describe, S> Describe for HashMap<String, T, S> {
    fn type_ref() -> TypeRef {
        TypeRef::Map(Box::new(T::type_ref()))
    }
    fn define(types: &mut crate::validate::Types) {
        T::define(types);
    }
}

impl<T: Describe> Describe for Box<T> {
    fn type_ref() -> TypeRef {
        T::type_ref()
    }
    fn define(types: &mut crate::validate::Types) {
        T::define(types);
    }
}

/// Replaces the innermost `string` of a type with `uuid` or `timestamp` (field attributes
/// `#[tidings(uuid)]`, `#[tidings(timestamp)]`).
pub fn with_format(ty: TypeRef, format: Primitive) -> TypeRef {
    match ty {
        TypeRef::Primitive(Primitive::String) => TypeRef::Primitive(format),
        TypeRef::Optional(i) => TypeRef::Optional(Box::new(with_format(*i, format))),
        TypeRef::List(i) => TypeRef::List(Box::new(with_format(*i, format))),
        TypeRef::Map(i) => TypeRef::Map(Box::new(with_format(*i, format))),
        other => other,
    }
}

/// The IR value of a default, by serializing it (`#[serde(default)]` fields).
pub fn default_value<T: serde::Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// What a registered item contributes to the IR.
#[derive(Debug, Clone)]
pub enum Item {
    /// A named type.
    Type(TypeDef),
    /// An event.
    Event(EventDef),
}

/// One derived type or event, registered by the derive macros.
#[derive(Debug)]
pub struct Registration {
    /// The module it belongs to.
    pub module: &'static str,
    /// Where it was declared; items of a module are ordered by file, then line.
    pub file: &'static str,
    /// The line of the declaration.
    pub line: u32,
    /// Builds the item.
    pub describe: fn() -> Item,
}

inventory::collect!(Registration);

/// A type declared in a schema file: code generated from TOML derives `Describe` with
/// `register = false`, and submits this instead of a [`Registration`]. [`schema`] leaves such
/// types out of the IR — the schema files hold them — but lets derived types and events use
/// them: the IR refers to them by module and name, and the contract that joins the TOML
/// modules and the IR document (`tidings check`) resolves the reference.
#[derive(Debug)]
pub struct Declared {
    /// The module of the schema file that declares it.
    pub module: &'static str,
    /// The type's name.
    pub name: &'static str,
}

inventory::collect!(Declared);

/// Why the derived items do not form one schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescribeError {
    /// Two events share a wire name.
    #[error("two events use the wire name `{name}`: {first} and {second}")]
    DuplicateWireName {
        /// The wire name.
        name: String,
        /// Where the first is declared.
        first: String,
        /// Where the second is declared.
        second: String,
    },
    /// Two types of one module share a name.
    #[error("module `{module}` declares the type `{name}` twice: {first} and {second}")]
    DuplicateType {
        /// The module.
        module: String,
        /// The type name.
        name: String,
        /// Where the first is declared.
        first: String,
        /// Where the second is declared.
        second: String,
    },
    /// A presence event breaks a rule of [`crate::schema::presence::spec`].
    #[error("presence event `{name}` ({at}): {error}")]
    Presence {
        /// The event's wire name.
        name: String,
        /// Where it is declared.
        at: String,
        /// The rule broken.
        error: crate::schema::presence::PresenceError,
    },
    /// A type references a named type that no derive registered.
    #[error("`{from}` uses `{module}.{name}`, which is not registered: derive `Describe` on it")]
    UnknownType {
        /// The type or event that refers to it.
        from: String,
        /// The module of the missing type.
        module: String,
        /// Its name.
        name: String,
    },
}

/// Assembles the IR of every type and event derived in this program.
///
/// # Errors
/// When two events share a wire name, a module declares a type twice, a type refers to a
/// type that is neither derived nor generated from a schema file ([`Declared`]), or a presence
/// event breaks its rules.
pub fn schema() -> Result<Schema, DescribeError> {
    assemble(inventory::iter::<Registration>, inventory::iter::<Declared>)
}

/// Assembles the IR of the given registrations (what [`schema`] does with all of them), with
/// no type declared in schema files.
///
/// # Errors
/// As [`schema`].
pub fn from_registrations<'a>(
    regs: impl IntoIterator<Item = &'a Registration>,
) -> Result<Schema, DescribeError> {
    assemble(regs, [])
}

/// [`schema`] of `regs`, where derived items may also use the `declared` types.
fn assemble<'a>(
    regs: impl IntoIterator<Item = &'a Registration>,
    declared: impl IntoIterator<Item = &'a Declared>,
) -> Result<Schema, DescribeError> {
    let mut regs: Vec<&Registration> = regs.into_iter().collect();
    regs.sort_by_key(|r| (r.module, r.file, r.line));
    let mut modules: BTreeMap<&str, Module> = BTreeMap::new();
    let mut type_at: HashMap<(String, String), String> = HashMap::new();
    let mut wire_at: HashMap<String, String> = HashMap::new();
    for r in regs {
        let at = format!("{}:{}", r.file, r.line);
        let module = modules.entry(r.module).or_insert_with(|| Module {
            name: r.module.to_owned(),
            description: None,
            version: None,
            imports: Vec::new(),
            types: Vec::new(),
            events: Vec::new(),
            location: None,
        });
        match (r.describe)() {
            Item::Type(t) => {
                if let Some(first) =
                    type_at.insert((r.module.to_owned(), t.name.clone()), at.clone())
                {
                    return Err(DescribeError::DuplicateType {
                        module: r.module.to_owned(),
                        name: t.name,
                        first,
                        second: at,
                    });
                }
                module.types.push(t);
            }
            Item::Event(e) => {
                if let Err(error) = crate::schema::presence::of(&e) {
                    return Err(DescribeError::Presence {
                        name: e.name,
                        at,
                        error,
                    });
                }
                if let Some(first) = wire_at.insert(e.name.clone(), at.clone()) {
                    return Err(DescribeError::DuplicateWireName {
                        name: e.name,
                        first,
                        second: at,
                    });
                }
                module.events.push(e);
            }
        }
    }
    // Imports: every other module a module's types and events refer to; all must exist.
    let mut known: HashMap<(String, String), ()> =
        type_at.keys().map(|k| (k.clone(), ())).collect();
    for d in declared {
        known.insert((d.module.to_owned(), d.name.to_owned()), ());
    }
    for m in modules.values_mut() {
        let mut imports = Vec::new();
        let mut refs = Vec::new();
        let named = |from: &str, ty: &TypeRef, refs: &mut Vec<(String, String, String)>| {
            if let Some((module, name)) = ty.named() {
                refs.push((from.to_owned(), module.to_owned(), name.to_owned()));
            }
        };
        for t in &m.types {
            t.kind
                .members()
                .for_each(|ty| named(&t.name, ty, &mut refs));
        }
        for e in &m.events {
            e.type_refs().for_each(|ty| named(&e.name, ty, &mut refs));
        }
        for (from, module, name) in refs {
            if !known.contains_key(&(module.clone(), name.clone())) {
                return Err(DescribeError::UnknownType { from, module, name });
            }
            if module != m.name && !imports.contains(&module) {
                imports.push(module);
            }
        }
        imports.sort();
        m.imports = imports;
    }
    Ok(Schema {
        ir_version: IR_VERSION,
        modules: modules.into_values().collect(),
    })
}

/// Cleans a doc comment collected from `#[doc]` attributes: one leading space per line removed,
/// outer blank lines trimmed. `None` when empty.
pub fn doc(lines: &[&str]) -> Option<String> {
    let text = lines
        .iter()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Re-exports for the derive macros' output.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Delivery, Direction};

    fn event(name: &str) -> Item {
        Item::Event(EventDef {
            key: "x".into(),
            name: name.into(),
            doc: None,
            direction: Direction::ServerToClient,
            delivery: Delivery::Durable,
            payload: Vec::new(),
            reply: None,
            recipients: None,
            presence: None,
            deprecated: None,
            renamed_from: None,
            location: None,
        })
    }

    fn a() -> Item {
        event("jobs:changed")
    }

    fn b() -> Item {
        event("jobs:changed")
    }

    fn uses_missing() -> Item {
        let mut e = event("jobs:other");
        if let Item::Event(e) = &mut e {
            e.reply = Some(TypeRef::Named {
                module: "jobs".into(),
                name: "Missing".into(),
            });
        }
        e
    }

    #[test]
    fn two_events_with_one_wire_name_are_refused() {
        let regs = [
            Registration {
                module: "jobs",
                file: "src/a.rs",
                line: 3,
                describe: a,
            },
            Registration {
                module: "jobs",
                file: "src/b.rs",
                line: 9,
                describe: b,
            },
        ];
        let err = from_registrations(&regs).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "two events use the wire name `jobs:changed`: src/a.rs:3 and src/b.rs:9"
        );
    }

    #[test]
    fn references_to_underived_types_are_refused() {
        let regs = [Registration {
            module: "jobs",
            file: "src/a.rs",
            line: 1,
            describe: uses_missing,
        }];
        let err = from_registrations(&regs).expect_err("missing type");
        assert!(err.to_string().contains("derive `Describe` on it"), "{err}");
    }

    #[test]
    fn docs_are_cleaned_like_doc_comments() {
        assert_eq!(
            doc(&[" First line.", " Second."]).as_deref(),
            Some("First line.\nSecond.")
        );
        assert_eq!(doc(&[]), None);
    }
}
