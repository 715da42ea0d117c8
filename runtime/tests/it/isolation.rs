//! Tenant isolation as a property: random principals, rooms and recipients; every connection
//! receives exactly the events whose rules select it, never one of another tenant. Ephemeral
//! events go to the selected connections; durable ones to every connection of each selected
//! user's stream in that tenant (docs/delivery.md).

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tidings::schema::{Delivery, Direction};
use tidings::{Event, Recipients};

use crate::support::{hub_builder, Marker, TestServer};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probe {
    n: usize,
}

impl Event for Probe {
    const NAME: &'static str = "test:probe";
    const MODULE: &'static str = "test";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Durable;
    type Reply = ();
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flash {
    n: usize,
}

impl Event for Flash {
    const NAME: &'static str = "test:flash";
    const MODULE: &'static str = "test";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();
}

const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const TENANTS: [&str; 2] = ["t0", "t1"];
const ROLES: [&str; 2] = ["admin", "agent"];
const ROOMS: [&str; 2] = ["r0", "r1"];

#[derive(Debug, Clone)]
struct Conn {
    user: usize,
    tenant: Option<usize>,
    roles: Vec<usize>,
    rooms: Vec<usize>,
}

#[derive(Debug, Clone)]
enum ScopeSpec {
    Users,
    Tenant(usize),
    Platform,
}

#[derive(Debug, Clone)]
struct Emit {
    scope: ScopeSpec,
    users: Vec<usize>,
    roles: Vec<usize>,
    rooms: Vec<usize>,
    everyone: bool,
    except: Vec<usize>,
}

fn conn() -> impl Strategy<Value = Conn> {
    (
        0..USERS.len(),
        prop::option::of(0..TENANTS.len()),
        prop::collection::vec(0..ROLES.len(), 0..3),
        prop::collection::vec(0..ROOMS.len(), 0..3),
    )
        .prop_map(|(user, tenant, roles, rooms)| Conn {
            user,
            tenant,
            roles,
            rooms,
        })
}

fn emit() -> impl Strategy<Value = Emit> {
    let scope = prop_oneof![
        Just(ScopeSpec::Users),
        (0..TENANTS.len()).prop_map(ScopeSpec::Tenant),
        Just(ScopeSpec::Platform)
    ];
    (
        scope,
        prop::collection::vec(0..USERS.len(), 0..3),
        prop::collection::vec(0..ROLES.len(), 0..2),
        prop::collection::vec(0..ROOMS.len(), 0..2),
        any::<bool>(),
        prop::collection::vec(0..USERS.len(), 0..2),
    )
        .prop_map(|(scope, users, roles, rooms, everyone, except)| {
            // Roles, rooms and everyone need a scope; without one only user rules are drawn.
            let unscoped = matches!(scope, ScopeSpec::Users);
            Emit {
                scope,
                users,
                roles: if unscoped { vec![] } else { roles },
                rooms: if unscoped { vec![] } else { rooms },
                everyone: everyone && !unscoped,
                except,
            }
        })
}

fn recipients(e: &Emit) -> Recipients {
    let mut r = Recipients::new();
    for u in &e.users {
        r = r.to_user(USERS[*u]);
    }
    for role in &e.roles {
        r = r.to_role(ROLES[*role]);
    }
    for room in &e.rooms {
        r = r.to_room(ROOMS[*room]);
    }
    if e.everyone {
        r = r.to_everyone();
    }
    for u in &e.except {
        r = r.except(USERS[*u]);
    }
    match e.scope {
        ScopeSpec::Users => r,
        ScopeSpec::Tenant(t) => r.in_tenant(TENANTS[t]),
        ScopeSpec::Platform => r.across_platform(),
    }
}

/// The reference model of who receives an emit.
fn selects(e: &Emit, c: &Conn) -> bool {
    if e.except.contains(&c.user) {
        return false;
    }
    if let ScopeSpec::Tenant(t) = e.scope {
        if c.tenant != Some(t) {
            return false;
        }
    }
    e.users.contains(&c.user)
        || e.roles.iter().any(|r| c.roles.contains(r))
        || e.rooms.iter().any(|r| c.rooms.contains(r))
        || e.everyone
}

/// Durable events reach the user's delivery stream in the connection's tenant, and so every
/// connection on it.
fn selects_stream(e: &Emit, c: &Conn, all: &[Conn]) -> bool {
    all.iter()
        .any(|o| o.user == c.user && o.tenant == c.tenant && selects(e, o))
}

fn query(c: &Conn) -> String {
    let mut q = format!("user={}", USERS[c.user]);
    if let Some(t) = c.tenant {
        q.push_str(&format!("&tenant={}", TENANTS[t]));
    }
    let roles: Vec<&str> = c.roles.iter().map(|r| ROLES[*r]).collect();
    q.push_str(&format!("&roles={}", roles.join(",")));
    q
}

async fn run_case(conns: Vec<Conn>, emits: Vec<Emit>) -> Result<(), TestCaseError> {
    let server = TestServer::start(hub_builder().allow_join(|_, _| true).build()).await;
    let mut clients = Vec::new();
    for c in &conns {
        let mut client = server.client(&query(c)).await;
        for room in &c.rooms {
            let reply = client
                .request(serde_json::json!({ "type": "$join", "cid": 0, "room": ROOMS[*room] }))
                .await;
            prop_assert_eq!(&reply["type"], "$reply");
        }
        clients.push(client);
    }
    for (n, e) in emits.iter().enumerate() {
        server
            .hub
            .emit_to(&Probe { n }, &recipients(e))
            .expect("valid emit");
        server
            .hub
            .emit_to(&Flash { n }, &recipients(e))
            .expect("valid emit");
    }
    server.hub.emit(&Marker { n: 9 }).expect("marker");
    for (c, client) in conns.iter().zip(clients.iter_mut()) {
        let frames = client.events_until_marker(9).await;
        let of = |ty: &str| -> Vec<usize> {
            frames
                .iter()
                .filter(|f| f["type"] == ty)
                .map(|f| f["data"]["n"].as_u64().unwrap_or(u64::MAX) as usize)
                .collect()
        };
        let (durable, ephemeral) = (of("test:probe"), of("test:flash"));
        let want_durable: Vec<usize> = (0..emits.len())
            .filter(|n| selects_stream(&emits[*n], c, &conns))
            .collect();
        let want_ephemeral: Vec<usize> = (0..emits.len())
            .filter(|n| selects(&emits[*n], c))
            .collect();
        prop_assert_eq!(&durable, &want_durable, "durable, connection {:?}", c);
        prop_assert_eq!(&ephemeral, &want_ephemeral, "ephemeral, connection {:?}", c);
        let unique: BTreeSet<_> = durable.iter().collect();
        prop_assert_eq!(unique.len(), durable.len(), "each event once");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_connection_receives_exactly_what_selects_it(
        conns in prop::collection::vec(conn(), 1..8),
        emits in prop::collection::vec(emit(), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(run_case(conns, emits))?;
    }
}
