//! What any declaration of the IR carries: where it was declared, and whether it is deprecated.

use serde::{Deserialize, Serialize};

/// A position in a schema source file; 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file path as it was given to the compiler.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A deprecation mark, with an optional note saying what to use instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deprecation {
    /// Why, or what to use instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
