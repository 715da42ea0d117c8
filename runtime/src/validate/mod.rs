//! Checks used by generated `validate` implementations (and available to hand-written ones).

mod checks;
mod document;

pub use crate::format::{is_timestamp, is_uuid, TIMESTAMP_PATTERN, UUID_PATTERN};
pub use checks::{
    at_least, at_most, chars_at_least, chars_at_most, chars_between, f32_on_wire, finite, join,
    len_at_least, len_at_most, timestamp, uuid, within, Bounded, Check, Length, Place, Texts,
};
pub use document::{Contract, Contracts, Refusal, ReplyContract, Types, MAX_DEPTH};

use crate::event::Event;
use crate::violation::Violation;

/// Decodes an event payload strictly: the JSON text is checked against the event's
/// [`Contract`](Event::contract) (shapes, number ranges, formats, constraints), then
/// decoded by serde. Events without a contract are decoded by serde alone. The declared
/// constraints of the decoded value ([`Event::validate`]) are the
/// caller's to check, as for values built in code.
///
/// # Errors
/// [`Refusal::Shape`] when the text is not JSON or not the payload's shape;
/// [`Refusal::Constraint`] when a constraint or format fails.
pub fn decode<E: Event>(text: &str) -> Result<E, Refusal> {
    let refused = |e: serde_json::Error| Refusal::Shape(Violation::new("", e.to_string()));
    let Some(contract) = E::contract() else {
        return serde_json::from_str(text).map_err(refused);
    };
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(refused)?;
    contract.check(&mut value)?;
    serde::Deserialize::deserialize(value).map_err(refused)
}
