//! Baselines to compare against: a git ref of the current repository, a directory, or an IR
//! JSON file.

use std::path::{Path, PathBuf};
use std::process::Command;

use tidings::schema::Schema;

use crate::Sources;

/// Where the old version of the schemas comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// `git:<ref>`: the schema files at a ref of the repository the command runs in.
    Git(String),
    /// A directory (or file) of schemas.
    Dir(PathBuf),
    /// An IR JSON file, as `tidings ir` prints it.
    Ir(PathBuf),
}

impl Baseline {
    /// Parses `--against`: `git:main`, `ir.json`, or a path.
    pub fn parse(s: &str) -> Baseline {
        if let Some(rev) = s.strip_prefix("git:") {
            Baseline::Git(rev.to_owned())
        } else if Path::new(s).extension().is_some_and(|e| e == "json") {
            Baseline::Ir(PathBuf::from(s))
        } else {
            Baseline::Dir(PathBuf::from(s))
        }
    }

    /// A name for reports.
    pub fn label(&self) -> String {
        match self {
            Baseline::Git(rev) => format!("git:{rev}"),
            Baseline::Dir(p) | Baseline::Ir(p) => p.display().to_string(),
        }
    }
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where the current directory is in its git repository: the top level's absolute path and the
/// prefix from it (`schemas/`); `None` outside a repository.
pub fn repository_place() -> Option<(PathBuf, String)> {
    let top = git(&["rev-parse", "--show-toplevel"]).ok()?;
    let prefix = git(&["rev-parse", "--show-prefix"]).ok()?;
    Some((PathBuf::from(top.trim()), prefix.trim().to_owned()))
}

/// `file` (as given on the command line, relative to the current directory or absolute) as a
/// path from the repository's top level (`schemas/ticket.toml`), which is how GitHub names the
/// files of a pull request; unchanged when it lies outside.
pub fn from_repository_root(file: &str, place: &(PathBuf, String)) -> String {
    let (top, prefix) = place;
    let path = Path::new(file);
    let joined = if path.is_absolute() {
        match path.strip_prefix(top) {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => return file.to_owned(),
        }
    } else {
        Path::new(prefix).join(path)
    };
    let mut parts: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if parts.pop().is_none() {
                    return file.to_owned();
                }
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// Tags matching a glob (`v*`), oldest version first.
/// # Errors
/// When git cannot run.
pub fn tags(pattern: &str) -> Result<Vec<String>, String> {
    git(&["rev-parse", "--git-dir"]).map_err(|_| {
        format!(
            "`--transitive git:{pattern}` needs a git repository, and the current directory is not in one"
        )
    })?;
    Ok(git(&["tag", "--list", "--sort=version:refname", pattern])?
        .lines()
        .map(str::to_owned)
        .filter(|t| !t.is_empty())
        .collect())
}

/// Loads the baseline's schema. With it come its sources (to show snippets of removed items),
/// except for IR files. `None` for a git ref that has no schema files under the paths (a tag
/// from before the project had any).
///
/// # Errors
/// A message saying what could not be read, or that the baseline's schemas have errors.
pub fn load_baseline(
    baseline: &Baseline,
    paths: &[PathBuf],
) -> Result<Option<(Schema, Option<Sources>)>, String> {
    let mut sources = Sources::new();
    match baseline {
        Baseline::Ir(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let schema: Schema = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a Tidings IR file: {e}", file.display()))?;
            if schema.ir_version != tidings::schema::IR_VERSION {
                return Err(format!(
                    "{} is IR version {}, and this tidings reads version {}: write it again with this version's `tidings ir`",
                    file.display(),
                    schema.ir_version,
                    tidings::schema::IR_VERSION
                ));
            }
            return Ok(Some((schema, None)));
        }
        Baseline::Dir(dir) => sources.add_path(dir).map_err(|e| e.to_string())?,
        Baseline::Git(rev) => {
            git(&["rev-parse", "--git-dir"]).map_err(|_| {
                format!(
                    "`git:{rev}` needs a git repository, and the current directory is not in one; \
                     run from the repository, or give a directory of schemas or an IR file"
                )
            })?;
            git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ])
            .map_err(|_| format!("`{rev}` is not a commit, branch or tag of this repository"))?;
            let mut args = vec![
                "ls-tree",
                "-r",
                "--name-only",
                "--full-name",
                rev.as_str(),
                "--",
            ];
            let specs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            args.extend(specs.iter().map(String::as_str));
            let listed = git(&args)?;
            let mut files: Vec<&str> = listed
                .lines()
                .filter(|f| f.ends_with(".toml") || crate::ir_input::is_ir_dir_file(f))
                .collect();
            files.sort_unstable();
            if files.is_empty() {
                return Ok(None);
            }
            for file in files {
                let text = git(&["show", &format!("{rev}:{file}")])?;
                sources.add(format!("{rev}:{file}"), text);
            }
        }
    }
    match crate::check(&sources) {
        Ok(checked) => Ok(Some((checked.schema, Some(sources)))),
        Err(d) => Err(format!(
            "the baseline {} has errors:\n\n{}",
            baseline.label(),
            d.render(&sources)
        )),
    }
}
