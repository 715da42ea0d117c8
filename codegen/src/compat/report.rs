//! Reports of findings: for people (with source snippets), JSON, GitHub annotations, JUnit.

use std::fmt::Write as _;

use serde_json::json;

use super::{Finding, Mode, Severity, Side};
use crate::Sources;

/// Output formats of `tidings compat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
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

fn snippet(f: &Finding, sources: &[&Sources], out: &mut String) {
    let Some(loc) = &f.location else { return };
    let _ = writeln!(out, "  --> {loc}");
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

/// Renders findings against `baseline` in `mode`. `sources` (new, and old when available) give
/// the snippets of the human format.
pub fn render(
    findings: &[Finding],
    mode: Mode,
    baseline: &str,
    format: Format,
    sources: &[&Sources],
) -> String {
    let failing = findings.iter().filter(|f| f.fails(mode)).count();
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let mode_name = match mode {
        Mode::Backward => "backward",
        Mode::Forward => "forward",
        Mode::Full => "full",
    };
    let mut out = String::new();
    match format {
        Format::Human => {
            for f in findings {
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
                snippet(f, sources, &mut out);
                if f.severity == Severity::Breaking {
                    let _ = writeln!(out, "  = {}", breaks_text(f));
                }
                out.push('\n');
            }
            let verdict = if failing == 0 {
                "compatible"
            } else {
                "INCOMPATIBLE"
            };
            let warnings = match count(Severity::Warning) {
                1 => "1 warning".to_owned(),
                n => format!("{n} warnings"),
            };
            let _ = writeln!(
                out,
                "{verdict} with {baseline} ({mode_name} mode): {} breaking, {warnings}, {} info; {failing} failing",
                count(Severity::Breaking),
                count(Severity::Info)
            );
        }
        Format::Json => {
            let items: Vec<_> = findings
                .iter()
                .map(|f| {
                    json!({
                        "rule": f.rule,
                        "severity": f.severity,
                        "fails": f.fails(mode),
                        "breaks": { "clients": f.breaks.clients, "servers": f.breaks.servers },
                        "deploy_first": side(f.deploy_first),
                        "subject": f.subject,
                        "event": f.event,
                        "field": f.field,
                        "message": f.message,
                        "location": f.location,
                    })
                })
                .collect();
            let doc = json!({
                "baseline": baseline,
                "mode": mode_name,
                "compatible": failing == 0,
                "counts": { "breaking": count(Severity::Breaking), "warning": count(Severity::Warning), "info": count(Severity::Info), "failing": failing },
                "findings": items,
            });
            out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
        }
        Format::Github => {
            for f in findings {
                let level = match (f.fails(mode), f.severity) {
                    (true, _) => "error",
                    (false, Severity::Info) => "notice",
                    (false, _) => "warning",
                };
                let mut props = Vec::new();
                if let Some(loc) = &f.location {
                    props.push(format!(
                        "file={},line={},col={}",
                        loc.file, loc.line, loc.column
                    ));
                }
                props.push(format!("title=tidings compat: {}", f.rule));
                let mut message = format!("{}: {}", f.subject, f.message);
                if f.severity == Severity::Breaking {
                    message.push_str(&format!(" ({})", breaks_text(f)));
                }
                // Workflow commands escape %, CR and LF in the message.
                let message = message
                    .replace('%', "%25")
                    .replace('\r', "%0D")
                    .replace('\n', "%0A");
                let _ = writeln!(out, "::{level} {}::{message}", props.join(","));
            }
        }
        Format::Junit => {
            let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
            let _ = writeln!(
                out,
                r#"<testsuites name="tidings compat" tests="{}" failures="{failing}">"#,
                findings.len()
            );
            let _ = writeln!(
                out,
                r#"  <testsuite name="against {}" tests="{}" failures="{failing}">"#,
                xml(baseline),
                findings.len()
            );
            for f in findings {
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
            let _ = writeln!(out, "</testsuites>");
        }
    }
    out
}
