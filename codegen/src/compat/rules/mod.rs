//! The rules, judging what travels on the wire.
//!
//! Events are matched by wire name (then by `renamed_from`). For each matched pair, the flows
//! both versions have (server → client, client → server, the reply) are compared: the payloads
//! field by field, and every named type a field reaches **by shape**, recursively — a field
//! whose type went from `Channel` to `Medium` with the same values is no change on the wire.
//! Each pair of old and new named types met this way is compared once, whatever number of
//! events reach it (a worklist, so cycles and long chains of types cost no recursion); its
//! findings then carry every event it travels in and the union of their flows. A change is
//! judged only against flows present in both versions: a type used only by an event added in
//! the new version breaks nothing deployed.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use tidings::schema::{EventDef, Location, Module, Schema, TypeDef};

use super::registry::RuleId;
use super::{Breaks, Finding, Flows};

/// A named type: (module, name).
type Key = (String, String);

/// How a value type changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Same,
    /// The new type accepts every old value, and more.
    Widened,
    /// The new type accepts a subset of the old values.
    Narrowed,
    /// Neither: values of one are not values of the other.
    Changed,
}

impl Change {
    fn then(self, other: Change) -> Change {
        match (self, other) {
            (Change::Same, x) | (x, Change::Same) => x,
            (a, b) if a == b => a,
            _ => Change::Changed,
        }
    }

    /// (old readers read new writers, new readers read old writers).
    fn reads(self) -> (bool, bool) {
        match self {
            Change::Same => (true, true),
            Change::Widened => (false, true),
            Change::Narrowed => (true, false),
            Change::Changed => (false, false),
        }
    }
}

fn flows_of(e: &EventDef) -> Flows {
    Flows {
        to_clients: e.direction.server_sends(),
        to_servers: e.direction.client_sends(),
    }
}

const REPLY: Flows = Flows {
    to_clients: true,
    to_servers: false,
};

/// Every named type by module and name.
fn type_index(schema: &Schema) -> HashMap<(&str, &str), (&Module, &TypeDef)> {
    schema
        .modules
        .iter()
        .flat_map(|m| {
            m.types
                .iter()
                .map(move |t| ((m.name.as_str(), t.name.as_str()), (m, t)))
        })
        .collect()
}

/// A finding before it knows the flows it travels in.
struct Local {
    rule: RuleId,
    reads: (bool, bool),
    field: Option<String>,
    message: String,
    location: Option<Location>,
    was: Option<Location>,
}

impl Local {
    /// The finding, once the events it travels in (each with its flows) are known: what it
    /// breaks follows from the union of their flows.
    fn finding(self, subject: String, events: BTreeMap<String, Flows>) -> Finding {
        let flows = events.values().fold(Flows::default(), |a, b| a.union(*b));
        Finding::new(
            self.rule,
            Some(self.reads),
            flows.verdict(self.reads.0, self.reads.1),
            subject,
            events,
            self.field,
            self.message,
            self.location,
            self.was,
        )
    }
}

/// What one comparison (a payload, or a pair of named types) found: its own findings, and the
/// pairs of named types it reaches.
#[derive(Default)]
struct Sink {
    local: Vec<Local>,
    reaches: Vec<usize>,
}

impl Sink {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        rule: RuleId,
        reads: (bool, bool),
        field: Option<String>,
        message: String,
        location: Option<&Location>,
        was: Option<&Location>,
    ) {
        self.local.push(Local {
            rule,
            reads,
            field,
            message,
            location: location.cloned(),
            was: was.cloned(),
        });
    }
}

/// A pair of named types met at the same place of a flow in the old and the new version.
struct Pair {
    old: Key,
    new: Key,
    found: Sink,
    /// The events it travels in, with the flows of each (filled after every comparison).
    events: BTreeMap<String, Flows>,
}

struct Comparison<'a> {
    old_types: HashMap<(&'a str, &'a str), (&'a Module, &'a TypeDef)>,
    new_types: HashMap<(&'a str, &'a str), (&'a Module, &'a TypeDef)>,
    pairs: Vec<Pair>,
    pair_index: HashMap<(Key, Key), usize>,
    /// Pairs met but not compared yet.
    pending: VecDeque<usize>,
    out: Vec<Finding>,
}

