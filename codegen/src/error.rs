//! The error of operations that cannot run at all (as opposed to schema diagnostics).

use std::path::PathBuf;

/// An operation of the compiler could not run: a path is missing or unreadable.
///
/// Mistakes *in* schema files are not errors of this kind; they are
/// [`Diagnostics`](crate::Diagnostics).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] ErrorKind);

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A path given to the compiler does not exist.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// Reading a file or directory failed.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A directory given to the compiler holds no schema file (`*.toml`, `*.ir.json`).
    #[error("`{}` holds no schema files (`*.toml`, or IR documents `*.ir.json`)", path.display())]
    NoSchemas {
        /// The directory as given.
        path: PathBuf,
    },
}
