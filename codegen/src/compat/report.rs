//! Reports of findings: for people (with source snippets), JSON, GitHub annotations, JUnit.

use std::fmt::Write as _;

use serde_json::json;

use tidings::schema::Location;

use super::{Finding, Impact, Mode, Side, Verdict};
use crate::Sources;

/// Output formats of `tidings compat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportFormat {
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

/// One comparison: the baseline and what was found against it.
#[derive(Debug, Clone)]
pub struct Run {
    /// The baseline's label (`git:v1.2.0`, a directory, an IR file).
    pub baseline: String,
    /// The findings, after the config.
    pub findings: Vec<Finding>,
}

fn breaks_text(f: &Finding) -> String {
    match (f.breaks.clients, f.breaks.servers) {
        (true, true) => "breaks deployed clients and servers: no deploy order is safe; add a new event (or type) and deprecate the old one".to_owned(),
        (true, false) => "breaks deployed clients; deploy clients first".to_owned(),
        (false, true) => "breaks deployed servers; deploy servers first".to_owned(),
        (false, false) => "breaks nothing deployed".to_owned(),
    }
}

fn side(s: Option<Side>) -> Option<&'static str> {
    s.map(|s| match s {
        Side::Clients => "clients",
        Side::Servers => "servers",
    })
}

fn snippet(loc: &Location, arrow: &str, sources: &[&Sources], out: &mut String) {
    let _ = writeln!(out, "  {arrow} {loc}");
    let file = sources
        .iter()
        .flat_map(|s| s.iter())
        .find(|(_, file)| file.name() == loc.file);
    if let Some((_, file)) = file {
        let text = file.line_text(loc.line);
        let width = loc.line.to_string().len();
        let _ = writeln!(out, "  {:width$} |", "");
        let _ = writeln!(out, "  {} | {text}", loc.line);
        let pad: String = text
            .chars()
            .take(loc.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "  {:width$} | {pad}^", "");
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Backward => "backward",
        Mode::Forward => "forward",
        Mode::Full => "full",
    }
}

/// Counts of one run: (breaking, warning, info, failing).
fn counts(findings: &[Finding], mode: Mode) -> (usize, usize, usize, usize) {
    let count = |s: Impact| findings.iter().filter(|f| f.severity == s).count();
    (
        count(Impact::Breaking),
        count(Impact::Warning),
        count(Impact::Info),
        findings.iter().filter(|f| f.fails(mode)).count(),
    )
}

