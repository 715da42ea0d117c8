//! `tidings generate`: write generated code, or check it is up to date.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{Input, EXIT_FINDINGS, EXIT_OK};
use crate::output::{self, Drift};
use crate::ts::{self, TsOptions};

/// Arguments of `tidings generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// Write the TypeScript client modules into this directory.
    #[arg(long, value_name = "DIR")]
    ts: Option<PathBuf>,
    /// With `--ts`: also write the React adapter (`react.ts`).
    #[arg(long, requires = "ts")]
    ts_react: bool,
    /// Write nothing; exit 1 when the files on disk differ from what would be generated.
    #[arg(long)]
    check: bool,
}

/// Generates, or checks for drift.
pub(super) fn run(args: &Args) -> Result<u8> {
    let Some(dir) = &args.ts else {
        bail!("nothing to generate: give an output, such as `--ts web/src/generated`");
    };
    let (sources, result) = crate::check_paths(&args.input.paths)?;
    let checked = match result {
        Ok(checked) => checked,
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&sources));
            return Ok(EXIT_FINDINGS);
        }
    };
    eprint!("{}", checked.warnings.render(&sources));
    let files = ts::generate(&checked.schema, &TsOptions { react: args.ts_react });
    if args.check {
        let drift: Vec<Drift> = output::drift(dir, &files, "ts")?;
        if drift.is_empty() {
            println!("{}: {} files up to date", dir.display(), files.len());
            return Ok(EXIT_OK);
        }
        for d in &drift {
            println!("{}: {d}", dir.display());
        }
        println!("run `tidings generate --ts {}` and commit the result", dir.display());
        return Ok(EXIT_FINDINGS);
    }
    let written = output::write(dir, &files, "ts")?;
    println!(
        "{}: {} written, {} unchanged, {} removed",
        dir.display(),
        written.changed.len(),
        written.unchanged,
        written.removed.len()
    );
    Ok(EXIT_OK)
}
