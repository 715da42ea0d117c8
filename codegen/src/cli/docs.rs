//! `tidings docs`: the event catalog.

use std::path::PathBuf;

use anyhow::Result;

use super::{Input, EXIT_FINDINGS};

/// Arguments of `tidings docs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// The directory to write `catalog.md` and `catalog.html` into.
    #[arg(long, value_name = "DIR", default_value = "docs/catalog")]
    out: PathBuf,
    /// Write nothing; exit 1 when the files on disk differ.
    #[arg(long)]
    check: bool,
    /// The project file whose `[project]` table titles the catalog (`name`) and opens it
    /// (`description`); default `tidings.toml` when the current directory has one.
    #[arg(long, value_name = "FILE")]
    project: Option<PathBuf>,
}

pub(super) fn run(args: &Args) -> Result<u8> {
    let Some(checked) = args.input.load()? else {
        return Ok(EXIT_FINDINGS);
    };
    let project = crate::project::Project::from_arg(args.project.as_deref())?;
    let files = crate::catalog::generate_for(&checked.schema, &project);
    super::generate::write_or_check(&args.out, &files, "md", args.check)
}
