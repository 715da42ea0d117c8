//! The differential test of the contract (`tests/tests/contract.rs`): documents at and around
//! every boundary and shape of a schema, and the verdict of each side on them.
//!
//! The documents are generated from the IR: for every event, a valid payload, then one change at
//! a time at every field (down to nested structs): each value a field's type admits at the ends
//! of its range, just beyond them, in other JSON types and other spellings (`1.0`, `1e2`, `-0`,
//! 64-bit edges, `f32` overflow, calendar edges of timestamps, a struct as an array, an enum
//! value as a map, own-property names), absent and `null`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use tidings::schema::{Constraints, Field, Number, Primitive, Schema, TypeKind, TypeRef};
use tidings::validate::Refusal;
use tidings::Event;

include!(concat!(env!("OUT_DIR"), "/decode_event.rs"));

/// Decodes as the server does an inbound payload, validates, and encodes the value again.
fn run<E: Event>(text: &str) -> Result<String, Refusal> {
    let event: E = tidings::validate::decode(text)?;
    event.validate().map_err(Refusal::Constraint)?;
    serde_json::to_string(&event)
        .map_err(|e| Refusal::Shape(tidings::Violation::new("", e.to_string())))
}

/// One document of the corpus: the payload of `event`, as JSON text.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The event's wire name.
    pub event: String,
    /// The payload, as sent.
    pub text: String,
    /// What was changed, for messages (`percent = 101`).
    pub what: String,
}

/// A JSON number written exactly as given (`1e2`, `-0`, `18446744073709551616`): a marker
/// string in the `Value`, replaced by its text when the document is written.
fn raw(text: &str) -> Value {
    Value::String(format!("\u{1}{text}"))
}

/// The text of a document, with [`raw`] numbers written out.
fn write(v: &Value) -> String {
    let text = serde_json::to_string(v).expect("a JSON value serializes");
    let marker = "\"\\u0001";
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let end = after.find('"').expect("the marker's string ends");
        out.push_str(&after[..end]);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// How deep valid values and changes go into nested structs.
const DEPTH: usize = 3;

struct Gen<'s> {
    schema: &'s Schema,
}

fn json_int(n: i128) -> Value {
    match (u64::try_from(n), i64::try_from(n)) {
        (Ok(u), _) => json!(u),
        (_, Ok(i)) => json!(i),
        _ => raw(&n.to_string()),
    }
}

/// A string of `n` characters, multi-byte ones among them (lengths count characters).
fn chars(n: u64) -> String {
    ['é', 'a', '😀', 'b']
        .iter()
        .cycle()
        .take(n as usize)
        .collect()
}

const TIMESTAMPS: [&str; 22] = [
    "2026-11-22T03:04:05Z",
    "2026-11-22t03:04:05.678+01:00",
    "2024-02-29T00:00:00Z",
    "2000-02-29T23:59:59.999999999-23:59",
    "2026-12-31T00:00:00-00:00",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2025-02-29T10:00:00Z",
    "1900-02-29T10:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-04-00T00:00:00Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T23:60:00Z",
    "2016-12-31T23:59:60Z",
    "2026-11-22 03:04:05Z",
    "2026-11-22T03:04:05",
    "2026-11-22T03:04:05.Z",
    "2026-11-22T03:04:05+24:00",
    "2026-11-22T03:04:05+0100",
    "2026-11-22",
    "２026-11-22T03:04:05Z",
    "",
];

const UUIDS: [&str; 6] = [
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "0F8FAD5B-D9CB-469F-A165-70867728950E",
    "0f8fad5b-d9cb-469f-a165-70867728950",
    "0f8fad5bd9cb469fa16570867728950e",
    "0f8fad5b-d9cb-469f-a165-70867728950g",
    "",
];

