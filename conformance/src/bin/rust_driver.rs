//! The conformance driver of the Rust client (`tidings::client`): connects to
//! `TIDINGS_CONFORMANCE_URL` with `TIDINGS_CONFORMANCE_TOKEN`, acts on `conformance:do` events
//! and reports what the client saw as `conformance:saw` events (docs/conformance.md). It claims
//! no optional capability: the Rust client has no rooms, requests or renewal of its own.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use tidings::client::{Client, ClientEvent};

#[tokio::main]
async fn main() -> ExitCode {
    let (Ok(url), Ok(token)) = (
        std::env::var("TIDINGS_CONFORMANCE_URL"),
        std::env::var("TIDINGS_CONFORMANCE_TOKEN"),
    ) else {
        eprintln!("run by tidings-conformance: TIDINGS_CONFORMANCE_URL and TIDINGS_CONFORMANCE_TOKEN are not set");
        return ExitCode::from(2);
    };
    let mut client = Client::builder(url)
        .token(token)
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect();
    let saw = |client: &Client, data: Value| {
        let _ = client.send(&json!({ "type": "conformance:saw", "data": data }));
    };
    while let Some(event) = client.next().await {
        match event {
            ClientEvent::Event(e) if e.name == "conformance:do" => {
                match e.data["action"].as_str() {
                    Some("send") => {
                        let frame = json!({ "type": e.data["event"], "data": e.data["data"] });
                        let _ = client.send(&frame);
                    }
                    other => saw(&client, json!({ "what": "unsupported", "action": other })),
                }
            }
            ClientEvent::Event(e) => saw(
                &client,
                json!({ "what": "event", "event": e.name, "seq": e.seq, "data": e.data }),
            ),
            ClientEvent::Resync { reason, .. } => {
                saw(&client, json!({ "what": "resync", "reason": reason }))
            }
            ClientEvent::Caught { replayed } => saw(
                &client,
                json!({ "what": "caught_up", "replayed": replayed }),
            ),
            ClientEvent::Frame(v) if v["type"] == "$error" && v.get("cid").is_none() => {
                saw(&client, json!({ "what": "error", "code": v["code"] }))
            }
            _ => {}
        }
    }
    ExitCode::SUCCESS
}
