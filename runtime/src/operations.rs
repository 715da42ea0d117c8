//! Long-running operations: the generic `operation:progress`, `operation:complete` and
//! `operation:error` events (schemas/operation.toml), emitted with the rules they need.
//!
//! ```
//! # async fn run(hub: tidings::Hub, who: tidings::Principal) -> Result<(), tidings::operations::OperationError> {
//! let op = hub.operations().start(&who, "export_csv")?; // progress 0 %, stage "started"
//! op.progress("reading rows", 40, None)?;
//! op.progress("reading rows", 30, None)?;               // sent as 40 %: never decreases
//! op.complete(serde_json::json!({ "url": "/exports/7.csv" }), &["exports"], Some("ready"))?;
//! # Ok(()) }
//! ```
//!
//! An operation has a new UUID unless the app gives its own id (`hub.operations().with_id(
//! "export-42")`), such as the id of the job that runs it. An operation whose last handle is
//! dropped without `complete` or `fail` — its task panicked, was cancelled, or forgot — fails
//! then with the code [`ABANDONED`], so no client shows it running forever.
//!
//! The events are durable and go to the user who started the operation (in their tenant), so
//! every tab sees them in order and a client that reconnects gets what it missed. A client that
//! connects mid-operation asks for the current state with the `$operations` control frame
//! (docs/protocol.md); the server folds it from the user's stream history, so it is the same on
//! every node behind a backplane, for every operation with an event inside the history window.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Event;
use crate::hub::stream::UserStream;
use crate::hub::{Delivered, EmitError, Hub};
use crate::schema::{Delivery, Direction};
use crate::{Principal, Recipients};

/// The wire name of progress events.
pub const PROGRESS: &str = "operation:progress";
/// The wire name of completion events.
pub const COMPLETE: &str = "operation:complete";
/// The wire name of failure events.
pub const ERROR: &str = "operation:error";

/// The code of the `operation:error` an operation fails with when its last handle is dropped
/// without `complete` or `fail` (retryable: the work may succeed when started again).
pub const ABANDONED: &str = "abandoned";

/// The longest id an app may give an operation, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Why an operation could not report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// It already completed or failed; nothing more is sent for it.
    #[error("operation {0} has already finished")]
    Finished(String),
    /// The event could not be emitted.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The id the app gave is empty, longer than [`MAX_ID_BYTES`], or has control characters.
    #[error("invalid operation id {0:?}: 1 to 128 bytes without control characters")]
    InvalidId(String),
}

/// Starts operations on a hub. See the module documentation.
#[derive(Debug, Clone)]
pub struct Operations {
    hub: Hub,
    id: Option<String>,
}

impl Hub {
    /// Starts and reports long-running operations.
    pub fn operations(&self) -> Operations {
        Operations {
            hub: self.clone(),
            id: None,
        }
    }
}

impl Operations {
    /// Gives the operation started next the app's own id (the id of the job that runs it,
    /// `export-42`) instead of a new UUID. The app keeps its ids unique per user while the
    /// operations run: two running operations with one id are shown as one.
    pub fn with_id(mut self, id: impl Into<String>) -> Operations {
        self.id = Some(id.into());
        self
    }

    /// Starts an operation of type `operation_type` for the principal (in their tenant) and
    /// reports it at 0 %, stage `started`.
    ///
    /// # Errors
    /// As [`start_for`](Operations::start_for).
    pub fn start(
        &self,
        principal: &Principal,
        operation_type: &str,
    ) -> Result<Operation, OperationError> {
        self.start_for(
            &principal.user_id,
            principal.tenant.as_deref(),
            operation_type,
        )
    }

