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

/// Declares the diagnostic codes: one variant each, with its stable id and what it means.
macro_rules! codes {
    ($($variant:ident = $id:literal: $doc:literal,)*) => {
        /// The kind of a problem, with a stable id (`unknown-type`) that editors and CI may
        /// match on. Every code is documented here and in docs/schema.md, and has a golden case
        /// in `codegen/tests/diagnostics/` (both held by tests).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// Every code, in the order of docs/schema.md's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable id (`unknown-type`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $id,)*
                }
            }

            /// What the code means, as documented.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $doc,)*
                }
            }
        }
    };
}

codes! {
    Syntax = "syntax": "The file is not valid TOML.",
    InvalidEncoding = "invalid-encoding": "The file is not UTF-8 text; reported at the first byte that is not (every other file is still checked).",
    DuplicateKey = "duplicate-key": "A key or a table (`[events.created]`) is declared twice.",
    UnknownKey = "unknown-key": "A key the schema language does not have (a \"did you mean\" hint is given).",
    MissingKey = "missing-key": "A required key is missing (`module`, a field's `type`, an enum's `values`, a union's `variants`).",
    InvalidValue = "invalid-value": "A value of the wrong TOML type, or an unknown `kind`, `direction` or `delivery`, an empty enum, union or recipients table, or an invalid `version`.",
    InvalidName = "invalid-name": "A module, type, field, event, enum value, variant, role or wire name that is not well formed.",
    ReservedName = "reserved-name": "A name that generated Rust or TypeScript cannot use, a module named after a file of the generated output (`index`, `runtime`, `react`, `vue`, `publisher`), `__proto__` as a field or tag, or an optional field named like a member of `Object.prototype`.",
    NameClash = "name-clash": "Two names that collide in generated code (by case, or snake/Pascal casing, or a type named like another's `…Input` shape), or a union tag colliding with a variant's field.",
    EndlessType = "endless-type": "A type whose required fields lead back to itself: no finite value exists.",
    DuplicateModule = "duplicate-module": "Two files declare the same module.",
    DuplicateWireName = "duplicate-wire-name": "Two events use the same wire name.",
    UnknownImport = "unknown-import": "An import names no module among the files given.",
    InvalidImport = "invalid-import": "A module imports itself.",
    DuplicateImport = "duplicate-import": "A module is imported twice.",
    ImportCycle = "import-cycle": "Modules import each other in a cycle; reported at the import that closes it.",
    UnknownType = "unknown-type": "A type that is neither built in nor declared (with a hint, including \"it lives in module X\").",
    MissingImport = "missing-import": "`module.Type` used without importing `module`.",
    InvalidType = "invalid-type": "A malformed type expression, lists and maps nested deeper than 32 levels, or a union variant carrying a non-struct.",
    MisplacedKey = "misplaced-key": "A key that does not apply here: `values` on a struct, `reply` on an event clients never send, `recipients` or `delivery` on an event the server never sends.",
    ConflictingKeys = "conflicting-keys": "`tenant` together with `platform = true`.",
    InvalidConstraint = "invalid-constraint": "`min > max`, a bound outside the type's range (or not finite), a bound of an `f32` field that no `f32` holds, a length bound on a number or a number bound on a string, a negative length.",
    InvalidDefault = "invalid-default": "A default that is not a valid value of the field's type, or violates its constraints.",
    UnknownField = "unknown-field": "A field path naming a field that does not exist, or stepping into a non-struct.",
    RecipientType = "recipient-type": "A recipient or tenant field of the wrong type (a list for `user`, a single id for `users`, an optional tenant …).",
    RoomTemplate = "room-template": "A malformed room template, or a placeholder naming a field that cannot be part of a room name.",
    InvalidPresence = "invalid-presence": "A presence event (`presence = \"joined\"`) the hub cannot announce: not `to_client`, recipients other than one room in a scope, a room placeholder it cannot read back from a room name, no required `user_id` (`string` or `uuid`), or a required field it cannot fill.",
    MissingScope = "missing-scope": "A role, room or everyone rule on an event with neither `tenant` nor `platform = true`.",
    RedundantOptional = "redundant-optional": "`json?`.",
    FixedRoom = "fixed-room": "A room template with no placeholder: every emit goes to one room.",
    NoOp = "no-op": "`everyone = false`.",
    DanglingLink = "dangling-link": "A `*.toml` symbolic link that leads to no file (an editor's lock file `.#x.toml`): not read; the other files are.",
    SymlinkLoop = "symlink-loop": "A symbolic link leading back to a directory being read (`loop -> .`): not followed, so every file is read once; said once per directory.",
    InexactInJavascript = "inexact-in-javascript": "A bound or default a JavaScript number cannot hold exactly (an integer beyond ±2^53 − 1): Rust and the JSON Schema use it exactly, the TypeScript side the nearest number.",
    InvalidIr = "invalid-ir": "A `.json` schema file that is not a Tidings IR document of this version (what `tidings ir` or an export binary's `--ir` writes, for events derived in Rust); schemas are otherwise TOML.",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
    /// The kind of problem, with its stable id (`unknown-type`); see [`Code`].
    pub code: Code,
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
        code: Code,
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
        code: Code,
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

    /// Renders every diagnostic for a terminal, each followed by a blank line; first the
    /// `symlink-loop` warnings of reading the paths ([`Sources::skipped`]).
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        for link in sources.skipped() {
            let _ = writeln!(
                out,
                "warning[{}]: {}\n --> {}\n  = help: {}\n",
                link.code(),
                link.message(),
                link.link.display(),
                link.help()
            );
        }
        for d in &self.items {
            render_one(d, sources, &mut out);
            out.push('\n');
        }
        // Control characters of the schemas (a NUL or an ESC in a key) are shown, not sent to
        // the terminal: one replacement character each, so columns stay aligned.
        if out
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            out = out
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
        }
        out
    }

    /// Every diagnostic as a JSON document (see docs/schema.md, "Diagnostics as JSON"); first
    /// the `symlink-loop` warnings of reading the paths, which name a `file` but no line.
    pub fn to_json(&self, sources: &Sources) -> serde_json::Value {
        let mut diagnostics: Vec<serde_json::Value> = sources
            .skipped()
            .iter()
            .map(|link| {
                serde_json::json!({
                    "severity": Severity::Warning,
                    "code": link.code().as_str(),
                    "message": link.message(),
                    "file": link.link.display().to_string(),
                })
            })
            .collect();
        for d in &self.items {
            diagnostics
                .push(serde_json::to_value(JsonDiagnostic::new(d, sources)).unwrap_or_default());
        }
        serde_json::json!({
            "errors": self.error_count(),
            "warnings": self.warning_count() + sources.skipped().len(),
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
            code: d.code.as_str(),
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

/// How many characters of a source line a snippet shows at most.
const SHOWN_LINE: usize = 120;

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
    // A long line is shown as a window around the mark, `…` where it is cut.
    let chars: Vec<char> = text.chars().collect();
    let mark_at = column as usize - 1;
    let (from, to) = if chars.len() <= SHOWN_LINE {
        (0, chars.len())
    } else {
        let from = mark_at
            .saturating_sub(SHOWN_LINE / 3)
            .min(chars.len() - SHOWN_LINE);
        (from, from + SHOWN_LINE)
    };
    let cut_before = if from > 0 { "…" } else { "" };
    let cut_after = if to < chars.len() { "…" } else { "" };
    let shown: String = chars[from..to].iter().collect();
    let _ = writeln!(out, "{line:>width$} | {cut_before}{shown}{cut_after}");
    let pad: String = cut_before
        .chars()
        .map(|_| ' ')
        .chain(
            chars[from..mark_at.clamp(from, to)]
                .iter()
                .map(|&c| if c == '\t' { '\t' } else { ' ' }),
        )
        .collect();
    let marks = marks.min((to - mark_at.min(to)).max(1));
    let underline: String = std::iter::repeat_n(mark, marks).collect();
    let sep = if label.message.is_empty() { "" } else { " " };
    let _ = writeln!(
        out,
        "{:width$} | {pad}{underline}{sep}{}",
        "", label.message
    );
}
