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
    /// A run whose inputs are those of the previous run — the same schema texts, the same
    /// options, the same build-script binary (so the same version of this crate) — and whose
    /// outputs are as it left them does no more: it repeats the previous run's warnings and
    /// returns. What it compares is recorded in the output directory (`.tidings-stamp`: a hash
    /// of the inputs, and each output's size and modification time).
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
        let dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?)
                .join("tidings"),
        };
        let key = self.fingerprint(&dir, &sources);
        if let Some(stamp) = Stamp::read(&dir).filter(|s| s.key == key && s.outputs_unchanged()) {
            for warning in &stamp.warnings {
                println!("cargo:warning={warning}");
            }
            return Ok(());
        }
        // Whatever happens next, the previous run's record no longer describes the outputs.
        Stamp::remove(&dir);
        let checked = crate::check(&sources).map_err(|d| BuildError::Schema(d.render(&sources)))?;
        let warnings: Vec<String> = checked
            .warnings
            .render(&sources)
            .lines()
            .filter(|l| l.starts_with("warning"))
            .map(str::to_owned)
            .collect();
        for warning in &warnings {
            println!("cargo:warning={warning}");
        }
        // Derived modules (IR documents among the schemas) are the app's own Rust already.
        let rust = checked.rust_schema();
        let mut files = crate::rust::generate(&rust);
        files.remove(Path::new("mod.rs"));
        files.insert(
            PathBuf::from("tidings.rs"),
            crate::rust::include_file(&rust),
        );
        output::write(&dir, &files, "rs")?;
        let mut outputs: Vec<PathBuf> = files.keys().map(|f| dir.join(f)).collect();
        if let Some((ts_dir, options)) = &self.typescript {
            let ts = crate::ts::generate(&checked.schema, options);
            output::write(ts_dir, &ts, "ts")?;
            outputs.extend(ts.keys().map(|f| ts_dir.join(f)));
        }
        Stamp::record(&dir, key, &warnings, &outputs);
        Ok(())
    }

    /// A hash of everything the outputs depend on: this build script's binary (its size and
    /// modification time: a new version of this crate, or a changed build script, is a new
    /// binary), the options, and every schema file's name and text.
    fn fingerprint(&self, dir: &Path, sources: &Sources) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut h);
        if let Some(meta) = std::env::current_exe()
            .ok()
            .and_then(|e| std::fs::metadata(e).ok())
        {
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
        }
        dir.hash(&mut h);
        self.typescript
            .as_ref()
            .map(|(d, o)| (d, o.react, o.vue, o.publisher))
            .hash(&mut h);
        for (_, file) in sources.iter() {
            file.name().hash(&mut h);
            file.text().hash(&mut h);
        }
        h.finish()
    }
}

/// What the last [`Builder::compile`] generated from what, kept in the output directory: the
/// inputs' hash, the warnings it printed, and each output's size and modification time.
struct Stamp {
    key: u64,
    warnings: Vec<String>,
    outputs: Vec<(PathBuf, u64, u128)>,
}

impl Stamp {
    const FILE: &'static str = ".tidings-stamp";

