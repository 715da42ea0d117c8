//! `tidings compat`: what a schema change breaks, for whom, and which side must deploy first.
//!
//! Every finding comes from one small rule (see [`rules`]) with a stable id. Rules reason about
//! data flows: a server→client event is written by servers and read by clients; a
//! client→server event the other way round; a reply flows server→client. For each flow a change
//! either keeps old readers reading new writers (else, when the writer upgrades first, the
//! deployed readers break) and new readers reading old writers (else, when the reader upgrades
//! first, it breaks against the deployed writers). From that follow the side a change breaks and
//! the deploy order that is safe.

mod baseline;
mod config;
mod report;
pub mod rules;

use serde::Serialize;
use tidings::schema::{Location, Schema};

pub use baseline::{load_baseline, tags as baseline_tags, Baseline};
pub use config::{Config, ConfigError};
pub use report::{render, Format};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; compatible.
    Info,
    /// Compatible on the wire, but changes behaviour someone may rely on (who receives an event,
    /// whether it is replayed, names in generated code).
    Warning,
    /// Breaks a deployed side.
    Breaking,
}

impl Severity {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Breaking => "breaking",
        }
    }
}

/// A deployed side of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The clients (browsers, apps) already deployed.
    Clients,
    /// The servers already deployed.
    Servers,
}

/// Which deployed sides a change breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Breaks {
    /// Deployed clients stop working when servers upgrade first.
    pub clients: bool,
    /// Deployed servers stop working when clients upgrade first.
    pub servers: bool,
}

impl Breaks {
    /// Whether anything breaks.
    pub fn any(self) -> bool {
        self.clients || self.servers
    }

    /// The side to deploy first so that nothing breaks; `None` when no order is safe (or none is
    /// needed).
    pub fn deploy_first(self) -> Option<Side> {
        match (self.clients, self.servers) {
            (true, false) => Some(Side::Clients),
            (false, true) => Some(Side::Servers),
            _ => None,
        }
    }
}

/// What goes over the wire in one context: server→client and/or client→server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flows {
    /// Servers write, clients read.
    pub to_clients: bool,
    /// Clients write, servers read.
    pub to_servers: bool,
}

impl Flows {
    /// Who breaks, given whether old readers read new writers' data (`old_reads_new`) and new
    /// readers read old writers' data (`new_reads_old`).
    pub fn verdict(self, old_reads_new: bool, new_reads_old: bool) -> Breaks {
        Breaks {
            clients: (self.to_clients && !old_reads_new) || (self.to_servers && !new_reads_old),
            servers: (self.to_clients && !new_reads_old) || (self.to_servers && !old_reads_new),
        }
    }

    /// Both flows at once.
    pub fn union(self, other: Flows) -> Flows {
        Flows {
            to_clients: self.to_clients || other.to_clients,
            to_servers: self.to_servers || other.to_servers,
        }
    }
}

/// One compatibility finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule's stable id (`field-removed`), listed in docs/compat.md.
    pub rule: &'static str,
    /// How bad it is (after the config's overrides).
    pub severity: Severity,
    /// Which deployed sides it breaks.
    pub breaks: Breaks,
    /// The side to deploy first, when one order is safe.
    pub deploy_first: Option<Side>,
    /// The event (wire name) or type (`module.Type`) concerned.
    pub subject: String,
    /// The wire name of the event concerned, when there is one (for per-event configuration).
    pub event: Option<String>,
    /// The field path inside the subject, when the finding is about a field.
    pub field: Option<String>,
    /// What changed and why it matters, in one line.
    pub message: String,
    /// Where: in the new schema, or in the old one for what was removed.
    pub location: Option<Location>,
}

/// Which breaks fail the check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Deployed clients must keep working with the new server (servers deploy first).
    #[default]
    Backward,
    /// Deployed servers must keep working with new clients (clients deploy first).
    Forward,
    /// Both.
    Full,
}

impl Finding {
    /// Whether this finding fails a check in `mode`.
    pub fn fails(&self, mode: Mode) -> bool {
        // A finding graded breaking by the config fails whatever it breaks.
        self.severity == Severity::Breaking
            && (!self.breaks.any()
                || match mode {
                    Mode::Backward => self.breaks.clients,
                    Mode::Forward => self.breaks.servers,
                    Mode::Full => self.breaks.any(),
                })
    }
}

/// Compares two versions of a schema; findings in a stable order (by subject, then rule).
pub fn compare(old: &Schema, new: &Schema) -> Vec<Finding> {
    let mut findings = rules::compare(old, new);
    findings.sort_by(|a, b| (&a.subject, &a.field, a.rule).cmp(&(&b.subject, &b.field, b.rule)));
    findings
}
