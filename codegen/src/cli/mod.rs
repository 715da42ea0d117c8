//! The `tidings` command line: argument definitions and one `run` per subcommand.
//!
//! The binary is a thin shell over this module; every subcommand calls the library. Exit codes:
//! 0 when all is well, 1 when the schemas have errors (or, later, findings such as breaking
//! changes or drift), 2 when the command could not run at all.

mod check;
mod compat;
mod docs;
mod export;
mod generate;
pub(crate) use generate::Outputs;
mod ir;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the schemas have errors (or the command found what it checks for).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the command could not run (bad path, unreadable file, bad arguments).
pub const EXIT_CANNOT_RUN: u8 = 2;

/// Typed realtime events: check schemas, print the IR, generate code.
#[derive(Debug, Parser)]
#[command(name = "tidings", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 fine, 1 errors found, 2 could not run.\n\
Docs: docs/cli.md, docs/schema.md")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate schema files and report every problem with its location.
    #[command(after_help = "Examples:\n  \
tidings check                      # every *.toml below schemas/\n  \
tidings check schemas/ticket.toml  # one file (plus what it imports, if given too)\n  \
tidings check --format json        # diagnostics as JSON, for editors and CI")]
    Check(check::Args),
    /// Print the resolved IR as JSON (or a summary) — what every backend reads.
    #[command(after_help = "Examples:\n  \
tidings ir > ir.json               # the whole IR, for tools and `tidings compat`\n  \
tidings ir --summary               # one line per event: direction, delivery, recipients")]
    Ir(ir::Args),
    /// Generate code from the schemas, or check generated code is up to date (`--check`).
    #[command(after_help = "Examples:\n  \
tidings generate --ts web/src/generated                # TypeScript modules + client runtime\n  \
tidings generate --ts web/src/generated --ts-react     # … and the React adapter (--ts-vue: Vue)\n  \
tidings generate --ts web/src/generated --check        # CI: exit 1 when the files drifted")]
    Generate(generate::Args),
    /// Check that the schemas are compatible with a baseline: what breaks whom, and which side
    /// must deploy first.
    #[command(after_help = "Examples:\n  \
tidings compat --against git:main                   # in CI, against the main branch\n  \
tidings compat --against git:v1.2.0 --mode full     # deployed clients and servers both keep working\n  \
tidings compat --transitive 'git:v*'                # against every release tag\n  \
tidings compat --against old-ir.json --format github\n\n\
Exit codes: 0 compatible, 1 breaking findings, 2 could not run. Rules: docs/compat.md")]
    Compat(compat::Args),
    /// Export the contract to other tools: JSON Schema, AsyncAPI 3.0, or the JSON Schema of the
    /// schema format for editors.
    #[command(after_help = "Examples:\n  \
tidings export jsonschema --out schemas-json/      # one schema per payload type and event\n  \
tidings export asyncapi --out asyncapi.json        # the whole system, AsyncAPI 3.0.0\n  \
tidings export toml-schema --out docs/tidings-schema.json   # editor completion for schemas/*.toml")]
    Export(export::Args),
    /// Write the event catalog: Markdown, and one self-contained HTML page.
    #[command(
        after_help = "Example:\n  tidings docs --out docs/catalog   # catalog.md and catalog.html"
    )]
    Docs(docs::Args),
    /// Run the realtime server from the schemas alone: WebSocket clients, and an HTTP publish
    /// API for backends in any language (the `tidings-serve` executable; docs/serve.md).
    #[command(after_help = "Examples:\n  \
tidings serve schemas/ --config tidings-serve.toml\n  \
tidings serve --help                 # the server's options")]
    #[command(disable_help_flag = true)]
    Serve(serve::Args),
}

/// Paths and output format shared by commands that read schemas.
#[derive(Debug, clap::Args)]
pub struct Input {
    /// Schema files or directories (searched recursively for `*.toml`, and for IR documents
    /// `*.ir.json` holding events derived in Rust).
    #[arg(value_name = "PATHS", default_value = "schemas")]
    pub paths: Vec<PathBuf>,
}

impl Input {
    /// Loads and checks the schemas; with errors, prints them to stderr and gives `None` (the
    /// caller exits 1). Warnings are printed either way.
    ///
    /// # Errors
    /// When a path cannot be read.
    pub(crate) fn load(&self) -> anyhow::Result<Option<crate::Checked>> {
        let (sources, result) = crate::check_paths(&self.paths)?;
        match result {
            Ok(checked) => {
                eprint!("{}", checked.warnings.render(&sources));
                Ok(Some(checked))
            }
            Err(diagnostics) => {
                eprint!("{}", diagnostics.render(&sources));
                Ok(None)
            }
        }
    }
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: file:line:col, the source line, a caret, the hint.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
}

/// Writes to standard output. A reader that went away (`tidings compat … | head -1`) is not
/// an error: the rest is dropped quietly.
///
/// # Errors
/// When standard output cannot be written for another reason.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// [`emit`] with `println!`'s arguments.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::emit(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use outln;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Ir(args) => ir::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Compat(args) => compat::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Docs(args) => docs::run(&args),
        Command::Serve(args) => serve::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}
