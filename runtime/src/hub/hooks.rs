//! The app's hooks on a connection's life: `on_connect`, which runs before the client gets
//! `$connected` (join rooms, load state, refuse), and `on_disconnect`, which runs once the
//! connection is gone (log, clean up).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{DisconnectReason, Hub, Session};
use crate::principal::Principal;
use crate::protocol::close;

/// An `on_connect` hook, boxed.
pub(crate) type ConnectHook =
    Arc<dyn Fn(Session) -> BoxFuture<'static, Result<(), Refusal>> + Send + Sync>;

/// An `on_disconnect` hook, boxed.
pub(crate) type DisconnectHook = Arc<dyn Fn(Disconnected) -> BoxFuture<'static, ()> + Send + Sync>;

/// Boxes an app's `on_connect` closure.
pub(crate) fn connect_hook<F, Fut>(hook: F) -> ConnectHook
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
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

fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_CLOSE_REASON);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl Hub {
    /// Runs the `on_connect` hook, if any, for a registered connection, within the hook
    /// timeout; a panic is caught.
    pub(crate) async fn run_connect_hook(&self, session: &Session) -> Result<(), Failed> {
        let Some(hook) = self.inner.on_connect.clone() else {
            return Ok(());
        };
        let run = AssertUnwindSafe(hook(session.clone())).catch_unwind();
        match tokio::time::timeout(self.limits().hook_timeout, run).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(refusal))) => Err(Failed {
                code: close::REFUSED,
                reason: cut(refusal.message()),
                why: DisconnectReason::Refused,
            }),
            Ok(Err(_)) => {
                tracing::error!(session = session.id(), "the on_connect hook panicked");
                Err(Failed {
                    code: close::SERVER_ERROR,
                    reason: "the server failed to set up the connection".to_owned(),
                    why: DisconnectReason::HookFailed,
                })
            }
            Err(_) => {
                tracing::error!(
                    session = session.id(),
                    timeout = ?self.limits().hook_timeout,
                    "the on_connect hook did not finish in time"
                );
                Err(Failed {
                    code: close::SERVER_ERROR,
                    reason: "the server took too long to set up the connection".to_owned(),
                    why: DisconnectReason::HookFailed,
                })
            }
        }
    }

    /// Runs the `on_disconnect` hook, if any, on a task of its own (within the hook timeout; a
    /// panic is caught and logged). Outside a runtime (a hub dropped at exit) it is skipped.
    pub(crate) fn run_disconnect_hook(&self, gone: Disconnected) {
        let Some(hook) = self.inner.on_disconnect.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.limits().hook_timeout;
        let id = gone.id;
        runtime.spawn(async move {
            let run = AssertUnwindSafe(hook(gone)).catch_unwind();
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!(session = id, "the on_disconnect hook panicked"),
                Err(_) => tracing::warn!(
                    session = id,
                    "the on_disconnect hook did not finish in time"
                ),
            }
        });
    }
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
