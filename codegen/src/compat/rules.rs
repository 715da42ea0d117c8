//! The rules. Each compares one aspect of two schema versions and yields findings with a stable
//! id; docs/compat.md lists them all.

use std::collections::{HashMap, HashSet};

use tidings::schema::{
    Constraints, Delivery, EventDef, Field, Location, Module, Primitive, Recipients, Rule, Schema,
    Scope, TypeDef, TypeKind, TypeRef,
};

use super::{Breaks, Finding, Flows, Severity};

/// Every rule id, for the docs test and the config check.
pub const RULES: &[&str] = &[
    "event-removed",
    "deprecated-event-removed",
    "event-added",
    "event-renamed",
    "wire-name-changed",
    "direction-changed",
    "delivery-changed",
    "reply-added",
    "reply-removed",
    "reply-changed",
    "recipients-widened",
    "recipients-narrowed",
    "recipients-changed",
    "event-deprecated",
    "field-removed",
    "field-added",
    "field-optional",
    "field-required",
    "field-type-changed",
    "field-type-widened",
    "field-type-narrowed",
    "constraint-widened",
    "constraint-narrowed",
    "constraint-changed",
    "default-changed",
    "type-kind-changed",
    "type-renamed",
    "type-removed",
    "enum-value-added",
    "enum-value-removed",
    "union-tag-changed",
    "union-variant-added",
    "union-variant-removed",
    "union-variant-changed",
];

type Key = (String, String);

struct Cx<'a> {
    old: &'a Schema,
    new: &'a Schema,
    old_usage: HashMap<Key, Flows>,
    new_usage: HashMap<Key, Flows>,
    /// Old type → its name in the new schema (same name, or declared `renamed_from`).
    type_map: HashMap<Key, Key>,
    out: Vec<Finding>,
}

/// How a value type changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
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

/// Every named type by module and name.
fn type_index(schema: &Schema) -> HashMap<(&str, &str), &TypeDef> {
    schema
        .modules
        .iter()
        .flat_map(|m| {
            m.types
                .iter()
                .map(move |t| ((m.name.as_str(), t.name.as_str()), t))
        })
        .collect()
}

fn usage(schema: &Schema) -> HashMap<Key, Flows> {
    fn walk(
        types: &HashMap<(&str, &str), &TypeDef>,
        ty: &TypeRef,
        flows: Flows,
        out: &mut HashMap<Key, Flows>,
    ) {
        match ty {
            TypeRef::Optional(i) | TypeRef::List(i) | TypeRef::Map(i) => walk(types, i, flows, out),
            TypeRef::Named { module, name } => {
                let key = (module.clone(), name.clone());
                let before = out.get(&key).copied().unwrap_or_default();
                let after = before.union(flows);
                if after == before && out.contains_key(&key) {
                    return;
                }
                out.insert(key, after);
                match types
                    .get(&(module.as_str(), name.as_str()))
                    .map(|t| &t.kind)
                {
                    Some(TypeKind::Struct { fields }) => {
                        fields.iter().for_each(|f| walk(types, &f.ty, flows, out))
                    }
                    Some(TypeKind::Union { variants, .. }) => variants
                        .iter()
                        .filter_map(|v| v.payload.as_ref())
                        .for_each(|p| walk(types, p, flows, out)),
                    _ => {}
                }
            }
            TypeRef::Primitive(_) => {}
        }
    }
    let types = type_index(schema);
    let mut out = HashMap::new();
    for (_, e) in schema.events() {
        let flows = flows_of(e);
        for f in &e.payload {
            walk(&types, &f.ty, flows, &mut out);
        }
        if let Some(r) = &e.reply {
            walk(
                &types,
                r,
                Flows {
                    to_clients: true,
                    to_servers: false,
                },
                &mut out,
            );
        }
    }
    out
}

