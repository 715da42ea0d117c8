//! The outbound size limit: an event, a `Session::send` or a handler's answer larger than
//! `Limits::max_outbound_frame_bytes` is refused where it is made — the emit fails, the answer
//! becomes an `internal` error — and the connection goes on; anything up to the limit arrives.

use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{EmitError, Event, HandlerError, Limits, Recipients, Router, Session};

use crate::events::{SendMessage, StoredMessage};
use crate::support::{hub_builder, TestServer};

macro_rules! to_solo {
    ($ty:ident, $name:literal, $delivery:ident) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        struct $ty {
            pad: String,
        }

        impl Event for $ty {
            const NAME: &'static str = $name;
            const MODULE: &'static str = "outbound";
            const DIRECTION: Direction = Direction::ServerToClient;
            const DELIVERY: Delivery = Delivery::$delivery;
            type Reply = ();

            fn recipients(&self) -> Recipients {
                tidings::to_user("solo")
            }
        }
    };
}

to_solo!(Big, "outbound:big", Ephemeral);
to_solo!(StoredBig, "outbound:stored_big", Durable);

fn too_large(result: Result<impl std::fmt::Debug, EmitError>, limit: usize) {
    match result {
        Err(EmitError::TooLarge {
            bytes, limit: l, ..
        }) => {
            assert_eq!(l, limit);
            assert!(bytes > limit, "{bytes} > {limit}");
        }
        other => panic!("refused as too large, got {other:?}"),
    }
}

/// At the default limit (256 KiB), an event just under the limit arrives whole — the write buffer's
/// bound takes the largest frame the limit lets through — and one over it is refused by the
/// emit: before, a frame past the write buffer's bound ended the connection while the emit
/// reported it sent.
#[tokio::test]
async fn at_the_defaults_an_event_up_to_the_limit_arrives_and_a_larger_one_is_refused() {
    // A small inbound limit: it sets nothing on the way out (it used to set the write buffer's
    // bound, 64 KiB here, and a 200 KiB event ended the connection).
    let mut limits = Limits::default();
    limits.max_frame_bytes = 1024;
    let server = TestServer::start(hub_builder().limits(limits).build()).await;
    let mut client = server.client("user=solo").await;
    let limit = Limits::default().max_outbound_frame_bytes;
    assert_eq!(limit, 256 * 1024);
    too_large(
        server.hub.emit(&Big {
            pad: "x".repeat(limit),
        }),
        limit,
    );
    too_large(
        server.hub.emit(&StoredBig {
            pad: "x".repeat(limit),
        }),
        limit,
    );
    let pad = "y".repeat(limit - 300);
    let delivered = server
        .hub
        .emit(&StoredBig { pad: pad.clone() })
        .expect("fits");
    assert_eq!(delivered.connections, 1);
    let frame = client.recv_app().await;
    assert_eq!(frame["type"], "outbound:stored_big", "{}", frame["type"]);
    assert_eq!(frame["data"]["pad"].as_str(), Some(pad.as_str()));
    assert_eq!(frame["seq"], 1, "the refused durable event took no number");
    server.hub.emit(&Big { pad: "z".into() }).expect("fits");
    assert_eq!(client.recv_app().await["data"]["pad"], "z");
}

/// Growing an event a byte at a time against a small limit: every frame the emit accepts
/// arrives and is at most the limit; the first refused is past it (a durable event counted with
/// its sequence number at its widest). A write buffer of 0 (every frame written at once) too.
#[tokio::test]
async fn every_accepted_size_arrives_and_none_exceeds_the_limit() {
    for write_buffer_bytes in [0, 4096] {
        let mut limits = Limits::default();
        limits.max_outbound_frame_bytes = 1024;
        limits.write_buffer_bytes = write_buffer_bytes;
        let server = TestServer::start(hub_builder().limits(limits).build()).await;
        let mut client = server.client("user=solo").await;
        for durable in [false, true] {
            let mut accepted = 0;
            for len in 700.. {
                let pad = "p".repeat(len);
                let emitted = if durable {
                    server.hub.emit(&StoredBig { pad: pad.clone() })
                } else {
                    server.hub.emit(&Big { pad: pad.clone() })
                };
                match emitted {
                    Ok(_) => {
                        accepted += 1;
                        let text = client.recv_text().await;
                        assert!(text.len() <= 1024, "{} bytes arrived", text.len());
                        let frame: serde_json::Value =
                            serde_json::from_str(&text).expect("JSON frame");
                        assert_eq!(frame["data"]["pad"].as_str(), Some(pad.as_str()));
                    }
                    Err(e) => {
                        too_large(Err::<(), _>(e), 1024);
                        break;
                    }
                }
            }
            assert!(
                accepted > 100,
                "{accepted} sizes accepted (durable: {durable})"
            );
        }
    }
}

