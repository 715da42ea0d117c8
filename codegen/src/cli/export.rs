//! `tidings export`: JSON Schema, AsyncAPI, and the JSON Schema of the schema format itself.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Input, EXIT_FINDINGS, EXIT_OK};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum What {
    /// A JSON Schema (2020-12) per payload type and per event: `--out DIR`.
    Jsonschema,
    /// One AsyncAPI 3.0.0 document of the whole system: `--out FILE`.
    Asyncapi,
    /// The JSON Schema of the TOML schema format, for editors (taplo, Even Better TOML): `--out FILE`.
    TomlSchema,
}

/// Arguments of `tidings export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to export.
    #[arg(value_enum)]
    what: What,
    #[command(flatten)]
    input: Input,
    /// Where to write (a directory for `jsonschema`, a file otherwise); stdout for a file when absent.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Write nothing; exit 1 when the output on disk differs.
    #[arg(long, requires = "out")]
    check: bool,
    /// The project file whose `[project]` table names the system in the AsyncAPI document
    /// (title, version, description, contact, license, servers); default `tidings.toml` when
    /// the current directory has one.
    #[arg(long, value_name = "FILE")]
    project: Option<PathBuf>,
}

pub(super) fn run(args: &Args) -> Result<u8> {
    let text = match args.what {
        What::TomlSchema => crate::editor::schema_json(),
        What::Jsonschema | What::Asyncapi => {
            let Some(checked) = args.input.load()? else {
                return Ok(EXIT_FINDINGS);
            };
            if args.what == What::Jsonschema {
                let dir = args
                    .out
                    .clone()
                    .context("`jsonschema` writes a directory: give `--out DIR`")?;
                let files = crate::jsonschema::generate(&checked.schema);
                return super::generate::write_or_check(&dir, &files, "json", args.check);
            }
            let project = crate::project::Project::from_arg(args.project.as_deref())?;
            crate::asyncapi::generate_for(&checked.schema, &project)
        }
    };
    match &args.out {
        None => {
            super::emit(&text)?;
            Ok(EXIT_OK)
        }
        Some(file) => {
            let same = std::fs::read_to_string(file).is_ok_and(|old| old == text);
            if args.check {
                if same {
                    super::outln!("{}: up to date", file.display());
                    return Ok(EXIT_OK);
                }
                super::outln!("{}: out of date", file.display());
                return Ok(EXIT_FINDINGS);
            }
            if !same {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(file, &text)
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
            super::outln!(
                "{}: {}",
                file.display(),
                if same { "unchanged" } else { "written" }
            );
            Ok(EXIT_OK)
        }
    }
}
