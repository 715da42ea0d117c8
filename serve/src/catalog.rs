//! The events a schema declares, as the publish API checks and routes them.

use std::collections::HashMap;

use serde_json::Value;
use tidings::schema::{Delivery, Direction, Schema};
use tidings::validate::{Contract, Contracts, Refusal};
use tidings::Recipients;

/// One event of the schema.
#[derive(Debug)]
pub struct Published {
    /// The wire name (`ticket:created`). Interned once, when the catalog is built: the
    /// runtime's errors and metrics name events by `&'static str`, and a schema's names are
    /// few and live as long as the server.
    pub name: &'static str,
    /// Who sends it.
    pub direction: Direction,
    /// Ephemeral or durable.
    pub delivery: Delivery,
    /// The payload's contract: the checks the generated Rust decoder makes.
    pub contract: Contract,
    /// The declared recipient rules (`None`: the event declares none, so a publish reaches
    /// no one).
    pub recipients: Option<tidings::schema::Recipients>,
}

/// Why a payload cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// It breaks the event's contract (`invalid_payload` or `constraint_violated`, with the
    /// field's path).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The event is routed within a tenant and the payload names none.
    #[error("the event is routed within a tenant, and its payload names none")]
    MissingScope,
}

impl Published {
    /// Checks `data` as the publish API does: against the contract (the generated decoder's
    /// checks; defaults filled in), then the recipient rules on it. Returns the payload as the
    /// frame carries it, and the recipients.
    ///
    /// # Errors
    /// When the payload breaks the contract, or the rules need a tenant it does not name
    /// ([`PayloadError`]).
    pub fn check(&self, mut data: Value) -> Result<(String, Recipients), PayloadError> {
        self.contract.check(&mut data)?;
        let to = self
            .recipients
            .as_ref()
            .map(|rules| Recipients::declared(rules, &data))
            .unwrap_or_default();
        if to.lacks_scope() {
            return Err(PayloadError::MissingScope);
        }
        Ok((data.to_string(), to))
    }
}

/// Every event of a schema, by wire name.
#[derive(Debug, Default)]
pub struct Catalog {
    events: HashMap<String, Published>,
    contracts: Contracts,
}

impl Catalog {
    /// The catalog of `schema`'s events.
    pub fn new(schema: &Schema) -> Catalog {
        let contracts = Contracts::new(schema);
        let events = schema
            .events()
            .filter_map(|(_, e)| {
                let contract = contracts.get(&e.name)?.clone();
                let name: &'static str = Box::leak(e.name.clone().into_boxed_str());
                let published = Published {
                    name,
                    direction: e.direction,
                    delivery: e.delivery,
                    contract,
                    recipients: e.recipients.clone(),
                };
                Some((e.name.clone(), published))
            })
            .collect();
        Catalog { events, contracts }
    }

    /// The contracts of every event's payload and reply.
    pub fn contracts(&self) -> &Contracts {
        &self.contracts
    }

    /// The event named `name`.
    pub fn get(&self, name: &str) -> Option<&Published> {
        self.events.get(name)
    }

    /// How many events the schema declares.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the schema declares no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
