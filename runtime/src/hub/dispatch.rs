//! The dispatch port: how the hub hands an event a client sent to whatever routes it (the
//! [`Router`](crate::Router) implements it), and how a handler fails ([`HandlerError`]).

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;

use crate::protocol::ErrorCode;
use crate::violation::Violation;

/// What dispatching an inbound event started.
pub(crate) enum Started {
    /// No handler for this name.
    Unknown,
    /// The payload was refused before any handler ran.
    Refused(HandlerError),
    /// The handler runs; it yields the reply as JSON.
    Running(BoxFuture<'static, Result<String, HandlerError>>),
}

/// The type-erased router the hub holds; `C` is what a handler is given of the connection (the
/// hub's [`Session`](crate::Session)).
pub(crate) trait Dispatch<C>: Send + Sync {
    /// Starts the handler of `name` on the payload `data`.
    fn dispatch(&self, name: &str, data: Option<&RawValue>, context: C) -> Started;

    /// Whether a handler of `name` exists.
    fn handles(&self, name: &str) -> bool;
}

/// A handler's failure, sent to the client as an `$error` frame with this code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// A stable code the client can match (`empty_message`), or one of
    /// [`ErrorCode`]'s.
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