    /// An output's size and modification time (nanoseconds since the epoch).
    fn state(path: &Path) -> Option<(u64, u128)> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some((meta.len(), modified))
    }

    /// The record of `dir`, when there is one that reads.
    fn read(dir: &Path) -> Option<Stamp> {
        let text = std::fs::read_to_string(dir.join(Self::FILE)).ok()?;
        let mut lines = text.lines();
        let key = u64::from_str_radix(lines.next()?.strip_prefix("key ")?, 16).ok()?;
        let mut stamp = Stamp {
            key,
            warnings: Vec::new(),
            outputs: Vec::new(),
        };
        for line in lines {
            if let Some(w) = line.strip_prefix("warning ") {
                stamp.warnings.push(w.to_owned());
            } else {
                let mut parts = line.strip_prefix("file ")?.splitn(3, ' ');
                let len = parts.next()?.parse().ok()?;
                let modified = parts.next()?.parse().ok()?;
                stamp
                    .outputs
                    .push((PathBuf::from(parts.next()?), len, modified));
            }
        }
        Some(stamp)
    }

    /// Whether every output is as the record says (none removed, none edited).
    fn outputs_unchanged(&self) -> bool {
        !self.outputs.is_empty()
            && self
                .outputs
                .iter()
                .all(|(path, len, modified)| Self::state(path) == Some((*len, *modified)))
    }

    /// Records a run; a record that cannot be written only costs the next run its shortcut.
    fn record(dir: &Path, key: u64, warnings: &[String], outputs: &[PathBuf]) {
        let mut text = format!("key {key:016x}\n");
        for w in warnings {
            text.push_str(&format!("warning {w}\n"));
        }
        for path in outputs {
            let Some((len, modified)) = Self::state(path) else {
                return;
            };
            text.push_str(&format!("file {len} {modified} {}\n", path.display()));
        }
        let _ = std::fs::write(dir.join(Self::FILE), text);
    }

    fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(Self::FILE));
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

    /// A second run on the same inputs reuses the first's outputs; a changed schema, an
    /// edited or removed output, or other options generate again.
    #[test]
    fn an_unchanged_run_reuses_the_previous_outputs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let schemas = dir.path().join("schemas");
        std::fs::create_dir(&schemas).expect("mkdir");
        let text = "module = \"desk\"\n[events.opened]\nrecipients.user = [\"user_id\"]\npayload.user_id = \"uuid\"\n";
        std::fs::write(schemas.join("desk.toml"), text).expect("write");
        let out = dir.path().join("out");
        let build = || {
            Builder::new()
                .schemas(&schemas)
                .out_dir(&out)
                .emit_rerun_if_changed(false)
                .compile()
                .expect("compiles");
        };
        build();
        let desk = out.join("desk.rs");
        let first = Stamp::state(&desk).expect("generated");
        let stamp = Stamp::read(&out).expect("recorded");
        assert!(stamp.outputs_unchanged());

        // Unchanged inputs: nothing is checked or generated again. Shown by an output
        // changed behind the record's back (same size, same modification time), which the
        // shortcut trusts and a generating run would have replaced.
        let original = std::fs::read_to_string(&desk).expect("read");
        let forged = "x".repeat(original.len());
        let modified = std::fs::metadata(&desk)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(&desk, &forged).expect("forge");
        std::fs::File::options()
            .write(true)
            .open(&desk)
            .and_then(|f| f.set_modified(modified))
            .expect("set mtime");
        assert_eq!(Stamp::state(&desk), Some(first));
        build();
        assert_eq!(std::fs::read_to_string(&desk).expect("read"), forged);
        assert_eq!(Stamp::read(&out).expect("recorded").key, stamp.key);

        // An edited output is generated again.
        std::fs::write(&desk, "// edited\n").expect("edit");
        build();
        assert!(std::fs::read_to_string(&desk)
            .expect("read")
            .starts_with("// @generated"));

        // A removed output too.
        std::fs::remove_file(&desk).expect("rm");
        build();
        assert!(desk.exists());

        // A changed schema gives a new key and new outputs.
        std::fs::write(
            schemas.join("desk.toml"),
            text.replace("[events.opened]", "[events.closed]"),
        )
        .expect("write");
        build();
        assert_ne!(Stamp::read(&out).expect("recorded").key, stamp.key);
        assert!(std::fs::read_to_string(&desk)
            .expect("read")
            .contains("Closed"));

        // A failing run leaves no record behind.
        std::fs::write(schemas.join("desk.toml"), "module = 1\n").expect("write");
        assert!(Builder::new()
            .schemas(&schemas)
            .out_dir(&out)
            .emit_rerun_if_changed(false)
            .compile()
            .is_err());
        assert!(Stamp::read(&out).is_none());
    }
}
