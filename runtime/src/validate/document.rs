//! Checking a JSON document against the contract the IR describes — the strict half of decoding.
//!
//! serde's derived `Deserialize` accepts more JSON than the contract: a struct written as an
//! array (`["hello"]`), a unit enum value written as a map (`{"low": null}`), and it refuses
//! what the contract accepts (`1.0` for a `u8`: JSON's integers are numbers without a
//! fractional part, JSON Schema 2020-12 §6.1.1). [`Contract::check`] walks the document along
//! the IR first, exactly as the generated TypeScript guard and the exported JSON Schema do, and
//! writes integral numbers in integer form, so that serde decodes precisely the documents the
//! contract accepts. One walk over the IR, used by inbound decoding of generated and derived
//! events and by anything else that validates JSON against the IR.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number as JsonNumber, Value};

use super::checks::{self, Place};
use crate::schema::{Constraints, Field, Number, Primitive, Schema, TypeDef, TypeKind, TypeRef};
use crate::violation::Violation;

/// How deep a document may nest before it is refused (serde_json's own parser stops at 128).
pub const MAX_DEPTH: usize = 128;

/// Why a JSON document does not meet its contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not the shape the contract describes: a wrong JSON type, a missing field, an unknown
    /// enum value or union tag, a number outside its type's range. Answered with
    /// `invalid_payload`.
    Shape(Violation),
    /// The right shape, but a declared constraint (`min`, `max_length`, …) or a format (`uuid`,
    /// `timestamp`) fails. Answered with `constraint_violated`.
    Constraint(Violation),
}

impl Refusal {
    /// The violation, whatever its kind.
    pub fn violation(&self) -> &Violation {
        match self {
            Refusal::Shape(v) | Refusal::Constraint(v) => v,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.violation().fmt(f)
    }
}

impl std::error::Error for Refusal {}

/// Named types by module and name: what a contract looks up when a payload uses one. Built from
/// a schema ([`Contracts::new`]) or collected from the `Describe` impls of derived types
/// (`tidings::describe::Describe::define`).
#[derive(Debug, Default, Clone)]
pub struct Types(HashMap<String, HashMap<String, TypeDef>>);

impl Types {
    /// No types.
    pub fn new() -> Types {
        Types::default()
    }

    /// The type `name` of `module`.
    pub fn get(&self, module: &str, name: &str) -> Option<&TypeDef> {
        self.0.get(module)?.get(name)
    }

    /// Adds the type `name` of `module`, built by `def`, unless it is known already; whether it
    /// was added (so that a caller collecting a type's dependencies recurses once, and
    /// recursive types end).
    pub fn add(&mut self, module: &str, name: &str, def: impl FnOnce() -> TypeDef) -> bool {
        let named = self.0.entry(module.to_owned()).or_default();
        if named.contains_key(name) {
            return false;
        }
        named.insert(name.to_owned(), def());
        true
    }
}

/// The contract of one payload: its fields, and every named type of the schema they may use.
#[derive(Debug, Clone)]
pub struct Contract {
    types: Arc<Types>,
    fields: Vec<Field>,
}

/// The contract of a reply: one value of the type an event declares as its `reply`, and every
/// named type of the schema it may use.
#[derive(Debug, Clone)]
pub struct ReplyContract {
    types: Arc<Types>,
    ty: TypeRef,
}

/// The contracts of every event of a schema, by wire name: its payload's, and its reply's.
#[derive(Debug, Default)]
pub struct Contracts {
    events: HashMap<String, Contract>,
    replies: HashMap<String, ReplyContract>,
}

impl Contracts {
    /// The contracts of every event of `schema`.
    pub fn new(schema: &Schema) -> Contracts {
        let mut types = Types::default();
        for m in &schema.modules {
            let named = types.0.entry(m.name.clone()).or_default();
            for t in &m.types {
                named.insert(t.name.clone(), t.clone());
            }
        }
        let types = Arc::new(types);
        let events = schema
            .events()
            .map(|(_, e)| {
                let contract = Contract {
                    types: Arc::clone(&types),
                    fields: e.payload.clone(),
                };
                (e.name.clone(), contract)
            })
            .collect();
        let replies = schema
            .events()
            .filter_map(|(_, e)| {
                let contract = ReplyContract {
                    types: Arc::clone(&types),
                    ty: e.reply.clone()?,
                };
                Some((e.name.clone(), contract))
            })
            .collect();
        Contracts { events, replies }
    }

