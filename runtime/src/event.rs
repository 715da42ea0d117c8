//! The `Event` trait: what generated code (and hand-written events) implement.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::schema::{Delivery, Direction};
use crate::violation::Violation;
use crate::Recipients;

/// A typed event: its wire name, how it travels, and who receives it.
///
/// Generated code implements this for every event of a schema; hand-written events implement it
/// directly:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tidings::schema::{Delivery, Direction};
/// use tidings::{to_user, Event, Recipients};
///
/// #[derive(Serialize, Deserialize)]
/// struct Progress { user_id: String, percentage: u8 }
///
/// impl Event for Progress {
///     const NAME: &'static str = "operation:progress";
///     const MODULE: &'static str = "operation";
///     const DIRECTION: Direction = Direction::ServerToClient;
///     const DELIVERY: Delivery = Delivery::Durable;
///     type Reply = ();
///     fn recipients(&self) -> Recipients { to_user(&self.user_id) }
/// }
/// ```
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The wire name (`ticket:created`).
    const NAME: &'static str;
    /// The module that declares it.
    const MODULE: &'static str;
    /// Who sends it.
    const DIRECTION: Direction;
    /// Whether it is kept for clients that missed it.
    const DELIVERY: Delivery;
    /// The server's reply to a client that sends this event (`()` when there is none).
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// Who receives the event when the server emits it, from the declared rules. The default
    /// selects no one: such events are emitted with explicit targets
    /// ([`Hub::emit_to`](crate::Hub::emit_to)).
    fn recipients(&self) -> Recipients {
        Recipients::new()
    }

    /// Checks the declared constraints (a percentage of 101 is refused). Inbound payloads that
    /// fail are answered with a `constraint_violated` error frame; emitting one fails.
    ///
    /// # Errors
    /// The first violated constraint.
    fn validate(&self) -> Result<(), Violation> {
        Ok(())
    }

    /// The contract an inbound payload is checked against before serde decodes it, so that
    /// the server accepts exactly the JSON the schema describes — the JSON the TypeScript guard
    /// and the exported JSON Schema accept ([`crate::validate::decode`]). Generated and derived
    /// events return theirs; the default, for hand-written events, is `None`: serde alone
    /// decides.
    fn contract() -> Option<&'static crate::validate::Contract> {
        None
    }

    /// For a presence event (declared `presence = "joined"` or `"left"`), what the hub needs to
    /// announce it, or the rule of [`crate::schema::presence::spec`] its declaration breaks;
    /// `None` for every other event. Generated and derived events return theirs; see
    /// [`HubBuilder::presence_event`](crate::HubBuilder::presence_event).
    fn presence(
    ) -> Option<Result<crate::schema::PresenceSpec, crate::schema::presence::PresenceError>> {
        None
    }
}
