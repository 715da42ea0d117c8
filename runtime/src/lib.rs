//! Tidings: realtime events as a typed, checked contract between a Rust server and its web
//! clients.
//!
//! Events such as `ticket:created` or `chat:typing` are declared once — in TOML schema files
//! compiled by `tidings-codegen`, or with `#[derive(Event)]` — and every declaration lowers into
//! the same intermediate representation, [`schema`]. With the default `server` feature, this
//! crate is also the runtime: a [`Hub`] of live connections that routes each emitted event to
//! exactly its recipients, a [`Router`] of typed handlers for events clients send, and a
//! WebSocket [`Server`].
//!
//! ```
//! use tidings::schema::{Direction, Schema};
//!
//! // The IR is plain serde data: `tidings ir schemas/` prints it as JSON.
//! let json = r#"{ "ir_version": 1, "modules": [] }"#;
//! let schema: Schema = serde_json::from_str(json).unwrap();
//! assert!(schema.modules.is_empty());
//! assert_eq!(Direction::default(), Direction::ServerToClient);
//! ```
//!
//! The wire protocol is described in `docs/protocol.md`.

pub mod format;
pub mod schema;

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod broker;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
mod connection;
#[cfg(feature = "derive")]
pub mod describe;
#[cfg(feature = "derive")]
pub use tidings_macros::{Describe, Event};
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "server")]
mod delivery;
#[cfg(feature = "server")]
mod event;
#[cfg(feature = "server")]
mod handlers;
#[cfg(feature = "server")]
mod hub;
#[cfg(feature = "server")]
mod ids;
#[cfg(feature = "jwt")]
mod jwt;
#[cfg(feature = "server")]
pub mod local;
#[cfg(feature = "server")]
pub mod operations;
#[cfg(feature = "server")]
mod principal;
#[cfg(feature = "server")]
pub mod protocol;
#[cfg(feature = "server")]
mod recipients;
#[cfg(feature = "server")]
mod router;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod throttle;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "server")]
pub mod validate;
#[cfg(feature = "server")]
mod violation;

/// serde, for generated code (`#[serde(crate = "::tidings::serde")]`), so that users need no
/// dependency beyond `tidings`.
#[cfg(feature = "server")]
#[doc(hidden)]
pub use serde;
/// serde_json, whose `Value` holds schema fields of type `json`.
#[cfg(feature = "server")]
pub use serde_json as json;

/// Includes the Rust code a build script generated with `tidings_codegen::Builder`: one module
/// per schema module, declared where the macro is invoked.
///
/// ```ignore
/// // build.rs: tidings_codegen::Builder::new().schemas("schemas").compile()?;
/// mod events {
///     tidings::include_events!();
/// }
/// use events::ticket;
/// ```
#[macro_export]
macro_rules! include_events {
    () => {
        include!(concat!(env!("OUT_DIR"), "/tidings/tidings.rs"));
    };
}

#[cfg(feature = "server")]
pub use auth::{
    bearer_subprotocol, AsyncAuthenticator, AuthError, Authenticator, DenyAll, UpgradeRequest,
    BEARER64_SUBPROTOCOL_PREFIX, BEARER_SUBPROTOCOL_PREFIX, RESUME_SUBPROTOCOL_PREFIX, SUBPROTOCOL,
};
#[cfg(feature = "server")]
pub use delivery::{History, Position, StreamId};
#[cfg(feature = "server")]
pub use event::Event;
#[cfg(feature = "server")]
pub use hub::builder::HubBuilder;
#[cfg(feature = "server")]
pub use hub::{
    Delivered, DisconnectReason, Disconnected, EmitError, Emitted, HandlerError, Hub, JsonEvent,
    Limits, Metrics, PreparedEvent, Presence, PresentUser, Refusal, RoomPolicy, Session,
    MAX_PRESENCE_USERS,
};
#[cfg(feature = "jwt")]
pub use jwt::{JwtAuthenticator, JwtIssuer};
#[cfg(feature = "server")]
pub use principal::Principal;
#[cfg(feature = "server")]
pub use recipients::{
    to_platform, to_role, to_room, to_tenant, to_user, to_users, Id, Ids, Recipients, Scope,
};
#[cfg(feature = "server")]
pub use router::{FromContext, Handler, Router, State};
#[cfg(feature = "server")]
pub use server::{listen, Server, DEFAULT_BACKLOG};
#[cfg(feature = "server")]
pub use violation::Violation;
