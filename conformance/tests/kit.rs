//! The kit against the Rust client's driver: every scenario it claims passes, the others are
//! skipped; and a driver that breaks the protocol fails, with the step and what arrived.

use std::path::Path;

use tidings_conformance::{load_dir, play, Outcome};

fn scenarios() -> Vec<tidings_conformance::Scenario> {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).expect("the scenarios load")
}

const RUST_DRIVER: &str = env!("CARGO_BIN_EXE_tidings-conformance-rust-driver");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_passes_every_scenario_it_claims() {
    let mut skipped = Vec::new();
    for s in scenarios() {
        match play(&s, RUST_DRIVER, &[]).await.expect("the kit runs") {
            Outcome::Passed => {}
            Outcome::Skipped(_) => skipped.push(s.name.clone()),
            Outcome::Failed { step, message } => panic!("{}: step {step}: {message}", s.name),
        }
    }
    skipped.sort();
    assert_eq!(skipped, ["renewal", "requests", "rooms_rejoined"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_that_break_the_protocol_fail_at_the_step_that_shows_it() {
    let all = scenarios();
    let named = |n: &str| {
        all.iter()
            .find(|s| s.name == n)
            .expect("a scenario")
            .clone()
    };
    // No client at all.
    let mut handshake = named("handshake");
    handshake.steps[0] = tidings_conformance::Step::Accept(tidings_conformance::scenario::Accept {
        within_ms: Some(300),
        ..Default::default()
    });
    match play(&handshake, "true", &[]).await.expect("runs") {
        Outcome::Failed { step: 1, message } => {
            assert!(message.contains("no connection within 300 ms"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A client with another token.
    let wrong = format!("TIDINGS_CONFORMANCE_TOKEN=wrong {RUST_DRIVER}");
    match play(&named("opaque_token"), &wrong, &[])
        .await
        .expect("runs")
    {
        Outcome::Failed { step: 1, message } => {
            assert!(
                message.contains("carries the token Some(\"wrong\")"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A scenario the client cannot meet: the kit says what arrived instead.
    let mut expects_more = named("events_in_order_once");
    expects_more.steps.push(tidings_conformance::Step::Saw(
        serde_json::json!({ "what": "event", "seq": 4 }),
    ));
    expects_more.steps.insert(
        0,
        tidings_conformance::Step::Wait(tidings_conformance::scenario::Wait { ms: 0 }),
    );
    match play(&expects_more, RUST_DRIVER, &[]).await.expect("runs") {
        Outcome::Failed { step, message } => {
            assert_eq!(step, expects_more.steps.len());
            assert!(message.contains("did not report"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// The kit ends the driver's whole process group after each scenario: nothing it started keeps
/// running (a driver left behind reconnects forever and loads the machine).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_driver_started_outlives_the_scenario() {
    let dir = std::env::temp_dir().join(format!("tidings-kit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let pid_file = dir.join("pid");
    let driver = format!(
        "sleep 300 & echo $! > {}; {RUST_DRIVER}",
        pid_file.display()
    );
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "ping_pong")
        .expect("ping_pong");
    assert_eq!(play(&s, &driver, &[]).await.expect("runs"), Outcome::Passed);
    let pid = std::fs::read_to_string(&pid_file).expect("the pid");
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .ok()
            .and_then(|stat| stat.rsplit(") ").next().map(|rest| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(&pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the driver's child {pid} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