    /// The contract of the event whose wire name is `name`.
    pub fn get(&self, name: &str) -> Option<&Contract> {
        self.events.get(name)
    }

    /// The contract of the reply of the event whose wire name is `name`, if it declares one.
    pub fn reply(&self, name: &str) -> Option<&ReplyContract> {
        self.replies.get(name)
    }
}

impl ReplyContract {
    /// The reply's type.
    pub fn ty(&self) -> &TypeRef {
        &self.ty
    }

    /// Checks `document` (a reply) against the contract and writes it as the generated Rust
    /// encodes the value it decodes to, as [`Contract::check`] does for a payload.
    ///
    /// # Errors
    /// The first place where the document differs from the contract.
    pub fn check(&self, document: &mut Value) -> Result<(), Refusal> {
        Walk { types: &self.types }.value(&self.ty, None, document, &Place::Root, 0)
    }
}

impl Contract {
    /// The contract of a payload with these fields, whose named types are in `types`.
    pub fn new(types: Types, fields: Vec<Field>) -> Contract {
        Contract {
            types: Arc::new(types),
            fields,
        }
    }

    /// The payload's fields.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The named types the payload may use.
    pub fn types(&self) -> &Types {
        &self.types
    }

    /// Checks `document` (an event payload) against the contract, and writes it as the
    /// generated Rust encodes the value it decodes to, so that a document passed on as it is
    /// (the publish API of `tidings serve`) is the payload a Rust server would send: absent
    /// members with a default get it; members a struct or variant does not declare are
    /// dropped, and optional members without a default that are `null` removed (an absent
    /// `Option` is not written); members are in declaration order, a variant's tag first; an integer field's
    /// integral number in integer form (`1.0` → `1`, which serde decodes); a float field's
    /// number as its type holds it (`0` → `0.0`; an `f32` rounded, in its shortest form,
    /// [`f32_on_wire`](crate::validate::f32_on_wire)). An open enum's or union's value it does
    /// not know is left as it is. A refused document may be left partly rewritten.
    ///
    /// # Errors
    /// The first place where the document differs from the contract.
    pub fn check(&self, document: &mut Value) -> Result<(), Refusal> {
        Walk { types: &self.types }.object(&self.fields, document, &Place::Root, 0)
    }
}

struct Walk<'t> {
    types: &'t Types,
}

fn shape(place: &Place<'_>, message: String) -> Refusal {
    Refusal::Shape(Violation::new(place.to_string(), message))
}

fn constraint(r: Result<(), Violation>) -> Result<(), Refusal> {
    r.map_err(Refusal::Constraint)
}

