//! The app's identity in what Tidings exports: the `[project]` table of `tidings.toml`.
//!
//! ```toml
//! # tidings.toml, next to schemas/
//! [project]
//! name = "Help desk"
//! version = "2.1.0"
//! description = "Realtime events of the help desk."
//! contact = { name = "Desk team", url = "https://example.com/desk", email = "desk@example.com" }
//! license = { name = "Apache-2.0", url = "https://www.apache.org/licenses/LICENSE-2.0" }
//!
//! [project.servers.production]
//! host = "rt.example.com"
//! protocol = "wss"
//! pathname = "/ws"
//! description = "Production"
//! ```
//!
//! Every key is optional. Without them the exports take what the schemas say: the name from the
//! modules (one module: its name), the version the highest module version, the description the
//! modules' descriptions; no contact, licence or server is invented.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tidings::schema::Schema;

/// The file `tidings export` and `tidings docs` read when it exists in the current directory.
pub const PROJECT_FILE: &str = "tidings.toml";

/// `tidings.toml`: the `[project]` table (the only one it has so far; any other key is refused,
/// so that a misspelled `[projcet]` is not silently ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    project: Project,
}

/// The `[project]` table: how exports name and describe the app's event system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The system's name (AsyncAPI `info.title`, the catalog's title).
    pub name: Option<String>,
    /// Its version (AsyncAPI `info.version`); default: the highest module version.
    pub version: Option<String>,
    /// What it is (AsyncAPI `info.description`, the catalog's first paragraph); default: the
    /// modules' descriptions.
    pub description: Option<String>,
    /// Who to ask (AsyncAPI `info.contact`).
    pub contact: Option<Contact>,
    /// Under which licence (AsyncAPI `info.license`).
    pub license: Option<License>,
    /// Where it runs, by name (AsyncAPI `servers`).
    #[serde(default)]
    pub servers: BTreeMap<String, Server>,
}

/// AsyncAPI's Contact object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// A person or team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A URL about them: absolute (AsyncAPI 3.0: `format: uri`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_url"
    )]
    pub url: Option<String>,
    /// An e-mail address (AsyncAPI 3.0: `format: email`: `local@domain`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_email"
    )]
    pub email: Option<String>,
}

/// AsyncAPI's License object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// Its name or SPDX expression.
    pub name: String,
    /// Where it is written: an absolute URL (AsyncAPI 3.0: `format: uri`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_url"
    )]
    pub url: Option<String>,
}

/// AsyncAPI's Server object, for a Tidings endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `host[:port]`: a host name or address, with no scheme (`wss://`) or path (AsyncAPI 3.0,
    /// Server Object `host`).
    #[serde(deserialize_with = "host")]
    pub host: String,
    /// `ws` or `wss`; default `wss`.
    #[serde(default = "wss", deserialize_with = "protocol")]
    pub protocol: String,
    /// The endpoint's path, starting with `/`; default `/ws`.
    #[serde(default = "ws_path", deserialize_with = "pathname")]
    pub pathname: String,
    /// What this server is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `url`: an absolute URL (the `url` crate's WHATWG parser).
fn some_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    match url::Url::parse(&text) {
        Ok(_) => Ok(Some(text)),
        Err(e) => Err(serde::de::Error::custom(format!(
            "`{text}` is not an absolute URL ({e}), as `https://example.com/team`"
        ))),
    }
}

/// `email`: `local@domain`, the domain of dot-separated labels of letters, digits and `-` (the
/// shape JSON Schema's `email` format checks, as AsyncAPI tools apply it).
fn some_email<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !local.contains(|c: char| c.is_whitespace() || c == '@' || c == '"')
            && domain.contains('.')
            && domain.split('.').all(label)
    });
    if ok {
        Ok(Some(text))
    } else {
        Err(serde::de::Error::custom(format!(
            "`{text}` is not an e-mail address, as `team@example.com`"
        )))
    }
}

/// `host`: not empty, no scheme, no path, no spaces.
fn host<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let host = String::deserialize(d)?;
    let problem = if host.is_empty() {
        Some("is empty")
    } else if host.contains("://") {
        Some("has a scheme: give it as `protocol`")
    } else if host.contains('/') {
        Some("has a path: give it as `pathname`")
    } else if host.chars().any(char::is_whitespace) {
        Some("has a space")
    } else {
        None
    };
    match problem {
        Some(p) => Err(serde::de::Error::custom(format!(
            "`host` {p} (`host[:port]`, as `rt.example.com` or `127.0.0.1:8080`)"
        ))),
        None => Ok(host),
    }
}