async fn oversized(session: Session, msg: SendMessage) -> Result<StoredMessage, HandlerError> {
    match session.send(&Big {
        pad: "s".repeat(2048),
    }) {
        Err(EmitError::TooLarge { .. }) => {}
        other => {
            return Err(HandlerError::new(
                "not_refused",
                format!("Session::send of 2 KiB: {other:?}"),
            ))
        }
    }
    if msg.text == "big error" {
        return Err(HandlerError::new("app_error", "e".repeat(2048)));
    }
    let text = if msg.text == "big" {
        "r".repeat(2048)
    } else {
        msg.text
    };
    Ok(StoredMessage {
        id: 1,
        chat_id: msg.chat_id,
        text,
        sender: session.principal().user_id.clone(),
    })
}

/// `Session::send` past the limit fails; a handler's reply or error past it becomes an
/// `internal` error with the same `cid`, and the connection goes on.
#[tokio::test]
async fn a_handler_answer_past_the_limit_is_an_internal_error() {
    let mut limits = Limits::default();
    limits.max_outbound_frame_bytes = 1024;
    let hub = hub_builder()
        .limits(limits)
        .router(Router::new().on::<SendMessage, _, _>(oversized))
        .build();
    let server = TestServer::start(hub).await;
    let mut client = server.client("user=solo").await;
    for (cid, text) in [(1, "big"), (2, "big error")] {
        let answer = client
            .request(serde_json::json!({
                "type": "chat:sendMessage", "cid": cid,
                "data": { "chat_id": "1", "text": text },
            }))
            .await;
        assert_eq!(answer["type"], "$error", "{answer}");
        assert_eq!(answer["code"], "internal", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("at most 1024")),
            "{answer}"
        );
    }
    let answer = client
        .request(serde_json::json!({
            "type": "chat:sendMessage", "cid": 3,
            "data": { "chat_id": "1", "text": "small" },
        }))
        .await;
    assert_eq!(answer["type"], "$reply", "{answer}");
    assert_eq!(answer["data"]["text"], "small", "{answer}");
}

/// A burst far past the gather size (`Limits::write_buffer_bytes`, 4 KiB here): a session's
/// batch fills the gathered bytes partway through and sends the rest of it one frame at a
/// time. Every frame arrives whole, once and in order, the durable ones numbered without a gap.
#[tokio::test]
async fn a_burst_past_the_gather_size_arrives_whole_once_and_in_order() {
    let mut limits = Limits::default();
    limits.write_buffer_bytes = 4096;
    let server = TestServer::start(hub_builder().limits(limits).build()).await;
    let mut client = server.client("user=solo").await;
    let pad = |i: usize| format!("{i:05}{}", "x".repeat(i * 7 % 300));
    const EVENTS: usize = 600;
    for i in 0..EVENTS {
        let emitted = if i % 2 == 0 {
            server.hub.emit(&Big { pad: pad(i) })
        } else {
            server.hub.emit(&StoredBig { pad: pad(i) })
        };
        emitted.expect("emitted");
    }
    let mut seq = 0;
    for i in 0..EVENTS {
        let frame = client.recv_app().await;
        assert_eq!(
            frame["data"]["pad"].as_str(),
            Some(pad(i).as_str()),
            "frame {i}"
        );
        if i % 2 == 1 {
            seq += 1;
            assert_eq!(frame["seq"], seq, "frame {i}");
        }
    }
}
