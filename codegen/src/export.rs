//! Exporting what derived events describe: the one-command workflow for `#[derive(Event)]`
//! users, who have no schema files to point `tidings generate` at.
//!
//! ```ignore
//! // src/bin/export-events.rs — run: cargo run --bin export-events -- --ts web/src/generated
//! fn main() -> std::process::ExitCode {
//!     tidings_codegen::export::run(tidings::describe::schema(), std::env::args())
//! }
//! ```
//!
//! Every type and event derived anywhere in the program is included: the derives register
//! themselves, so there is no list to keep.

use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;
use tidings::schema::Schema;

use crate::cli::{Outputs, EXIT_CANNOT_RUN};

/// The command line of an export binary: the outputs of `tidings generate`.
#[derive(Debug, Parser)]
#[command(about = "Writes the outputs of the events and types derived in this program")]
struct ExportCli {
    #[command(flatten)]
    outputs: Outputs,
}

/// Writes the outputs asked for on the command line (`--ts DIR`, `--ts-react`, `--ts-vue`, `--rust DIR`,
/// `--ir FILE`, `--check`: the options of `tidings generate`, parsed the same way) from a
/// described schema. Exit codes as `tidings generate`: 0 written or up to date, 1 drift found
/// with `--check`, 2 could not run.
pub fn run<E: Display>(
    schema: Result<Schema, E>,
    args: impl IntoIterator<Item = String>,
) -> ExitCode {
    let cli = match ExportCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_CANNOT_RUN)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match schema {
        Err(e) => Err(format!("the derived events do not form one schema: {e}")),
        Ok(_) if cli.outputs.is_empty() => Err(
            "nothing to export: give an output, such as `--ts web/src/generated`, `--rust src/events` or `--ir ir.json`"
                .to_owned(),
        ),
        Ok(schema) => cli.outputs.produce(&schema, &[]).map_err(|e| format!("{e:#}")),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}
