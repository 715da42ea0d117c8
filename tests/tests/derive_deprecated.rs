//! Deprecated items derive without a warning: what `#[derive(Describe)]` and
//! `#[derive(Event)]` expand to (the checks, the IR, `emit`) is the derive's own use of the
//! item, not the app's — as the generated Rust of a schema's `deprecated` keys relies on.

#![deny(deprecated)]
#![allow(
    missing_docs,
    dead_code,
    unreachable_pub,
    missing_debug_implementations
)]

use serde::{Deserialize, Serialize};

#[deprecated = "use Modern"]
#[derive(Serialize, Deserialize, tidings::Describe)]
#[tidings(module = "old_items")]
pub struct Legacy {
    #[tidings(uuid)]
    pub id: String,
}

#[deprecated = "use old_items:updated"]
#[derive(Serialize, Deserialize, tidings::Event)]
#[event(module = "old_items", user = "owner_id")]
pub struct Changed {
    #[tidings(uuid)]
    pub owner_id: String,
    #[tidings(max_length = 10)]
    pub note: String,
}

#[test]
#[allow(deprecated)]
fn deprecated_items_are_described_and_checked() {
    use tidings::Event;
    let event = Changed {
        owner_id: "not a uuid".into(),
        note: "n".into(),
    };
    assert!(event.validate().is_err(), "the checks are derived");
    let schema = tidings::describe::schema().expect("describes");
    let module = schema.module("old_items").expect("the module");
    assert!(module.events.iter().any(|e| e.deprecated.is_some()));
    assert!(module.types.iter().any(|t| t.deprecated.is_some()));
}