/// Runs every rule.
pub(super) fn compare(old: &Schema, new: &Schema) -> Vec<Finding> {
    let (old_types, new_types) = (type_index(old), type_index(new));
    let mut type_map = HashMap::new();
    for m in &new.modules {
        for t in &m.types {
            let from = t.renamed_from.clone().unwrap_or_else(|| t.name.clone());
            if old_types.contains_key(&(m.name.as_str(), from.as_str())) {
                type_map.insert((m.name.clone(), from), (m.name.clone(), t.name.clone()));
            }
        }
    }
    for m in &old.modules {
        for t in &m.types {
            let key = (m.name.clone(), t.name.clone());
            if !type_map.contains_key(&key)
                && new_types.contains_key(&(m.name.as_str(), t.name.as_str()))
            {
                type_map.insert(key.clone(), key);
            }
        }
    }
    let mut cx = Cx {
        old,
        new,
        old_usage: usage(old),
        new_usage: usage(new),
        type_map,
        out: Vec::new(),
    };
    cx.types();
    cx.events();
    cx.out
}

fn required(f: &Field) -> bool {
    f.is_required()
}

impl Cx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule: &'static str,
        flows: Flows,
        reads: (bool, bool),
        quiet: Severity,
        subject: &str,
        event: Option<&str>,
        field: Option<&str>,
        message: String,
        location: Option<&Location>,
    ) {
        let breaks = flows.verdict(reads.0, reads.1);
        self.out.push(Finding {
            rule,
            severity: if breaks.any() {
                Severity::Breaking
            } else {
                quiet
            },
            breaks,
            deploy_first: breaks.deploy_first(),
            subject: subject.to_owned(),
            event: event.map(str::to_owned),
            field: field.map(str::to_owned),
            message,
            location: location.cloned(),
        });
    }

    // ── types ──

    fn types(&mut self) {
        let (old_types, new_types) = (type_index(self.old), type_index(self.new));
        let pairs: Vec<(Key, Key)> = self
            .type_map
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let mut pairs = pairs;
        pairs.sort();
        for (old_key, new_key) in pairs {
            let (Some(o), Some(n)) = (
                old_types.get(&(old_key.0.as_str(), old_key.1.as_str())),
                new_types.get(&(new_key.0.as_str(), new_key.1.as_str())),
            ) else {
                continue;
            };
            let flows = self
                .old_usage
                .get(&old_key)
                .copied()
                .unwrap_or_default()
                .union(self.new_usage.get(&new_key).copied().unwrap_or_default());
            let subject = format!("{}.{}", new_key.0, new_key.1);
            if old_key != new_key {
                self.push(
                    "type-renamed",
                    Flows::default(),
                    (true, true),
                    Severity::Warning,
                    &subject,
                    None,
                    None,
                    format!("type `{}` is now `{}`: the wire is unchanged, generated Rust and TypeScript names change", old_key.1, new_key.1),
                    n.location.as_ref(),
                );
            }
            self.type_kind(o, n, flows, &subject);
        }
        // Types that disappeared without a successor: only worth noting; their uses changed type.
        for m in &self.old.modules {
            for t in &m.types {
                let key = (m.name.clone(), t.name.clone());
                if !self.type_map.contains_key(&key) {
                    let subject = format!("{}.{}", m.name, t.name);
                    let loc = t.location.clone();
                    self.out.push(Finding {
                        rule: "type-removed",
                        severity: Severity::Info,
                        breaks: Breaks::default(),
                        deploy_first: None,
                        subject,
                        event: None,
                        field: None,
                        message: format!("type `{}` was removed; fields that used it are reported where they changed", t.name),
                        location: loc,
                    });
                }
            }
        }
    }

    fn type_kind(&mut self, o: &TypeDef, n: &TypeDef, flows: Flows, subject: &str) {
        let loc = n.location.as_ref();
        match (&o.kind, &n.kind) {
            (TypeKind::Struct { fields: of }, TypeKind::Struct { fields: nf }) => {
                self.fields(of, nf, flows, subject, None);
            }
            (TypeKind::Enum { values: ov }, TypeKind::Enum { values: nv }) => {
                let old: Vec<&str> = ov.iter().map(|v| v.name.as_str()).collect();
                let new: Vec<&str> = nv.iter().map(|v| v.name.as_str()).collect();
                for v in new.iter().filter(|v| !old.contains(v)) {
                    self.push(
                        "enum-value-added",
                        flows,
                        (false, true),
                        Severity::Info,
                        subject,
                        None,
                        None,
                        format!(
                            "enum `{}` gained the value `{v}`: readers of the old schema reject it",
                            n.name
                        ),
                        loc,
                    );
                }
                for v in old.iter().filter(|v| !new.contains(v)) {
                    self.push("enum-value-removed", flows, (true, false), Severity::Info, subject, None, None,
                        format!("enum `{}` lost the value `{v}`: writers of the old schema may still send it", n.name), loc);
                }
            }
            (
                TypeKind::Union {
                    tag: ot,
                    variants: ov,
                },
                TypeKind::Union {
                    tag: nt,
                    variants: nv,
                },
            ) => {
                if ot != nt {
                    self.push("union-tag-changed", flows, (false, false), Severity::Info, subject, None, None,
                        format!("union `{}` is now tagged by `{nt}` instead of `{ot}`: no reader understands the other's JSON", n.name), loc);
                    return;
                }
                for v in nv.iter().filter(|v| !ov.iter().any(|o| o.name == v.name)) {
                    self.push("union-variant-added", flows, (false, true), Severity::Info, subject, None, None,
                        format!("union `{}` gained the variant `{}`: readers of the old schema reject it", n.name, v.name), loc);
                }
                for v in ov.iter().filter(|v| !nv.iter().any(|o| o.name == v.name)) {
                    self.push("union-variant-removed", flows, (true, false), Severity::Info, subject, None, None,
                        format!("union `{}` lost the variant `{}`: writers of the old schema may still send it", n.name, v.name), loc);
                }
                for o in ov {
                    let Some(nvv) = nv.iter().find(|v| v.name == o.name) else {
                        continue;
                    };
                    let change = match (&o.payload, &nvv.payload) {
                        (None, None) => Change::Same,
                        (Some(a), Some(b)) => self.change(a, b),
                        _ => Change::Changed,
                    };
                    if change != Change::Same {
                        self.push(
                            "union-variant-changed",
                            flows,
                            change.reads(),
                            Severity::Info,
                            subject,
                            None,
                            None,
                            format!(
                                "variant `{}` of union `{}` carries another type",
                                o.name, n.name
                            ),
                            loc,
                        );
                    }
                }
            }
            (ok, nk) => {
                let word = |k: &TypeKind| match k {
                    TypeKind::Struct { .. } => "a struct",
                    TypeKind::Enum { .. } => "an enum",
                    TypeKind::Union { .. } => "a union",
                };
                self.push(
                    "type-kind-changed",
                    flows,
                    (false, false),
                    Severity::Info,
                    subject,
                    None,
                    None,
                    format!("`{}` was {} and is now {}", n.name, word(ok), word(nk)),
                    loc,
                );
            }
        }
    }

    // ── fields ──

    fn fields(
        &mut self,
        old: &[Field],
        new: &[Field],
        flows: Flows,
        subject: &str,
        event: Option<&str>,
    ) {
        for f in old.iter().filter(|f| !new.iter().any(|n| n.name == f.name)) {
            let reads = if required(f) {
                (false, true)
            } else {
                (true, true)
            };
            self.push(
                "field-removed",
                flows,
                reads,
                Severity::Info,
                subject,
                event,
                Some(&f.name),
                format!(
                    "field `{}` was removed{}",
                    f.name,
                    if required(f) {
                        ": readers of the old schema require it"
                    } else {
                        ""
                    }
                ),
                f.location.as_ref(),
            );
        }
        for f in new.iter().filter(|f| !old.iter().any(|o| o.name == f.name)) {
            let reads = if required(f) {
                (true, false)
            } else {
                (true, true)
            };
            self.push(
                "field-added",
                flows,
                reads,
                Severity::Info,
                subject,
                event,
                Some(&f.name),
                format!(
                    "field `{}` was added{}",
                    f.name,
                    if required(f) {
                        " as required: writers of the old schema do not send it"
                    } else {
                        ""
                    }
                ),
                f.location.as_ref(),
            );
        }
        for o in old {
            let Some(n) = new.iter().find(|n| n.name == o.name) else {
                continue;
            };
            self.field(o, n, flows, subject, event);
        }
    }

    fn field(&mut self, o: &Field, n: &Field, flows: Flows, subject: &str, event: Option<&str>) {
        let loc = n.location.as_ref();
        let name = Some(n.name.as_str());
        match (required(o), required(n)) {
            (true, false) => self.push(
                "field-optional",
                flows,
                (false, true),
                Severity::Info,
                subject,
                event,
                name,
                format!(
                    "field `{}` may now be absent or null: readers of the old schema require it",
                    n.name
                ),
                loc,
            ),
            (false, true) => self.push(
                "field-required",
                flows,
                (true, false),
                Severity::Info,
                subject,
                event,
                name,
                format!(
                    "field `{}` is now required: writers of the old schema may omit it",
                    n.name
                ),
                loc,
            ),
            _ => {}
        }
        let change = self.change(o.ty.unwrap_optional(), n.ty.unwrap_optional());
        let (rule, why) = match change {
            Change::Same => ("", String::new()),
            Change::Widened => ("field-type-widened", format!("field `{}` widened from `{}` to `{}`: readers of the old schema reject the new values", n.name, o.ty, n.ty)),
            Change::Narrowed => ("field-type-narrowed", format!("field `{}` narrowed from `{}` to `{}`: writers of the old schema may send values now refused", n.name, o.ty, n.ty)),
            Change::Changed => ("field-type-changed", format!("field `{}` changed type from `{}` to `{}`", n.name, o.ty, n.ty)),
        };
        if !rule.is_empty() {
            self.push(
                rule,
                flows,
                change.reads(),
                Severity::Info,
                subject,
                event,
                name,
                why,
                loc,
            );
        }
        let c = constraints(&o.constraints, &n.constraints);
        if c != Change::Same {
            let (rule, what) = match c {
                Change::Widened => (
                    "constraint-widened",
                    "admits more values: readers of the old schema reject the new ones",
                ),
                Change::Narrowed => (
                    "constraint-narrowed",
                    "admits fewer values: writers of the old schema may send values now refused",
                ),
                _ => (
                    "constraint-changed",
                    "admits other values: neither version's readers accept all of the other's",
                ),
            };
            self.push(
                rule,
                flows,
                c.reads(),
                Severity::Info,
                subject,
                event,
                name,
                format!(
                    "the constraints of field `{}` changed ({} → {}); it {what}",
                    n.name,
                    describe(&o.constraints),
                    describe(&n.constraints)
                ),
                loc,
            );
        }
        if o.default != n.default
            && o.ty.is_optional() == n.ty.is_optional()
            && o.default.is_some()
            && n.default.is_some()
        {
            self.push(
                "default-changed",
                Flows::default(),
                (true, true),
                Severity::Warning,
                subject,
                event,
                name,
                format!(
                    "the default of field `{}` changed: readers fill absent values differently",
                    n.name
                ),
                loc,
            );
        }
    }

    /// How a value type changed (optionality excluded, handled per field).
    fn change(&self, o: &TypeRef, n: &TypeRef) -> Change {
        match (o, n) {
            (TypeRef::Optional(a), TypeRef::Optional(b))
            | (TypeRef::List(a), TypeRef::List(b))
            | (TypeRef::Map(a), TypeRef::Map(b)) => self.change(a, b),
            (TypeRef::Optional(a), b) => self.change(a, b).then(Change::Narrowed),
            (a, TypeRef::Optional(b)) => self.change(a, b).then(Change::Widened),
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
            ) => match self.type_map.get(&(om.clone(), on.clone())) {
                Some((m, n)) if m == nm && n == nn => Change::Same,
                _ => Change::Changed,
            },
            _ => Change::Changed,
        }
    }

    // ── events ──

    fn events(&mut self) {
        let mut matched_old: HashSet<(String, String)> = HashSet::new();
        let old_index: HashMap<(&str, &str), &EventDef> = self
            .old
            .events()
            .map(|(m, e)| ((m.name.as_str(), e.key.as_str()), e))
            .collect();
        let new_events: Vec<(&Module, &EventDef)> = self.new.events().collect();
        for (m, n) in new_events {
            let from = n.renamed_from.clone().unwrap_or_else(|| n.key.clone());
            let old = old_index.get(&(m.name.as_str(), from.as_str())).copied();
            match old {
                Some(o) => {
                    matched_old.insert((m.name.clone(), o.key.clone()));
                    self.event(o, n);
                }
                None => {
                    let flows = flows_of(n);
                    // Clients sending a new event to servers that do not know it yet get errors.
                    let added = Flows {
                        to_clients: false,
                        to_servers: flows.to_servers,
                    };
                    self.push(
                        "event-added",
                        added,
                        (false, true),
                        Severity::Info,
                        &n.name,
                        Some(&n.name),
                        None,
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
            }
        }
        let old_events: Vec<(&Module, &EventDef)> = self.old.events().collect();
        for (m, o) in old_events {
            if matched_old.contains(&(m.name.clone(), o.key.clone())) {
                continue;
            }
            self.removed_event(o);
        }
    }

    fn removed_event(&mut self, o: &EventDef) {
        let flows = flows_of(o);
        if o.deprecated.is_some() {
            self.push(
                "deprecated-event-removed",
                Flows::default(),
                (true, true),
                Severity::Warning,
                &o.name,
                Some(&o.name),
                None,
                format!("event `{}`, deprecated before, was removed", o.name),
                o.location.as_ref(),
            );
            return;
        }
        // Deployed clients listen for it (servers stop sending) or send it (servers stop handling).
        let breaks = Breaks {
            clients: true,
            servers: false,
        };
        let why = match (flows.to_clients, flows.to_servers) {
            (true, true) => "deployed clients listen for it and send it",
            (true, false) => "deployed clients listen for it",
            _ => "deployed clients still send it and will get `unknown_event`",
        };
        self.out.push(Finding {
            rule: "event-removed",
            severity: Severity::Breaking,
            breaks,
            deploy_first: breaks.deploy_first(),
            subject: o.name.clone(),
            event: Some(o.name.clone()),
            field: None,
            message: format!("event `{}` was removed: {why}; deprecate it first, remove it once clients moved on", o.name),
            location: o.location.clone(),
        });
    }

    fn event(&mut self, o: &EventDef, n: &EventDef) {
        let loc = n.location.as_ref();
        let subject = n.name.clone();
        let ev = Some(n.name.as_str());
        let (of, nf) = (flows_of(o), flows_of(n));
        if o.name != n.name {
            let rule = if n.renamed_from.is_some() {
                "event-renamed"
            } else {
                "wire-name-changed"
            };
            self.push(
                rule,
                of.union(nf),
                (false, false),
                Severity::Info,
                &subject,
                ev,
                None,
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
            self.out.push(Finding {
                rule: "direction-changed",
                severity: if breaks.any() {
                    Severity::Breaking
                } else {
                    Severity::Info
                },
                breaks,
                deploy_first: breaks.deploy_first(),
                subject: subject.clone(),
                event: Some(n.name.clone()),
                field: None,
                message: format!(
                    "event `{}` went `{}` and now goes `{}`",
                    n.name,
                    o.direction.as_str(),
                    n.direction.as_str()
                ),
                location: loc.cloned(),
            });
        }
        if of.to_clients && nf.to_clients && o.delivery != n.delivery {
            let severity = if n.delivery == Delivery::Ephemeral {
                Severity::Warning
            } else {
                Severity::Info
            };
            self.push(
                "delivery-changed",
                Flows::default(),
                (true, true),
                severity,
                &subject,
                ev,
                None,
                format!(
                    "event `{}` is now {} (was {}){}",
                    n.name,
                    n.delivery.as_str(),
                    o.delivery.as_str(),
                    if n.delivery == Delivery::Ephemeral {
                        ": clients that reconnect no longer get it replayed"
                    } else {
                        ""
                    }
                ),
                loc,
            );
        }
        if of.to_servers && nf.to_servers {
            let reply_flow = Flows {
                to_clients: true,
                to_servers: false,
            };
            match (&o.reply, &n.reply) {
                (None, Some(r)) => self.push("reply-added", reply_flow, (true, false), Severity::Info, &subject, ev, None,
                    format!("event `{}` now replies `{r}`: new clients expect data deployed servers do not send", n.name), loc),
                (Some(r), None) => self.push("reply-removed", reply_flow, (false, true), Severity::Info, &subject, ev, None,
                    format!("event `{}` no longer replies `{r}`: deployed clients expect it", n.name), loc),
                (Some(a), Some(b)) => {
                    let c = self.change(a, b);
                    if c != Change::Same {
                        self.push("reply-changed", reply_flow, c.reads(), Severity::Info, &subject, ev, None,
                            format!("event `{}` replies `{b}` instead of `{a}`", n.name), loc);
                    }
                }
                (None, None) => {}
            }
        }
        if of.to_clients && nf.to_clients {
            self.recipients(o.recipients.as_ref(), n.recipients.as_ref(), &subject, loc);
        }
        if o.deprecated.is_none() && n.deprecated.is_some() {
            self.push(
                "event-deprecated",
                Flows::default(),
                (true, true),
                Severity::Info,
                &subject,
                ev,
                None,
                format!("event `{}` is now deprecated", n.name),
                loc,
            );
        }
        let both = Flows {
            to_clients: of.to_clients && nf.to_clients,
            to_servers: of.to_servers && nf.to_servers,
        };
        self.fields(&o.payload, &n.payload, both, &subject, ev);
    }

    fn recipients(
        &mut self,
        o: Option<&Recipients>,
        n: Option<&Recipients>,
        subject: &str,
        loc: Option<&Location>,
    ) {
        let describe_rule = |r: &Rule| match r {
            Rule::User { field } => format!("user {field}"),
            Rule::Users { field } => format!("users in {field}"),
            Rule::Role { role } => format!("role {role}"),
            Rule::Room { template } => format!("room {}", template.template),
            Rule::Everyone => "everyone".to_owned(),
        };
        let rules = |r: Option<&Recipients>| -> Vec<String> {
            r.map(|r| r.rules.iter().map(describe_rule).collect())
                .unwrap_or_default()
        };
        let scope = |r: Option<&Recipients>| r.map(|r| r.scope.clone());
        let (or, nr) = (rules(o), rules(n));
        let added: Vec<&String> = nr.iter().filter(|r| !or.contains(r)).collect();
        let removed: Vec<&String> = or.iter().filter(|r| !nr.contains(r)).collect();
        let mut wider = !added.is_empty();
        let mut narrower = !removed.is_empty();
        let mut notes = Vec::new();
        if !added.is_empty() {
            notes.push(format!(
                "now also {}",
                added
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !removed.is_empty() {
            notes.push(format!(
                "no longer {}",
                removed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match (scope(o), scope(n)) {
            (Some(Scope::Tenant { .. }), Some(Scope::Platform)) => {
                wider = true;
                notes.push("now across every tenant".to_owned());
            }
            (Some(Scope::Platform), Some(Scope::Tenant { .. })) => {
                narrower = true;
                notes.push("now inside one tenant".to_owned());
            }
            _ => {}
        }
        let (oe, ne) = (
            o.and_then(|r| r.except.clone()),
            n.and_then(|r| r.except.clone()),
        );
        if oe.is_some() && ne.is_none() {
            wider = true;
            notes.push("the actor now receives it too".to_owned());
        } else if oe.is_none() && ne.is_some() {
            narrower = true;
            notes.push("the actor no longer receives it".to_owned());
        }
        let rule = match (wider, narrower) {
            (true, false) => "recipients-widened",
            (false, true) => "recipients-narrowed",
            (true, true) => "recipients-changed",
            (false, false) => return,
        };
        self.push(
            rule,
            Flows::default(),
            (true, true),
            Severity::Warning,
            subject,
            Some(subject),
            None,
            format!(
                "who receives `{subject}` changed: {} — check who may see this data",
                notes.join("; ")
            ),
            loc,
        );
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
    lower(o.min, n.min)
        .then(upper(o.max, n.max))
        .then(lower(len(o.min_length), len(n.min_length)))
        .then(upper(len(o.max_length), len(n.max_length)))
}

fn describe(c: &Constraints) -> String {
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
