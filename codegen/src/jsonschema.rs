//! The JSON Schema backend (draft 2020-12): one self-contained schema per payload type and per
//! event payload, matching the wire exactly — required vs optional, `null` for optional fields,
//! constraints, enums, and internally tagged unions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};
use tidings::schema::{Field, Number, Primitive, Schema, TypeDef, TypeKind, TypeRef};

/// The dialect every generated schema declares.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// A UUID, hyphenated (checked by `pattern`, so that validators that treat `format` as an
/// annotation still check it): [`tidings::format::UUID_PATTERN`].
pub const UUID_PATTERN: &str = tidings::format::UUID_PATTERN;

/// How references to named types are written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refs {
    /// `#/$defs/module.Type` (self-contained JSON Schema files).
    Defs,
    /// `#/components/schemas/module.Type` (AsyncAPI).
    Components,
}

/// The key of a named type (`ticket.Ticket`).
pub(crate) fn key(module: &str, name: &str) -> String {
    format!("{module}.{name}")
}

fn reference(module: &str, name: &str, refs: Refs) -> Value {
    let k = key(module, name);
    match refs {
        Refs::Defs => json!({ "$ref": format!("#/$defs/{k}") }),
        Refs::Components => json!({ "$ref": format!("#/components/schemas/{k}") }),
    }
}

/// The schema of a value of `ty`. `c` (a field's constraints) applies to the outermost value.
pub(crate) fn type_schema(ty: &TypeRef, f: Option<&Field>, refs: Refs) -> Value {
    let c = f.map(|f| &f.constraints);
    match ty {
        TypeRef::Optional(inner) => {
            json!({ "anyOf": [type_schema(inner, f, refs), { "type": "null" }] })
        }
        TypeRef::Primitive(p) => {
            let mut s = match p {
                Primitive::String => json!({ "type": "string" }),
                Primitive::Uuid => {
                    json!({ "type": "string", "format": "uuid", "pattern": UUID_PATTERN })
                }
                Primitive::Timestamp => json!({
                    "type": "string",
                    "format": "date-time",
                    "pattern": tidings::format::TIMESTAMP_PATTERN,
                }),
                Primitive::Bool => json!({ "type": "boolean" }),
                Primitive::F32 => {
                    // Beyond f32's finite range there is no f32 (Rust would store infinity).
                    let max = p.float_max().unwrap_or(f64::MAX);
                    json!({ "type": "number", "minimum": -max, "maximum": max })
                }
                // A finite double: `1E400` is a number to JSON, but no f64.
                Primitive::F64 => {
                    json!({ "type": "number", "minimum": -f64::MAX, "maximum": f64::MAX })
                }
                Primitive::Json => json!({}),
                int => {
                    // The whole range of the type, exactly (64-bit bounds included: a validator
                    // that reads JSON numbers as integers compares them exactly).
                    let (lo, hi) = int.integer_range().unwrap_or((0, 0));
                    json!({
                        "type": "integer",
                        "minimum": crate::numbers::json(Number::Int(lo)),
                        "maximum": crate::numbers::json(Number::Int(hi)),
                    })
                }
            };
            if let Some(c) = c {
                if let Some(min) = c.min {
                    s["minimum"] = crate::numbers::json(min);
                }
                if let Some(max) = c.max {
                    s["maximum"] = crate::numbers::json(max);
                }
                if matches!(
                    p,
                    Primitive::String | Primitive::Uuid | Primitive::Timestamp
                ) {
                    if let Some(n) = c.min_length {
                        s["minLength"] = json!(n);
                    }
                    if let Some(n) = c.max_length {
                        s["maxLength"] = json!(n);
                    }
                }
            }
            s
        }
        TypeRef::List(inner) => {
            let mut s = json!({ "type": "array", "items": type_schema(inner, None, refs) });
            if let Some(n) = c.and_then(|c| c.min_length) {
                s["minItems"] = json!(n);
            }
            if let Some(n) = c.and_then(|c| c.max_length) {
                s["maxItems"] = json!(n);
            }
            s
        }
        TypeRef::Map(inner) => {
            let mut s =
                json!({ "type": "object", "additionalProperties": type_schema(inner, None, refs) });
            if let Some(n) = c.and_then(|c| c.min_length) {
                s["minProperties"] = json!(n);
            }
            if let Some(n) = c.and_then(|c| c.max_length) {
                s["maxProperties"] = json!(n);
            }
            s
        }
        TypeRef::Named { module, name } => reference(module, name, refs),
    }
}

/// The schema of a JSON object with these fields. Unknown properties are allowed: readers ignore
/// them, which is what keeps additions compatible.
pub(crate) fn object_schema(fields: &[Field], refs: Refs) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for f in fields {
        let mut s = type_schema(&f.ty, Some(f), refs);
        if let Some(doc) = &f.doc {
            s = with(s, "description", json!(doc));
        }
        if let Some(d) = &f.default {
            s = with(s, "default", serde_json::to_value(d).unwrap_or(Value::Null));
        }
        if f.deprecated.is_some() {
            s = with(s, "deprecated", json!(true));
        }
        properties.insert(f.name.clone(), s);
        if f.is_required() {
            required.push(json!(f.name));
        }
    }
    let mut s = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        s["required"] = Value::Array(required);
    }
    s
}

