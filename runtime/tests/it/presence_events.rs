//! Presence events (issue #19): the hub announces a user's first join and last leave of a room
//! through events declared `presence = "joined"` / `"left"`, with the declared room, tenant and
//! `except` rules; rooms that do not fit the payload, other tenants and large rooms get nothing.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tidings::{Hub, Limits};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{hub_builder, Client, Marker, TestServer};

/// `chat:member_joined`: a user entered a chat (ephemeral, the user left out).
#[derive(Debug, Clone, Serialize, Deserialize, tidings::Event)]
#[event(
    module = "chat",
    name = "chat:member_joined",
    presence = "joined",
    delivery = "ephemeral",
    tenant = "tenant_id",
    room = "chat:{chat_id}",
    except = "user_id",
    register = false
)]
pub(crate) struct MemberJoined {
    pub(crate) chat_id: String,
    pub(crate) tenant_id: String,
    pub(crate) user_id: String,
}

/// `chat:member_left`: a user left a chat (durable: a client that was away learns it).
#[derive(Debug, Clone, Serialize, Deserialize, tidings::Event)]
#[event(
    module = "chat",
    name = "chat:member_left",
    presence = "left",
    tenant = "tenant_id",
    room = "chat:{chat_id}",
    register = false
)]
pub(crate) struct MemberLeft {
    pub(crate) chat_id: String,
    pub(crate) tenant_id: String,
    pub(crate) user_id: String,
    /// Optional fields are left out: the hub fills only what it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// A numbered room of the whole platform: `board:{board}:lane:{lane}` with integer placeholders.
#[derive(Debug, Clone, Serialize, Deserialize, tidings::Event)]
#[event(
    module = "board",
    name = "board:entered",
    presence = "joined",
    delivery = "ephemeral",
    platform,
    room = "board:{board}:lane:{lane}",
    register = false
)]
pub(crate) struct BoardEntered {
    pub(crate) board: u32,
    pub(crate) lane: u8,
    pub(crate) user_id: String,
}

fn announcing_hub(limits: Limits) -> Hub {
    hub_builder()
        .allow_join(|_, _| true)
        .limits(limits)
        .presence_event::<MemberJoined>()
        .presence_event::<MemberLeft>()
        .presence_event::<BoardEntered>()
        .build()
}

