//! The Tidings protocol conformance kit: a scripted server that plays scenarios — handshake and
//! subprotocols, `$connected`, replay and `$pending_complete`, `$resync_required`, duplicates,
//! gaps, heartbeats and a silent server, error frames and close codes, rooms rejoined after a
//! reconnect, requests, credentials renewed before they expire — against a client under test,
//! and checks what the client sends back (docs/conformance.md).
//!
//! The client runs inside a *driver*: a small program of the client's own language that
//! connects to `TIDINGS_CONFORMANCE_URL` with the token `TIDINGS_CONFORMANCE_TOKEN`, acts on
//! `conformance:do` events and reports what its client saw as `conformance:saw` events. The kit
//! runs the driver once per scenario.

pub mod player;
pub mod scenario;

pub use player::{matches, play, Outcome};
pub use scenario::{load, load_dir, LoadError, Scenario, Step};