/// Runs every rule.
pub(super) fn compare(old: &Schema, new: &Schema) -> Vec<Finding> {
    let mut cx = Comparison {
        old_types: type_index(old),
        new_types: type_index(new),
        pairs: Vec::new(),
        pair_index: HashMap::new(),
        pending: VecDeque::new(),
        out: Vec::new(),
    };
    // Each matched event: its payload and reply compared, and the pairs of types they reach.
    let mut roots: Vec<(String, Flows, Vec<usize>)> = Vec::new();
    let matched = match_events(old, new);
    let mut matched_old = HashSet::new();
    for (m, n, o) in &matched {
        match o {
            Some(o) => {
                matched_old.insert((o.name.as_str(), o.key.as_str()));
                cx.event(o, n, &mut roots);
            }
            None => cx.added_event(m, n),
        }
    }
    for (m, o) in old.events() {
        if !matched_old.contains(&(o.name.as_str(), o.key.as_str())) {
            cx.removed_event(new, m, o);
        }
    }
    cx.drain();
    cx.spread(&roots);
    cx.emit_pairs();
    cx.removed_types(old, new);
    cx.out
}

/// Every new event with the old event it continues: by wire name, else by `renamed_from` (an
/// old key of the same module, or an old wire name), else by its key in the same module (its
/// `name` changed) — never an old event whose wire name the new version still has.
fn match_events<'a>(
    old: &'a Schema,
    new: &'a Schema,
) -> Vec<(&'a Module, &'a EventDef, Option<&'a EventDef>)> {
    let by_wire: HashMap<&str, &EventDef> =
        old.events().map(|(_, e)| (e.name.as_str(), e)).collect();
    let by_key: HashMap<(&str, &str), &EventDef> = old
        .events()
        .map(|(m, e)| ((m.name.as_str(), e.key.as_str()), e))
        .collect();
    let new_wire: HashSet<&str> = new.events().map(|(_, e)| e.name.as_str()).collect();
    let mut taken: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (m, n) in new.events() {
        let mut found = by_wire.get(n.name.as_str()).copied();
        if found.is_none() {
            // Renamed, or the same key under another `name`.
            let from = n.renamed_from.as_deref().unwrap_or(n.key.as_str());
            found = by_key
                .get(&(m.name.as_str(), from))
                .or_else(|| by_wire.get(from))
                .copied()
                // An old event whose wire name lives on in the new version is that one.
                .filter(|o| !new_wire.contains(o.name.as_str()));
        }
        let found = found.filter(|o| taken.insert(o.name.as_str()));
        out.push((m, n, found));
    }
    out
}

mod events;
mod fields;
mod shapes;

impl<'a> Comparison<'a> {
    /// A finding about an event itself (its subject), judged on `flows`.
    pub(super) fn finding(
        &mut self,
        rule: RuleId,
        flows: Flows,
        reads: (bool, bool),
        event: &str,
        message: String,
        location: Option<&Location>,
    ) {
        let mut events = BTreeMap::new();
        events.insert(event.to_owned(), flows);
        self.out.push(Finding::new(
            rule,
            Some(reads),
            flows.verdict(reads.0, reads.1),
            event.to_owned(),
            events,
            None,
            message,
            location.cloned(),
            None,
        ));
    }

    /// A finding whose breaks do not follow from the flows (events removed, directions).
    pub(super) fn fixed(
        &mut self,
        rule: RuleId,
        breaks: Breaks,
        event: &str,
        message: String,
        location: Option<Location>,
        was: Option<Location>,
    ) {
        let mut events = BTreeMap::new();
        events.insert(event.to_owned(), Flows::default());
        self.out.push(Finding::new(
            rule,
            None,
            breaks,
            event.to_owned(),
            events,
            None,
            message,
            location,
            was,
        ));
    }

    /// Findings of one event's own payload or reply, in its flows.
    pub(super) fn emit(&mut self, local: Vec<Local>, subject: &str, event: &str, flows: Flows) {
        for l in local {
            let f = l.finding(
                subject.to_owned(),
                BTreeMap::from([(event.to_owned(), flows)]),
            );
            self.out.push(f);
        }
    }
}
