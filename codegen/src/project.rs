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

/// `tidings.toml`: only the `[project]` table is read (other tables are left to other tools).
#[derive(Debug, Clone, Default, Deserialize)]
struct File {
    #[serde(default)]
    project: Project,
}

/// The `[project]` table: how exports name and describe the app's event system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The system's name (AsyncAPI `info.title`, the catalog's heading).
    pub name: Option<String>,
    /// Its version (AsyncAPI `info.version`); default: the highest module version.
    pub version: Option<String>,
    /// What it is; default: the modules' descriptions.
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
    /// A URL about them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// AsyncAPI's License object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// Its name or SPDX expression.
    pub name: String,
    /// Where it is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// AsyncAPI's Server object, for a Tidings endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `host[:port]`.
    pub host: String,
    /// `ws` or `wss`.
    #[serde(default = "wss")]
    pub protocol: String,
    /// The endpoint's path; default `/ws`.
    #[serde(default = "ws_path")]
    pub pathname: String,
    /// What this server is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
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
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or `[project]` has a key or value it does not take.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, and where (line and column).
        message: String,
    },
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
        toml::from_str::<File>(text)
            .map(|f| f.project)
            .map_err(|e| e.to_string().trim_end().to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = Project::parse("[project]\nnmae = \"x\"\n").expect_err("refused");
        assert!(err.contains("nmae") && err.contains("line 2"), "{err}");
        let p = Project::parse(
            "[project]\nname = \"Desk\"\n[project.servers.prod]\nhost = \"rt.example.com\"\n",
        )
        .expect("read");
        assert_eq!(p.name.as_deref(), Some("Desk"));
        assert_eq!(p.servers["prod"].protocol, "wss");
        assert_eq!(
            Project::parse("[tool.other]\nx = 1\n").expect("other tables"),
            Project::default()
        );
    }
}
