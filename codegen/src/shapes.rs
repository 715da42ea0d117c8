//! The two shapes of a payload: what a reader holds and what a sender may write.
//!
//! A field with a default may be left out by whoever sends it; whoever reads it gets the default
//! (the Rust decoder through serde, the TypeScript guard by filling it in, the IR contract by
//! writing it into the document). So the value a reader holds always has the field, and the
//! value a sender writes may lack it. Where the two differ — a struct with a defaulted field, or
//! anything holding one — the TypeScript backend declares both: `Ticket` (read) and
//! `TicketInput` (written), as specta separates its serialize and deserialize phases. This
//! module decides which types have a written shape of their own; `check` refuses a type whose
//! `…Input` name is taken.

use std::collections::BTreeSet;

use tidings::schema::{Field, Module, Schema, TypeKind, TypeRef};

/// The named types (module, name) whose written shape differs from their read shape.
#[derive(Debug, Clone, Default)]
pub struct Inputs(BTreeSet<(String, String)>);

impl Inputs {
    /// Computes the set for a whole schema (a fixed point over references, so recursive types
    /// terminate).
    pub fn new(schema: &Schema) -> Inputs {
        Inputs::of(&schema.modules)
    }

    /// As [`Inputs::new`], for modules not (yet) gathered into a schema.
    pub fn of(modules: &[Module]) -> Inputs {
        let mut set = Inputs::default();
        loop {
            let before = set.0.len();
            for m in modules {
                for t in &m.types {
                    let differs = match &t.kind {
                        TypeKind::Struct { fields } => set.fields_differ(fields),
                        TypeKind::Union { variants, .. } => variants
                            .iter()
                            .filter_map(|v| v.payload.as_ref())
                            .any(|p| set.differs(p)),
                        TypeKind::Enum { .. } => false,
                    };
                    if differs {
                        set.0.insert((m.name.clone(), t.name.clone()));
                    }
                }
            }
            if set.0.len() == before {
                return set;
            }
        }
    }

    /// Whether a value of `ty` may be written differently from how it is read.
    pub fn differs(&self, ty: &TypeRef) -> bool {
        match ty {
            TypeRef::Primitive(_) => false,
            TypeRef::Optional(i) | TypeRef::List(i) | TypeRef::Map(i) => self.differs(i),
            TypeRef::Named { module, name } => self.0.contains(&(module.clone(), name.clone())),
        }
    }

    /// Whether an object of these fields may be written differently from how it is read.
    pub fn fields_differ(&self, fields: &[Field]) -> bool {
        fields
            .iter()
            .any(|f| f.default.is_some() || self.differs(&f.ty))
    }
}

/// The name of the written shape of type or event payload `name`.
pub fn input_name(name: &str) -> String {
    format!("{name}Input")
}
