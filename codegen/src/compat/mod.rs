//! `tidings compat`: what a schema change breaks, for whom, and which side must deploy first.
//!
//! Every finding comes from one small rule (see [`registry`]) with a stable id. Rules reason about
//! data flows: a server→client event is written by servers and read by clients; a
//! client→server event the other way round; a reply flows server→client. For each flow a change
//! either keeps old readers reading new writers (else, when the writer upgrades first, the
//! deployed readers break) and new readers reading old writers (else, when the reader upgrades
//! first, it breaks against the deployed writers). From that follow the side a change breaks and
//! the deploy order that is safe.

mod baseline;
mod config;
pub mod registry;
mod report;
mod rules;

use std::collections::BTreeMap;

use serde::Serialize;
use tidings::schema::{Location, Schema};

pub use baseline::{
    from_repository_root, load_baseline, repository_place, tags as baseline_tags, Baseline,
};
pub use config::{Config, ConfigError};
pub use registry::RuleId;
pub use report::{render, ReportFormat, Run};

/// How much a finding matters: its severity in reports (`"severity"` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Worth knowing; compatible.
    Info,
    /// Compatible on the wire, but changes behaviour someone may rely on (who receives an event,
    /// whether it is replayed, names in generated code).
    Warning,
    /// Breaks a deployed side.
    Breaking,
}

impl Impact {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Info => "info",
            Impact::Warning => "warning",
            Impact::Breaking => "breaking",
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
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
    /// The rule (`field-removed`), listed in docs/compat.md.
    pub rule: RuleId,
    /// How bad it is (after the config's overrides).
    pub severity: Impact,
    /// Which deployed sides it breaks.
    pub breaks: Breaks,
    /// The side to deploy first, when one order is safe.
    pub deploy_first: Option<Side>,
    /// The event (wire name) or type (`module.Type`) concerned.
    pub subject: String,
    /// The events (wire names) whose flows the change travels in, with the flows of each: a
    /// change inside a named type lists every event that carries it in both versions.
    pub events: BTreeMap<String, Flows>,
    /// The field path inside the subject, when the finding is about a field.
    pub field: Option<String>,
    /// What changed and why it matters, in one line.
    pub message: String,
    /// Where, in the current tree (the new schema): the item itself, or for what was removed
    /// the item that held it, so that a CI annotation lands on a file of the checkout.
    pub location: Option<Location>,
    /// Where the item was in the baseline, for what was removed or changed there.
    pub was: Option<Location>,
    /// (old readers read new writers, new readers read old writers), when the breaks follow
    /// from the flows: the config recomputes them when it drops an event.
    #[serde(skip)]
    reads: Option<(bool, bool)>,
}

impl Finding {
    #[allow(clippy::too_many_arguments)]
    fn new(
        rule: RuleId,
        reads: Option<(bool, bool)>,
        breaks: Breaks,
        subject: String,
        events: BTreeMap<String, Flows>,
        field: Option<String>,
        message: String,
        location: Option<Location>,
        was: Option<Location>,
    ) -> Finding {
        Finding {
            rule,
            severity: if breaks.any() {
                Impact::Breaking
            } else {
                rule.quiet_severity()
            },
            breaks,
            deploy_first: breaks.deploy_first(),
            subject,
            events,
            field,
            message,
            location,
            was,
            reads,
        }
    }

    /// Sets the severity from the breaks and the rule's own.
    fn severity_by_rule(&mut self) {
        self.severity = if self.breaks.any() {
            Impact::Breaking
        } else {
            self.rule.quiet_severity()
        };
    }

    /// The one event concerned, when there is exactly one.
    pub fn event(&self) -> Option<&str> {
        match self.events.len() {
            1 => self.events.keys().next().map(String::as_str),
            _ => None,
        }
    }

    /// Keeps only the events `keep` accepts, recomputing what breaks from their flows; `false`
    /// when none is left (the finding no longer applies).
    fn retain_events(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        if self.events.is_empty() {
            return true;
        }
        let before = self.events.len();
        self.events.retain(|e, _| keep(e));
        if self.events.is_empty() {
            return false;
        }
        if let (Some(reads), true) = (self.reads, self.events.len() != before) {
            let flows = self
                .events
                .values()
                .fold(Flows::default(), |a, b| a.union(*b));
            self.breaks = flows.verdict(reads.0, reads.1);
            self.deploy_first = self.breaks.deploy_first();
            self.severity_by_rule();
        }
        true
    }
}

/// The deploy order a whole change allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Nothing deployed breaks: any order.
    Any,
    /// Deployed clients break unless clients deploy first.
    ClientsFirst,
    /// Deployed servers break unless servers deploy first.
    ServersFirst,
    /// Something breaks whichever side deploys first.
    NoSafeOrder,
}

/// The overall verdict of a comparison: the deploy order, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The order that is safe.
    pub order: Order,
    /// Why, naming the findings that decide it (the order itself is [`Verdict::order_text`]).
    pub reason: String,
}

impl Verdict {
    /// The verdict of these findings: breaking ones that break deployed clients ask for
    /// clients first, those breaking deployed servers for servers first; both, no safe order.
    pub fn of(findings: &[Finding]) -> Verdict {
        let breaking = |side: fn(&Breaks) -> bool| {
            findings
                .iter()
                .find(|f| f.severity == Impact::Breaking && side(&f.breaks))
        };
        let name = |f: &Finding| {
            let field = f
                .field
                .as_ref()
                .map(|p| format!(" › {p}"))
                .unwrap_or_default();
            format!("{} on `{}{field}`", f.rule, f.subject)
        };
        let both = findings
            .iter()
            .find(|f| f.severity == Impact::Breaking && f.breaks.clients && f.breaks.servers);
        match (breaking(|b| b.clients), breaking(|b| b.servers)) {
            (None, None) => Verdict {
                order: Order::Any,
                reason: "nothing deployed breaks".to_owned(),
            },
            (Some(c), None) => Verdict {
                order: Order::ClientsFirst,
                reason: format!("{} breaks deployed clients", name(c)),
            },
            (None, Some(s)) => Verdict {
                order: Order::ServersFirst,
                reason: format!("{} breaks deployed servers", name(s)),
            },
            (Some(c), Some(s)) => Verdict {
                order: Order::NoSafeOrder,
                reason: match both {
                    Some(f) => format!("{} breaks deployed clients and servers", name(f)),
                    None => format!(
                        "{} breaks deployed clients, {} deployed servers",
                        name(c),
                        name(s)
                    ),
                },
            },
        }
    }

    /// The order in words: `safe in any order`, `deploy clients first` …
    pub fn order_text(&self) -> &'static str {
        match self.order {
            Order::Any => "safe in any order",
            Order::ClientsFirst => "deploy clients first",
            Order::ServersFirst => "deploy servers first",
            Order::NoSafeOrder => "no safe deploy order",
        }
    }
}

/// Which breaks fail the check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
        self.severity == Impact::Breaking
            && (!self.breaks.any()
                || match mode {
                    Mode::Backward => self.breaks.clients,
                    Mode::Forward => self.breaks.servers,
                    Mode::Full => self.breaks.any(),
                })
    }
}

/// Compares two versions of a schema; findings in a stable order (by subject, field, rule,
/// then message).
pub fn compare(old: &Schema, new: &Schema) -> Vec<Finding> {
    let mut findings = rules::compare(old, new);
    findings.sort_by(|a, b| {
        (&a.subject, &a.field, a.rule, &a.message).cmp(&(&b.subject, &b.field, b.rule, &b.message))
    });
    findings
}
