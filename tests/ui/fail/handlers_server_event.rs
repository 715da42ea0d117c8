// An event only the server sends has no handler: `handlers!` refuses it when compiling.
use serde::{Deserialize, Serialize};
use tidings::{Event, HandlerError, Session};

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "audit", name = "audit:recorded", user = "user_id")]
pub struct Recorded {
    pub user_id: String,
}

tidings::handlers! {
    pub trait AuditHandlers, fn audit_router {
        recorded => Recorded,
    }
}

struct Audit;

impl AuditHandlers for Audit {
    async fn recorded(&self, _session: Session, _event: Recorded) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {
    let _ = audit_router(Audit);
}
