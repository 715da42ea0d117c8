//! Generates the Rust event types of the shipped schemas, the example schemas and the coverage
//! schema of the contract test (`contract/`), and a table that decodes a payload of any of their
//! events by wire name (for the differential test of the contract).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dirs = ["../schemas", "../examples/schemas", "contract"];
    let mut builder = tidings_codegen::Builder::new();
    for dir in dirs {
        builder = builder.schemas(dir);
    }
    builder.compile()?;

    let paths: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
    let (sources, result) = tidings_codegen::check_paths(&paths)?;
    let checked = result.map_err(|d| d.render(&sources))?;
    let mut arms = String::new();
    let mut contracts = String::new();
    let mut recipients = String::new();
    for (m, e) in checked.schema.events() {
        let ty = tidings_codegen::names::event_type_name(&e.key);
        let path = format!("crate::events::{}::{ty}", m.name);
        writeln!(arms, "        {:?} => Some(run::<{path}>(text)),", e.name)?;
        writeln!(
            contracts,
            "        {:?} => <{path} as tidings::Event>::contract(),",
            e.name
        )?;
        writeln!(
            recipients,
            "        {:?} => Some(tidings::validate::decode::<{path}>(text).ok().map(|e| tidings::Event::recipients(&e))),",
            e.name
        )?;
    }
    let table = format!(
        "/// Decodes `text` as the payload of the event `name` the way the server decodes an \
         inbound payload (contract, serde, declared constraints) and encodes the result again; \
         `None` for an unknown event.\n\
         pub fn decode_event(name: &str, text: &str) -> Option<Result<String, tidings::validate::Refusal>> {{\n    \
         match name {{\n{arms}        _ => None,\n    }}\n}}\n\n\
         /// The contract the generated event `name` decodes inbound payloads with.\n\
         pub fn contract_of(name: &str) -> Option<&'static tidings::validate::Contract> {{\n    \
         match name {{\n{contracts}        _ => None,\n    }}\n}}\n\n\
         /// The recipients the generated event `name`'s declared rules select for the payload \
         `text` (`Some(None)` when the payload does not decode; `None` for an unknown event).\n\
         pub fn recipients_of(name: &str, text: &str) -> Option<Option<tidings::Recipients>> {{\n    \
         match name {{\n{recipients}        _ => None,\n    }}\n}}\n"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("decode_event.rs");
    std::fs::write(out, table)?;
    Ok(())
}
