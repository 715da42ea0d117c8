//! A derive user: events declared on Rust structs with `#[derive(Event)]`, no schema files.
//!
//! ```text
//! cargo run -p tidings-examples --bin derive_user                     # serve, connect, emit, check
//! cargo run -p tidings-examples --bin derive_user -- --ts web/src/gen  # export the TypeScript
//! ```
//!
//! The second form is the one-command workflow for derive users: every event and type derived in
//! the program is exported (they register themselves), with the same options as
//! `tidings generate` (`--ts`, `--ts-react`, `--ts-vue`, `--rust`, `--ir`, `--check`).

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tidings::{Describe, Event, HandlerError, Hub, Session};
use tokio_tungstenite::tungstenite::Message;

/// Where a job is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Describe)]
#[tidings(module = "jobs")]
#[serde(rename_all = "snake_case")]
enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Being worked on.
    Running,
    /// Finished, or cancelled.
    Done,
}

/// A job changed state; its owner's tabs update their job list.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "jobs", name = "jobs:stateChanged", user = "owner_id")]
#[serde(rename_all = "camelCase")]
struct JobStateChanged {
    job_id: String,
    /// The user who submitted the job.
    owner_id: String,
    state: JobState,
    /// How far along the job is.
    #[tidings(min = 0, max = 100)]
    progress: u8,
}

/// The owner asks to cancel a job.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(module = "jobs", name = "jobs:cancel", direction = "to_server", reply = Cancelled)]
#[serde(rename_all = "camelCase")]
struct CancelJob {
    #[tidings(min_length = 1, max_length = 64)]
    job_id: String,
}

/// The answer to a cancellation.
#[derive(Debug, Serialize, Deserialize, Describe)]
#[tidings(module = "jobs")]
struct Cancelled {
    /// Whether the job was still running.
    cancelled: bool,
}

fn emit<E: Event>(hub: &Hub, event: &E) -> Result<(), HandlerError> {
    hub.emit(event)
        .map(drop)
        .map_err(|e| HandlerError::internal(e.to_string()))
}

tidings::handlers! {
    /// What this program does with the events clients send in module `jobs`: the same typed
    /// trait and router as a module generated from TOML has.
    trait JobsHandlers, fn jobs_router {
        /// `jobs:cancel`: the job is done; its owner's tabs hear of it.
        cancel_job => CancelJob,
    }
}

struct Jobs;

impl JobsHandlers for Jobs {
    async fn cancel_job(
        &self,
        session: Session,
        req: CancelJob,
    ) -> Result<Cancelled, HandlerError> {
        let done = JobStateChanged {
            job_id: req.job_id,
            owner_id: session.principal().user_id.clone(),
            state: JobState::Done,
            progress: 100,
        };
        emit(session.hub(), &done)?;
        Ok(Cancelled { cancelled: true })
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Result<serde_json::Value, String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .map_err(|_| "nothing arrived within 5 s".to_owned())?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).map_err(|e| e.to_string())
            }
            Some(Ok(_)) => {}
            other => return Err(format!("connection ended: {other:?}")),
        }
    }
}

async fn scripted() -> Result<(), String> {
    let hub = Hub::builder()
        .authenticator(tidings_examples::trust_the_query)
        .router(jobs_router(Jobs))
        .build();
    let server = tidings::Server::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let serving = hub.clone();
    tokio::spawn(async move { server.serve(serving).await });

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?user=owner"))
        .await
        .map_err(|e| e.to_string())?;
    let hello = next_json(&mut ws).await?;
    println!("connected as {}", hello["user"]);

    // A state change the server emits to the owner; keys are camelCase (serde's rename_all).
    let owner = tidings_examples::demo_id("owner");
    let running = JobStateChanged {
        job_id: "j-1".into(),
        owner_id: owner.clone(),
        state: JobState::Running,
        progress: 40,
    };
    // The same API as events generated from TOML: `.emit(&hub)`.
    running.emit(&hub).map_err(|e| e.to_string())?;
    let bad = JobStateChanged {
        job_id: "j-1".into(),
        owner_id: owner,
        state: JobState::Running,
        progress: 140,
    };
    let refused = hub.emit(&bad).map(drop).map_err(|e| e.to_string());
    println!(
        "a progress of 140 is refused: {}",
        refused.clone().err().unwrap_or_default()
    );

    ws.send(Message::Text(
        r#"{"type":"jobs:cancel","cid":1,"data":{"jobId":"j-1"}}"#.into(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let v = next_json(&mut ws).await?;
        println!("received {v}");
        seen.push(v);
    }
    let states: Vec<_> = seen
        .iter()
        .filter(|v| v["type"] == "jobs:stateChanged")
        .map(|v| v["data"]["state"].clone())
        .collect();
    let owner_key = seen.iter().any(|v| v["data"]["ownerId"].is_string());
    let reply = seen
        .iter()
        .find(|v| v["type"] == "$reply")
        .map(|v| v["data"]["cancelled"].clone());
    if states != [serde_json::json!("running"), serde_json::json!("done")]
        || !owner_key
        || reply != Some(serde_json::json!(true))
        || refused.is_ok()
    {
        return Err(format!("unexpected frames: {seen:?}"));
    }
    println!("ok: typed events from derived structs, end to end");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 1 {
        return tidings_codegen::export::run(tidings::describe::schema(), args);
    }
    match scripted().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