/// `protocol`: `ws` or `wss`.
fn protocol<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let protocol = String::deserialize(d)?;
    if protocol == "ws" || protocol == "wss" {
        Ok(protocol)
    } else {
        Err(serde::de::Error::custom(format!(
            "`protocol` is `{protocol}`: a Tidings endpoint speaks `ws` or `wss`"
        )))
    }
}

/// `pathname`: starts with `/`.
fn pathname<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let path = String::deserialize(d)?;
    if path.starts_with('/') && !path.chars().any(char::is_whitespace) {
        Ok(path)
    } else {
        Err(serde::de::Error::custom(format!(
            "`pathname` is `{path}`: a path starting with `/`, without spaces, as `/ws`"
        )))
    }
}

fn wss() -> String {
    "wss".to_owned()
}

fn ws_path() -> String {
    "/ws".to_owned()
}

/// Why `tidings.toml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or `[project]` has a key or value it does not take.
    #[error("{}", located(path, message))]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, one line per mistake, each `line:column: what` (as [`Project::parse`]
        /// gives them); displayed as `path:line:column: what`.
        message: String,
    },
}

/// `message`'s lines, each with `path:` in front.
fn located(path: &str, message: &str) -> String {
    message
        .lines()
        .map(|l| format!("{path}:{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Project {
    /// Reads the `[project]` table of `path`.
    ///
    /// # Errors
    /// When the file cannot be read, is not TOML, or `[project]` holds an unknown key or a value
    /// of another type (the message says which, with its line and column).
    pub fn load(path: &Path) -> Result<Project, ProjectError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProjectError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Project::parse(&text).map_err(|message| ProjectError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Reads the `[project]` table of a `tidings.toml` text.
    ///
    /// # Errors
    /// As [`Project::load`], the message only.
    pub fn parse(text: &str) -> Result<Project, String> {
        let unknown = unknown_keys(text);
        if !unknown.is_empty() {
            return Err(unknown.join("\n"));
        }
        toml::from_str::<File>(text)
            .map(|f| f.project)
            .map_err(|e| {
                let (line, column) = e
                    .span()
                    .map_or((1, 1), |span| line_column(text, span.start));
                format!("{line}:{column}: {}", e.message().trim_end())
            })
    }

    /// The project file named on the command line (`--project FILE`), else `tidings.toml` of
    /// the current directory when there is one, else the defaults.
    ///
    /// # Errors
    /// As [`Project::load`].
    pub fn from_arg(path: Option<&Path>) -> Result<Project, ProjectError> {
        match path {
            Some(path) => Project::load(path),
            None => Project::discover(),
        }
    }

    /// `tidings.toml` of the current directory when there is one, else the defaults.
    ///
    /// # Errors
    /// As [`Project::load`].
    pub fn discover() -> Result<Project, ProjectError> {
        let path = Path::new(PROJECT_FILE);
        if path.exists() {
            Project::load(path)
        } else {
            Ok(Project::default())
        }
    }

    /// The system's name: `name`, else the one module's name, else the modules' names.
    pub fn name_for(&self, schema: &Schema) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match schema.modules.as_slice() {
            [one] => format!("{} events", one.name),
            modules => format!(
                "Events of {}",
                modules
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The system's version: `version`, else the highest module version, else `0.0.0`.
    pub fn version_for(&self, schema: &Schema) -> String {
        self.version.clone().unwrap_or_else(|| {
            schema
                .modules
                .iter()
                .filter_map(|m| m.version.as_deref())
                // By number, part by part (`1.10.0` after `1.9.0`).
                .max_by_key(|v| {
                    v.split(['.', '-', '+'])
                        .map(|p| p.parse::<u64>().unwrap_or(0))
                        .collect::<Vec<_>>()
                })
                .map_or_else(|| "0.0.0".to_owned(), str::to_owned)
        })
    }
}

/// The keys each table of `tidings.toml` takes; `servers` holds tables named by the app.
const TOP: &[&str] = &["project"];
const PROJECT: &[&str] = &[
    "name",
    "version",
    "description",
    "contact",
    "license",
    "servers",
];
const CONTACT: &[&str] = &["name", "url", "email"];
const LICENSE: &[&str] = &["name", "url"];
const SERVER: &[&str] = &["host", "protocol", "pathname", "description"];

/// Every key of `text` that its table does not take, each as `line:column: …` with the
/// closest known key: all of them at once, not one per run. Empty when there is none, or when
/// the text is not TOML (the TOML reader says where).
fn unknown_keys(text: &str) -> Vec<String> {
    use toml::de::{DeTable, DeValue};
    fn table<'a, 'v>(t: &'a DeTable<'v>, key: &str) -> Option<&'a DeTable<'v>> {
        match t.get(key)?.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        }
    }
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut check = |t: &DeTable<'_>, known: &[&str], prefix: &str| {
        for key in t.keys() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let at = key.span().start;
            let (line, column) = line_column(text, at);
            let hint = crate::names::suggestion(name, known.iter().copied()).map_or_else(
                || {
                    format!(
                        "; it takes {}",
                        known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                |s| format!("; {s}"),
            );
            found.push((
                at,
                format!("{line}:{column}: unknown key `{prefix}{name}`{hint}"),
            ));
        }
    };
    let Ok(root) = DeTable::parse(text) else {
        return Vec::new();
    };
    let root = root.get_ref();
    check(root, TOP, "");
    if let Some(project) = table(root, "project") {
        check(project, PROJECT, "project.");
        if let Some(contact) = table(project, "contact") {
            check(contact, CONTACT, "project.contact.");
        }
        if let Some(license) = table(project, "license") {
            check(license, LICENSE, "project.license.");
        }
        if let Some(servers) = table(project, "servers") {
            for (name, server) in servers {
                if let DeValue::Table(server) = server.get_ref() {
                    check(
                        server,
                        SERVER,
                        &format!("project.servers.{}.", name.get_ref()),
                    );
                }
            }
        }
    }
    // In the file's order.
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, message)| message).collect()
}

/// The 1-based line and column (in characters) of byte `offset` of `text`, as schema
/// diagnostics count them ([`crate::SourceFile::position`]).
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let mut file = crate::Sources::new();
    let id = file.add(PROJECT_FILE, text);
    file.file(id).position(offset.min(text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = Project::parse("[project]\nnmae = \"x\"\n").expect_err("refused");
        assert!(err.starts_with("2:1: unknown key `project.nmae`"), "{err}");
        let p = Project::parse(
            "[project]\nname = \"Desk\"\n[project.servers.prod]\nhost = \"rt.example.com\"\n",
        )
        .expect("read");
        assert_eq!(p.name.as_deref(), Some("Desk"));
        assert_eq!(p.servers["prod"].protocol, "wss");
        assert!(Project::parse("").is_ok());
    }

    #[test]
    fn every_unknown_key_is_said_at_once_with_its_place() {
        let err = Project::parse(
            "[projcet]\nname = \"x\"\n\n[project]\nnmae = \"x\"\ncontact = { nme = \"a\" }\n\
             [project.servers.prod]\nhost = \"h\"\nport = 1\n",
        )
        .expect_err("refused");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with("1:2: unknown key `projcet`; did you mean `project`?"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("5:1: unknown key `project.nmae`; did you mean `name`?"),
            "{err}"
        );
        assert!(err.contains("unknown key `project.contact.nme`"), "{err}");
        assert!(lines[3].starts_with("9:1: unknown key `project.servers.prod.port`; it takes `host`, `protocol`, `pathname`, `description`"), "{err}");
    }

    #[test]
    fn server_values_are_checked() {
        for (server, wanted) in [
            ("host = \"\"", "`host` is empty"),
            ("host = \"wss://rt.example.com\"", "has a scheme"),
            ("host = \"rt.example.com/ws\"", "has a path"),
            ("host = \"h\"\nprotocol = \"http\"", "`protocol` is `http`"),
            ("host = \"h\"\npathname = \"ws\"", "`pathname` is `ws`"),
        ] {
            let err =
                Project::parse(&format!("[project.servers.prod]\n{server}\n")).expect_err(server);
            assert!(
                err.contains(wanted) && (err.starts_with("2:") || err.starts_with("3:")),
                "{server}: {err}"
            );
        }
        let ok = Project::parse(
            "[project.servers.dev]\nhost = \"127.0.0.1:8080\"\nprotocol = \"ws\"\npathname = \"/rt\"\n",
        )
        .expect("a good server");
        assert_eq!(ok.servers["dev"].pathname, "/rt");
    }

    #[test]
    fn contact_and_licence_values_are_checked() {
        for (table, wanted) in [
            (
                "contact = { email = \"not an email\" }",
                "not an e-mail address",
            ),
            ("contact = { email = \"a@b\" }", "not an e-mail address"),
            ("contact = { url = \"nope\" }", "not an absolute URL"),
            (
                "license = { name = \"MIT\", url = \"/LICENSE\" }",
                "not an absolute URL",
            ),
        ] {
            let err = Project::parse(&format!("[project]\n{table}\n")).expect_err(table);
            assert!(
                err.contains(wanted) && err.starts_with("2:"),
                "{table}: {err}"
            );
        }
        let ok = Project::parse(
            "[project]\ncontact = { email = \"desk@example.com\", url = \"https://example.com/desk\" }\n",
        )
        .expect("good values");
        assert_eq!(
            ok.contact.and_then(|c| c.email).as_deref(),
            Some("desk@example.com")
        );
    }
}
