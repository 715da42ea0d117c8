//! Every recipient kind, several tabs, except-the-actor.

use serde_json::Value;

use crate::events::{Announcement, PlatformAlert, Progress, TicketCreated, Typing};
use crate::support::{hub_builder, Marker, TestServer};

fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn user_users_role_and_except_rules_select_exactly_their_connections() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut creator_tab1 = server.client("user=creator&tenant=acme").await;
    let mut creator_tab2 = server.client("user=creator&tenant=acme").await;
    let mut assignee = server.client("user=assignee&tenant=acme").await;
    let mut participant = server.client("user=p1&tenant=acme").await;
    let mut admin = server.client("user=boss&tenant=acme&roles=admin").await;
    let mut actor = server.client("user=actor&tenant=acme&roles=admin").await;
    let mut bystander = server.client("user=nobody&tenant=acme").await;
    let mut other_admin = server.client("user=boss2&tenant=globex&roles=admin").await;

    let event = TicketCreated {
        tenant_id: "acme".into(),
        ticket_id: "t1".into(),
        created_by: "creator".into(),
        assignee_id: Some("assignee".into()),
        participant_ids: vec!["p1".into(), "creator".into()],
        actor_id: "actor".into(),
    };
    let delivered = server.hub.emit(&event).expect("emit");
    assert_eq!(
        delivered.connections, 5,
        "two creator tabs, assignee, participant, admin"
    );
    server.hub.emit(&Marker { n: 1 }).expect("marker");

    for c in [
        &mut creator_tab1,
        &mut creator_tab2,
        &mut assignee,
        &mut participant,
        &mut admin,
    ] {
        let frames = c.events_until_marker(1).await;
        assert_eq!(
            types(&frames),
            ["ticket:created"],
            "each selected connection receives it once"
        );
        assert_eq!(frames[0]["data"]["ticket_id"], "t1");
        assert_eq!(
            frames[0]["seq"], 1,
            "durable events are numbered in the user's stream"
        );
        assert!(frames[0]["id"].is_string() && frames[0]["ts"].is_string());
    }
    for c in [&mut actor, &mut bystander, &mut other_admin] {
        assert!(
            c.events_until_marker(1).await.is_empty(),
            "not selected, or the actor, or another tenant"
        );
    }
}

#[tokio::test]
async fn a_users_tabs_share_one_numbered_stream() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut tab1 = server.client("user=u1").await;
    let mut tab2 = server.client("user=u1").await;
    assert_eq!(
        tab1.connected["resume"]["epoch"],
        tab2.connected["resume"]["epoch"]
    );
    for pct in [10, 20, 30] {
        server
            .hub
            .emit(&Progress {
                user_id: "u1".into(),
                percentage: pct,
            })
            .expect("emit");
    }
    server.hub.emit(&Marker { n: 1 }).expect("marker");
    for tab in [&mut tab1, &mut tab2] {
        let frames = tab.events_until_marker(1).await;
        let seqs: Vec<_> = frames.iter().map(|f| f["seq"].as_u64()).collect();
        assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
        let pcts: Vec<_> = frames
            .iter()
            .map(|f| f["data"]["percentage"].as_u64())
            .collect();
        assert_eq!(pcts, [Some(10), Some(20), Some(30)]);
    }
}

