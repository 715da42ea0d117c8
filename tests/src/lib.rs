//! Cross-crate end-to-end tests for Tidings live in `tests/`; this library holds their shared
//! helpers.

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped schemas, checked, or a panic with the rendered diagnostics.
///
/// # Panics
/// When `schemas/` cannot be read or has errors: every test using it would be meaningless.
pub fn shipped_schema() -> tidings_codegen::schema::Schema {
    let (sources, result) = tidings_codegen::check_paths(&[repo_root().join("schemas")])
        .unwrap_or_else(|e| panic!("schemas/ cannot be read: {e}"));
    match result {
        Ok(checked) => checked.schema,
        Err(diagnostics) => panic!("{}", diagnostics.render(&sources)),
    }
}
