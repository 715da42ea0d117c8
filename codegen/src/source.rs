//! Schema source files: loading them from disk or memory, and mapping byte offsets to
//! line and column.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// The index of a file in a [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub(crate) usize);

/// One schema source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// The file's name as given (a path relative to where the compiler was pointed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The 0-based line index and the byte offset of that line's start, for a byte offset.
    fn line_of(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line, self.line_starts[line])
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let (line, start) = self.line_of(offset);
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let column = self.text[start..offset].chars().count() + 1;
        (to_u32(line + 1), to_u32(column))
    }

    /// The text of the 1-based line `line`, without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let index = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(index) else {
            return "";
        };
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |&e| e.saturating_sub(1));
        self.text[start..end].trim_end_matches('\r')
    }

    /// The text covered by a span, clamped to the file.
    pub fn slice(&self, span: &Range<usize>) -> &str {
        let end = floor_char_boundary(&self.text, span.end.min(self.text.len()));
        let start = floor_char_boundary(&self.text, span.start.min(end));
        &self.text[start..end]
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The set of schema files one compilation reads.
///
/// ```
/// let mut sources = tidings_codegen::Sources::new();
/// sources.add("ticket.toml", "module = \"ticket\"\n");
/// let checked = tidings_codegen::check(&sources).expect("valid schema");
/// assert_eq!(checked.schema.modules[0].name, "ticket");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// The real paths of the files read from disk: a file reached twice (`./x` and `x`, or a
    /// file and its directory) is read once.
    real_paths: std::collections::HashSet<PathBuf>,
    /// Files whose bytes are not UTF-8: the file and the offset of the first bad byte.
    not_utf8: Vec<(FileId, usize)>,
    /// What was passed over while reading directories (symbolic link loops), for a warning.
    skipped: Vec<SkippedLink>,
}

/// A symbolic link not followed while reading a directory: one that leads back to a directory
/// being read (`loop -> .`; a `symlink-loop` warning, once per directory looped back to), or
/// a `*.toml` link that leads nowhere (an editor's lock file `.#ticket.toml`; a
/// `dangling-link` warning). The other files are read all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLink {
    /// The path of the link, as reached (`schemas/loop`).
    pub link: PathBuf,
    /// The real path of the directory it leads back to; `None` for a link that leads nowhere.
    pub target: Option<PathBuf>,
}

impl SkippedLink {
    /// The warning's code.
    pub fn code(&self) -> crate::diag::Code {
        match self.target {
            Some(_) => crate::diag::Code::SymlinkLoop,
            None => crate::diag::Code::DanglingLink,
        }
    }

    /// The warning, in one sentence.
    pub fn message(&self) -> String {
        match &self.target {
            Some(target) => format!(
                "the symbolic link `{}` leads back to `{}`, which is being read: not followed",
                self.link.display(),
                target.display()
            ),
            None => format!(
                "the symbolic link `{}` leads to no file: not read",
                self.link.display()
            ),
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self.target {
            Some(_) => "each file below it is read once, from where it is",
            None => {
                "remove it, or point it at a schema file (editors leave such links as lock files)"
            }
        }
    }
}

impl Sources {
    /// An empty set.
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Adds a file from memory.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name.into(), text.into()));
        FileId(self.files.len() - 1)
    }

    /// Adds a schema file, or every `*.toml` file below a directory (recursively, in sorted order).
    ///
    /// # Errors
    /// When the path does not exist, cannot be read, or is a directory without schema files.
    pub fn add_path(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::NotFound {
                    path: path.to_owned(),
                }
            } else {
                ErrorKind::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            let mut ancestors = Vec::new();
            collect_schema_files(path, &mut found, &mut ancestors, &mut self.skipped)?;
            if found.is_empty() {
                return Err(ErrorKind::NoSchemas {
                    path: path.to_owned(),
                }
                .into());
            }
            found.sort();
            for file in found {
                self.add_file(&file)?;
            }
            Ok(())
        } else {
            self.add_file(path)
        }
    }

    fn add_file(&mut self, path: &Path) -> Result<(), Error> {
        let io = |source| ErrorKind::Io {
            path: path.to_owned(),
            source,
        };
        if !self.real_paths.insert(fs::canonicalize(path).map_err(io)?) {
            return Ok(());
        }
        let mut bytes = fs::read(path).map_err(io)?;
        // A byte order mark is not part of the text (columns on line 1 count from after it).
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.add(path.display().to_string(), text);
            }
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = self.add(path.display().to_string(), text);
                self.not_utf8.push((id, at));
            }
        }
        Ok(())
    }

    /// Files whose bytes are not UTF-8, each with the byte offset of the first bad byte (in its
    /// text, where the bad bytes read as U+FFFD). `check` reports them (`invalid-encoding`) and
    /// checks every other file.
    pub fn not_utf8(&self) -> &[(FileId, usize)] {
        &self.not_utf8
    }

    /// What was passed over while reading directories (a symbolic link leading back to a
    /// directory being read), one sentence each, for the caller to show as warnings.
    pub fn skipped(&self) -> &[SkippedLink] {
        &self.skipped
    }

    /// The file with this id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    /// Every file with its id, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    /// How many files the set holds.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the set holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The names of every file, for `cargo:rerun-if-changed` and the like.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().map(|f| PathBuf::from(&f.name))
    }
}

