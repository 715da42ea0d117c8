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
    /// Write nothing; exit 1 when the files on disk differ from what would be generated.
    #[arg(long)]
    check: bool,
}

/// Generates, or checks for drift.
pub(super) fn run(args: &Args) -> Result<u8> {
    if args.ts.is_none() && args.rust.is_none() {
        bail!("nothing to generate: give an output, such as `--ts web/src/generated` or `--rust src/events`");
    }
    let Some(checked) = args.input.load()? else {
        return Ok(EXIT_FINDINGS);
    };
    let mut outputs = Vec::new();
    if let Some(dir) = &args.ts {
        outputs.push((
            dir,
            ts::generate(
                &checked.schema,
                &TsOptions {
                    react: args.ts_react,
                },
            ),
            "ts",
        ));
    }
    if let Some(dir) = &args.rust {
        outputs.push((dir, crate::rust::generate(&checked.schema), "rs"));
    }
    let mut drifted = false;
    for (dir, files, extension) in outputs {
        drifted |= write_or_check(dir, &files, extension, args.check)? == EXIT_FINDINGS;
    }
    if drifted {
        super::outln!("generated files are out of date: run `tidings generate` without `--check` and commit the result");
        return Ok(EXIT_FINDINGS);
    }
    Ok(EXIT_OK)
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
