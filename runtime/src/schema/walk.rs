//! Walks over types: the one place that knows where named types sit inside a type reference,
//! a type's members and an event's payload, for every backend and every check.

use std::collections::BTreeSet;

use super::{EventDef, Field, FieldPath, Schema, TypeDef, TypeKind, TypeRef};

impl TypeRef {
    /// The type inside optionals, lists and maps: `uuid` for `[uuid]?`.
    pub fn innermost(&self) -> &TypeRef {
        let mut t = self;
        while let TypeRef::Optional(i) | TypeRef::List(i) | TypeRef::Map(i) = t {
            t = i;
        }
        t
    }

    /// The named type inside optionals, lists and maps, as `(module, name)`, if there is one.
    pub fn named(&self) -> Option<(&str, &str)> {
        match self.innermost() {
            TypeRef::Named { module, name } => Some((module, name)),
            _ => None,
        }
    }
}

impl TypeKind {
    /// The type references a value of this kind holds: its fields' types (a struct), its
    /// variants' payloads (a union); none for an enum.
    pub fn members(&self) -> Box<dyn Iterator<Item = &TypeRef> + '_> {
        match self {
            TypeKind::Struct { fields } => Box::new(fields.iter().map(|f| &f.ty)),
            TypeKind::Union { variants, .. } => {
                Box::new(variants.iter().filter_map(|v| v.payload.as_ref()))
            }
            TypeKind::Enum { .. } => Box::new(std::iter::empty()),
        }
    }
}

impl EventDef {
    /// The type references of the event: its payload's fields, then its reply.
    pub fn type_refs(&self) -> impl Iterator<Item = &TypeRef> {
        self.payload
            .iter()
            .map(|f| &f.ty)
            .chain(self.reply.as_ref())
    }
}

impl Schema {
    /// Every named type reachable from `roots`, transitively, as `(module, name)`; types the
    /// schema does not declare are included but not followed. A worklist: no recursion, each
    /// type visited once.
    pub fn reachable<'a>(
        &'a self,
        roots: impl IntoIterator<Item = &'a TypeRef>,
    ) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<&TypeRef> = roots.into_iter().collect();
        while let Some(ty) = stack.pop() {
            let Some((module, name)) = ty.named() else {
                continue;
            };
            if !out.insert((module.to_owned(), name.to_owned())) {
                continue;
            }
            if let Some(t) = self.type_def(module, name) {
                stack.extend(t.kind.members());
            }
        }
        out
    }

    /// The fields a payload path goes through (`ticket.owner_id`: the `ticket` field, then the
    /// `owner_id` field of its struct), looking through optionals; it stops where a segment
    /// names no field, so a path that resolves yields one field per segment.
    pub fn path_fields<'a>(&'a self, payload: &'a [Field], path: &FieldPath) -> Vec<&'a Field> {
        let mut out = Vec::new();
        let mut fields = payload;
        for seg in path.segments() {
            let Some(f) = fields.iter().find(|f| f.name == *seg) else {
                break;
            };
            out.push(f);
            if let TypeRef::Named { module, name } = f.ty.unwrap_optional() {
                if let Some(TypeDef {
                    kind: TypeKind::Struct { fields: inner },
                    ..
                }) = self.type_def(module, name)
                {
                    fields = inner;
                }
            }
        }
        out
    }
}