impl Gen<'_> {
    /// A value of `ty` within `c`.
    fn valid(&self, ty: &TypeRef, c: Option<&Constraints>, depth: usize) -> Value {
        match ty {
            TypeRef::Optional(inner) => self.valid(inner, c, depth),
            TypeRef::Primitive(p) => valid_primitive(*p, c),
            TypeRef::List(inner) => {
                let n = c
                    .and_then(|c| c.min_length)
                    .unwrap_or(usize::from(depth < DEPTH) as u64);
                Value::Array((0..n).map(|_| self.valid(inner, None, depth + 1)).collect())
            }
            TypeRef::Map(inner) => {
                let n = c
                    .and_then(|c| c.min_length)
                    .unwrap_or(usize::from(depth < DEPTH) as u64);
                Value::Object(
                    (0..n)
                        .map(|i| (format!("k{i}"), self.valid(inner, None, depth + 1)))
                        .collect(),
                )
            }
            TypeRef::Named { module, name } => {
                match self.schema.type_def(module, name).map(|t| &t.kind) {
                    Some(TypeKind::Struct { fields }) => self.object(fields, depth),
                    Some(TypeKind::Enum { values, .. }) => json!(values[0].name),
                    Some(TypeKind::Union { tag, variants, .. }) => {
                        let v = &variants[0];
                        let mut o = match &v.payload {
                            Some(p) => self.valid(p, None, depth),
                            None => json!({}),
                        };
                        o[tag.as_str()] = json!(v.name);
                        o
                    }
                    None => Value::Null,
                }
            }
        }
    }

    /// An object with every field: required ones always, optional ones while not too deep.
    fn object(&self, fields: &[Field], depth: usize) -> Value {
        let mut o = Map::new();
        for f in fields {
            if !f.is_required() && depth >= DEPTH {
                continue;
            }
            o.insert(
                f.name.clone(),
                self.valid(&f.ty, Some(&f.constraints), depth + 1),
            );
        }
        Value::Object(o)
    }

    /// Values to try in place of a value of `ty` (valid and not), each with a label.
    fn candidates(
        &self,
        ty: &TypeRef,
        c: Option<&Constraints>,
        depth: usize,
    ) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = vec![
            ("a string".into(), json!("s")),
            ("a boolean".into(), json!(true)),
            ("a number".into(), json!(1)),
            ("an array".into(), json!([])),
            ("an object".into(), json!({})),
        ];
        match ty {
            TypeRef::Optional(inner) => {
                out.push(("null".into(), Value::Null));
                out.extend(self.candidates(inner, c, depth));
            }
            TypeRef::Primitive(p) => out.extend(primitive_candidates(*p, c)),
            TypeRef::List(inner) => {
                let item = self.valid(inner, None, depth + 1);
                let lengths = [0, 1, 2, 3, 4];
                for n in lengths {
                    out.push((format!("{n} items"), Value::Array(vec![item.clone(); n])));
                }
                if let Some(c) = c {
                    for n in [c.min_length, c.max_length].into_iter().flatten() {
                        for n in [n.saturating_sub(1), n, n + 1] {
                            out.push((
                                format!("{n} items"),
                                Value::Array(vec![item.clone(); n as usize]),
                            ));
                        }
                    }
                }
                if depth < DEPTH {
                    for (what, bad) in self.candidates(inner, None, depth + 1) {
                        out.push((format!("an item of {what}"), json!([item.clone(), bad])));
                    }
                }
            }
            TypeRef::Map(inner) => {
                let item = self.valid(inner, None, depth + 1);
                for n in 0..4 {
                    let m: Map<String, Value> =
                        (0..n).map(|i| (format!("k{i}"), item.clone())).collect();
                    out.push((format!("{n} entries"), Value::Object(m)));
                }
                out.push(("an array of entries".into(), json!([["k", item.clone()]])));
                if depth < DEPTH {
                    for (what, bad) in self.candidates(inner, None, depth + 1) {
                        out.push((
                            format!("an entry of {what}"),
                            json!({ "k": item.clone(), "z": bad }),
                        ));
                    }
                }
            }
            TypeRef::Named { module, name } => match self
                .schema
                .type_def(module, name)
                .map(|t| &t.kind)
            {
                Some(TypeKind::Struct { fields }) => {
                    let valid = self.object(fields, depth);
                    out.push(("the struct".into(), valid.clone()));
                    out.push((
                        "the struct as an array".into(),
                        Value::Array(
                            valid
                                .as_object()
                                .map(|o| o.values().cloned().collect())
                                .unwrap_or_default(),
                        ),
                    ));
                    out.push(("a one-item array".into(), json!(["hello"])));
                    out.push(("the struct with an unknown field".into(), {
                        let mut v = valid.clone();
                        v["unknown_extra"] = json!(1);
                        v
                    }));
                }
                Some(TypeKind::Enum { values, .. }) => {
                    for v in values {
                        out.push((format!("{:?}", v.name), json!(v.name)));
                        out.push((
                            format!("{:?} in upper case", v.name),
                            json!(v.name.to_uppercase()),
                        ));
                        out.push((
                            format!("{{{:?}: null}}", v.name),
                            json!({ v.name.clone(): null }),
                        ));
                    }
                    out.push(("an unknown value".into(), json!("nope")));
                }
                Some(TypeKind::Union { tag, variants, .. }) => {
                    for v in variants {
                        let mut o = match &v.payload {
                            Some(p) => self.valid(p, None, depth),
                            None => json!({}),
                        };
                        o[tag.as_str()] = json!(v.name);
                        out.push((format!("variant {:?}", v.name), o.clone()));
                        for other in variants.iter().filter(|x| x.name != v.name) {
                            let mut swapped = o.clone();
                            swapped[tag.as_str()] = json!(other.name);
                            out.push((
                                format!("variant {:?} with the fields of {:?}", other.name, v.name),
                                swapped,
                            ));
                        }
                        let mut untagged = o.clone();
                        if let Some(m) = untagged.as_object_mut() {
                            m.remove(tag);
                        }
                        out.push((format!("variant {:?} without its tag", v.name), untagged));
                        out.push((
                            format!("variant {:?} as a map", v.name),
                            json!({ v.name.clone(): o }),
                        ));
                        let mut bad_tag = o.clone();
                        bad_tag[tag.as_str()] = json!(1);
                        out.push(("a number tag".into(), bad_tag));
                        let mut unknown = o;
                        unknown[tag.as_str()] = json!("nope");
                        out.push(("an unknown tag".into(), unknown));
                    }
                }
                None => {}
            },
        }
        out
    }

    /// Every document for `event`: its valid payload, then one change at a time.
    fn event_docs(&self, event: &str, fields: &[Field], out: &mut Vec<Doc>) {
        let base = self.object(fields, 0);
        out.push(Doc {
            event: event.to_owned(),
            text: write(&base),
            what: "the valid payload".into(),
        });
        for (what, v) in [
            ("an array", json!([])),
            ("a one-item array", json!(["hello"])),
            ("null", Value::Null),
            ("a string", json!("s")),
        ] {
            out.push(Doc {
                event: event.to_owned(),
                text: write(&v),
                what: format!("the payload as {what}"),
            });
        }
        let mut changes = Vec::new();
        self.field_changes(fields, &mut Vec::new(), 0, &mut changes);
        for (path, what, value) in changes {
            let mut doc = base.clone();
            if set(&mut doc, &path, value) {
                out.push(Doc {
                    event: event.to_owned(),
                    text: write(&doc),
                    what: format!("{} = {what}", path.join(".")),
                });
            }
        }
    }

    /// `(path, label, new value or None to remove)` for every field, into nested structs.
    #[allow(clippy::type_complexity)]
    fn field_changes(
        &self,
        fields: &[Field],
        path: &mut Vec<String>,
        depth: usize,
        out: &mut Vec<(Vec<String>, String, Option<Value>)>,
    ) {
        for f in fields {
            if !f.is_required() && depth >= DEPTH {
                continue;
            }
            path.push(f.name.clone());
            out.push((path.clone(), "absent".into(), None));
            out.push((path.clone(), "null".into(), Some(Value::Null)));
            for (what, v) in self.candidates(&f.ty, Some(&f.constraints), depth + 1) {
                out.push((path.clone(), what, Some(v)));
            }
            if depth + 1 < DEPTH {
                if let TypeRef::Named { module, name } = f.ty.unwrap_optional() {
                    if let Some(TypeKind::Struct { fields: inner }) =
                        self.schema.type_def(module, name).map(|t| &t.kind)
                    {
                        self.field_changes(inner, path, depth + 1, out);
                    }
                }
            }
            path.pop();
        }
    }
}

