//! The operations helper: clamped, non-decreasing progress; one ending; and the state a client
//! that connects mid-operation asks for with `$operations`.

use serde_json::json;
use tidings::operations::OperationError;

use crate::support::{hub_builder, TestServer};

#[tokio::test]
async fn progress_is_clamped_and_monotonic_and_a_late_client_can_ask_for_the_state() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut tab = server.client("user=u1&tenant=acme").await;
    let ops = server.hub.operations();
    let export = ops
        .start_for("u1", Some("acme"), "export_csv")
        .expect("started");
    export
        .progress("reading rows", 40, Some("40 of 100"))
        .expect("progress");
    export.progress("reading rows", 30, None).expect("progress");
    export.progress("writing", 250, None).expect("progress");
    assert_eq!(export.percentage(), 100);
    let import = ops
        .start_for("u1", Some("acme"), "import")
        .expect("started");
    import.progress("parsing", 10, None).expect("progress");

    let mut seen = Vec::new();
    for _ in 0..6 {
        let f = tab.recv_app().await;
        assert!(f["seq"].is_u64(), "durable: {f}");
        seen.push((
            f["type"].as_str().unwrap_or_default().to_owned(),
            f["data"]["percentage"].as_u64(),
        ));
    }
    let progress = |p| ("operation:progress".to_owned(), Some(p));
    assert_eq!(
        seen,
        [
            progress(0),
            progress(40),
            progress(40),
            progress(100),
            progress(0),
            progress(10)
        ]
    );

    // A client that connects now (a new tab, no resume position) asks for the state.
    let mut late = server.client("user=u1&tenant=acme").await;
    let reply = late
        .request(json!({ "type": "$operations", "cid": 1 }))
        .await;
    let states = reply["data"]["operations"]
        .as_array()
        .expect("a list")
        .clone();
    assert_eq!(states.len(), 2, "{reply}");
    assert_eq!(states[0]["operation_id"], export.id());
    assert_eq!(states[0]["state"], "running");
    assert_eq!(states[0]["stage"], "writing");
    assert_eq!(states[0]["percentage"], 100);
    assert_eq!(states[1]["operation_type"], "import");
    assert_eq!(states[1]["percentage"], 10);

    export
        .complete(
            json!({ "url": "/exports/7.csv" }),
            &["exports"],
            Some("ready"),
        )
        .expect("complete");
    import
        .fail(
            "quota_exceeded",
            "you have used this month's imports",
            false,
        )
        .expect("fail");
    assert!(matches!(
        export.progress("again", 1, None),
        Err(OperationError::Finished(_))
    ));
    assert!(matches!(
        import.fail("x", "y", true),
        Err(OperationError::Finished(_))
    ));
    let done = tab.recv_app().await;
    assert_eq!(done["type"], "operation:complete");
    assert_eq!(done["data"]["refresh_tables"], json!(["exports"]));
    let failed = tab.recv_app().await;
    assert_eq!(failed["type"], "operation:error");
    assert_eq!(failed["data"]["error"]["retryable"], false);

    let reply = late
        .request(json!({ "type": "$operations", "cid": 2 }))
        .await;
    let states = &reply["data"]["operations"];
    assert_eq!(states[0]["state"], "complete");
    assert_eq!(states[0]["result"]["url"], "/exports/7.csv");
    assert_eq!(states[0]["message"], "ready");
    assert_eq!(states[1]["state"], "failed");
    assert_eq!(states[1]["error"]["code"], "quota_exceeded");

    // Another tenant's stream of the same user id sees none of it.
    let mut elsewhere = server.client("user=u1&tenant=globex").await;
    let reply = elsewhere
        .request(json!({ "type": "$operations", "cid": 3 }))
        .await;
    assert_eq!(reply["data"]["operations"], json!([]));
    // Without a cid there is nothing to answer to.
    let err = elsewhere.request(json!({ "type": "$operations" })).await;
    assert_eq!(err["code"], "bad_frame", "{err}");
}

#[test]
fn operation_ids_are_v4_uuids() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let hub = hub_builder().build();
        let a = hub.operations().start_for("u", None, "t").expect("start");
        let b = hub.operations().start_for("u", None, "t").expect("start");
        assert_ne!(a.id(), b.id());
        for id in [a.id(), b.id()] {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
    });
}

/// An operation takes the app's own id; one whose task dies without an ending fails as
/// `abandoned` (issue #19: no operation stays "running" forever in `$operations`).
#[tokio::test]
async fn an_operation_takes_the_apps_id_and_fails_as_abandoned_when_its_task_dies() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut tab = server.client("user=u1&tenant=acme").await;
    let op = server
        .hub
        .operations()
        .with_id("export-42")
        .start_for("u1", Some("acme"), "export_csv")
        .expect("started");
    assert_eq!(op.id(), "export-42");
    let job = tokio::spawn(async move {
        op.progress("reading rows", 30, None).expect("progress");
        panic!("the job crashed");
    });
    assert!(job.await.is_err(), "the job panicked");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let f = tab.recv_app().await;
        assert_eq!(f["data"]["operation_id"], "export-42", "{f}");
        seen.push(f["type"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        seen,
        [
            "operation:progress",
            "operation:progress",
            "operation:error"
        ]
    );
    let reply = tab
        .request(json!({ "type": "$operations", "cid": 1 }))
        .await;
    let state = &reply["data"]["operations"][0];
    assert_eq!(state["state"], "failed", "{reply}");
    assert_eq!(state["error"]["code"], tidings::operations::ABANDONED);
    assert_eq!(state["error"]["retryable"], true);

    // An operation that ended is not reported again when dropped.
    let done = server
        .hub
        .operations()
        .start_for("u1", Some("acme"), "import")
        .expect("started");
    done.complete(json!(null), &[], None).expect("complete");
    drop(done);
    let kinds: Vec<String> = [tab.recv_app().await, tab.recv_app().await]
        .iter()
        .map(|f| f["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["operation:progress", "operation:complete"]);
    tab.send_json(json!({ "type": "$ping" })).await;
    assert_eq!(
        tab.recv_app().await["type"],
        "$pong",
        "nothing after the complete"
    );

    for bad in [String::new(), "a\nb".to_owned(), "x".repeat(129)] {
        let refused = server.hub.operations().with_id(bad.clone()).start_for(
            "u1",
            Some("acme"),
            "export_csv",
        );
        assert!(
            matches!(refused, Err(OperationError::InvalidId(_))),
            "{bad:?}: {refused:?}"
        );
    }
}
