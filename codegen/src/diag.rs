//! Diagnostics: what is wrong in a schema, where, and how to fix it.
//!
//! Every diagnostic points at a span of a source file and renders like a compiler message:
//! `file:line:col`, the source line, a caret under the offending text, the message and a hint.
//! [`Diagnostics::to_json`] gives the same for editors and CI.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Serialize;

use crate::source::{FileId, Sources};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something worth knowing that does not stop compilation.
    Warning,
    /// The schema is invalid; nothing is generated.
    Error,
}

/// A place in a source file with a short message about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The file.
    pub file: FileId,
    /// The byte range in the file.
    pub span: Range<usize>,
    /// What this place is (may be empty).
    pub message: String,
}

/// One problem found in the schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// A stable identifier of the kind of problem (`unknown-type`), listed in docs/schema.md.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where it is wrong.
    pub primary: Label,
    /// Other places that explain the problem ("first declared here").
    pub notes: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span` of `file`.
    pub fn error(
        code: &'static str,
        file: FileId,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label {
                file,
                span,
                message: String::new(),
            },
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span` of `file`.
    pub fn warning(
        code: &'static str,
        file: FileId,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, span, message)
        }
    }

    /// Sets the message shown under the caret.
    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    /// Sets the hint.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets the hint when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a note pointing at another place.
    pub fn note(
        mut self,
        file: FileId,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.notes.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }
}

/// The diagnostics of one compilation, in the order files were read and problems found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Orders diagnostics by file, then position (stable for equal positions).
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| (d.primary.file, d.primary.span.start, d.primary.span.end));
    }

    /// Every diagnostic.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many are errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// How many are warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Renders every diagnostic for a terminal, each followed by a blank line.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        for d in &self.items {
            render_one(d, sources, &mut out);
            out.push('\n');
        }
        out
    }

    /// Every diagnostic as a JSON document (see docs/schema.md, "Diagnostics as JSON").
    pub fn to_json(&self, sources: &Sources) -> serde_json::Value {
        let diagnostics: Vec<JsonDiagnostic<'_>> = self
            .items
            .iter()
            .map(|d| JsonDiagnostic::new(d, sources))
            .collect();
        serde_json::json!({
            "errors": self.error_count(),
            "warnings": self.warning_count(),
            "diagnostics": diagnostics,
        })
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, iter: I) {
        self.items.extend(iter);
    }
}

#[derive(Serialize)]
struct JsonLocation<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    label: &'a str,
}

impl<'a> JsonLocation<'a> {
    fn new(label: &'a Label, sources: &'a Sources) -> JsonLocation<'a> {
        let file = sources.file(label.file);
        let (line, column) = file.position(label.span.start);
        let (end_line, end_column) = file.position(label.span.end);
        JsonLocation {
            file: file.name(),
            line,
            column,
            end_line,
            end_column,
            label: &label.message,
        }
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    #[serde(flatten)]
    location: JsonLocation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<JsonLocation<'a>>,
}

impl<'a> JsonDiagnostic<'a> {
    fn new(d: &'a Diagnostic, sources: &'a Sources) -> JsonDiagnostic<'a> {
        JsonDiagnostic {
            severity: d.severity,
            code: d.code,
            message: &d.message,
            location: JsonLocation::new(&d.primary, sources),
            help: d.help.as_deref(),
            notes: d
                .notes
                .iter()
                .map(|n| JsonLocation::new(n, sources))
                .collect(),
        }
    }
}

fn render_one(d: &Diagnostic, sources: &Sources, out: &mut String) {
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{severity}[{}]: {}", d.code, d.message);
    let width = std::iter::once(&d.primary)
        .chain(&d.notes)
        .map(|l| {
            sources
                .file(l.file)
                .position(l.span.start)
                .0
                .to_string()
                .len()
        })
        .max()
        .unwrap_or(1);
    render_snippet(&d.primary, sources, width, "-->", '^', out);
    for note in &d.notes {
        render_snippet(note, sources, width, ":::", '-', out);
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{:width$} = help: {help}", "");
    }
}

fn render_snippet(
    label: &Label,
    sources: &Sources,
    width: usize,
    arrow: &str,
    mark: char,
    out: &mut String,
) {
    let file = sources.file(label.file);
    let (line, column) = file.position(label.span.start);
    let (end_line, end_column) = file.position(label.span.end);
    let text = file.line_text(line);
    let line_chars = text.chars().count() as u32;
    // A span running past its first line is underlined to that line's end.
    let end = if end_line == line {
        end_column
    } else {
        line_chars + 1
    };
    let marks = (end.saturating_sub(column) as usize).max(1);
    let _ = writeln!(out, "{:width$}{arrow} {}:{line}:{column}", "", file.name());
    let _ = writeln!(out, "{:width$} |", "");
    let _ = writeln!(out, "{line:>width$} | {text}");
    let pad: String = text
        .chars()
        .take(column as usize - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let underline: String = std::iter::repeat_n(mark, marks).collect();
    let sep = if label.message.is_empty() { "" } else { " " };
    let _ = writeln!(
        out,
        "{:width$} | {pad}{underline}{sep}{}",
        "", label.message
    );
}
