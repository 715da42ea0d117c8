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
use std::path::PathBuf;
use std::process::ExitCode;

use tidings::schema::Schema;

use crate::cli::{EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK};
use crate::output::{self, Drift};
use crate::ts::{self, TsOptions};

const USAGE: &str = "usage: [--ts DIR [--ts-react]] [--rust DIR] [--ir FILE] [--check]";

/// Writes the outputs asked for on the command line (`--ts DIR`, `--ts-react`, `--rust DIR`,
/// `--ir FILE`, `--check`) from a described schema. Exit codes as `tidings generate`: 0 written
/// or up to date, 1 drift found with `--check`, 2 could not run.
pub fn run<E: Display>(
    schema: Result<Schema, E>,
    args: impl IntoIterator<Item = String>,
) -> ExitCode {
    match try_run(schema, args) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

fn try_run<E: Display>(
    schema: Result<Schema, E>,
    args: impl IntoIterator<Item = String>,
) -> Result<u8, String> {
    let schema = schema.map_err(|e| format!("the derived events do not form one schema: {e}"))?;
    let (mut ts_dir, mut rust_dir, mut ir_file, mut react, mut check) =
        (None, None, None, false, false);
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ts" => ts_dir = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--rust" => rust_dir = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--ir" => ir_file = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--ts-react" => react = true,
            "--check" => check = true,
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    if ts_dir.is_none() && rust_dir.is_none() && ir_file.is_none() {
        return Err(format!("nothing to export; {USAGE}"));
    }
    let mut drifted = false;
    let mut outputs = Vec::new();
    if let Some(dir) = ts_dir {
        outputs.push((dir, ts::generate(&schema, &TsOptions { react }), "ts"));
    }
    if let Some(dir) = rust_dir {
        outputs.push((dir, crate::rust::generate(&schema), "rs"));
    }
    for (dir, files, ext) in outputs {
        if check {
            let drift: Vec<Drift> = output::drift(&dir, &files, ext).map_err(|e| e.to_string())?;
            for d in &drift {
                println!("{}: {d}", dir.display());
            }
            drifted |= !drift.is_empty();
        } else {
            let w = output::write(&dir, &files, ext).map_err(|e| e.to_string())?;
            println!("{}: {w}", dir.display());
        }
    }
    if let Some(file) = ir_file {
        let json = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())? + "\n";
        let same = std::fs::read_to_string(&file).is_ok_and(|old| old == json);
        if check {
            if !same {
                println!("{}: out of date", file.display());
                drifted = true;
            }
        } else if !same {
            std::fs::write(&file, json)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            println!("{}: written", file.display());
        }
    }
    Ok(if drifted { EXIT_FINDINGS } else { EXIT_OK })
}