/// Renders every run as one document in `format`, in `mode`. `sources` (new, and old when
/// available) give the snippets of the human format.
pub fn render(runs: &[Run], mode: Mode, format: ReportFormat, sources: &[&Sources]) -> String {
    let mut out = String::new();
    let all: Vec<Finding> = runs
        .iter()
        .flat_map(|r| r.findings.iter().cloned())
        .collect();
    let overall = Verdict::of(&all);
    let failing_total = all.iter().filter(|f| f.fails(mode)).count();
    match format {
        ReportFormat::Human => {
            for run in runs {
                for f in &run.findings {
                    let field = f
                        .field
                        .as_ref()
                        .map(|p| format!(" › {p}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{}[{}] {}{field}: {}",
                        f.severity.as_str(),
                        f.rule,
                        f.subject,
                        f.message
                    );
                    match (&f.location, &f.was) {
                        (Some(loc), Some(was)) if loc != was => {
                            snippet(loc, "-->", sources, &mut out);
                            snippet(was, "was", sources, &mut out);
                        }
                        (Some(loc), _) => snippet(loc, "-->", sources, &mut out),
                        (None, Some(was)) => snippet(was, "was", sources, &mut out),
                        (None, None) => {}
                    }
                    if f.events.len() > 1 || f.subject.contains('.') && !f.events.is_empty() {
                        let events: Vec<&str> = f.events.keys().map(String::as_str).collect();
                        let _ = writeln!(out, "  = travels in: {}", events.join(", "));
                    }
                    if f.severity == Impact::Breaking {
                        let _ = writeln!(out, "  = {}", breaks_text(f));
                    }
                    out.push('\n');
                }
                let (breaking, warnings, info, failing) = counts(&run.findings, mode);
                let verdict = if failing == 0 {
                    "compatible"
                } else {
                    "INCOMPATIBLE"
                };
                let warnings = match warnings {
                    1 => "1 warning".to_owned(),
                    n => format!("{n} warnings"),
                };
                let _ = writeln!(
                    out,
                    "{verdict} with {} ({} mode): {breaking} breaking, {warnings}, {info} info; {failing} failing",
                    run.baseline,
                    mode_name(mode),
                );
                let v = Verdict::of(&run.findings);
                let _ = writeln!(out, "verdict: {} — {}", v.order_text(), v.reason);
                if runs.len() > 1 {
                    out.push('\n');
                }
            }
            if runs.len() > 1 {
                let _ = writeln!(
                    out,
                    "overall, against {} baselines: {} — {}",
                    runs.len(),
                    overall.order_text(),
                    overall.reason
                );
            }
        }
        ReportFormat::Json => {
            let baselines: Vec<_> = runs
                .iter()
                .map(|run| {
                    let (breaking, warning, info, failing) = counts(&run.findings, mode);
                    let items: Vec<_> = run
                        .findings
                        .iter()
                        .map(|f| {
                            json!({
                                "rule": f.rule,
                                "severity": f.severity,
                                "fails": f.fails(mode),
                                "breaks": { "clients": f.breaks.clients, "servers": f.breaks.servers },
                                "deploy_first": side(f.deploy_first),
                                "subject": f.subject,
                                "event": f.event(),
                                "events": f.events.keys().collect::<Vec<_>>(),
                                "field": f.field,
                                "message": f.message,
                                "location": f.location,
                                "was": f.was,
                            })
                        })
                        .collect();
                    json!({
                        "baseline": run.baseline,
                        "compatible": failing == 0,
                        "verdict": Verdict::of(&run.findings),
                        "counts": { "breaking": breaking, "warning": warning, "info": info, "failing": failing },
                        "findings": items,
                    })
                })
                .collect();
            let doc = json!({
                "mode": mode_name(mode),
                "compatible": failing_total == 0,
                "verdict": overall,
                "baselines": baselines,
            });
            out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
        }
        ReportFormat::Github => {
            for run in runs {
                for f in &run.findings {
                    let level = match (f.fails(mode), f.severity) {
                        (true, _) => "error",
                        (false, Impact::Info) => "notice",
                        (false, _) => "warning",
                    };
                    let mut props = Vec::new();
                    // Only a file of the checkout: a baseline's file (`main:schemas/x.toml`)
                    // is nowhere in the pull request's diff.
                    if let Some(loc) = &f.location {
                        props.push(format!(
                            "file={},line={},col={}",
                            escape_property(&loc.file),
                            loc.line,
                            loc.column
                        ));
                    }
                    props.push(format!(
                        "title={}",
                        escape_property(&format!("tidings compat: {}", f.rule))
                    ));
                    let mut message = format!("{}: {}", f.subject, f.message);
                    if f.severity == Impact::Breaking {
                        message.push_str(&format!(" ({})", breaks_text(f)));
                    }
                    if runs.len() > 1 {
                        message.push_str(&format!(" [against {}]", run.baseline));
                    }
                    let _ = writeln!(out, "::{level} {}::{}", props.join(","), escape(&message));
                }
            }
            let level = if failing_total == 0 {
                "notice"
            } else {
                "error"
            };
            let _ = writeln!(
                out,
                "::{level} title={}::{}",
                escape_property("tidings compat: verdict"),
                escape(&format!("{} — {}", overall.order_text(), overall.reason))
            );
        }
        ReportFormat::Junit => {
            let total: usize = runs.iter().map(|r| r.findings.len()).sum();
            let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
            let _ = writeln!(
                out,
                r#"<testsuites name="tidings compat" tests="{}" failures="{}">"#,
                total + 1,
                failing_total + usize::from(failing_total > 0)
            );
            for run in runs {
                let failing = run.findings.iter().filter(|f| f.fails(mode)).count();
                let v = Verdict::of(&run.findings);
                let _ = writeln!(
                    out,
                    r#"  <testsuite name="against {}" tests="{}" failures="{failing}">"#,
                    xml(&run.baseline),
                    run.findings.len()
                );
                verdict_properties(&v, &mut out);
                for f in &run.findings {
                    let name = format!(
                        "{}{}",
                        f.rule,
                        f.field
                            .as_ref()
                            .map(|p| format!(" {p}"))
                            .unwrap_or_default()
                    );
                    let _ = write!(
                        out,
                        r#"    <testcase classname="{}" name="{}""#,
                        xml(&f.subject),
                        xml(&name)
                    );
                    if f.fails(mode) {
                        let _ = writeln!(out, ">");
                        let where_ = f
                            .location
                            .as_ref()
                            .map(|l| format!(" at {l}"))
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            r#"      <failure message="{}" type="{}">{}{}</failure>"#,
                            xml(&f.message),
                            f.rule,
                            xml(&breaks_text(f)),
                            xml(&where_)
                        );
                        let _ = writeln!(out, "    </testcase>");
                    } else {
                        let _ = writeln!(out, "/>");
                    }
                }
                let _ = writeln!(out, "  </testsuite>");
            }
            // The run's verdict, against every baseline at once: one case that fails when the
            // run does.
            let _ = writeln!(
                out,
                r#"  <testsuite name="verdict" tests="1" failures="{}">"#,
                usize::from(failing_total > 0)
            );
            verdict_properties(&overall, &mut out);
            if failing_total > 0 {
                let _ = writeln!(
                    out,
                    r#"    <testcase classname="verdict" name="{}">"#,
                    xml(overall.order_text())
                );
                let _ = writeln!(
                    out,
                    r#"      <failure message="{}" type="verdict"/>"#,
                    xml(&overall.reason)
                );
                let _ = writeln!(out, "    </testcase>");
            } else {
                let _ = writeln!(
                    out,
                    r#"    <testcase classname="verdict" name="{}"/>"#,
                    xml(overall.order_text())
                );
            }
            let _ = writeln!(out, "  </testsuite>");
            let _ = writeln!(out, "</testsuites>");
        }
    }
    out
}

/// A verdict as the properties of a JUnit test suite.
fn verdict_properties(v: &Verdict, out: &mut String) {
    let _ = writeln!(out, "    <properties>");
    let _ = writeln!(
        out,
        r#"      <property name="verdict" value="{}"/>"#,
        xml(v.order_text())
    );
    let _ = writeln!(
        out,
        r#"      <property name="reason" value="{}"/>"#,
        xml(&v.reason)
    );
    let _ = writeln!(out, "    </properties>");
}

/// Workflow command properties (`file=…`) escape also `:` and `,`, which end them.
fn escape_property(value: &str) -> String {
    escape(value).replace(':', "%3A").replace(',', "%2C")
}

/// Workflow commands escape %, CR and LF in the message.
fn escape(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
