//! The `tidings` command: see `tidings --help` and docs/cli.md.

use std::process::ExitCode;

use clap::Parser;
use tidings_codegen::cli::{self, Cli};

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(parsed) => cli::run(parsed),
        Err(err) => {
            let _ = err.print();
            // `--help` and `--version` are successes; usage errors "could not run".
            if err.use_stderr() {
                ExitCode::from(cli::EXIT_CANNOT_RUN)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