/// Adds a keyword; a bare `$ref` is wrapped so that siblings stay meaningful everywhere.
fn with(mut s: Value, k: &str, v: Value) -> Value {
    if let Some(obj) = s.as_object_mut() {
        obj.insert(k.to_owned(), v);
    }
    s
}

/// The schema of a named type.
pub(crate) fn def_schema(t: &TypeDef, refs: Refs) -> Value {
    let mut s = match &t.kind {
        TypeKind::Struct { fields } => object_schema(fields, refs),
        TypeKind::Enum { values, open } => {
            let names: Vec<String> = values.iter().map(|v| v.name.clone()).collect();
            if *open {
                // Open: any string; the declared values are examples (`x-tidings-open`).
                json!({ "type": "string", "examples": names, "x-tidings-open": true })
            } else {
                json!({ "type": "string", "enum": names })
            }
        }
        TypeKind::Union {
            tag,
            variants,
            open,
        } => {
            let branches: Vec<Value> = variants
                .iter()
                .map(|v| {
                    let tag_only = json!({ "type": "object", "properties": { tag.clone(): { "const": v.name } }, "required": [tag] });
                    let mut b = match &v.payload {
                        Some(p) => json!({ "allOf": [tag_only, type_schema(p, None, refs)] }),
                        None => tag_only,
                    };
                    if let Some(doc) = &v.doc {
                        b = with(b, "description", json!(doc));
                    }
                    b
                })
                .collect();
            let mut branches = branches;
            if *open {
                // Open: an object whose tag is a string naming no declared variant.
                let known: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                branches.push(json!({
                    "type": "object",
                    "properties": { tag.clone(): { "type": "string", "not": { "enum": known } } },
                    "required": [tag],
                    "description": "a variant this version does not declare (the union is open)"
                }));
            }
            let mut s = json!({ "oneOf": branches });
            if *open {
                s = with(s, "x-tidings-open", json!(true));
            }
            s
        }
    };
    s = with(s, "title", json!(t.name));
    if let Some(doc) = &t.doc {
        s = with(s, "description", json!(doc));
    }
    if t.deprecated.is_some() {
        s = with(s, "deprecated", json!(true));
    }
    s
}

fn document(
    schema: &Schema,
    id: &str,
    title: &str,
    description: Option<&str>,
    body: Value,
    roots: Vec<TypeRef>,
) -> Value {
    let mut doc = json!({ "$schema": DIALECT, "$comment": "@generated by tidings — do not edit", "$id": id, "title": title });
    if let Some(d) = description {
        doc["description"] = json!(d);
    }
    if let (Some(target), Some(body)) = (doc.as_object_mut(), body.as_object()) {
        for (k, v) in body {
            if k != "title" && k != "description" {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    let defs: Map<String, Value> = schema
        .reachable(&roots)
        .into_iter()
        .filter_map(|(m, n)| {
            schema
                .type_def(&m, &n)
                .map(|t| (key(&m, &n), def_schema(t, Refs::Defs)))
        })
        .collect();
    if !defs.is_empty() {
        doc["$defs"] = Value::Object(defs);
    }
    doc
}

/// Generates the JSON Schemas: `<module>/<Type>.schema.json` for every named type and
/// `<module>/events/<key>.schema.json` for every event payload.
pub fn generate(schema: &Schema) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    for m in &schema.modules {
        for t in &m.types {
            let root = TypeRef::Named {
                module: m.name.clone(),
                name: t.name.clone(),
            };
            let body = json!({ "$ref": format!("#/$defs/{}", key(&m.name, &t.name)) });
            let doc = document(
                schema,
                &format!("tidings:{}/{}", m.name, t.name),
                &format!("{}.{}", m.name, t.name),
                t.doc.as_deref(),
                body,
                vec![root],
            );
            files.insert(
                PathBuf::from(format!("{}/{}.schema.json", m.name, t.name)),
                pretty(&doc),
            );
        }
        for e in &m.events {
            let body = object_schema(&e.payload, Refs::Defs);
            let roots = e.payload.iter().map(|f| f.ty.clone()).collect();
            let mut doc = document(
                schema,
                &format!("tidings:{}/events/{}", m.name, e.key),
                &e.name,
                e.doc.as_deref(),
                body,
                roots,
            );
            if e.deprecated.is_some() {
                doc["deprecated"] = json!(true);
            }
            files.insert(
                PathBuf::from(format!("{}/events/{}.schema.json", m.name, e.key)),
                pretty(&doc),
            );
        }
    }
    files
}
