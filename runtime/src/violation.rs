//! A violated constraint: what every check reports.

/// A violated constraint: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The path of the field (`ticket.title`).
    pub field: String,
    /// What is wrong (`must be at most 100, got 101`).
    pub message: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    /// `` `ticket.title` must be at most 200 characters long, got 201 ``; the message alone for
    /// the payload itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}` {}", self.field, self.message)
        }
    }
}

impl std::error::Error for Violation {}
