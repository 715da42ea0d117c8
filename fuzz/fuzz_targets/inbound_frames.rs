//! Arbitrary client frames through an in-process connection: the input split at newlines into
//! text frames, sent to a session (rooms allowed, a generous rate so that the session's other
//! paths are reached), then a `$ping`. Invariants: every frame the server sends is a JSON object
//! with a string `type`; the session still answers the `$ping` (or has closed with a code).
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tidings::{Hub, Limits, Principal};

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
    );
    // One hub for every input (each input a connection of its own): a hub per input would leave
    // its periodic tasks behind.
    static HUB: RefCell<Option<Hub>> = const { RefCell::new(None) };
}

fn hub() -> Hub {
    HUB.with(|h| {
        h.borrow_mut()
            .get_or_insert_with(|| {
                let mut limits = Limits::default();
                limits.rate_per_second = 100_000;
                limits.rate_burst = 100_000;
                Hub::builder()
                    .limits(limits)
                    .allow_join(|_, room| !room.starts_with("secret"))
                    .build()
            })
            .clone()
    })
}

fn check(frame: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(frame).expect("the server sends JSON");
    assert!(v["type"].is_string(), "a frame without a string type: {frame}");
    v["type"] == "$pong"
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    RUNTIME.with(|rt| {
        rt.borrow().block_on(async move {
            let hub = hub();
            let mut principal = Principal::user("u1");
            principal.roles = vec!["admin".to_owned()];
            principal.tenant = Some("t1".to_owned());
            let mut conn = hub.connect_local(principal, None);
            let hello = conn.recv().await.expect("$connected");
            check(&hello);
            for frame in text.split('\n').take(64) {
                if conn.send(frame).await.is_err() {
                    return;
                }
            }
            if conn.send("{\"type\":\"$ping\"}").await.is_err() {
                return;
            }
            loop {
                match tokio::time::timeout(Duration::from_secs(5), conn.recv()).await {
                    Ok(Some(frame)) => {
                        if check(&frame) {
                            break;
                        }
                    }
                    // Closed: only with a documented code.
                    Ok(None) => {
                        assert!(conn.close_code().is_some(), "closed without a code");
                        break;
                    }
                    Err(_) => panic!("the session stopped answering"),
                }
            }
            conn.close().await;
        });
    });
});
