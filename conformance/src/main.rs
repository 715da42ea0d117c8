//! `tidings-conformance`: runs the protocol conformance scenarios against a client's driver and
//! reports each as passed, failed or skipped. Exit codes: 0 every scenario passed or was
//! skipped, 1 one failed, 2 the kit could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tidings_conformance::{load_dir, play, Outcome};

/// Runs the Tidings protocol conformance scenarios against a client under test.
#[derive(Parser)]
#[command(
    name = "tidings-conformance",
    version,
    after_help = "The driver is a program that runs the client under test: it connects to $TIDINGS_CONFORMANCE_URL with the token $TIDINGS_CONFORMANCE_TOKEN, acts on `conformance:do` events and reports what it saw as `conformance:saw` events (docs/conformance.md).\n\nExit codes: 0 every scenario passed or was skipped, 1 one failed, 2 the kit could not run."
)]
struct Cli {
    /// The command that runs the driver (run with `sh -c`, once per scenario).
    #[arg(long)]
    driver: String,
    /// The optional capabilities the client has: `rooms`, `requests`, `renewal`. Scenarios that
    /// need one the client does not claim are skipped.
    #[arg(long, value_delimiter = ',')]
    claims: Vec<String>,
    /// The directory of scenario files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))]
    scenarios: PathBuf,
    /// Runs only these scenarios (by name; repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Prints the report as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let scenarios = match load_dir(&cli.scenarios) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(unknown) = cli
        .only
        .iter()
        .find(|n| !scenarios.iter().any(|s| &&s.name == n))
    {
        eprintln!(
            "error: no scenario named `{unknown}` in {}",
            cli.scenarios.display()
        );
        return ExitCode::from(2);
    }
    let mut report = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for s in scenarios
        .iter()
        .filter(|s| cli.only.is_empty() || cli.only.contains(&s.name))
    {
        let outcome = match play(s, &cli.driver, &cli.claims).await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot run scenario `{}`: {e}", s.name);
                return ExitCode::from(2);
            }
        };
        match &outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed { .. } => failed += 1,
            Outcome::Skipped(_) => skipped += 1,
        }
        if !cli.json {
            match &outcome {
                Outcome::Passed => println!("PASS  {:32} {}", s.name, s.about),
                Outcome::Skipped(why) => println!("SKIP  {:32} {why}", s.name),
                Outcome::Failed { step, message } => {
                    println!(
                        "FAIL  {:32} {}\n      step {step}: {message}",
                        s.name, s.about
                    )
                }
            }
        }
        report.push(match outcome {
            Outcome::Passed => serde_json::json!({ "name": s.name, "about": s.about, "outcome": "passed" }),
            Outcome::Skipped(why) => serde_json::json!({ "name": s.name, "about": s.about, "outcome": "skipped", "message": why }),
            Outcome::Failed { step, message } => serde_json::json!({ "name": s.name, "about": s.about, "outcome": "failed", "step": step, "message": message }),
        });
    }
    if cli.json {
        let doc = serde_json::json!({ "passed": passed, "failed": failed, "skipped": skipped, "scenarios": report });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
