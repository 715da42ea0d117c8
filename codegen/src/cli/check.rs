//! `tidings check`: validate schemas.

use anyhow::Result;

use super::{Format, Input, EXIT_FINDINGS, EXIT_OK};

/// Arguments of `tidings check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Checks the schemas; exit 1 when any has an error.
pub(super) fn run(args: &Args) -> Result<u8> {
    let (sources, result) = crate::check_paths(&args.input.paths)?;
    let (diagnostics, schema) = match result {
        Ok(checked) => (checked.warnings, Some(checked.schema)),
        Err(diagnostics) => (diagnostics, None),
    };
    match args.format {
        Format::Json => {
            super::outln!(
                "{}",
                serde_json::to_string_pretty(&diagnostics.to_json(&sources))?
            );
        }
        Format::Human => {
            eprint!("{}", diagnostics.render(&sources));
            let warnings = diagnostics.warning_count() + sources.skipped().len();
            let files = sources.len();
            let files = if files == 1 {
                "1 file".to_owned()
            } else {
                format!("{files} files")
            };
            match &schema {
                Some(schema) => super::outln!(
                    "checked {files}: {}; {}",
                    crate::summary::counts(schema),
                    problems(warnings, "warning")
                ),
                None => super::outln!(
                    "checked {files}: {}, {}",
                    problems(diagnostics.error_count(), "error"),
                    problems(warnings, "warning")
                ),
            }
        }
    }
    Ok(if schema.is_some() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

fn problems(n: usize, what: &str) -> String {
    match n {
        0 => format!("no {what}s"),
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}
