//! The build-script API, in the style of prost-build.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     tidings_codegen::Builder::new().schemas("schemas").compile()?;
//!     Ok(())
//! }
//! ```
//!
//! ```ignore
//! // src/lib.rs
//! pub mod events {
//!     tidings::include_events!();
//! }
//! ```

use std::path::{Path, PathBuf};

use crate::output;
use crate::ts::TsOptions;
use crate::{Error, Sources};

/// Why a build-script compilation failed.
///
/// Its `Debug` is its message, so that a build script's `fn main() -> Result<(), Box<dyn
/// Error>>` prints the diagnostics as they are rendered (file:line:col, the source line, a
/// caret), not as one escaped line.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A schema path could not be read, or an output could not be written.
    #[error(transparent)]
    Io(#[from] Error),
    /// The schemas have errors; the message holds every diagnostic, rendered.
    #[error("the schemas have errors:\n\n{0}")]
    Schema(String),
    /// `OUT_DIR` is not set (not running in a build script) and no output directory was given.
    #[error(
        "OUT_DIR is not set: call this from build.rs, or set an output directory with `out_dir`"
    )]
    NoOutDir,
}

impl std::fmt::Debug for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Compiles schemas into Rust (and optionally TypeScript) from a build script.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    schemas: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    typescript: Option<(PathBuf, TsOptions)>,
    emit_rerun: bool,
}

impl Builder {
    /// A builder with no schemas yet.
    pub fn new() -> Builder {
        Builder {
            emit_rerun: true,
            ..Builder::default()
        }
    }

    /// Adds a schema file, or every `*.toml` below a directory. Relative paths are relative to
    /// the crate (where build scripts run).
    pub fn schemas(mut self, path: impl AsRef<Path>) -> Builder {
        self.schemas.push(path.as_ref().to_owned());
        self
    }

    /// Writes the Rust files here instead of `$OUT_DIR/tidings`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Builder {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Also writes the TypeScript client modules into `dir` (for a web app next to the server).
    ///
    /// This writes into your source tree from a build script — an explicit choice, unlike the
    /// Rust output, which stays in `$OUT_DIR` as prost-build's does. It suits one repository
    /// holding server and page; the alternative is `tidings generate --ts DIR` in the web
    /// project, committed and guarded by `tidings generate --ts DIR --check` in CI (the way
    /// docs/guide.md takes). Files are written only when their content changed.
    pub fn typescript(mut self, dir: impl AsRef<Path>, options: TsOptions) -> Builder {
        self.typescript = Some((dir.as_ref().to_owned(), options));
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default yes).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Builder {
        self.emit_rerun = yes;
        self
    }

    /// Checks the schemas and writes the generated files (only those whose content changed).
    ///
    /// # Errors
    /// When a schema cannot be read, has errors (all diagnostics are in the error), or an output
    /// cannot be written.
    pub fn compile(self) -> Result<(), BuildError> {
        let mut sources = Sources::new();
        for path in &self.schemas {
            if self.emit_rerun {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            sources.add_path(path)?;
        }
        if self.emit_rerun {
            for file in sources.paths() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
        let checked = crate::check(&sources).map_err(|d| BuildError::Schema(d.render(&sources)))?;
        for warning in checked
            .warnings
            .render(&sources)
            .lines()
            .filter(|l| l.starts_with("warning"))
        {
            println!("cargo:warning={warning}");
        }
        let dir = match self.out_dir {
            Some(dir) => dir,
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?)
                .join("tidings"),
        };
        // Derived modules (IR documents among the schemas) are the app's own Rust already.
        let rust = checked.rust_schema();
        let mut files = crate::rust::generate(&rust);
        files.remove(Path::new("mod.rs"));
        files.insert(
            PathBuf::from("tidings.rs"),
            crate::rust::include_file(&rust),
        );
        output::write(&dir, &files, "rs")?;
        if let Some((ts_dir, options)) = &self.typescript {
            output::write(ts_dir, &crate::ts::generate(&checked.schema, options), "ts")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build script returning the error from `main` prints `{:?}`: the diagnostics as
    /// rendered, on their own lines.
    #[test]
    fn a_schema_error_debugs_as_its_rendered_diagnostics() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("bad.toml"),
            "module = \"bad\"\n[events.x]\npayload.a = \"strnig\"\n",
        )
        .expect("write");
        let err = Builder::new()
            .schemas(dir.path())
            .out_dir(dir.path().join("out"))
            .emit_rerun_if_changed(false)
            .compile()
            .expect_err("the schema has an error");
        let debug = format!("{err:?}");
        assert_eq!(debug, err.to_string());
        assert!(debug.contains("bad.toml:3:"), "{debug}");
        assert!(debug.lines().count() > 3, "{debug}");
    }
}