/// Sets (or, for `None`, removes) the value at `path` of `doc`; `false` when the path is gone.
fn set(doc: &mut Value, path: &[String], value: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = doc;
    for p in parents {
        match at.get_mut(p) {
            Some(next) => at = next,
            None => return false,
        }
    }
    let Some(o) = at.as_object_mut() else {
        return false;
    };
    match value {
        Some(v) => {
            o.insert(last.clone(), v);
        }
        None => {
            o.remove(last);
        }
    }
    true
}

fn valid_primitive(p: Primitive, c: Option<&Constraints>) -> Value {
    let min = c.and_then(|c| c.min);
    let max = c.and_then(|c| c.max);
    match p {
        Primitive::String => {
            let n = c
                .and_then(|c| c.min_length)
                .unwrap_or(3)
                .max(c.and_then(|c| c.max_length).map_or(0, |m| m.min(1)));
            let n = c.and_then(|c| c.max_length).map_or(n, |m| n.min(m));
            json!(chars(n))
        }
        Primitive::Bool => json!(true),
        Primitive::Uuid => json!(UUIDS[0]),
        Primitive::Timestamp => json!(TIMESTAMPS[0]),
        Primitive::Json => json!({ "any": [1, "two", null] }),
        Primitive::F32 | Primitive::F64 => {
            let x = min
                .map_or(0.0, Number::to_f64)
                .max(max.map_or(0.0, |m| m.to_f64().min(0.0)));
            json!(x)
        }
        int => {
            let lo = min.and_then(Number::as_int).unwrap_or(0);
            let hi = max.and_then(Number::as_int).unwrap_or(i128::MAX);
            let (tlo, _) = int.integer_range().unwrap_or((0, 0));
            json_int(0.max(lo).max(tlo).min(hi))
        }
    }
}

