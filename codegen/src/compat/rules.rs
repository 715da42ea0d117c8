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

use tidings::schema::{
    Constraints, Delivery, EventDef, Field, Location, Module, Primitive, Recipients, Schema, Scope,
    TypeDef, TypeKind, TypeRef,
};

use super::registry::RuleId;
use super::{Breaks, Finding, Flows, Impact};

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

impl<'a> Comparison<'a> {
    /// A finding about an event itself (its subject), judged on `flows`.
    fn finding(
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
    fn fixed(
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

    // ── events ──

    fn added_event(&mut self, _m: &Module, n: &EventDef) {
        let flows = flows_of(n);
        // Clients sending a new event to servers that do not know it yet get errors.
        let added = Flows {
            to_clients: false,
            to_servers: flows.to_servers,
        };
        self.finding(
            RuleId::EventAdded,
            added,
            (false, true),
            &n.name,
            format!(
                "event `{}` was added{}",
                n.name,
                if flows.to_servers {
                    ": deployed servers do not handle it yet"
                } else {
                    ""
                }
            ),
            n.location.as_ref(),
        );
    }

    fn removed_event(&mut self, new: &Schema, m: &Module, o: &EventDef) {
        // Anchored in the current tree: the module that declared it, when it still exists.
        let anchor = new
            .modules
            .iter()
            .find(|nm| nm.name == m.name)
            .and_then(|nm| nm.location.clone());
        if o.deprecated.is_some() {
            self.fixed(
                RuleId::DeprecatedEventRemoved,
                Breaks::default(),
                &o.name,
                format!("event `{}`, deprecated before, was removed", o.name),
                anchor,
                o.location.clone(),
            );
            return;
        }
        let flows = flows_of(o);
        let why = match (flows.to_clients, flows.to_servers) {
            (true, true) => "deployed clients listen for it and send it",
            (true, false) => "deployed clients listen for it",
            _ => "deployed clients still send it and will get `unknown_event`",
        };
        self.fixed(
            RuleId::EventRemoved,
            Breaks {
                clients: true,
                servers: false,
            },
            &o.name,
            format!(
                "event `{}` was removed: {why}; deprecate it first, remove it once clients moved on",
                o.name
            ),
            anchor,
            o.location.clone(),
        );
    }

    fn event(&mut self, o: &EventDef, n: &EventDef, roots: &mut Vec<(String, Flows, Vec<usize>)>) {
        let loc = n.location.as_ref();
        let subject = n.name.clone();
        let (of, nf) = (flows_of(o), flows_of(n));
        if o.name != n.name {
            let rule = if n.renamed_from.is_some() && o.key != n.key {
                RuleId::EventRenamed
            } else {
                RuleId::WireNameChanged
            };
            self.finding(
                rule,
                of.union(nf),
                (false, false),
                &subject,
                format!(
                    "wire name `{}` is now `{}`: deployed peers use the old name",
                    o.name, n.name
                ),
                loc,
            );
        }
        if of != nf {
            let mut breaks = Breaks::default();
            if of.to_clients && !nf.to_clients {
                breaks.clients = true; // deployed clients listen for it
            }
            if of.to_servers && !nf.to_servers {
                breaks.clients = true; // deployed clients send it
            }
            if !of.to_servers && nf.to_servers {
                breaks.servers = true; // new clients send it to servers that do not handle it
            }
            self.fixed(
                RuleId::DirectionChanged,
                breaks,
                &n.name,
                format!(
                    "event `{}` went `{}` and now goes `{}`",
                    n.name,
                    o.direction.as_str(),
                    n.direction.as_str()
                ),
                loc.cloned(),
                None,
            );
        }
        if of.to_clients && nf.to_clients && o.delivery != n.delivery {
            let ephemeral = n.delivery == Delivery::Ephemeral;
            let mut f = Finding::new(
                RuleId::DeliveryChanged,
                Some((true, true)),
                Breaks::default(),
                subject.clone(),
                BTreeMap::from([(n.name.clone(), Flows::default())]),
                None,
                format!(
                    "event `{}` is now {} (was {}){}",
                    n.name,
                    n.delivery.as_str(),
                    o.delivery.as_str(),
                    if ephemeral {
                        ": clients that reconnect no longer get it replayed"
                    } else {
                        ""
                    }
                ),
                loc.cloned(),
                None,
            );
            if ephemeral {
                f.severity = Impact::Warning;
            }
            self.out.push(f);
        }
        let both = Flows {
            to_clients: of.to_clients && nf.to_clients,
            to_servers: of.to_servers && nf.to_servers,
        };
        // The payload, in the flows both versions have.
        let mut sink = Sink::default();
        self.fields(&o.payload, &n.payload, None, loc, &mut sink);
        self.emit(sink.local, &subject, &n.name, both);
        roots.push((n.name.clone(), both, sink.reaches));
        if of.to_servers && nf.to_servers {
            let mut sink = Sink::default();
            match (&o.reply, &n.reply) {
                (None, Some(r)) => sink.add(
                    RuleId::ReplyAdded,
                    (true, false),
                    None,
                    format!("event `{}` now replies `{r}`: new clients expect data deployed servers do not send", n.name),
                    loc,
                    None,
                ),
                (Some(r), None) => sink.add(
                    RuleId::ReplyRemoved,
                    (false, true),
                    None,
                    format!("event `{}` no longer replies `{r}`: deployed clients expect it", n.name),
                    loc,
                    None,
                ),
                (Some(a), Some(b)) => {
                    let c = self.change(a, b, &mut sink);
                    if c != Change::Same {
                        sink.add(
                            RuleId::ReplyChanged,
                            c.reads(),
                            None,
                            format!("event `{}` replies `{b}` instead of `{a}`", n.name),
                            loc,
                            None,
                        );
                    }
                }
                (None, None) => {}
            }
            self.emit(sink.local, &subject, &n.name, REPLY);
            roots.push((n.name.clone(), REPLY, sink.reaches));
        }
        if of.to_clients && nf.to_clients {
            self.recipients(o.recipients.as_ref(), n.recipients.as_ref(), &subject, loc);
        }
        if o.deprecated.is_none() && n.deprecated.is_some() {
            self.finding(
                RuleId::EventDeprecated,
                Flows::default(),
                (true, true),
                &subject,
                format!("event `{}` is now deprecated", n.name),
                loc,
            );
        }
    }

    /// Findings of one event's own payload or reply, in its flows.
    fn emit(&mut self, local: Vec<Local>, subject: &str, event: &str, flows: Flows) {
        for l in local {
            let mut f = Finding::new(
                l.rule,
                Some(l.reads),
                flows.verdict(l.reads.0, l.reads.1),
                subject.to_owned(),
                BTreeMap::from([(event.to_owned(), flows)]),
                l.field,
                l.message,
                l.location,
                l.was,
            );
            f.severity_by_rule();
            self.out.push(f);
        }
    }

    // ── named types, by shape ──

    /// The pair of named types met at one place; compared once, later.
    fn pair(&mut self, old: Key, new: Key) -> usize {
        let key = (old, new);
        if let Some(&id) = self.pair_index.get(&key) {
            return id;
        }
        let id = self.pairs.len();
        self.pairs.push(Pair {
            old: key.0.clone(),
            new: key.1.clone(),
            found: Sink::default(),
            events: BTreeMap::new(),
        });
        self.pair_index.insert(key, id);
        self.pending.push_back(id);
        id
    }

    /// Compares every pair met, and the pairs those reach.
    fn drain(&mut self) {
        while let Some(id) = self.pending.pop_front() {
            let (ok, nk) = (self.pairs[id].old.clone(), self.pairs[id].new.clone());
            let (Some(&(_, o)), Some(&(_, n))) = (
                self.old_types.get(&(ok.0.as_str(), ok.1.as_str())),
                self.new_types.get(&(nk.0.as_str(), nk.1.as_str())),
            ) else {
                continue;
            };
            let mut sink = Sink::default();
            if ok != nk {
                let declared = n
                    .renamed_from
                    .as_deref()
                    .is_some_and(|r| r == ok.1 || r == format!("{}.{}", ok.0, ok.1));
                sink.add(
                    RuleId::TypeRenamed,
                    (true, true),
                    None,
                    format!(
                        "where `{}.{}` was used, `{}.{}` is{}: a type's name is not on the wire (what changed inside it is reported on its own); generated Rust and TypeScript names change",
                        ok.0,
                        ok.1,
                        nk.0,
                        nk.1,
                        if declared { " (declared `renamed_from`)" } else { "" }
                    ),
                    n.location.as_ref(),
                    o.location.as_ref(),
                );
            }
            self.type_kind(o, n, &mut sink);
            self.pairs[id].found = sink;
        }
    }

    /// Gives each pair the events (and flows) that reach it.
    fn spread(&mut self, roots: &[(String, Flows, Vec<usize>)]) {
        for (event, flows, start) in roots {
            let mut seen: HashSet<usize> = HashSet::new();
            let mut queue: VecDeque<usize> = start.iter().copied().collect();
            while let Some(id) = queue.pop_front() {
                if !seen.insert(id) {
                    continue;
                }
                let entry = self.pairs[id].events.entry(event.clone()).or_default();
                *entry = entry.union(*flows);
                queue.extend(self.pairs[id].found.reaches.iter().copied());
            }
        }
    }

    fn emit_pairs(&mut self) {
        for pair in std::mem::take(&mut self.pairs) {
            let subject = format!("{}.{}", pair.new.0, pair.new.1);
            let flows = pair
                .events
                .values()
                .fold(Flows::default(), |a, b| a.union(*b));
            for l in pair.found.local {
                let mut f = Finding::new(
                    l.rule,
                    Some(l.reads),
                    flows.verdict(l.reads.0, l.reads.1),
                    subject.clone(),
                    pair.events.clone(),
                    l.field,
                    l.message,
                    l.location,
                    l.was,
                );
                f.severity_by_rule();
                self.out.push(f);
            }
        }
    }

    /// Types of the old version with no successor: not declared under their name (or a
    /// `renamed_from`) and not met by shape anywhere.
    fn removed_types(&mut self, old: &Schema, new: &Schema) {
        let met: HashSet<&Key> = self.pair_index.keys().map(|(o, _)| o).collect();
        let renamed: HashSet<(String, String)> = new
            .modules
            .iter()
            .flat_map(|m| {
                m.types.iter().filter_map(move |t| {
                    let from = t.renamed_from.as_deref()?;
                    Some(match from.split_once('.') {
                        Some((module, name)) => (module.to_owned(), name.to_owned()),
                        None => (m.name.clone(), from.to_owned()),
                    })
                })
            })
            .collect();
        let mut removed = Vec::new();
        for m in &old.modules {
            for t in &m.types {
                let key = (m.name.clone(), t.name.clone());
                if met.contains(&key)
                    || renamed.contains(&key)
                    || self
                        .new_types
                        .contains_key(&(m.name.as_str(), t.name.as_str()))
                {
                    continue;
                }
                let anchor = new
                    .modules
                    .iter()
                    .find(|nm| nm.name == m.name)
                    .and_then(|nm| nm.location.clone());
                removed.push(Finding::new(
                    RuleId::TypeRemoved,
                    Some((true, true)),
                    Breaks::default(),
                    format!("{}.{}", m.name, t.name),
                    BTreeMap::new(),
                    None,
                    format!(
                        "type `{}` was removed; fields that used it are reported where they changed",
                        t.name
                    ),
                    anchor,
                    t.location.clone(),
                ));
            }
        }
        self.out.extend(removed);
    }

    fn type_kind(&mut self, o: &TypeDef, n: &TypeDef, sink: &mut Sink) {
        let loc = n.location.as_ref();
        match (&o.kind, &n.kind) {
            (TypeKind::Struct { fields: of }, TypeKind::Struct { fields: nf }) => {
                self.fields(of, nf, None, loc, sink);
            }
            (
                TypeKind::Enum {
                    values: ov,
                    open: oo,
                },
                TypeKind::Enum {
                    values: nv,
                    open: no,
                },
            ) => {
                self.openness(*oo, *no, "enum", &n.name, loc, sink);
                let old: Vec<&str> = ov.iter().map(|v| v.name.as_str()).collect();
                let new: Vec<&str> = nv.iter().map(|v| v.name.as_str()).collect();
                for v in new.iter().filter(|v| !old.contains(v)) {
                    // Old readers read a value they do not know when they are open.
                    let (reads, why) = if *oo {
                        (
                            (true, true),
                            "readers of the old schema receive it as an unknown value",
                        )
                    } else {
                        ((false, true), "readers of the old schema reject it")
                    };
                    sink.add(
                        RuleId::EnumValueAdded,
                        reads,
                        None,
                        format!("enum `{}` gained the value `{v}`: {why}", n.name),
                        loc,
                        None,
                    );
                }
                for v in old.iter().filter(|v| !new.contains(v)) {
                    // New readers that are open take it as unknown.
                    let (reads, why) = if *no {
                        (
                            (true, true),
                            "readers of the new schema receive it as an unknown value",
                        )
                    } else {
                        ((true, false), "writers of the old schema may still send it")
                    };
                    sink.add(
                        RuleId::EnumValueRemoved,
                        reads,
                        None,
                        format!("enum `{}` lost the value `{v}`: {why}", n.name),
                        loc,
                        o.location.as_ref(),
                    );
                }
            }
            (
                TypeKind::Union {
                    tag: ot,
                    variants: ov,
                    open: oo,
                },
                TypeKind::Union {
                    tag: nt,
                    variants: nv,
                    open: no,
                },
            ) => {
                if ot != nt {
                    sink.add(
                        RuleId::UnionTagChanged,
                        (false, false),
                        None,
                        format!("union `{}` is now tagged by `{nt}` instead of `{ot}`: no reader understands the other's JSON", n.name),
                        loc,
                        None,
                    );
                    return;
                }
                self.openness(*oo, *no, "union", &n.name, loc, sink);
                for v in nv.iter().filter(|v| !ov.iter().any(|o| o.name == v.name)) {
                    let (reads, why) = if *oo {
                        (
                            (true, true),
                            "readers of the old schema receive it as an unknown variant",
                        )
                    } else {
                        ((false, true), "readers of the old schema reject it")
                    };
                    sink.add(
                        RuleId::UnionVariantAdded,
                        reads,
                        None,
                        format!("union `{}` gained the variant `{}`: {why}", n.name, v.name),
                        loc,
                        None,
                    );
                }
                for v in ov.iter().filter(|v| !nv.iter().any(|o| o.name == v.name)) {
                    let (reads, why) = if *no {
                        (
                            (true, true),
                            "readers of the new schema receive it as an unknown variant",
                        )
                    } else {
                        ((true, false), "writers of the old schema may still send it")
                    };
                    sink.add(
                        RuleId::UnionVariantRemoved,
                        reads,
                        None,
                        format!("union `{}` lost the variant `{}`: {why}", n.name, v.name),
                        loc,
                        o.location.as_ref(),
                    );
                }
                for ovar in ov {
                    let Some(nvar) = nv.iter().find(|v| v.name == ovar.name) else {
                        continue;
                    };
                    self.variant(
                        ovar.payload.as_ref(),
                        nvar.payload.as_ref(),
                        &ovar.name,
                        &n.name,
                        loc,
                        sink,
                    );
                }
            }
            (ok, nk) => {
                let word = |k: &TypeKind| match k {
                    TypeKind::Struct { .. } => "a struct",
                    TypeKind::Enum { .. } => "an enum",
                    TypeKind::Union { .. } => "a union",
                };
                sink.add(
                    RuleId::TypeKindChanged,
                    (false, false),
                    None,
                    format!("`{}` was {} and is now {}", n.name, word(ok), word(nk)),
                    loc,
                    None,
                );
            }
        }
    }

    fn openness(
        &mut self,
        old: bool,
        new: bool,
        what: &str,
        name: &str,
        loc: Option<&Location>,
        sink: &mut Sink,
    ) {
        match (old, new) {
            (true, false) => sink.add(
                RuleId::OpennessChanged,
                (true, false),
                None,
                format!("{what} `{name}` is no longer open: writers of the old schema may send values its readers now refuse"),
                loc,
                None,
            ),
            (false, true) => sink.add(
                RuleId::OpennessChanged,
                (true, true),
                None,
                format!("{what} `{name}` is now open: its readers accept values they do not know"),
                loc,
                None,
            ),
            _ => {}
        }
    }

    /// A union variant's fields: none, or those of a struct. A variant with no fields and one
    /// whose struct has only optional fields read each other's JSON.
    fn variant(
        &mut self,
        old: Option<&TypeRef>,
        new: Option<&TypeRef>,
        variant: &str,
        union: &str,
        loc: Option<&Location>,
        sink: &mut Sink,
    ) {
        let fields_of = |types: &HashMap<(&str, &str), (&Module, &TypeDef)>,
                         t: Option<&TypeRef>|
         -> Option<Vec<Field>> {
            match t {
                None => Some(Vec::new()),
                Some(TypeRef::Named { module, name }) => {
                    match types.get(&(module.as_str(), name.as_str())) {
                        Some((
                            _,
                            TypeDef {
                                kind: TypeKind::Struct { fields },
                                ..
                            },
                        )) => Some(fields.clone()),
                        _ => None,
                    }
                }
                Some(_) => None,
            }
        };
        match (old, new) {
            // Two structs: a pair, compared by shape.
            (Some(a), Some(b)) => {
                self.change(a, b, sink);
            }
            (None, None) => {}
            // `{}` ↔ a struct: compared as fields, inside the union.
            (a, b) => match (fields_of(&self.old_types, a), fields_of(&self.new_types, b)) {
                (Some(of), Some(nf)) => {
                    let mut inner = Sink::default();
                    self.fields(&of, &nf, None, loc, &mut inner);
                    for mut l in inner.local {
                        l.field = Some(match l.field {
                            Some(f) => format!("{variant}.{f}"),
                            None => variant.to_owned(),
                        });
                        sink.local.push(l);
                    }
                    sink.reaches.extend(inner.reaches);
                }
                // Not a struct (only in a hand-written IR file).
                _ => sink.add(
                    RuleId::TypeKindChanged,
                    (false, false),
                    Some(variant.to_owned()),
                    format!("variant `{variant}` of union `{union}` carries another kind of type"),
                    loc,
                    None,
                ),
            },
        }
    }

    // ── fields ──

    /// Compares two field lists; `parent` prefixes field paths, `anchor` locates removals.
    fn fields(
        &mut self,
        old: &[Field],
        new: &[Field],
        parent: Option<&str>,
        anchor: Option<&Location>,
        sink: &mut Sink,
    ) {
        let path = |name: &str| match parent {
            Some(p) => format!("{p}.{name}"),
            None => name.to_owned(),
        };
        for f in old.iter().filter(|f| !new.iter().any(|n| n.name == f.name)) {
            let reads = if f.is_required() {
                (false, true)
            } else {
                (true, true)
            };
            sink.add(
                RuleId::FieldRemoved,
                reads,
                Some(path(&f.name)),
                format!(
                    "field `{}` was removed{}",
                    f.name,
                    if f.is_required() {
                        ": readers of the old schema require it"
                    } else {
                        ""
                    }
                ),
                anchor,
                f.location.as_ref(),
            );
        }
        for f in new.iter().filter(|f| !old.iter().any(|o| o.name == f.name)) {
            let reads = if f.is_required() {
                (true, false)
            } else {
                (true, true)
            };
            sink.add(
                RuleId::FieldAdded,
                reads,
                Some(path(&f.name)),
                format!(
                    "field `{}` was added{}",
                    f.name,
                    if f.is_required() {
                        " as required: writers of the old schema do not send it"
                    } else {
                        ""
                    }
                ),
                f.location.as_ref(),
                None,
            );
        }
        for o in old {
            let Some(n) = new.iter().find(|n| n.name == o.name) else {
                continue;
            };
            self.field(o, n, path(&n.name), sink);
        }
    }

    fn field(&mut self, o: &Field, n: &Field, path: String, sink: &mut Sink) {
        let loc = n.location.as_ref();
        let name = Some(path);
        match (o.is_required(), n.is_required()) {
            (true, false) => sink.add(
                RuleId::FieldOptional,
                (false, true),
                name.clone(),
                format!(
                    "field `{}` may now be absent or null: readers of the old schema require it",
                    n.name
                ),
                loc,
                None,
            ),
            (false, true) => sink.add(
                RuleId::FieldRequired,
                (true, false),
                name.clone(),
                format!(
                    "field `{}` is now required: writers of the old schema may omit it",
                    n.name
                ),
                loc,
                None,
            ),
            // Neither required: one may be `null` (`T?`), the other only absent (a default).
            _ if o.ty.is_optional() != n.ty.is_optional() => {
                if n.ty.is_optional() {
                    sink.add(
                        RuleId::FieldTypeWidened,
                        (false, true),
                        name.clone(),
                        format!("field `{}` may now be null (was `{}`): readers of the old schema refuse null", n.name, o.ty),
                        loc,
                        None,
                    );
                } else {
                    sink.add(
                        RuleId::FieldTypeNarrowed,
                        (true, false),
                        name.clone(),
                        format!("field `{}` no longer accepts null (was `{}`): writers of the old schema may send it", n.name, o.ty),
                        loc,
                        None,
                    );
                }
            }
            _ => {}
        }
        // Integers: what counts is the set of values the type and its bounds admit together
        // (`u8` is `{ type = "u16", max = 255 }`), judged once.
        if let Some((before, after)) = integer_set(o, n) {
            let change = interval_change(before, after);
            if change != Change::Same {
                let same_type = o.ty.unwrap_optional() == n.ty.unwrap_optional();
                let rule = match (change, same_type) {
                    (Change::Widened, true) => RuleId::ConstraintWidened,
                    (Change::Narrowed, true) => RuleId::ConstraintNarrowed,
                    (_, true) => RuleId::ConstraintChanged,
                    (Change::Widened, false) => RuleId::FieldTypeWidened,
                    (Change::Narrowed, false) => RuleId::FieldTypeNarrowed,
                    (_, false) => RuleId::FieldTypeChanged,
                };
                sink.add(
                    rule,
                    change.reads(),
                    name.clone(),
                    format!(
                        "field `{}` admitted {} to {} and now admits {} to {}{}",
                        n.name,
                        before.0,
                        before.1,
                        after.0,
                        after.1,
                        match change {
                            Change::Widened => ": readers of the old schema reject the new values",
                            Change::Narrowed =>
                                ": writers of the old schema may send values now refused",
                            _ => "",
                        }
                    ),
                    loc,
                    None,
                );
            }
            self.default_changed(o, n, name, loc, sink);
            return;
        }
        let change = self.change(o.ty.unwrap_optional(), n.ty.unwrap_optional(), sink);
        let rule = match change {
            Change::Same => None,
            Change::Widened => Some((RuleId::FieldTypeWidened, format!("field `{}` widened from `{}` to `{}`: readers of the old schema reject the new values", n.name, o.ty, n.ty))),
            Change::Narrowed => Some((RuleId::FieldTypeNarrowed, format!("field `{}` narrowed from `{}` to `{}`: writers of the old schema may send values now refused", n.name, o.ty, n.ty))),
            Change::Changed => Some((RuleId::FieldTypeChanged, format!("field `{}` changed type from `{}` to `{}`", n.name, o.ty, n.ty))),
        };
        if let Some((rule, why)) = rule {
            sink.add(rule, change.reads(), name.clone(), why, loc, None);
        }
        let c = constraints(&o.constraints, &n.constraints);
        if c != Change::Same {
            let (rule, what) = match c {
                Change::Widened => (
                    RuleId::ConstraintWidened,
                    "admits more values: readers of the old schema reject the new ones",
                ),
                Change::Narrowed => (
                    RuleId::ConstraintNarrowed,
                    "admits fewer values: writers of the old schema may send values now refused",
                ),
                _ => (
                    RuleId::ConstraintChanged,
                    "admits other values: neither version's readers accept all of the other's",
                ),
            };
            sink.add(
                rule,
                c.reads(),
                name.clone(),
                format!(
                    "the constraints of field `{}` changed ({} → {}); it {what}",
                    n.name,
                    constraints_text(&o.constraints),
                    constraints_text(&n.constraints)
                ),
                loc,
                None,
            );
        }
        self.default_changed(o, n, name, loc, sink);
    }

    fn default_changed(
        &mut self,
        o: &Field,
        n: &Field,
        name: Option<String>,
        loc: Option<&Location>,
        sink: &mut Sink,
    ) {
        if o.default != n.default
            && o.ty.is_optional() == n.ty.is_optional()
            && o.default.is_some()
            && n.default.is_some()
        {
            sink.add(
                RuleId::DefaultChanged,
                (true, true),
                name,
                format!(
                    "the default of field `{}` changed: readers fill absent values differently",
                    n.name
                ),
                loc,
                None,
            );
        }
    }

    /// How a value type changed (optionality excluded, handled per field). Two named types
    /// met at the same place are a pair, compared by shape on its own: no change here.
    fn change(&mut self, o: &TypeRef, n: &TypeRef, sink: &mut Sink) -> Change {
        match (o, n) {
            (TypeRef::Optional(a), TypeRef::Optional(b))
            | (TypeRef::List(a), TypeRef::List(b))
            | (TypeRef::Map(a), TypeRef::Map(b)) => self.change(a, b, sink),
            (TypeRef::Optional(a), b) => self.change(a, b, sink).then(Change::Narrowed),
            (a, TypeRef::Optional(b)) => self.change(a, b, sink).then(Change::Widened),
            (TypeRef::Primitive(p), TypeRef::Primitive(q)) => primitive(*p, *q),
            (_, TypeRef::Primitive(Primitive::Json)) => Change::Widened,
            (TypeRef::Primitive(Primitive::Json), _) => Change::Narrowed,
            (
                TypeRef::Named {
                    module: om,
                    name: on,
                },
                TypeRef::Named {
                    module: nm,
                    name: nn,
                },
            ) => {
                let id = self.pair((om.clone(), on.clone()), (nm.clone(), nn.clone()));
                sink.reaches.push(id);
                Change::Same
            }
            // An enum's values are strings: an enum → `string` admits more, the reverse fewer.
            (TypeRef::Named { module, name }, TypeRef::Primitive(Primitive::String))
                if self.is_enum(&self.old_types, module, name) =>
            {
                Change::Widened
            }
            (TypeRef::Primitive(Primitive::String), TypeRef::Named { module, name })
                if self.is_enum(&self.new_types, module, name) =>
            {
                Change::Narrowed
            }
            _ => Change::Changed,
        }
    }

    fn is_enum(
        &self,
        types: &HashMap<(&str, &str), (&Module, &TypeDef)>,
        module: &str,
        name: &str,
    ) -> bool {
        matches!(
            types.get(&(module, name)),
            Some((
                _,
                TypeDef {
                    kind: TypeKind::Enum { .. },
                    ..
                }
            ))
        )
    }

    // ── recipients ──

    fn recipients(
        &mut self,
        o: Option<&Recipients>,
        n: Option<&Recipients>,
        subject: &str,
        loc: Option<&Location>,
    ) {
        let rules = |r: Option<&Recipients>| -> Vec<String> {
            r.map(|r| r.rules.iter().map(crate::summary::rule).collect())
                .unwrap_or_default()
        };
        let (or, nr) = (rules(o), rules(n));
        let added: Vec<&str> = nr
            .iter()
            .filter(|r| !or.contains(r))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = or
            .iter()
            .filter(|r| !nr.contains(r))
            .map(String::as_str)
            .collect();
        let mut wider = !added.is_empty();
        let mut narrower = !removed.is_empty();
        let mut notes = Vec::new();
        if !added.is_empty() {
            notes.push(format!("now also {}", added.join(", ")));
        }
        if !removed.is_empty() {
            notes.push(format!("no longer {}", removed.join(", ")));
        }
        let scope = |r: Option<&Recipients>| r.map(|r| r.scope.clone());
        match (scope(o), scope(n)) {
            (a, b) if a == b => {}
            (Some(Scope::Tenant { .. }), Some(Scope::Platform)) => {
                wider = true;
                notes.push("now across every tenant".to_owned());
            }
            (Some(Scope::Platform), Some(Scope::Tenant { .. })) => {
                narrower = true;
                notes.push("now inside one tenant".to_owned());
            }
            (Some(Scope::Tenant { field: a }), Some(Scope::Tenant { field: b })) => {
                (wider, narrower) = (true, true);
                notes.push(format!(
                    "roles, rooms and everyone now resolve in the tenant in `{b}` (was `{a}`)"
                ));
            }
            (Some(a), Some(b)) => {
                (wider, narrower) = (true, true);
                notes.push(format!(
                    "scope {} is now {}",
                    scope_word(&a),
                    scope_word(&b)
                ));
            }
            _ => {}
        }
        let (oe, ne) = (
            o.and_then(|r| r.except.clone()),
            n.and_then(|r| r.except.clone()),
        );
        match (&oe, &ne) {
            (Some(_), None) => {
                wider = true;
                notes.push("the actor now receives it too".to_owned());
            }
            (None, Some(_)) => {
                narrower = true;
                notes.push("the actor no longer receives it".to_owned());
            }
            (Some(a), Some(b)) if a != b => {
                (wider, narrower) = (true, true);
                notes.push(format!("the user excluded is now the one in `{b}` (was `{a}`): the one in `{a}` receives it again"));
            }
            _ => {}
        }
        let rule = match (wider, narrower) {
            (true, false) => RuleId::RecipientsWidened,
            (false, true) => RuleId::RecipientsNarrowed,
            (true, true) => RuleId::RecipientsChanged,
            (false, false) => return,
        };
        self.finding(
            rule,
            Flows::default(),
            (true, true),
            subject,
            format!(
                "who receives `{subject}` changed: {} — check who may see this data",
                notes.join("; ")
            ),
            loc,
        );
    }
}

fn scope_word(s: &Scope) -> String {
    match s {
        Scope::Tenant { field } => format!("the tenant in `{field}`"),
        Scope::Platform => "every tenant".to_owned(),
        Scope::Users => "users only".to_owned(),
    }
}

/// The integers two integer fields admit, type and bounds together: `(min, max)` of each.
fn integer_set(o: &Field, n: &Field) -> Option<((i128, i128), (i128, i128))> {
    fn set(f: &Field) -> Option<(i128, i128)> {
        use tidings::schema::Number;
        let TypeRef::Primitive(p) = f.ty.unwrap_optional() else {
            return None;
        };
        let (lo, hi) = p.integer_range()?;
        let bound = |b: Option<Number>, or: i128| match b {
            None => Some(or),
            Some(Number::Int(v)) => Some(v),
            Some(Number::Float(_)) => None,
        };
        let lo = bound(f.constraints.min, lo)?.max(lo);
        let hi = bound(f.constraints.max, hi)?.min(hi);
        Some((lo, hi))
    }
    Some((set(o)?, set(n)?))
}

/// How an interval of admitted values changed.
fn interval_change(before: (i128, i128), after: (i128, i128)) -> Change {
    if before == after {
        Change::Same
    } else if after.0 <= before.0 && before.1 <= after.1 {
        Change::Widened
    } else if before.0 <= after.0 && after.1 <= before.1 {
        Change::Narrowed
    } else {
        Change::Changed
    }
}

fn primitive(p: Primitive, q: Primitive) -> Change {
    use Primitive as P;
    if p == q {
        return Change::Same;
    }
    if let (Some((pl, ph)), Some((ql, qh))) = (p.integer_range(), q.integer_range()) {
        return if ql <= pl && ph <= qh {
            Change::Widened
        } else if pl <= ql && qh <= ph {
            Change::Narrowed
        } else {
            Change::Changed
        };
    }
    match (p, q) {
        (_, P::Json) => Change::Widened,
        (P::Json, _) => Change::Narrowed,
        (P::Uuid | P::Timestamp, P::String) => Change::Widened,
        (P::String, P::Uuid | P::Timestamp) => Change::Narrowed,
        (P::F32, P::F64) => Change::Widened,
        (P::F64, P::F32) => Change::Narrowed,
        (a, P::F64 | P::F32) if a.is_integer() => Change::Widened,
        (P::F64 | P::F32, b) if b.is_integer() => Change::Narrowed,
        _ => Change::Changed,
    }
}

/// How the set of values admitted by constraints changed.
fn constraints(o: &Constraints, n: &Constraints) -> Change {
    use std::cmp::Ordering;
    use tidings::schema::Number;
    // Bounds compare exactly (no rounding through f64). `widens`: the way a bound moves when
    // it admits more (down for a lower bound, up for an upper one).
    let bound = |o: Option<Number>, n: Option<Number>, widens: Ordering| match (o, n) {
        (None, None) => Change::Same,
        (Some(_), None) => Change::Widened,
        (None, Some(_)) => Change::Narrowed,
        (Some(a), Some(b)) => match b.cmp_exact(a).unwrap_or(Ordering::Equal) {
            Ordering::Equal => Change::Same,
            moved if moved == widens => Change::Widened,
            _ => Change::Narrowed,
        },
    };
    let lower = |o, n| bound(o, n, Ordering::Less);
    let upper = |o, n| bound(o, n, Ordering::Greater);
    let len = |x: Option<u64>| x.map(|v| Number::Int(v.into()));
    // `min_length = 0` admits what no bound admits.
    let min_len = |x: Option<u64>| len(x.filter(|&v| v > 0));
    lower(o.min, n.min)
        .then(upper(o.max, n.max))
        .then(lower(min_len(o.min_length), min_len(n.min_length)))
        .then(upper(len(o.max_length), len(n.max_length)))
}

fn constraints_text(c: &Constraints) -> String {
    let mut parts = Vec::new();
    if let Some(v) = c.min {
        parts.push(format!("min {v}"));
    }
    if let Some(v) = c.max {
        parts.push(format!("max {v}"));
    }
    if let Some(v) = c.min_length {
        parts.push(format!("min_length {v}"));
    }
    if let Some(v) = c.max_length {
        parts.push(format!("max_length {v}"));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}
