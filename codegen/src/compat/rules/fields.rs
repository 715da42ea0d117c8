//! Fields and value types: presence, nullability, types, the values integers admit,
//! constraints and defaults.

use tidings::schema::{Constraints, Field, Location, Primitive, TypeRef};

use super::{Change, Comparison, Sink};
use crate::compat::registry::RuleId;

impl Comparison<'_> {
    /// Compares two field lists; `parent` prefixes field paths, `anchor` locates removals.
    pub(super) fn fields(
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

    pub(super) fn field(&mut self, o: &Field, n: &Field, path: String, sink: &mut Sink) {
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
        let type_moved = matches!(change, Change::Widened | Change::Narrowed);
        if let Some((rule, why)) = rule {
            sink.add(rule, change.reads(), name.clone(), why, loc, None);
        }
        // Lengths as the values have them: a `uuid` is always 36 characters, so `uuid` to
        // `{ type = "string", max_length = 128 }` narrows nothing.
        let c = constraints(&effective(o), &effective(n));
        // A type that widened (narrowed) already says so of its values; lengths that moved
        // the same way are part of that finding.
        let c = if type_moved && c == change {
            Change::Same
        } else {
            c
        };
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

    pub(super) fn default_changed(
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
    pub(super) fn change(&mut self, o: &TypeRef, n: &TypeRef, sink: &mut Sink) -> Change {
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
/// A field's constraints with the lengths its type gives every value: a `uuid` has 36
/// characters (RFC 9562's hyphenated form), an RFC 3339 `timestamp` at least 20
/// (`2024-01-01T00:00:00Z`).
fn effective(f: &Field) -> Constraints {
    let mut c = f.constraints.clone();
    let (min, max) = match f.ty.unwrap_optional() {
        TypeRef::Primitive(Primitive::Uuid) => (36, Some(36)),
        TypeRef::Primitive(Primitive::Timestamp) => (20, None),
        _ => return c,
    };
    c.min_length = Some(c.min_length.map_or(min, |v| v.max(min)));
    if let Some(max) = max {
        c.max_length = Some(c.max_length.map_or(max, |v| v.min(max)));
    }
    c
}

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