fn primitive_candidates(p: Primitive, c: Option<&Constraints>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut push = |what: String, v: Value| out.push((what, v));
    match p {
        Primitive::String => {
            let mut lengths = vec![0, 1, 5];
            if let Some(c) = c {
                for n in [c.min_length, c.max_length].into_iter().flatten() {
                    lengths.extend([n.saturating_sub(1), n, n + 1]);
                }
            }
            for n in lengths {
                push(format!("{n} characters"), json!(chars(n)));
            }
        }
        Primitive::Uuid => {
            for u in UUIDS {
                push(format!("{u:?}"), json!(u));
            }
        }
        Primitive::Timestamp => {
            for t in TIMESTAMPS {
                push(format!("{t:?}"), json!(t));
            }
        }
        Primitive::Bool => push("false".into(), json!(false)),
        Primitive::Json => {
            push("null".into(), Value::Null);
            push("nested".into(), json!({ "a": [1, { "b": null }] }));
        }
        Primitive::F32 | Primitive::F64 => {
            for text in [
                "0",
                "-0",
                "0.5",
                "-0.5",
                "1.5",
                "1e2",
                "1E-2",
                "3.4028234663852886e38",
                "3.4028235e38",
                "3.402823466385289e38",
                "-3.4028235e38",
                "3.5e38",
                "1e39",
                "-1e39",
                "1.7976931348623157e308",
                "1e400",
                "0.1",
                "0.9",
                "0.25",
                "0.25000000000000001",
                "0.2500001",
                "0.09999999999999999",
                "0.9000000000000001",
                // Decimals whose nearest double only a correctly rounding parser finds.
                "0.300000000000000024",
                "0.100000000000000011",
                "0.24999999999999999",
                "0.8999999999999999",
                "2.4703282292062328e-324",
                "4.9e-324",
                "1.7976931348623158e308",
                "1.7976931348623159e308",
                "-1.5",
                "1.5000000000000002",
            ] {
                push(text.to_owned(), raw(text));
            }
            if let Some(c) = c {
                for b in [c.min, c.max].into_iter().flatten() {
                    push(format!("the bound {b}"), raw(&b.to_string()));
                }
            }
        }
        int => {
            let (lo, hi) = int.integer_range().unwrap_or((0, 0));
            let mut edges = vec![
                lo - 1,
                lo,
                lo + 1,
                hi - 1,
                hi,
                hi + 1,
                0,
                1,
                -1,
                2,
                100,
                101,
                255,
                256,
            ];
            edges.extend([
                (1i128 << 53) - 1,
                1 << 53,
                (1 << 53) + 1,
                -(1 << 53) - 1,
                -(1 << 53),
            ]);
            edges.extend([
                (1i128 << 63) - 1,
                1 << 63,
                (1 << 64) - 1,
                1 << 64,
                -(1 << 63),
                -(1 << 63) - 1,
            ]);
            if let Some(c) = c {
                for b in [c.min, c.max]
                    .into_iter()
                    .flatten()
                    .filter_map(Number::as_int)
                {
                    edges.extend([b - 1, b, b + 1]);
                }
            }
            for n in edges {
                push(n.to_string(), json_int(n));
            }
            for text in [
                "1.0",
                "1e2",
                "1E2",
                "-0",
                "-0.0",
                "0.0",
                "1.5",
                "100.0",
                "2.0e0",
                "1e-2",
                "9223372036854775807.0",
                "2.55e2",
                "5.0000000000000001",
                "9007199254740993.0",
                "9007199254740993",
                "-9007199254740993",
                "18446744073709551615.0",
                "1e400",
            ] {
                push(text.to_owned(), raw(text));
            }
        }
    }
    out
}

