//! Tidings: realtime events as a typed, checked contract between a Rust server and its web
//! clients.
//!
//! Events such as `ticket:created` or `chat:typing` are declared once — in TOML schema files
//! compiled by `tidings-codegen`, or with `#[derive(Event)]` — and every declaration lowers into
//! the same intermediate representation, [`schema`]. Backends (Rust, TypeScript, JSON Schema,
//! AsyncAPI, docs) and the compatibility checker all read that IR.
//!
//! ```
//! use tidings::schema::{Direction, Schema};
//!
//! // The IR is plain serde data: `tidings ir schemas/` prints it as JSON.
//! let json = r#"{ "ir_version": 1, "modules": [] }"#;
//! let schema: Schema = serde_json::from_str(json).unwrap();
//! assert!(schema.modules.is_empty());
//! assert_eq!(Direction::default(), Direction::ServerToClient);
//! ```

pub mod schema;
