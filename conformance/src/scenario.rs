//! Scenarios: what the scripted server does and what it expects the client under test to send,
//! read from TOML files (`conformance/scenarios/*.toml`; docs/conformance.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One scenario: a name (its file's stem), what it checks, the capabilities it needs, the token
/// the driver connects with, and its steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file stem; set when loaded.
    #[serde(skip)]
    pub name: String,
    /// What the scenario checks, in a sentence.
    pub about: String,
    /// Capabilities the client must claim for the scenario to run (`rooms`, `requests`,
    /// `renewal`); without them it is skipped, not failed.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The token the driver gives its client (`TIDINGS_CONFORMANCE_TOKEN`).
    #[serde(default = "default_token")]
    pub token: String,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

fn default_token() -> String {
    "conformance-token".to_owned()
}

/// One step. Each waits at most `within_ms` where it waits (default 5,000 ms).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The client (re)connects: the next WebSocket handshake, checked.
    Accept(Accept),
    /// Sends `$connected` (with the stream position and heartbeat given).
    Connected(Connected),
    /// Sends an app event `conformance:note` (durable with `seq`, ephemeral without).
    Event(EventStep),
    /// Sends this frame as is (strings `"$name"` replaced by captured values).
    Send(Value),
    /// Asks the driver to act: sends `conformance:do` with this data.
    Do(Value),
    /// Expects a frame matching `frame` (a pattern: every key given must match).
    Expect(Expect),
    /// Expects the driver to report this (`conformance:saw` with this data as a pattern).
    Saw(Value),
    /// Expects frames matching these patterns, in this order.
    InOrder(InOrder),
    /// Expects no frame matching `frame` for `ms`.
    Silent(Silent),
    /// Closes the connection with a close frame.
    Close(CloseStep),
    /// Drops the connection without a close frame (a network failure).
    Drop {},
    /// Expects the client to close the connection.
    ExpectClose(ExpectClose),
    /// Waits.
    Wait(Wait),
}

/// The handshake expected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// How long to wait for it, in ms.
    pub within_ms: Option<u64>,
    /// The resume position the client must offer (`"<epoch>.<seq>"`), or `"none"`.
    pub resume: Option<String>,
    /// Whether the token must arrive (decoded, equal to the scenario's). Default true.
    pub token: Option<bool>,
}

/// The `$connected` frame sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connected {
    /// The stream's epoch.
    pub epoch: String,
    /// The stream's last sequence number.
    pub seq: u64,
    /// `[interval_ms, timeout_ms]`; default `[25000, 60000]`.
    pub heartbeat_ms: Option<[u64; 2]>,
    /// Credentials expiring this many ms from now (`expires_at`); none by default.
    pub expires_in_ms: Option<u64>,
    /// The user; default `conformance-user`.
    pub user: Option<String>,
}

/// A `conformance:note` event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStep {
    /// The sequence number (a durable event); none for an ephemeral one.
    pub seq: Option<u64>,
    /// The event's id; default `n<seq>` (or `e<n>` for ephemeral ones).
    pub id: Option<String>,
    /// The payload's `n`; default the sequence number.
    pub n: Option<u64>,
}

/// A frame expected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The pattern.
    pub frame: Value,
    /// How long to wait, in ms.
    pub within_ms: Option<u64>,
    /// Values to remember from the frame: variable → key (`{ cid = "cid" }`).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

/// Frames expected in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InOrder {
    /// The patterns.
    pub frames: Vec<Value>,
    /// How long to wait for all of them, in ms.
    pub within_ms: Option<u64>,
}

/// A quiet period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silent {
    /// How long, in ms.
    pub ms: u64,
    /// The frames that must not come (a pattern); default: any report of the driver.
    pub frame: Option<Value>,
}

/// A close frame.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseStep {
    /// The close code.
    pub code: u16,
    /// The reason.
    #[serde(default)]
    pub reason: String,
}

/// The client closing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectClose {
    /// How long to wait, in ms.
    pub within_ms: Option<u64>,
}

/// A pause.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// How long, in ms.
    pub ms: u64,
}

/// Why scenarios could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not a valid scenario.
    #[error("{path}: {message}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong, with its line and column.
        message: String,
    },
}

/// Reads every `*.toml` scenario in `dir`, sorted by name.
///
/// # Errors
/// When the directory or a file cannot be read, or a file is not a valid scenario (the TOML
/// error says where).
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

/// Reads one scenario file.
///
/// # Errors
/// As [`load_dir`].
pub fn load(path: &Path) -> Result<Scenario, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut scenario: Scenario = toml::from_str(&text).map_err(|e| LoadError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if scenario.steps.is_empty() {
        return Err(LoadError::Invalid {
            path: path.to_owned(),
            message: "a scenario has at least one [[step]]".to_owned(),
        });
    }
    scenario.name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(scenario)
}
