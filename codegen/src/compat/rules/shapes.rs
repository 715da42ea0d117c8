//! Named types compared by shape: each pair of old and new types met at the same place of a
//! flow, once, with the events it travels in.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use tidings::schema::{Field, Location, Module, Schema, TypeDef, TypeKind, TypeRef};

use super::{Comparison, Flows, Key, Pair, Sink};
use crate::compat::registry::RuleId;
use crate::compat::{Breaks, Finding};

impl Comparison<'_> {
    /// The pair of named types met at one place; compared once, later.
    pub(super) fn pair(&mut self, old: Key, new: Key) -> usize {
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
    pub(super) fn drain(&mut self) {
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
    pub(super) fn spread(&mut self, roots: &[(String, Flows, Vec<usize>)]) {
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

    pub(super) fn emit_pairs(&mut self) {
        for pair in std::mem::take(&mut self.pairs) {
            let subject = format!("{}.{}", pair.new.0, pair.new.1);
            for l in pair.found.local {
                self.out
                    .push(l.finding(subject.clone(), pair.events.clone()));
            }
        }
    }

    /// Types of the old version with no successor: not declared under their name (or a
    /// `renamed_from`) and not met by shape anywhere.
    pub(super) fn removed_types(&mut self, old: &Schema, new: &Schema) {
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

    pub(super) fn type_kind(&mut self, o: &TypeDef, n: &TypeDef, sink: &mut Sink) {
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

    pub(super) fn openness(
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
    pub(super) fn variant(
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

    pub(super) fn is_enum(
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
}
