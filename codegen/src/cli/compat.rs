//! `tidings compat`: is the current schema compatible with a baseline?

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{Input, EXIT_FINDINGS, EXIT_OK};
use crate::compat::{self, Baseline, Config, Mode, ReportFormat, Run};

/// Arguments of `tidings compat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    /// The baseline: `git:<ref>` (a branch, tag or commit of this repository), a directory of
    /// schemas, or an IR JSON file.
    #[arg(long, value_name = "BASELINE")]
    against: Option<String>,
    /// Check against every tag matching this glob, e.g. `git:v*`.
    #[arg(long, value_name = "git:GLOB", conflicts_with = "against")]
    transitive: Option<String>,
    /// Which breaks fail: `backward` (deployed clients keep working; the default), `forward`
    /// (deployed servers keep working), `full` (both).
    #[arg(long, value_enum, default_value_t)]
    mode: ModeArg,
    /// A config file grading or ignoring rules (default: `tidings-compat.toml` when present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: FormatArg,
}

/// `--mode`: which breaks fail (the library's [`Mode`]).
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
enum ModeArg {
    /// Deployed clients must keep working with the new server (servers deploy first).
    #[default]
    Backward,
    /// Deployed servers must keep working with new clients (clients deploy first).
    Forward,
    /// Both.
    Full,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Backward => Mode::Backward,
            ModeArg::Forward => Mode::Forward,
            ModeArg::Full => Mode::Full,
        }
    }
}

/// `--format`: the report's form (the library's [`ReportFormat`]).
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
enum FormatArg {
    /// For people: each finding with its location, source line, who it breaks and what to do.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// GitHub Actions workflow commands (`::error file=…`), which annotate the pull request.
    Github,
    /// JUnit XML: one test case per finding; breaking findings fail.
    Junit,
}

impl From<FormatArg> for ReportFormat {
    fn from(f: FormatArg) -> ReportFormat {
        match f {
            FormatArg::Human => ReportFormat::Human,
            FormatArg::Json => ReportFormat::Json,
            FormatArg::Github => ReportFormat::Github,
            FormatArg::Junit => ReportFormat::Junit,
        }
    }
}

/// Compares; exit 1 when a finding fails in the chosen mode.
pub(super) fn run(args: &Args) -> Result<u8> {
    let baselines: Vec<Baseline> = match (&args.against, &args.transitive) {
        (Some(a), _) => vec![Baseline::parse(a)],
        (None, Some(t)) => {
            let Some(glob) = t.strip_prefix("git:") else {
                bail!("--transitive takes `git:<glob>`, such as `git:v*`");
            };
            let tags = compat::baseline_tags(glob).map_err(anyhow::Error::msg)?;
            if tags.is_empty() {
                bail!("no tag matches `{glob}`");
            }
            tags.into_iter().map(Baseline::Git).collect()
        }
        (None, None) => bail!("give a baseline: `--against git:main`, a directory, or an IR file"),
    };
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None if PathBuf::from("tidings-compat.toml").exists() => {
            Config::load(&PathBuf::from("tidings-compat.toml"))?
        }
        None => Config::default(),
    };
    let (sources, result) = crate::check_paths(&args.input.paths)?;
    let checked = match result {
        Ok(c) => c,
        Err(d) => {
            eprint!("{}", d.render(&sources));
            bail!("the current schemas have errors; fix them before checking compatibility");
        }
    };
    let mut runs = Vec::new();
    let mut old_sources_all = Vec::new();
    let mut known: Vec<String> = checked
        .schema
        .events()
        .map(|(_, e)| e.name.clone())
        .collect();
    let transitive = args.transitive.is_some();
    for baseline in &baselines {
        let Some((old, old_sources)) =
            compat::load_baseline(baseline, &args.input.paths).map_err(anyhow::Error::msg)?
        else {
            let paths: Vec<String> = args
                .input
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            // A release from before the schemas existed has nothing to break.
            if transitive {
                eprintln!(
                    "note: {} has no schema files under {}: nothing to compare against",
                    baseline.label(),
                    paths.join(", ")
                );
                continue;
            }
            bail!(
                "no schema files under {} at {}",
                paths.join(", "),
                baseline.label()
            );
        };
        known.extend(old.events().map(|(_, e)| e.name.clone()));
        runs.push((baseline.label(), compat::compare(&old, &checked.schema)));
        old_sources_all.extend(old_sources);
    }
    config.check_events(known.iter().map(String::as_str))?;
    let runs: Vec<Run> = runs
        .into_iter()
        .map(|(baseline, findings)| Run {
            baseline,
            findings: config.apply(findings),
        })
        .collect();
    let failing = runs
        .iter()
        .any(|r| r.findings.iter().any(|f| f.fails(args.mode.into())));
    // GitHub names files from the repository's top level: locations are given so.
    let runs: Vec<Run> = match (ReportFormat::from(args.format), compat::repository_place()) {
        (ReportFormat::Github, Some(place)) => runs
            .into_iter()
            .map(|mut run| {
                for f in &mut run.findings {
                    if let Some(loc) = &mut f.location {
                        loc.file = compat::from_repository_root(&loc.file, &place);
                    }
                }
                run
            })
            .collect(),
        _ => runs,
    };
    let mut all_sources = vec![&sources];
    all_sources.extend(old_sources_all.iter());
    super::emit(&compat::render(
        &runs,
        args.mode.into(),
        args.format.into(),
        &all_sources,
    ))?;
    Ok(if failing { EXIT_FINDINGS } else { EXIT_OK })
}