    /// Starts an operation for a user named by id (a background job without a principal).
    ///
    /// # Errors
    /// [`OperationError::InvalidId`] for an id given with [`with_id`](Operations::with_id)
    /// that is empty, too long or has control characters; an emit error when the first
    /// progress event cannot be emitted.
    pub fn start_for(
        &self,
        user_id: &str,
        tenant: Option<&str>,
        operation_type: &str,
    ) -> Result<Operation, OperationError> {
        let mut to = crate::to_user(user_id);
        if let Some(t) = tenant {
            to = to.in_tenant(t);
        }
        let id = match &self.id {
            Some(id)
                if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) =>
            {
                return Err(OperationError::InvalidId(id.clone()));
            }
            Some(id) => id.clone(),
            None => crate::ids::uuid(),
        };
        let op = Operation {
            inner: Arc::new(OpInner {
                hub: self.hub.clone(),
                id,
                operation_type: operation_type.to_owned(),
                user_id: user_id.to_owned(),
                to,
                percentage: AtomicU8::new(0),
                finished: AtomicBool::new(false),
            }),
        };
        op.progress("started", 0, None)?;
        Ok(op)
    }
}

/// A running operation. Clones report the same operation.
#[derive(Debug, Clone)]
pub struct Operation {
    inner: Arc<OpInner>,
}

#[derive(Debug)]
struct OpInner {
    hub: Hub,
    id: String,
    operation_type: String,
    user_id: String,
    to: Recipients,
    percentage: AtomicU8,
    finished: AtomicBool,
}

impl Operation {
    /// The operation's id (a UUID, or the app's own), for the app's reply to the request that
    /// started it.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The percentage last reported.
    pub fn percentage(&self) -> u8 {
        self.inner.percentage.load(Ordering::Acquire)
    }

    /// Reports progress. The percentage is clamped to 100 and never goes below the last one
    /// reported.
    ///
    /// # Errors
    /// When the operation has finished, or the event cannot be emitted.
    pub fn progress(
        &self,
        stage: &str,
        percentage: u8,
        message: Option<&str>,
    ) -> Result<Delivered, OperationError> {
        let i = &self.inner;
        self.running()?;
        let wanted = percentage.min(100);
        let previous = i.percentage.fetch_max(wanted, Ordering::AcqRel);
        let event = Progress {
            operation_id: i.id.clone(),
            operation_type: i.operation_type.clone(),
            user_id: i.user_id.clone(),
            stage: stage.to_owned(),
            percentage: wanted.max(previous),
            message: message.map(str::to_owned),
        };
        Ok(i.hub.emit_to(&event, &i.to)?)
    }

    /// Completes the operation with its result and the tables whose client caches are stale.
    ///
    /// # Errors
    /// When the operation has finished, or the event cannot be emitted.
    pub fn complete(
        &self,
        result: Value,
        refresh_tables: &[&str],
        message: Option<&str>,
    ) -> Result<Delivered, OperationError> {
        let i = &self.inner;
        self.finish()?;
        i.percentage.store(100, Ordering::Release);
        let event = Complete {
            operation_id: i.id.clone(),
            operation_type: i.operation_type.clone(),
            user_id: i.user_id.clone(),
            result,
            refresh_tables: refresh_tables.iter().map(|t| (*t).to_owned()).collect(),
            message: message.map(str::to_owned),
        };
        Ok(i.hub.emit_to(&event, &i.to)?)
    }

    /// Fails the operation: `code` is stable and machine-readable (`quota_exceeded`), `message`
    /// is for the user, `retryable` says whether starting it again may succeed.
    ///
    /// # Errors
    /// When the operation has finished, or the event cannot be emitted.
    pub fn fail(
        &self,
        code: &str,
        message: &str,
        retryable: bool,
    ) -> Result<Delivered, OperationError> {
        let i = &self.inner;
        self.finish()?;
        let event = Failed {
            operation_id: i.id.clone(),
            operation_type: i.operation_type.clone(),
            user_id: i.user_id.clone(),
            error: FailedError {
                code: code.to_owned(),
                message: message.to_owned(),
                retryable,
            },
        };
        Ok(i.hub.emit_to(&event, &i.to)?)
    }

