//! `tidings generate`: write generated code, or check it is up to date.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{Input, EXIT_FINDINGS, EXIT_OK};
use crate::output;
use crate::ts::{self, TsOptions};

/// Arguments of `tidings generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    outputs: Outputs,
}

/// What to write, shared by `tidings generate` (from schema files) and
/// [`crate::export::run`] (from derived events).
#[derive(Debug, clap::Args)]
pub(crate) struct Outputs {
    /// Write the TypeScript client modules into this directory.
    #[arg(long, value_name = "DIR")]
    ts: Option<PathBuf>,
    /// Write the Rust modules (payload types, `tidings::Event` impls, handler traits) into
    /// this directory, with a `mod.rs` declaring them.
    #[arg(long, value_name = "DIR")]
    rust: Option<PathBuf>,
    /// With `--ts`: also write the React adapter (`react.ts`).
    #[arg(long, requires = "ts")]
    ts_react: bool,
    /// With `--ts`: also write the Vue adapter (`vue.ts`).
    #[arg(long, requires = "ts")]
    ts_vue: bool,
    /// With `--ts`: also write the publisher of `tidings serve`'s HTTP API (`publisher.ts`),
    /// for the app's backend in Node.
    #[arg(long, requires = "ts")]
    ts_publisher: bool,
    /// Write the Python package of payload classes and the typed publisher of `tidings
    /// serve` into this directory (dataclasses; the publisher needs httpx).
    #[arg(long, value_name = "DIR")]
    python: Option<PathBuf>,
    /// Write the IR (as `tidings ir` prints it) into this file.
    #[arg(long, value_name = "FILE")]
    ir: Option<PathBuf>,
    /// Write nothing; exit 1 when the files on disk differ from what would be generated.
    #[arg(long)]
    check: bool,
}

/// Generates, or checks for drift.
pub(super) fn run(args: &Args) -> Result<u8> {
    if args.outputs.is_empty() {
        bail!("nothing to generate: give an output, such as `--ts web/src/generated` or `--rust src/events`");
    }
    let Some(checked) = args.input.load()? else {
        return Ok(EXIT_FINDINGS);
    };
    args.outputs.produce(&checked.schema, &checked.derived)
}

impl Outputs {
    /// Whether no output was asked for.
    pub(crate) fn is_empty(&self) -> bool {
        self.ts.is_none() && self.rust.is_none() && self.python.is_none() && self.ir.is_none()
    }

    /// Writes every output asked for from `schema`, or with `--check` reports drift; the exit
    /// code (`EXIT_FINDINGS` on drift).
    /// The Rust output leaves out the `derived` modules (their Rust is the app's own).
    pub(crate) fn produce(
        &self,
        schema: &tidings::schema::Schema,
        derived: &[String],
    ) -> Result<u8> {
        let mut outputs = Vec::new();
        if let Some(dir) = &self.ts {
            outputs.push((
                dir,
                ts::generate(
                    schema,
                    &TsOptions {
                        react: self.ts_react,
                        vue: self.ts_vue,
                        publisher: self.ts_publisher,
                    },
                ),
                "ts",
            ));
        }
        if let Some(dir) = &self.rust {
            let own = crate::without_modules(schema, derived);
            outputs.push((dir, crate::rust::generate(&own), "rs"));
        }
        if let Some(dir) = &self.python {
            outputs.push((dir, crate::python::generate(schema), "py"));
        }
        let mut drifted = false;
        for (dir, files, extension) in outputs {
            drifted |= write_or_check(dir, &files, extension, self.check)? == EXIT_FINDINGS;
        }
        if let Some(file) = &self.ir {
            let json = serde_json::to_string_pretty(schema)? + "\n";
            let same = std::fs::read_to_string(file).is_ok_and(|old| old == json);
            if self.check {
                if !same {
                    super::outln!("{}: out of date", file.display());
                    drifted = true;
                }
            } else if !same {
                if let Some(problems) = crate::ir_input::breaks_beside(file, &json) {
                    eprint!("{problems}");
                    bail!(
                        "{} not written: with it, the schemas beside it would no longer check \
                         (above, where the places in {} are those of the document as it would \
                         have been written); rename the module or event on one side",
                        file.display(),
                        file.display()
                    );
                }
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                }
                std::fs::write(file, json)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                super::outln!("{}: written", file.display());
            } else {
                super::outln!("{}: up to date", file.display());
            }
        }
        if drifted {
            super::outln!("generated files are out of date: run again without `--check` and commit the result");
            return Ok(EXIT_FINDINGS);
        }
        Ok(EXIT_OK)
    }
}

/// Writes files into `dir`, or with `check` reports drift; the exit code.
pub(super) fn write_or_check(
    dir: &std::path::Path,
    files: &std::collections::BTreeMap<PathBuf, String>,
    extension: &str,
    check: bool,
) -> Result<u8> {
    if check {
        let drift = output::drift(dir, files, extension)?;
        for d in &drift {
            super::outln!("{}: {d}", dir.display());
        }
        if drift.is_empty() {
            super::outln!("{}: {} files up to date", dir.display(), files.len());
            return Ok(EXIT_OK);
        }
        return Ok(EXIT_FINDINGS);
    }
    let w = output::write(dir, files, extension)?;
    super::outln!("{}: {w}", dir.display());
    Ok(EXIT_OK)
}