/// What a JSON value is, for messages: `found a string`.
fn found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Walk<'_> {
    fn object(
        &self,
        fields: &[Field],
        v: &mut Value,
        place: &Place<'_>,
        depth: usize,
    ) -> Result<(), Refusal> {
        let Value::Object(map) = v else {
            return Err(shape(
                place,
                format!("expected an object, found {}", found(v)),
            ));
        };
        self.fields(fields, map, place, depth)
    }

    /// A variant's members: its tag first, then its fields ([`fields`](Self::fields)).
    fn variant_fields(
        &self,
        fields: &[Field],
        tag: &str,
        map: &mut Map<String, Value>,
        place: &Place<'_>,
        depth: usize,
    ) -> Result<(), Refusal> {
        let tag_value = map.remove(tag).unwrap_or(Value::Null);
        self.fields(fields, map, place, depth)?;
        let rest = std::mem::take(map);
        map.insert(tag.to_owned(), tag_value);
        map.extend(rest);
        Ok(())
    }

    /// Checks a struct's members, then writes them as the struct is encoded: declared members
    /// only, in declaration order, without `null` optional ones.
    fn fields(
        &self,
        fields: &[Field],
        map: &mut Map<String, Value>,
        place: &Place<'_>,
        depth: usize,
    ) -> Result<(), Refusal> {
        self.check_fields(fields, map, place, depth)?;
        let mut rest = std::mem::take(map);
        for f in fields {
            match rest.remove(&f.name) {
                // An absent `Option` is not written; with a default, absent means the default,
                // so `null` (`None`) is written.
                Some(Value::Null) if f.ty.is_optional() && f.default.is_none() => {}
                Some(value) => {
                    map.insert(f.name.clone(), value);
                }
                None => {}
            }
        }
        Ok(())
    }

    fn check_fields(
        &self,
        fields: &[Field],
        map: &mut Map<String, Value>,
        place: &Place<'_>,
        depth: usize,
    ) -> Result<(), Refusal> {
        for f in fields {
            let at = Place::Member(place, &f.name);
            match map.get_mut(&f.name) {
                None if f.is_required() => {
                    return Err(shape(&at, "required, but absent".to_owned()))
                }
                // Absent reads as the default: written into the document, so that what is
                // passed on (decoded, or broadcast as it is) has every field.
                None => {
                    if let Some(d) = &f.default {
                        map.insert(
                            f.name.clone(),
                            serde_json::to_value(d).unwrap_or(Value::Null),
                        );
                    }
                }
                // `null` stands for absent in optional fields; `json` admits it as a value.
                Some(Value::Null)
                    if f.ty.is_optional() || f.ty == TypeRef::Primitive(Primitive::Json) => {}
                Some(value) => {
                    self.value(
                        f.ty.unwrap_optional(),
                        Some(&f.constraints),
                        value,
                        &at,
                        depth + 1,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn value(
        &self,
        ty: &TypeRef,
        c: Option<&Constraints>,
        v: &mut Value,
        place: &Place<'_>,
        depth: usize,
    ) -> Result<(), Refusal> {
        if depth > MAX_DEPTH {
            return Err(shape(
                place,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        match ty {
            TypeRef::Optional(inner) => match v {
                Value::Null => Ok(()),
                _ => self.value(inner, c, v, place, depth),
            },
            TypeRef::Primitive(p) => primitive(*p, c, v, place),
            TypeRef::List(inner) => {
                let Value::Array(items) = v else {
                    return Err(shape(
                        place,
                        format!("expected an array, found {}", found(v)),
                    ));
                };
                length(items.len(), c, "items", place)?;
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(inner, None, item, &Place::Index(place, i), depth + 1)?;
                }
                Ok(())
            }
            TypeRef::Map(inner) => {
                let Value::Object(entries) = v else {
                    return Err(shape(
                        place,
                        format!("expected an object, found {}", found(v)),
                    ));
                };
                length(entries.len(), c, "entries", place)?;
                for (k, item) in entries.iter_mut() {
                    self.value(inner, None, item, &Place::Key(place, k), depth + 1)?;
                }
                Ok(())
            }
            TypeRef::Named { module, name } => {
                let Some(def) = self.types.get(module, name) else {
                    return Err(shape(
                        place,
                        format!("`{module}.{name}` is not in the contract"),
                    ));
                };
                match &def.kind {
                    TypeKind::Struct { fields } => self.object(fields, v, place, depth),
                    TypeKind::Enum { values, open } => match v {
                        // An open enum reads any string: the ones it does not know are its
                        // unknown value.
                        Value::String(s) if *open || values.iter().any(|x| x.name == *s) => Ok(()),
                        _ => Err(shape(
                            place,
                            format!(
                                "expected one of {}, found {}",
                                values
                                    .iter()
                                    .map(|x| format!("{:?}", x.name))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                describe(v)
                            ),
                        )),
                    },
                    TypeKind::Union {
                        tag,
                        variants,
                        open,
                    } => {
                        let Value::Object(map) = v else {
                            return Err(shape(
                                place,
                                format!("expected an object, found {}", found(v)),
                            ));
                        };
                        let at = Place::Member(place, tag);
                        let variant = match map.get(tag) {
                            Some(Value::String(t)) => variants.iter().find(|x| x.name == *t),
                            _ => None,
                        };
                        let Some(variant) = variant else {
                            // An open union reads a variant it does not know (any tag string,
                            // any other members) as its unknown variant.
                            if *open && matches!(map.get(tag), Some(Value::String(_))) {
                                return Ok(());
                            }
                            let tags: Vec<String> =
                                variants.iter().map(|x| format!("{:?}", x.name)).collect();
                            let what = map.get(tag).map_or_else(|| "nothing".to_owned(), describe);
                            return Err(shape(
                                &at,
                                format!("expected one of {}, found {what}", tags.join(", ")),
                            ));
                        };
                        match &variant.payload {
                            None => {
                                // The tag alone, as a unit variant is encoded.
                                map.retain(|k, _| k == tag);
                                Ok(())
                            }
                            Some(TypeRef::Named { module, name }) => {
                                match self.types.get(module, name).map(|t| &t.kind) {
                                    Some(TypeKind::Struct { fields }) => {
                                        self.variant_fields(fields, tag, map, place, depth)
                                    }
                                    _ => Err(shape(
                                        place,
                                        format!(
                                            "`{module}.{name}` is not a struct of the contract"
                                        ),
                                    )),
                                }
                            }
                            Some(other) => Err(shape(
                                place,
                                format!("a variant carries a struct, not `{other}`"),
                            )),
                        }
                    }
                }
            }
        }
    }
}

/// A value for messages: strings quoted, numbers as written, containers by kind.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => found(other).to_owned(),
    }
}

fn length(n: usize, c: Option<&Constraints>, unit: &str, place: &Place<'_>) -> Result<(), Refusal> {
    let Some(c) = c else { return Ok(()) };
    if let Some(min) = c.min_length {
        constraint(checks::len_at_least(
            n,
            usize::try_from(min).unwrap_or(usize::MAX),
            unit,
            place,
        ))?;
    }
    if let Some(max) = c.max_length {
        constraint(checks::len_at_most(
            n,
            usize::try_from(max).unwrap_or(usize::MAX),
            unit,
            place,
        ))?;
    }
    Ok(())
}

fn primitive(
    p: Primitive,
    c: Option<&Constraints>,
    v: &mut Value,
    place: &Place<'_>,
) -> Result<(), Refusal> {
    match p {
        Primitive::Json => Ok(()),
        Primitive::Bool => match v {
            Value::Bool(_) => Ok(()),
            other => Err(shape(
                place,
                format!("expected a boolean, found {}", found(other)),
            )),
        },
        Primitive::String | Primitive::Uuid | Primitive::Timestamp => {
            let Value::String(s) = v else {
                return Err(shape(
                    place,
                    format!("expected a string, found {}", found(v)),
                ));
            };
            match p {
                Primitive::Uuid => constraint(checks::uuid(s, place)),
                Primitive::Timestamp => constraint(checks::timestamp(s, place)),
                _ => {
                    let Some(c) = c else { return Ok(()) };
                    let bound =
                        |b: Option<u64>| b.map(|b| usize::try_from(b).unwrap_or(usize::MAX));
                    constraint(checks::chars_within(
                        s.chars().count(),
                        bound(c.min_length),
                        bound(c.max_length),
                        place,
                    ))?;
                    Ok(())
                }
            }
        }
        _ => {
            let Value::Number(n) = v else {
                return Err(shape(
                    place,
                    format!("expected a number, found {}", found(v)),
                ));
            };
            let x = exact(n);
            if let Some((lo, hi)) = p.integer_range() {
                let Some(int) = x.as_int() else {
                    return Err(shape(place, format!("expected an integer, found {n}")));
                };
                if int < lo || int > hi {
                    return Err(shape(
                        place,
                        format!("must be a `{}` ({lo} to {hi}), got {n}", p.as_str()),
                    ));
                }
                // Integer form, which serde decodes into the field's integer type.
                if n.is_f64() {
                    *v = u64::try_from(int).map_or_else(
                        |_| Value::from(i64::try_from(int).unwrap_or_default()),
                        Value::from,
                    );
                }
            } else if let Some(max) = p.float_max() {
                if !(-max..=max).contains(&x.to_f64()) {
                    return Err(shape(
                        place,
                        format!("must be a finite `{}`, got {n}", p.as_str()),
                    ));
                }
                // As the float type holds it, and serde_json writes it.
                let held = if p == Primitive::F32 {
                    checks::f32_on_wire(x.to_f64() as f32)
                } else {
                    x.to_f64()
                };
                if let Some(number) = serde_json::Number::from_f64(held) {
                    *v = Value::Number(number);
                }
            }
            bounds(x, c, place)
        }
    }
}

/// A JSON number exactly: integers as integers, the rest as `f64`.
fn exact(n: &JsonNumber) -> Number {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => Number::from(u),
        (_, Some(i)) => Number::from(i),
        _ => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn bounds(x: Number, c: Option<&Constraints>, place: &Place<'_>) -> Result<(), Refusal> {
    let Some(c) = c else { return Ok(()) };
    constraint(checks::within(&x, c.min, c.max, place))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Module, Primitive, TypeRef, Value as IrValue};

    fn field(name: &str, ty: TypeRef) -> Field {
        Field {
            name: name.into(),
            doc: None,
            ty,
            constraints: Constraints::default(),
            default: None,
            deprecated: None,
            location: None,
        }
    }

    fn schema() -> Schema {
        let mut count = field("count", TypeRef::Primitive(Primitive::U8));
        count.default = Some(IrValue::Int(3));
        let event = crate::schema::EventDef {
            key: "changed".into(),
            name: "jobs:changed".into(),
            doc: None,
            direction: crate::schema::Direction::ServerToClient,
            delivery: crate::schema::Delivery::Durable,
            payload: vec![
                field(
                    "at",
                    TypeRef::Named {
                        module: "jobs".into(),
                        name: "At".into(),
                    },
                ),
                count,
            ],
            reply: None,
            recipients: None,
            presence: None,
            deprecated: None,
            renamed_from: None,
            location: None,
        };
        let at = TypeDef {
            name: "At".into(),
            doc: None,
            kind: TypeKind::Struct {
                fields: vec![field("n", TypeRef::Primitive(Primitive::I64))],
            },
            deprecated: None,
            renamed_from: None,
            location: None,
        };
        Schema {
            ir_version: crate::schema::IR_VERSION,
            modules: vec![Module {
                name: "jobs".into(),
                description: None,
                version: None,
                imports: Vec::new(),
                types: vec![at],
                events: vec![event],
                location: None,
            }],
        }
    }

    #[test]
    fn a_schema_checks_documents_fills_defaults_and_writes_integers_as_integers() {
        let contracts = Contracts::new(&schema());
        let contract = contracts.get("jobs:changed").expect("the event");
        let mut doc: Value = serde_json::from_str(r#"{"at":{"n":1e2}}"#).expect("JSON");
        contract.check(&mut doc).expect("accepted");
        assert_eq!(doc.to_string(), r#"{"at":{"n":100},"count":3}"#);
        for (bad, place) in [
            (r#"{"at":["hello"]}"#, "at"),
            (r#"{"at":{"n":9223372036854775808}}"#, "at.n"),
            (r#"{"at":{"n":1},"count":null}"#, "count"),
            (r#"{"count":1}"#, "at"),
        ] {
            let mut doc: Value = serde_json::from_str(bad).expect("JSON");
            match contract.check(&mut doc) {
                Err(Refusal::Shape(v)) => assert_eq!(v.field, place, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