#[tokio::test]
async fn rooms_reach_members_of_the_tenant_and_ephemeral_events_have_no_sequence() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut alice = server.client("user=alice&tenant=acme").await;
    let mut bob = server.client("user=bob&tenant=acme").await;
    let mut carol = server.client("user=carol&tenant=acme").await;
    let mut mallory = server.client("user=mallory&tenant=globex").await;
    for c in [&mut alice, &mut bob, &mut mallory] {
        let reply = c
            .request(serde_json::json!({ "type": "$join", "cid": "j", "room": "chat:42" }))
            .await;
        assert_eq!(reply["type"], "$reply", "{reply}");
        assert_eq!(reply["data"]["changed"], true);
    }
    server
        .hub
        .emit(&Typing {
            tenant_id: "acme".into(),
            chat_id: "42".into(),
            user_id: "alice".into(),
        })
        .expect("emit");
    server.hub.emit(&Marker { n: 1 }).expect("marker");
    let frames = bob.events_until_marker(1).await;
    assert_eq!(types(&frames), ["chat:typing"]);
    assert!(frames[0].get("seq").is_none(), "ephemeral: {}", frames[0]);
    assert!(
        alice.events_until_marker(1).await.is_empty(),
        "except the typist"
    );
    assert!(
        carol.events_until_marker(1).await.is_empty(),
        "not in the room"
    );
    assert!(
        mallory.events_until_marker(1).await.is_empty(),
        "same room name, other tenant"
    );
}

#[tokio::test]
async fn tenant_and_platform_rules() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut a1 = server.client("user=a1&tenant=acme").await;
    let mut a2 = server
        .client("user=a2&tenant=acme&roles=platform_admin")
        .await;
    let mut g1 = server
        .client("user=g1&tenant=globex&roles=platform_admin")
        .await;
    let mut loner = server.client("user=loner").await;
    server
        .hub
        .emit(&Announcement {
            tenant_id: "acme".into(),
            title: "hi".into(),
        })
        .expect("emit");
    server
        .hub
        .emit(&PlatformAlert {
            message: "redis down".into(),
        })
        .expect("emit");
    server.hub.emit(&Marker { n: 1 }).expect("marker");
    assert_eq!(
        types(&a1.events_until_marker(1).await),
        ["tenant:announcement"]
    );
    assert_eq!(
        types(&a2.events_until_marker(1).await),
        ["tenant:announcement", "platform:alert"]
    );
    assert_eq!(types(&g1.events_until_marker(1).await), ["platform:alert"]);
    assert!(
        loner.events_until_marker(1).await.is_empty(),
        "no tenant: never a tenant event"
    );
}

#[tokio::test]
async fn server_side_room_membership_and_dynamic_targets() {
    let server = TestServer::start(hub_builder().build()).await;
    let mut u1 = server.client("user=u1&tenant=acme").await;
    let mut u2 = server.client("user=u2&tenant=acme").await;
    assert_eq!(server.hub.join_user("u1", "ops"), 1);
    let to_ops = tidings::to_room("ops").in_tenant("acme");
    server
        .hub
        .emit_to(
            &Announcement {
                tenant_id: "acme".into(),
                title: "ops".into(),
            },
            &to_ops,
        )
        .expect("emit");
    assert_eq!(server.hub.leave_user("u1", "ops"), 1);
    server
        .hub
        .emit_to(
            &Announcement {
                tenant_id: "acme".into(),
                title: "again".into(),
            },
            &to_ops,
        )
        .expect("emit");
    server.hub.emit(&Marker { n: 1 }).expect("marker");
    let frames = u1.events_until_marker(1).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["data"]["title"], "ops");
    assert!(u2.events_until_marker(1).await.is_empty());
}

#[tokio::test]
async fn emits_that_cannot_be_right_are_refused() {
    let hub = hub_builder().build();
    let err = hub
        .emit(&Progress {
            user_id: "u".into(),
            percentage: 101,
        })
        .expect_err("constraint");
    assert!(
        err.to_string().contains("must be at most 100, got 101"),
        "{err}"
    );
    let unscoped = tidings::to_role("admin");
    let err = hub
        .emit_to(
            &Progress {
                user_id: "u".into(),
                percentage: 1,
            },
            &unscoped,
        )
        .expect_err("scope");
    assert!(err.to_string().contains("without a scope"), "{err}");
    let err = hub
        .emit(&crate::events::SendMessage {
            chat_id: "1".into(),
            text: "x".into(),
        })
        .expect_err("direction");
    assert!(err.to_string().contains("sent by clients"), "{err}");
}
