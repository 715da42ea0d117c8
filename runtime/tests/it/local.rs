//! In-process connections (`Hub::connect_local`): the session path without a socket.

use std::time::Duration;

use tidings::{Hub, Principal};

use crate::events::{TicketCreated, Typing};

async fn next(conn: &mut tidings::local::LocalConnection) -> String {
    tokio::time::timeout(Duration::from_secs(5), conn.recv())
        .await
        .expect("a frame in time")
        .expect("the session is open")
}

fn ticket(tenant: &str, to: &str) -> TicketCreated {
    TicketCreated {
        tenant_id: tenant.into(),
        ticket_id: "t-1".into(),
        created_by: to.into(),
        assignee_id: None,
        participant_ids: vec![],
        actor_id: "someone-else".into(),
    }
}

#[tokio::test]
async fn a_local_connection_gets_its_own_events_numbered_and_nothing_of_another_tenant() {
    let hub = Hub::new();
    let mut alice = hub.connect_local(Principal::user("alice").in_tenant("acme"), None);
    let mut mallory = hub.connect_local(Principal::user("alice").in_tenant("globex"), None);
    assert!(next(&mut alice).await.contains("\"$connected\""));
    assert!(next(&mut mallory).await.contains("\"$connected\""));
    assert_eq!(
        hub.audience(&tidings::to_user("alice").in_tenant("acme")),
        1
    );
    assert_eq!(hub.audience(&tidings::to_user("alice")), 2);

    hub.emit(&ticket("acme", "alice")).expect("emit");
    let frame = next(&mut alice).await;
    assert!(
        frame.starts_with("{\"seq\":1,\"type\":\"ticket:created\""),
        "{frame}"
    );
    // An ephemeral event to a room mallory is not in, then one to a room it is in: the first
    // frame it sees must be the second.
    hub.join_user("alice", "chat:c1");
    hub.emit(&Typing {
        tenant_id: "globex".into(),
        chat_id: "c1".into(),
        user_id: "bob".into(),
    })
    .expect("emit");
    let frame = next(&mut mallory).await;
    assert!(frame.contains("\"chat:typing\""), "{frame}");
    assert!(mallory.try_recv().is_none());
}

#[tokio::test]
async fn frames_from_a_local_connection_go_through_the_protocol() {
    let hub = Hub::new();
    let mut conn = hub.connect_local(Principal::user("u1"), None);
    assert!(next(&mut conn).await.contains("\"$connected\""));
    conn.send(r#"{"type":"$ping"}"#).await.expect("send");
    assert_eq!(next(&mut conn).await, r#"{"type":"$pong"}"#);
    conn.send("not json").await.expect("send");
    let error = next(&mut conn).await;
    assert!(error.contains("\"bad_frame\""), "{error}");
    conn.send(r#"{"type":"ticket:close","cid":"7"}"#)
        .await
        .expect("send");
    let error = next(&mut conn).await;
    assert!(
        error.contains("\"unknown_event\"") && error.contains("\"7\""),
        "{error}"
    );

    // A shutdown closes the session with its documented code, seen by the client.
    hub.begin_shutdown();
    let rest = tokio::time::timeout(Duration::from_secs(5), conn.recv()).await;
    assert!(matches!(rest, Ok(None)), "{rest:?}");
    assert_eq!(
        conn.close_code().map(|(code, _)| code),
        Some(tidings::protocol::close::GOING_AWAY)
    );
}
