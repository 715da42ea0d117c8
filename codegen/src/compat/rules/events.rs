//! Events matched across versions: added, removed, renamed, redirected, redelivered, their
//! replies, recipients and payloads.

use std::collections::BTreeMap;

use tidings::schema::{Delivery, EventDef, Location, Module, Recipients, Schema, Scope};

use super::{flows_of, Change, Comparison, Flows, Sink, REPLY};
use crate::compat::registry::RuleId;
use crate::compat::{Breaks, Finding, Impact};

impl Comparison<'_> {
    pub(super) fn added_event(&mut self, _m: &Module, n: &EventDef) {
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

    pub(super) fn removed_event(&mut self, new: &Schema, m: &Module, o: &EventDef) {
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

    pub(super) fn event(
        &mut self,
        o: &EventDef,
        n: &EventDef,
        roots: &mut Vec<(String, Flows, Vec<usize>)>,
    ) {
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

    pub(super) fn recipients(
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
