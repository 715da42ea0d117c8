//! What a derived type describes is the JSON serde really writes: rename, rename_all, skip,
//! flatten and default are honoured.

#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidings::describe::Describe;
use tidings::schema::{Primitive, TypeRef, Value};

#[derive(Serialize, Deserialize, tidings::Describe, Default)]
#[tidings(module = "shapes")]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    created_at_ms: u64,
    created_by_user: String,
}

#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "shapes")]
#[serde(rename_all = "kebab-case")]
pub struct Record {
    record_id: String,
    #[serde(rename = "DisplayName")]
    display_name: String,
    #[serde(skip)]
    cached: u32,
    #[serde(flatten)]
    audit: Audit,
    #[serde(default = "three")]
    retry_count: u8,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn three() -> u8 {
    3
}

#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "shapes")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Low,
    VeryHigh,
}

#[test]
fn described_field_names_are_the_json_keys() {
    let record = Record {
        record_id: "r".into(),
        display_name: "d".into(),
        cached: 9,
        audit: Audit::default(),
        retry_count: 3,
        labels: BTreeMap::new(),
        note: Some("n".into()),
    };
    let json = serde_json::to_value(&record).expect("serializes");
    let mut keys: Vec<String> = json.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    let mut described: Vec<String> = Record::struct_fields()
        .expect("a struct")
        .into_iter()
        .map(|f| f.name)
        .collect();
    described.sort();
    assert_eq!(described, keys);

    let fields = Record::struct_fields().expect("a struct");
    let retry = fields
        .iter()
        .find(|f| f.name == "retry-count")
        .expect("retry-count");
    assert_eq!(
        retry.default,
        Some(Value::Int(3)),
        "the default comes from serde's default function"
    );
    assert_eq!(retry.ty, TypeRef::Primitive(Primitive::U8));
    let note = fields.iter().find(|f| f.name == "note").expect("note");
    assert_eq!((note.ty.is_optional(), note.default.clone()), (true, None));
    let labels = fields.iter().find(|f| f.name == "labels").expect("labels");
    assert_eq!(labels.default, Some(Value::Map(BTreeMap::new())));
}

#[test]
fn enum_values_are_the_serialized_strings() {
    let schema = tidings::describe::schema().expect("one schema");
    let level = schema.type_def("shapes", "Level").expect("registered");
    let tidings::schema::TypeKind::Enum { values, .. } = &level.kind else {
        panic!("an enum");
    };
    let names: Vec<_> = values.iter().map(|v| v.name.clone()).collect();
    let json: Vec<String> = [Level::Low, Level::VeryHigh]
        .iter()
        .map(|l| {
            serde_json::to_value(l)
                .expect("serializes")
                .as_str()
                .expect("string")
                .to_owned()
        })
        .collect();
    assert_eq!(names, json);
}

mod as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A derived event whose wire names are not identifiers, and a field serde writes its own way.
#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "shapes", user = "owner_id")]
#[serde(rename_all = "kebab-case")]
pub struct Invoiced {
    owner_id: String,
    #[serde(with = "as_string")]
    #[tidings(type = "string")]
    total: u64,
}

#[test]
fn kebab_case_names_and_serde_with_fields_reach_every_backend_as_they_are_on_the_wire() {
    let schema = tidings::describe::schema().expect("one schema");
    let (_, event) = schema
        .event_by_wire_name("shapes:invoiced")
        .expect("registered");
    let names: Vec<_> = event
        .payload
        .iter()
        .map(|f| (f.name.as_str(), f.ty.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("owner-id", TypeRef::Primitive(Primitive::String)),
            ("total", TypeRef::Primitive(Primitive::String)),
        ]
    );
    let ts = tidings_codegen::ts::generate(&schema, &Default::default());
    let module = &ts[std::path::Path::new("shapes.ts")];
    assert!(module.contains("\"owner-id\": string;"), "{module}");
    assert!(module.contains("total: string;"), "{module}");

    // What serde really writes is what the contract accepts, and back.
    let wire = serde_json::to_string(&Invoiced {
        owner_id: "u1".into(),
        total: 12,
    })
    .expect("json");
    assert_eq!(wire, r#"{"owner-id":"u1","total":"12"}"#);
    let back: Invoiced = tidings::validate::decode(&wire).expect("the contract accepts it");
    assert_eq!(back.total, 12);
    let refused = tidings::validate::decode::<Invoiced>(r#"{"owner-id":"u1","total":12}"#);
    assert!(matches!(refused, Err(tidings::validate::Refusal::Shape(_))));
}

/// An open enum: its last variant, `#[serde(untagged)]`, takes the values it does not declare.
#[derive(Debug, PartialEq, Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "shapes")]
#[serde(rename_all = "snake_case")]
pub enum Mood {
    Calm,
    Busy,
    #[serde(untagged)]
    Unknown(String),
}

#[derive(Debug, PartialEq, Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "shapes")]
pub struct Note {
    text: String,
}

/// An open union: an object whose tag names no declared variant is its `Unknown`.
#[derive(Debug, PartialEq, Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "shapes")]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Card {
    Note(Note),
    Blank,
    #[serde(untagged)]
    Unknown(serde_json::Value),
}

#[derive(Debug, PartialEq, Serialize, Deserialize, tidings::Event)]
#[event(module = "shapes", everyone, platform)]
pub struct Felt {
    mood: Mood,
    card: Card,
}

#[test]
fn an_untagged_last_variant_makes_an_enum_or_union_open() {
    let schema = tidings::describe::schema().expect("one schema");
    let mood = schema.type_def("shapes", "Mood").expect("registered");
    let tidings::schema::TypeKind::Enum { values, open } = &mood.kind else {
        panic!("an enum");
    };
    assert!(*open);
    let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["calm", "busy"], "the catch-all is not a value");
    let card = schema.type_def("shapes", "Card").expect("registered");
    let tidings::schema::TypeKind::Union { variants, open, .. } = &card.kind else {
        panic!("a union");
    };
    assert!(*open);
    assert_eq!(variants.len(), 2);

    // Decoded the way the server decodes: undeclared values and variants reach the handler.
    let felt: Felt =
        tidings::validate::decode(r#"{"mood":"sleepy","card":{"type":"video","url":"u"}}"#)
            .expect("open types read what they do not declare");
    assert_eq!(felt.mood, Mood::Unknown("sleepy".to_owned()));
    assert_eq!(
        felt.card,
        Card::Unknown(serde_json::json!({"type": "video", "url": "u"}))
    );
    // A declared variant is still checked: its fields must be there.
    let refused = tidings::validate::decode::<Felt>(r#"{"mood":"calm","card":{"type":"note"}}"#);
    assert!(refused.is_err(), "{refused:?}");
    // And the tag must be a string.
    let refused = tidings::validate::decode::<Felt>(r#"{"mood":"calm","card":{"type":5}}"#);
    assert!(refused.is_err(), "{refused:?}");
}
