//! `tidings ir`: print the resolved IR.

use anyhow::Result;

use super::{Input, EXIT_FINDINGS, EXIT_OK};
use crate::summary;

/// Arguments of `tidings ir`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// Print one line per event instead of the JSON IR.
    #[arg(long)]
    summary: bool,
}

/// Prints the IR; exit 1 (with the diagnostics on stderr) when the schemas have errors.
pub(super) fn run(args: &Args) -> Result<u8> {
    let Some(checked) = args.input.load()? else {
        return Ok(EXIT_FINDINGS);
    };
    if args.summary {
        super::emit(&summary::summary(&checked.schema))?;
    } else {
        super::outln!("{}", serde_json::to_string_pretty(&checked.schema)?);
    }
    Ok(EXIT_OK)
}