    fn running(&self) -> Result<(), OperationError> {
        if self.inner.finished.load(Ordering::Acquire) {
            return Err(OperationError::Finished(self.inner.id.clone()));
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), OperationError> {
        if self.inner.finished.swap(true, Ordering::AcqRel) {
            return Err(OperationError::Finished(self.inner.id.clone()));
        }
        Ok(())
    }
}

impl Drop for OpInner {
    /// The last handle is gone: an operation that did not end fails as [`ABANDONED`].
    fn drop(&mut self) {
        if self.finished.load(Ordering::Acquire) {
            return;
        }
        tracing::warn!(
            operation = %self.id,
            operation_type = %self.operation_type,
            "operation dropped without complete or fail; failing it as abandoned"
        );
        let event = Failed {
            operation_id: self.id.clone(),
            operation_type: self.operation_type.clone(),
            user_id: self.user_id.clone(),
            error: FailedError {
                code: ABANDONED.to_owned(),
                message: "the operation stopped without completing".to_owned(),
                retryable: true,
            },
        };
        if let Err(e) = self.hub.emit_to(&event, &self.to) {
            tracing::warn!(operation = %self.id, error = %e, "the abandoned operation could not be reported");
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    operation_id: String,
    operation_type: String,
    user_id: String,
    stage: String,
    percentage: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Complete {
    operation_id: String,
    operation_type: String,
    user_id: String,
    result: Value,
    refresh_tables: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FailedError {
    code: String,
    message: String,
    retryable: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Failed {
    operation_id: String,
    operation_type: String,
    user_id: String,
    error: FailedError,
}

macro_rules! operation_event {
    ($ty:ty, $name:expr) => {
        impl Event for $ty {
            const NAME: &'static str = $name;
            const MODULE: &'static str = "operation";
            const DIRECTION: Direction = Direction::ServerToClient;
            const DELIVERY: Delivery = Delivery::Durable;
            type Reply = ();

            fn recipients(&self) -> Recipients {
                crate::to_user(&self.user_id)
            }
        }
    };
}

operation_event!(Progress, PROGRESS);
operation_event!(Complete, COMPLETE);
operation_event!(Failed, ERROR);

/// The state of the user's operations, folded from the stream's history, oldest first: for
/// each operation, its type, `state` (`running`, `complete`, `failed`), the last stage,
/// percentage and message, and the result or error once finished.
pub(crate) fn states(stream: &UserStream) -> Value {
    let mut ops: Vec<serde_json::Map<String, Value>> = Vec::new();
    let st = stream.lock();
    for (seq, entry) in st.stored() {
        let Some(kind) = [PROGRESS, COMPLETE, ERROR]
            .into_iter()
            .find(|n| entry.body.starts_with(&format!("\"type\":\"{n}\"")))
        else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&format!("{{{}", entry.body)) else {
            continue;
        };
        let data = &frame["data"];
        let Some(id) = data["operation_id"].as_str() else {
            continue;
        };
        let at = match ops.iter().position(|o| o["operation_id"] == id) {
            Some(at) => at,
            None => {
                let mut o = serde_json::Map::new();
                o.insert("operation_id".into(), Value::from(id));
                o.insert("operation_type".into(), data["operation_type"].clone());
                o.insert("percentage".into(), Value::from(0));
                ops.push(o);
                ops.len() - 1
            }
        };
        let o = &mut ops[at];
        o.insert("seq".into(), Value::from(seq));
        o.insert("ts".into(), frame["ts"].clone());
        match kind {
            PROGRESS => {
                o.insert("state".into(), Value::from("running"));
                o.remove("message");
                for key in ["stage", "percentage", "message"] {
                    if let Some(v) = data.get(key) {
                        o.insert(key.into(), v.clone());
                    }
                }
            }
            COMPLETE => {
                o.insert("state".into(), Value::from("complete"));
                o.remove("message");
                o.insert("percentage".into(), Value::from(100));
                for key in ["result", "refresh_tables", "message"] {
                    if let Some(v) = data.get(key) {
                        o.insert(key.into(), v.clone());
                    }
                }
            }
            _ => {
                o.insert("state".into(), Value::from("failed"));
                o.insert("error".into(), data["error"].clone());
            }
        }
    }
    Value::from(ops.into_iter().map(Value::Object).collect::<Vec<_>>())
}
