//! Editor support: the JSON Schema of the TOML schema format itself, derived from the raw
//! structs the front end deserializes (`schemars`), so completion and validation in editors
//! (taplo, Even Better TOML) follow the language exactly.

/// The JSON Schema of a Tidings schema file, pretty-printed.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(crate::raw::SchemaFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
