//! Arbitrary resume positions against a stream with history: the input's first byte is how many
//! events the stream has numbered (0–63, the history holding 16), the rest the position text
//! (`<epoch>.<seq>`; a leading `=` stands for the stream's own epoch, so that every seq of the
//! right epoch is reached). Invariants: `Position::parse` accepts exactly what it prints; a
//! resuming connection gets `$connected`, then either `$pending_complete` after exactly the
//! events it missed (in order, contiguous, ending at the stream's head) or `$resync_required`
//! carrying the stream's head; never a panic or a hang.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tidings::schema::{Delivery, Direction};
use tidings::{to_user, Event, History, Hub, Position, Principal, Recipients};

/// A durable event to one user.
#[derive(Serialize, Deserialize)]
struct Note {
    user: String,
    n: u64,
}

impl Event for Note {
    const NAME: &'static str = "test:note";
    const MODULE: &'static str = "test";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        to_user(&self.user)
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // One hub for every input (a hub per input would leave its periodic tasks behind); each
    // input is a user of its own, so its stream starts empty.
    static HUB: Hub = Hub::builder()
        .history(History::new(16, Duration::from_secs(300)))
        .build();
    static USERS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

async fn next(conn: &mut tidings::local::LocalConnection) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), conn.recv())
        .await
        .expect("a frame in time")
        .expect("the session is open");
    serde_json::from_str(&frame).expect("JSON")
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, text)) = data.split_first() else {
        return;
    };
    let count = u64::from(count % 64);
    let text = String::from_utf8_lossy(text).into_owned();
    if let Some(p) = Position::parse(&text) {
        assert_eq!(Position::parse(&p.to_string()), Some(p.clone()), "{text:?}");
    }
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let hub = HUB.with(Hub::clone);
            let user = USERS.with(|u| {
                u.set(u.get() + 1);
                format!("u{}", u.get())
            });
            let mut first = hub.connect_local(Principal::user(&user), None);
            let hello = next(&mut first).await;
            let epoch = hello["resume"]["epoch"].as_str().expect("an epoch").to_owned();
            for n in 0..count {
                hub.emit(&Note {
                    user: user.clone(),
                    n,
                })
                .expect("emit");
            }
            for _ in 0..count {
                next(&mut first).await;
            }
            let text = match text.strip_prefix('=') {
                Some(rest) => format!("{epoch}{rest}"),
                None => text,
            };
            let Some(resume) = Position::parse(&text) else {
                return;
            };
            let mut conn = hub.connect_local(Principal::user(&user), Some(resume.clone()));
            assert_eq!(next(&mut conn).await["type"], "$connected");
            let mut expected = resume.seq + 1;
            loop {
                let frame = next(&mut conn).await;
                match frame["type"].as_str() {
                    Some("$pending_complete") => {
                        assert_eq!(resume.epoch, epoch);
                        assert_eq!(expected, count + 1, "replay ends at the head: {frame}");
                        break;
                    }
                    Some("$resync_required") => {
                        assert_eq!(frame["seq"], count, "{frame}");
                        assert_eq!(frame["epoch"], epoch.as_str(), "{frame}");
                        break;
                    }
                    Some("test:note") => {
                        assert_eq!(frame["seq"], expected, "{frame}");
                        expected += 1;
                    }
                    other => panic!("unexpected {other:?}: {frame}"),
                }
            }
            conn.close().await;
            first.close().await;
        });
    });
});
