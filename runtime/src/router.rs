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

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;

use crate::event::Event;
use crate::protocol::ErrorCode;
use crate::schema::Direction;
use crate::violation::Violation;
use crate::{Hub, Principal, Session};

/// A handler's failure, sent to the client as an `$error` frame with this code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// A stable code the client can match (`empty_message`), or one of
    /// [`ErrorCode`](crate::protocol::ErrorCode)'s.
    pub code: Cow<'static, str>,
    /// What went wrong, for the client.
    pub message: String,
    /// The payload field at fault, if any.
    pub field: Option<String>,
}

impl HandlerError {
    /// An error with an application-defined code.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> HandlerError {
        HandlerError {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> HandlerError {
        self.field = Some(field.into());
        self
    }

    /// An error with one of the protocol's codes.
    pub fn protocol(code: ErrorCode, message: impl Into<String>) -> HandlerError {
        HandlerError::new(code.as_str(), message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> HandlerError {
        HandlerError::protocol(ErrorCode::Forbidden, message)
    }

    /// `internal`: a failure the client cannot act on.
    pub fn internal(message: impl Into<String>) -> HandlerError {
        HandlerError::protocol(ErrorCode::Internal, message)
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<Violation> for HandlerError {
    fn from(v: Violation) -> HandlerError {
        HandlerError::protocol(ErrorCode::ConstraintViolated, v.to_string()).with_field(v.field)
    }
}

impl From<std::convert::Infallible> for HandlerError {
    fn from(never: std::convert::Infallible) -> HandlerError {
        match never {}
    }
}

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

/// What dispatching an inbound event started.
pub(crate) enum Started {
    /// No handler for this name.
    Unknown,
    /// The payload was refused before any handler ran.
    Refused(HandlerError),
    /// The handler runs; it yields the reply as JSON.
    Running(BoxFuture<'static, Result<String, HandlerError>>),
}

/// The type-erased router the hub holds.
pub(crate) trait Dispatch: Send + Sync {
    fn dispatch(&self, name: &str, data: Option<&RawValue>, session: Session) -> Started;
    fn handles(&self, name: &str) -> bool;
}

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
                    Err(crate::validate::Refusal::Shape(v)) => {
                        let e = HandlerError::protocol(
                            ErrorCode::InvalidPayload,
                            format!("`{}` payload: {v}", E::NAME),
                        );
                        return Started::Refused(if v.field.is_empty() {
                            e
                        } else {
                            e.with_field(v.field)
                        });
                    }
                    Err(crate::validate::Refusal::Constraint(v)) => {
                        return Started::Refused(v.into())
                    }
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

impl<S: Clone + Send + Sync + 'static> Dispatch for Router<S> {
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
