use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "audit")]
#[serde(deny_unknown_fields)]
struct Strict {
    a: u8,
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "audit")]
struct Lopsided {
    #[serde(skip_serializing)]
    hidden: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fine: Option<String>,
}

#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "audit")]
struct Spread {
    a: u8,
    #[serde(flatten)]
    rest: BTreeMap<String, u8>,
}

fn main() {}
