//! The resolved intermediate representation (IR) of a set of event modules.
//!
//! A [`Schema`] is what the TOML front end and `#[derive(Event)]` both produce and what every
//! backend reads. It is resolved: every type reference names a type that exists, every recipient
//! rule names a payload field of the right type, and wire names are unique. It is plain serde data
//! with no other dependency, so it can be built at run time and exchanged as JSON (`tidings ir`).
//!
//! Names in the IR are wire names, exactly as they appear in JSON frames. Collections keep the
//! order of declaration, so output generated from the IR is deterministic.

mod event;
mod meta;
pub mod presence;
mod recipients;
mod types;
mod walk;

pub use event::{Delivery, Direction, EventDef, PresenceKind};
pub use meta::{Deprecation, Location};
pub use presence::PresenceSpec;
pub use recipients::{FieldPath, Recipients, RoomPart, RoomTemplate, Rule, Scope};
pub use types::{
    Constraints, EnumValue, Field, Number, Primitive, TypeDef, TypeKind, TypeRef, Value, Variant,
};

use serde::{Deserialize, Serialize};

/// The version of the IR format written by this crate into [`Schema::ir_version`].
pub const IR_VERSION: u32 = 1;

/// A whole event system: every module, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The IR format version ([`IR_VERSION`] when written by this crate).
    pub ir_version: u32,
    /// The modules, sorted by name.
    pub modules: Vec<Module>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema {
            ir_version: IR_VERSION,
            modules: Vec::new(),
        }
    }
}

impl Schema {
    /// The module called `name`, if there is one.
    pub fn module(&self, name: &str) -> Option<&Module> {
        // The compiler keeps modules sorted by name: a binary search finds one among
        // thousands in a few comparisons. A hand-built schema may be in any order, so a miss
        // falls back to looking at every module.
        match self.modules.binary_search_by(|m| m.name.as_str().cmp(name)) {
            Ok(i) => self.modules.get(i),
            Err(_) => self.modules.iter().find(|m| m.name == name),
        }
    }

    /// The named type `name` of module `module`, if both exist.
    pub fn type_def(&self, module: &str, name: &str) -> Option<&TypeDef> {
        self.module(module)?.types.iter().find(|t| t.name == name)
    }

    /// Every event of every module, with its module, in module order then declaration order.
    pub fn events(&self) -> impl Iterator<Item = (&Module, &EventDef)> {
        self.modules
            .iter()
            .flat_map(|m| m.events.iter().map(move |e| (m, e)))
    }

    /// The event whose wire name is `wire_name` (for example `ticket:created`).
    pub fn event_by_wire_name(&self, wire_name: &str) -> Option<(&Module, &EventDef)> {
        self.events().find(|(_, e)| e.name == wire_name)
    }
}

/// One module: a namespace of types and events, declared by one schema file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// The module name (`ticket`, `chat`): lowercase, a valid identifier in Rust and TypeScript.
    pub name: String,
    /// What the module is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The module's own version (`MAJOR.MINOR.PATCH`), if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Names of the modules whose types this module may reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    /// Named types, in declaration order.
    #[serde(default)]
    pub types: Vec<TypeDef>,
    /// Events, in declaration order.
    #[serde(default)]
    pub events: Vec<EventDef>,
    /// Where the module was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Module {
    /// The named type `name` declared in this module.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The event declared under `key` in this module.
    pub fn event(&self, key: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.key == key)
    }
}