async fn join(c: &mut Client, room: &str) {
    let r = c
        .request(json!({ "type": "$join", "cid": 1, "room": room }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
}

async fn leave(c: &mut Client, room: &str) {
    let r = c
        .request(json!({ "type": "$leave", "cid": 2, "room": room }))
        .await;
    assert_eq!(r["type"], "$reply", "{r}");
}

/// The events a client got before marker `n` (sent to every connection), as (type, data).
async fn seen(
    server: &TestServer,
    clients: &mut [&mut Client],
    n: u64,
) -> Vec<Vec<(String, Value)>> {
    server.hub.emit(&Marker { n }).expect("marker");
    let mut all = Vec::new();
    for c in clients.iter_mut() {
        let frames = c.events_until_marker(n).await;
        all.push(
            frames
                .into_iter()
                .map(|f| {
                    (
                        f["type"].as_str().unwrap_or_default().to_owned(),
                        f["data"].clone(),
                    )
                })
                .collect(),
        );
    }
    all
}

fn announced(kind: &str, chat: &str, user: &str) -> (String, Value) {
    (
        format!("chat:member_{kind}"),
        json!({ "chat_id": chat, "tenant_id": "acme", "user_id": user }),
    )
}

#[tokio::test]
async fn a_users_first_join_and_last_leave_are_announced_to_the_room() {
    let server = TestServer::start(announcing_hub(Limits::default())).await;
    let mut watcher = server.client("user=watcher&tenant=acme").await;
    join(&mut watcher, "chat:1").await;
    let mut a1 = server.client("user=alice&tenant=acme").await;
    let mut a2 = server.client("user=alice&tenant=acme").await;

    join(&mut a1, "chat:1").await;
    let got = seen(&server, &mut [&mut watcher, &mut a1], 1).await;
    assert_eq!(got[0], [announced("joined", "1", "alice")]);
    assert_eq!(
        got[1],
        [],
        "`except = \"user_id\"`: alice is not told she joined"
    );

    // Her second tab: she is already there; nothing is announced.
    join(&mut a2, "chat:1").await;
    leave(&mut a2, "chat:1").await;
    let got = seen(&server, &mut [&mut watcher], 2).await;
    assert_eq!(
        got[0],
        [],
        "a second connection of a present user changes nothing"
    );

    // Her last connection in the room closes: she left.
    a1.send_raw(Message::Close(None)).await;
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    let got = loop {
        let got = seen(&server, &mut [&mut watcher], 3).await;
        if !got[0].is_empty() || tokio::time::Instant::now() > deadline {
            break got;
        }
    };
    assert_eq!(got[0], [announced("left", "1", "alice")]);

    // A join and a leave by the server's hand (`join_user`) are announced like a client's.
    assert_eq!(
        server.hub.join_user("bob", "chat:1"),
        0,
        "bob has no connection"
    );
    let mut bob = server.client("user=bob&tenant=acme").await;
    assert_eq!(server.hub.join_user("bob", "chat:1"), 1);
    assert_eq!(server.hub.leave_user("bob", "chat:1"), 1);
    let got = seen(&server, &mut [&mut watcher, &mut bob], 4).await;
    assert_eq!(
        got[0],
        [
            announced("joined", "1", "bob"),
            announced("left", "1", "bob")
        ]
    );
    assert_eq!(
        got[1],
        [],
        "bob is out of the room when his leave is announced"
    );
}

#[tokio::test]
async fn rooms_of_other_tenants_other_forms_and_large_rooms_are_not_announced() {
    let mut limits = Limits::default();
    limits.presence_max_users = 3;
    let server = TestServer::start(announcing_hub(limits)).await;
    let mut watcher = server.client("user=watcher&tenant=acme").await;
    for room in ["chat:1", "board:7:lane:2"] {
        join(&mut watcher, room).await;
    }
    // Another tenant's room of the same name, a room of no declared form, an empty
    // placeholder, integers not written as the event writes them back, one too large for `u8`.
    let mut carol = server.client("user=carol&tenant=globex").await;
    join(&mut carol, "chat:1").await;
    let mut dave = server.client("user=dave&tenant=acme").await;
    for room in [
        "lobby",
        "chat:",
        "board:07:lane:2",
        "board:7:lane:256",
        "board:x:lane:1",
    ] {
        join(&mut dave, room).await;
    }
    let got = seen(&server, &mut [&mut watcher], 1).await;
    assert_eq!(
        got[0],
        [(
            "board:entered".to_owned(),
            json!({ "board": 7, "lane": 2, "user_id": "watcher" })
        )],
        "no `except`: the watcher is told of its own entry, and of nothing else"
    );

    // Integer placeholders, platform-wide.
    join(&mut dave, "board:7:lane:2").await;
    let got = seen(&server, &mut [&mut watcher], 2).await;
    assert_eq!(
        got[0],
        [(
            "board:entered".to_owned(),
            json!({ "board": 7, "lane": 2, "user_id": "dave" })
        )]
    );

    // chat:1 of acme holds watcher; two more users fill it to the limit of 3, the fourth
    // and its leave are not announced.
    let mut users = Vec::new();
    for user in ["u1", "u2", "u3"] {
        let mut c = server.client(&format!("user={user}&tenant=acme")).await;
        join(&mut c, "chat:1").await;
        users.push(c);
    }
    leave(&mut users[2], "chat:1").await;
    let got = seen(&server, &mut [&mut watcher], 3).await;
    assert_eq!(
        got[0],
        [
            announced("joined", "1", "u1"),
            announced("joined", "1", "u2")
        ],
        "the room is at its limit from the third user on"
    );
    // Joins and leaves come in pairs (the stranger's sample): u1's join was announced, so is
    // its leave, though the room was over the limit meanwhile; u3's was not, nor its leave.
    for user in [0, 2] {
        leave(&mut users[user], "chat:1").await;
    }
    let got = seen(&server, &mut [&mut watcher], 4).await;
    assert_eq!(got[0], [announced("left", "1", "u1")]);
}

/// A connection that its `on_connect` hook refuses is never announced, though the hook joined
/// it to a room before refusing.
#[tokio::test]
async fn a_connection_refused_by_its_hook_is_never_announced() {
    let hub = hub_builder()
        .allow_join(|_, _| true)
        .presence_event::<MemberJoined>()
        .presence_event::<MemberLeft>()
        .on_connect(|session: tidings::Session| async move {
            session.join("chat:1");
            if session.principal().user_id == "mallory" {
                return Err(tidings::Refusal::new("not today"));
            }
            Ok(())
        })
        .build();
    let server = TestServer::start(hub).await;
    let mut watcher = server.client("user=watcher&tenant=acme").await;
    let url = format!("ws://{}/ws?user=mallory&tenant=acme", server.addr);
    let (mut mallory, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the upgrade is accepted");
    loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(crate::support::PATIENCE, mallory.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                assert_eq!(u16::from(f.code), tidings::protocol::close::REFUSED);
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("closed without the refusal: {other:?}"),
        }
    }
    let mut alice = server.client("user=alice&tenant=acme").await;
    let got = seen(&server, &mut [&mut watcher, &mut alice], 1).await;
    assert_eq!(
        got[0],
        [announced("joined", "1", "alice")],
        "mallory's join in the refusing hook, and its leave, are not announced"
    );
}

#[test]
#[should_panic(expected = "is not a presence event")]
fn an_event_that_is_not_a_presence_event_is_refused_at_start() {
    let _ = Hub::builder().presence_event::<crate::events::Typing>();
}

/// A derived presence event that breaks a rule is refused when the hub takes it, with the rule.
#[test]
#[should_panic(expected = "cannot fill the required field `note`")]
fn a_presence_event_with_a_field_the_hub_cannot_fill_is_refused_at_start() {
    #[derive(Serialize, Deserialize, tidings::Event)]
    #[event(
        module = "chat",
        presence = "left",
        tenant = "tenant_id",
        room = "chat:{chat_id}",
        register = false
    )]
    struct Bad {
        chat_id: String,
        tenant_id: String,
        user_id: String,
        note: String,
    }
    let _ = Hub::builder().presence_event::<Bad>();
}