/// The corpus of `schema`: the documents of every event.
pub fn corpus(schema: &Schema) -> Vec<Doc> {
    let gen = Gen { schema };
    let mut out = Vec::new();
    for (_, e) in schema.events() {
        gen.event_docs(&e.name, &e.payload, &mut out);
    }
    out
}

/// The document as JavaScript holds it after `JSON.parse`: every number a double. A guard judges
/// this value; the other sides judge the text.
pub fn js_view(text: &str) -> String {
    fn doubles(v: &mut Value) {
        match v {
            Value::Number(n) => {
                if let Some(x) = n.as_f64().and_then(serde_json::Number::from_f64) {
                    *n = x;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(doubles),
            Value::Object(m) => m.values_mut().for_each(doubles),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            doubles(&mut v);
            serde_json::to_string(&v).unwrap_or_else(|_| text.to_owned())
        }
        Err(_) => text.to_owned(),
    }
}

/// The exported JSON Schema of every event payload, compiled, by wire name.
pub fn validators(schema: &Schema) -> BTreeMap<String, jsonschema::Validator> {
    let files = tidings_codegen::jsonschema::generate(schema);
    schema
        .modules
        .iter()
        .flat_map(|m| m.events.iter().map(move |e| (m, e)))
        .map(|(m, e)| {
            let file = std::path::PathBuf::from(format!("{}/events/{}.schema.json", m.name, e.key));
            let text = &files[&file];
            let doc: Value = serde_json::from_str(text).expect("exported JSON");
            let v = jsonschema::options()
                .should_validate_formats(true)
                .build(&doc)
                .expect("a valid JSON Schema");
            (e.name.clone(), v)
        })
        .collect()
}

/// The JSON Schema's verdict on a document: valid or not (text that is not JSON is not).
pub fn schema_accepts(v: &jsonschema::Validator, text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|doc| v.is_valid(&doc))
}