/// Directories a directory search does not enter: build output and dependencies (hidden
/// directories, `.git` and `.cargo` among them, are not entered either). `tidings check .` in a
/// project's root reads its schemas, not its dependencies' files.
const NOT_SCHEMA_DIRS: &[&str] = &["target", "node_modules"];

/// TOML files of other tools a project holds, which a directory search passes over (given by
/// name, a file is read whatever it is called).
const NOT_SCHEMA_FILES: &[&str] = &[
    "Cargo.toml",
    "tidings.toml",
    "tidings-compat.toml",
    "rust-toolchain.toml",
    "rustfmt.toml",
    "clippy.toml",
    "deny.toml",
    "Cross.toml",
    "pyproject.toml",
];

/// Every schema file below `dir` — `*.toml`, and IR documents `*.ir.json` (see
/// [`crate::ir_input`]). `ancestors` holds the real paths of the directories being read:
/// a directory reached again through a symbolic link (`loop -> .`) is not read again, and said
/// once in `skipped`.
fn collect_schema_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    ancestors: &mut Vec<PathBuf>,
    skipped: &mut Vec<SkippedLink>,
) -> Result<(), Error> {
    let io = |source| ErrorKind::Io {
        path: dir.to_owned(),
        source,
    };
    let real = fs::canonicalize(dir).map_err(io)?;
    if let Some(first) = ancestors.iter().find(|a| **a == real) {
        // Said once per directory looped back to, however many links lead there.
        if !skipped.iter().any(|s| s.target.as_ref() == Some(first)) {
            skipped.push(SkippedLink {
                link: dir.to_owned(),
                target: Some(first.clone()),
            });
        }
        return Ok(());
    }
    ancestors.push(real);
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !NOT_SCHEMA_DIRS.contains(&name) && !name.starts_with('.') {
                collect_schema_files(&path, out, ancestors, skipped)?;
            }
        } else if NOT_SCHEMA_FILES.contains(&name) {
            continue;
        } else if path.extension().is_some_and(|e| e == "toml")
            || path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(crate::ir_input::is_ir_dir_file)
        {
            // A link to nothing (or to a link loop) is passed over, said once.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
                && fs::metadata(&path).is_err()
            {
                skipped.push(SkippedLink {
                    link: path,
                    target: None,
                });
                continue;
            }
            out.push(path);
        }
    }
    ancestors.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines() {
        let file = SourceFile::new("a.toml".into(), "ab\nçé = 1\r\nlast".into());
        assert_eq!(file.position(0), (1, 1));
        assert_eq!(file.position(3), (2, 1));
        // `=` sits after two 2-byte characters and a space.
        assert_eq!(file.position(8), (2, 4));
        assert_eq!(file.line_text(2), "çé = 1");
        assert_eq!(file.line_text(3), "last");
        assert_eq!(file.position(999), (3, 5));
    }
}
