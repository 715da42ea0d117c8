//! The app's hooks on a connection's life: `on_connect`, which runs before the client gets
//! `$connected` (join rooms, load state, refuse), and `on_disconnect`, which runs once the
//! connection is gone (log, clean up).

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::metrics::DisconnectReason;
use crate::principal::Principal;
use crate::protocol::close;

/// An `on_connect` hook, boxed; `S` is the session handle (generic so that this file does not
/// depend on the hub's).
pub(crate) type ConnectHook<S> =
    Arc<dyn Fn(S) -> BoxFuture<'static, Result<(), Refusal>> + Send + Sync>;

/// An `on_disconnect` hook, boxed.
pub(crate) type DisconnectHook = Arc<dyn Fn(Disconnected) -> BoxFuture<'static, ()> + Send + Sync>;

/// Boxes an app's `on_connect` closure.
pub(crate) fn connect_hook<S, F, Fut>(hook: F) -> ConnectHook<S>
where
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Refusal>> + Send + 'static,
{
    Arc::new(move |session| Box::pin(hook(session)))
}

/// Boxes an app's `on_disconnect` closure.
pub(crate) fn disconnect_hook<F, Fut>(hook: F) -> DisconnectHook
where
    F: Fn(Disconnected) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |gone| Box::pin(hook(gone)))
}

/// Why an `on_connect` hook refused a connection. The client gets close code
/// [`close::REFUSED`] (4003) with the message as the close reason (cut to the 123 bytes a close
/// frame carries, RFC 6455 §5.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    message: String,
}

impl Refusal {
    /// A refusal with a message for the client (never a secret detail).
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A connection that has ended, as an `on_disconnect` hook sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Disconnected {
    /// The session id (as in `$connected`).
    pub id: u64,
    /// Who was connected (after any in-band refresh).
    pub principal: Arc<Principal>,
    /// The rooms the connection was in when it ended.
    pub rooms: Vec<String>,
    /// Why it ended.
    pub reason: DisconnectReason,
}

/// How an `on_connect` hook ended, when not with success: the close code and reason the client
/// gets, and the disconnect reason counted.
pub(crate) struct Failed {
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) why: DisconnectReason,
}

/// The longest close reason a close frame carries (RFC 6455 §5.5: 125 bytes of payload, 2 of
/// them the code).
const MAX_CLOSE_REASON: usize = 123;

impl Failed {
    /// The refusal of an `on_connect` hook.
    pub(crate) fn refused(refusal: &Refusal) -> Failed {
        Failed {
            code: close::REFUSED,
            reason: cut(refusal.message()),
            why: DisconnectReason::Refused,
        }
    }

    /// An `on_connect` hook that panicked or overran.
    pub(crate) fn hook_failed(reason: &str) -> Failed {
        Failed {
            code: close::SERVER_ERROR,
            reason: reason.to_owned(),
            why: DisconnectReason::HookFailed,
        }
    }
}

pub(crate) fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_CLOSE_REASON);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn close_reasons_are_cut_at_a_character() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let c = cut(&long);
        assert!(c.len() <= 123 && c.len() >= 122, "{}", c.len());
        assert!(long.starts_with(&c));
    }
}
