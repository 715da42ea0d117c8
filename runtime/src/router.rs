//! Inbound dispatch: a router from wire names to typed handlers, with extractors in the style
//! of axum.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tidings::schema::{Delivery, Direction};
//! use tidings::{Event, HandlerError, Principal, Router, Session, State};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SendMessage { chat_id: String, text: String }
//! #[derive(Serialize, Deserialize)]
//! struct Stored { id: u64 }
//!
//! impl Event for SendMessage {
//!     const NAME: &'static str = "chat:sendMessage";
//!     const MODULE: &'static str = "chat";
//!     const DIRECTION: Direction = Direction::ClientToServer;
//!     const DELIVERY: Delivery = Delivery::Durable;
//!     type Reply = Stored;
//! }
//!
//! #[derive(Clone)]
//! struct Db;
//!
//! async fn send_message(State(_db): State<Db>, who: Principal, msg: SendMessage) -> Result<Stored, HandlerError> {
//!     if msg.text.is_empty() {
//!         return Err(HandlerError::new("empty_message", "say something"));
//!     }
//!     let _ = who.user_id;
//!     Ok(Stored { id: 1 })
//! }
//!
//! let router = Router::with_state(Db).on::<SendMessage, _, _>(send_message);
//! # let _ = router;
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::event::Event;
use crate::hub::builder::HubBuilder;
use crate::hub::{Dispatch, HandlerError, Hub, Session, Started};
use crate::principal::Principal;
use crate::protocol::ErrorCode;
use crate::schema::Direction;
use crate::validate::{Contracts, Refusal, ReplyContract};

/// Extracts a value from the request context for a handler argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    note = "handler arguments before the event are extractors: `State<S>`, `Principal`, `Session` or `Hub`"
)]
pub trait FromContext<S>: Sized {
    /// Extracts the value.
    fn from_context(state: &S, session: &Session) -> Self;
}

/// The router's shared state, as a handler argument.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone> FromContext<S> for State<S> {
    fn from_context(state: &S, _: &Session) -> Self {
        State(state.clone())
    }
}

impl<S> FromContext<S> for Principal {
    fn from_context(_: &S, session: &Session) -> Self {
        (*session.principal()).clone()
    }
}

impl<S> FromContext<S> for Session {
    fn from_context(_: &S, session: &Session) -> Self {
        session.clone()
    }
}

impl<S> FromContext<S> for Hub {
    fn from_context(_: &S, session: &Session) -> Self {
        session.hub().clone()
    }
}

/// An async function handling event `E`: up to four extractors, then the event; it returns
/// `Result<E::Reply, impl Into<HandlerError>>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler for event `{E}`",
    note = "a handler is an async fn taking up to four extractors (`State<S>`, `Principal`, `Session`, `Hub`) and then the event, returning `Result<E::Reply, E2>` where `E2: Into<HandlerError>`"
)]
pub trait Handler<E: Event, S, T>: Clone + Send + Sync + 'static {
    /// Runs the handler.
    fn call(
        self,
        state: S,
        session: Session,
        event: E,
    ) -> BoxFuture<'static, Result<E::Reply, HandlerError>>;
}

