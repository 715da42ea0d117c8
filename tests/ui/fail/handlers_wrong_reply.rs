// A typed handler answers with the event's declared reply, and handles every event it lists.
use serde::{Deserialize, Serialize};
use tidings::{Describe, Event, HandlerError, Session};

#[derive(Debug, Serialize, Deserialize, Describe)]
#[tidings(module = "jobs")]
pub struct Cancelled {
    pub cancelled: bool,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "jobs", name = "jobs:cancel", direction = "to_server", reply = Cancelled)]
pub struct CancelJob {
    pub job_id: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "jobs", name = "jobs:retry", direction = "to_server")]
pub struct RetryJob {
    pub job_id: String,
}

tidings::handlers! {
    pub trait JobsHandlers, fn jobs_router {
        cancel_job => CancelJob,
        retry_job => RetryJob,
    }
}

struct Jobs;

impl JobsHandlers for Jobs {
    async fn cancel_job(&self, _session: Session, _event: CancelJob) -> Result<bool, HandlerError> {
        Ok(true)
    }
}

fn main() {
    let _ = jobs_router(Jobs);
}