macro_rules! impl_handler {
    ($($t:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, E, S, Err, $($t,)*> Handler<E, S, ($($t,)*)> for F
        where
            F: FnOnce($($t,)* E) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<E::Reply, Err>> + Send + 'static,
            Err: Into<HandlerError>,
            E: Event,
            $($t: FromContext<S> + Send + 'static,)*
        {
            fn call(self, state: S, session: Session, event: E) -> BoxFuture<'static, Result<E::Reply, HandlerError>> {
                $(let $t = $t::from_context(&state, &session);)*
                Box::pin(async move { self($($t,)* event).await.map_err(Into::into) })
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);

type Route<S> = Arc<dyn Fn(S, Session, Option<&RawValue>) -> Started + Send + Sync>;

/// Maps the wire names of events clients send to their handlers.
pub struct Router<S = ()> {
    state: S,
    routes: HashMap<&'static str, Route<S>>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("Router")
            .field("events", &names)
            .finish_non_exhaustive()
    }
}

impl Router<()> {
    /// A router without shared state.
    pub fn new() -> Router<()> {
        Router::with_state(())
    }
}

impl Default for Router<()> {
    fn default() -> Self {
        Router::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Router<S> {
    /// A router whose handlers can extract `State<S>`.
    pub fn with_state(state: S) -> Router<S> {
        Router {
            state,
            routes: HashMap::new(),
        }
    }

    /// Routes event `E` to `handler`.
    ///
    /// # Panics
    /// When `E` is an event clients never send, or already has a handler: both are mistakes in
    /// the program, found the first time it builds its router.
    pub fn on<E, H, T>(mut self, handler: H) -> Router<S>
    where
        E: Event,
        H: Handler<E, S, T>,
        T: 'static,
    {
        assert!(
            E::DIRECTION != Direction::ServerToClient,
            "`{}` is sent by the server only; clients cannot send it, so it cannot have a handler",
            E::NAME
        );
        assert!(
            !self.routes.contains_key(E::NAME),
            "`{}` has two handlers",
            E::NAME
        );
        let route: Route<S> =
            Arc::new(move |state: S, session: Session, data: Option<&RawValue>| {
                let event: E = match crate::validate::decode(data.map_or("{}", RawValue::get)) {
                    Ok(e) => e,
                    Err(refusal) => return Started::Refused(refused(E::NAME, refusal)),
                };
                if let Err(v) = event.validate() {
                    return Started::Refused(v.into());
                }
                let running = handler.clone().call(state, session, event);
                Started::Running(Box::pin(async move {
                    let reply = running.await?;
                    serde_json::to_string(&reply).map_err(|e| {
                        HandlerError::internal(format!("the reply could not be serialized: {e}"))
                    })
                }))
            });
        self.routes.insert(E::NAME, route);
        self
    }
}

impl<S: Clone + Send + Sync + 'static> Router<S> {
    /// Routes `event`, an event of a schema read at run time, to `handler`: what a server
    /// that knows its events from their schema only (`tidings serve`) does instead of
    /// [`on`](Self::on). `name` is the event's wire name, interned by the caller (the
    /// runtime names events by `&'static str` in errors and metrics).
    ///
    /// The payload is checked by the event's contract in `contracts` before `handler` runs, as
    /// the generated decoder checks it (refused with `invalid_payload` or
    /// `constraint_violated` and the field's path, [`Contract::check`](crate::validate::Contract::check)); `handler` gets it as
    /// the generated Rust would encode it. Its answer is checked by the declared reply's
    /// contract ([`ReplyContract::check`]): one that breaks it is not sent, the client gets
    /// `internal` and the server logs the place. An event that declares no reply is answered
    /// with `null`, as a Rust handler returning `()` is, whatever `handler` returned.
    ///
    /// # Panics
    /// When `event` is sent by the server only, has no contract in `contracts` (they are of
    /// another schema), or already has a handler: mistakes in the program, as for
    /// [`on`](Self::on).
    pub fn on_json<F, Fut>(
        mut self,
        event: &crate::schema::EventDef,
        name: &'static str,
        contracts: &Contracts,
        handler: F,
    ) -> Router<S>
    where
        F: Fn(S, Session, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
    {
        assert!(
            event.direction != Direction::ServerToClient,
            "`{name}` is sent by the server only; clients cannot send it, so it cannot have a handler"
        );
        assert!(!self.routes.contains_key(name), "`{name}` has two handlers");
        let payload = contracts
            .get(&event.name)
            .unwrap_or_else(|| {
                panic!("`{name}` has no contract: the contracts are of another schema")
            })
            .clone();
        let reply: Option<ReplyContract> = contracts.reply(&event.name).cloned();
        let handler = Arc::new(handler);
        let route: Route<S> = Arc::new(
            move |state: S, session: Session, data: Option<&RawValue>| {
                let parsed = match data {
                    None => Ok(Value::Object(serde_json::Map::new())),
                    Some(raw) => serde_json::from_str::<Value>(raw.get()),
                };
                let mut data = match parsed {
                    Ok(v) => v,
                    Err(e) => {
                        return Started::Refused(HandlerError::protocol(
                            ErrorCode::InvalidPayload,
                            format!("`{name}` payload: {e}"),
                        ))
                    }
                };
                if let Err(refusal) = payload.check(&mut data) {
                    return Started::Refused(refused(name, refusal));
                }
                let running = handler(state, session, data);
                let reply = reply.clone();
                Started::Running(Box::pin(async move {
                    let mut answer = running.await?;
                    let Some(reply) = reply else {
                        return Ok("null".to_owned());
                    };
                    if let Err(refusal) = reply.check(&mut answer) {
                        tracing::error!(event = name, error = %refusal, "a handler's reply breaks the event's declared reply type; answered with an internal error");
                        return Err(HandlerError::internal(format!(
                            "the server's reply to `{name}` breaks its declared type"
                        )));
                    }
                    Ok(answer.to_string())
                }))
            },
        );
        self.routes.insert(name, route);
        self
    }
}

/// The answer to a payload its contract refuses: `invalid_payload` (a wrong shape) or
/// `constraint_violated`, with the field's path.
fn refused(name: &str, refusal: Refusal) -> HandlerError {
    match refusal {
        Refusal::Shape(v) => {
            let e =
                HandlerError::protocol(ErrorCode::InvalidPayload, format!("`{name}` payload: {v}"));
            if v.field.is_empty() {
                e
            } else {
                e.with_field(v.field)
            }
        }
        Refusal::Constraint(v) => v.into(),
    }
}

impl<S> Router<S> {
    /// Adds every route of `other` (generated per-module routers are merged this way).
    ///
    /// # Panics
    /// When both routers handle the same event.
    pub fn merge(mut self, other: Router<S>) -> Router<S> {
        for (name, route) in other.routes {
            assert!(!self.routes.contains_key(name), "`{name}` has two handlers");
            self.routes.insert(name, route);
        }
        self
    }

    /// The wire names this router handles, sorted.
    pub fn events(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.routes.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

impl<S: Clone + Send + Sync + 'static> Dispatch<Session> for Router<S> {
    fn dispatch(&self, name: &str, data: Option<&RawValue>, session: Session) -> Started {
        match self.routes.get(name) {
            Some(route) => route(self.state.clone(), session, data),
            None => Started::Unknown,
        }
    }

    fn handles(&self, name: &str) -> bool {
        self.routes.contains_key(name)
    }
}

impl HubBuilder {
    /// The router of events clients send.
    pub fn router<S: Clone + Send + Sync + 'static>(mut self, router: Router<S>) -> HubBuilder {
        self.dispatch = Some(Arc::new(router));
        self
    }
}
