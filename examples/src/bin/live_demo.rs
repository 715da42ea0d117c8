//! The live demo: a Tidings server on the in-memory hub, with clients of two tenants connected
//! over real WebSockets, showing each recipient rule deliver to exactly its connections.
//!
//! ```text
//! cargo run -p tidings-examples --bin live_demo                      # the scripted demo
//! cargo run -p tidings-examples --bin live_demo -- --listen 127.0.0.1:8080   # keep serving
//! ```
//!
//! The scripted run checks what every client received and exits 1 if anything differs, so it
//! doubles as an end-to-end smoke test. With `--listen`, connect any WebSocket client to
//! `ws://ADDR/ws?user=alice&tenant=acme` (the demo authenticator trusts the query string).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tidings::Hub;
use tidings_examples::app::App;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Client {
    name: &'static str,
    ws: Ws,
    /// Frames read while waiting for a reply, to be seen again by `until_marker`.
    pending: std::collections::VecDeque<Value>,
}

impl Client {
    async fn connect(
        addr: std::net::SocketAddr,
        name: &'static str,
        query: &str,
    ) -> Result<Client, String> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?{query}"))
            .await
            .map_err(|e| format!("{name} could not connect: {e}"))?;
        let mut c = Client {
            name,
            ws,
            pending: std::collections::VecDeque::new(),
        };
        let hello = c.next().await?;
        if hello["type"] != "$connected" {
            return Err(format!("{name}: expected $connected, got {hello}"));
        }
        Ok(c)
    }

    async fn next(&mut self) -> Result<Value, String> {
        if let Some(v) = self.pending.pop_front() {
            return Ok(v);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Value, String> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .map_err(|_| format!("{}: nothing arrived within 5 s", self.name))?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .map_err(|e| format!("{}: bad JSON: {e}", self.name))
                }
                Some(Ok(Message::Close(f))) => return Err(format!("{}: closed {f:?}", self.name)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("{}: {e}", self.name)),
                None => return Err(format!("{}: connection ended", self.name)),
            }
        }
    }

    async fn send(&mut self, v: Value) -> Result<(), String> {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn request(&mut self, v: Value) -> Result<Value, String> {
        let cid = v["cid"].clone();
        self.send(v).await?;
        loop {
            let f = self.read().await?;
            if f["cid"] == cid {
                return Ok(f);
            }
            self.pending.push_back(f);
        }
    }

    /// Reads until the marker event `demo:marker` with `n`, recording everything before it.
    async fn until_marker(&mut self, n: u64) -> Result<Vec<String>, String> {
        let mut got = Vec::new();
        loop {
            let f = self.next().await?;
            if f["type"] == "demo:marker" && f["data"]["n"] == n {
                return Ok(got);
            }
            if f["type"] != "$ping" {
                let seq = f["seq"]
                    .as_u64()
                    .map(|s| format!(" seq={s}"))
                    .unwrap_or_default();
                got.push(format!("{}{seq}", f["type"].as_str().unwrap_or("?")));
            }
        }
    }
}

/// A marker to everyone: what a client got before it was sent before it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    n: u64,
}

impl tidings::Event for Marker {
    const NAME: &'static str = "demo:marker";
    const MODULE: &'static str = "demo";
    const DIRECTION: tidings::schema::Direction = tidings::schema::Direction::ServerToClient;
    const DELIVERY: tidings::schema::Delivery = tidings::schema::Delivery::Ephemeral;
    type Reply = ();
    fn recipients(&self) -> tidings::Recipients {
        tidings::to_platform()
    }
}

async fn check_step(
    hub: &Hub,
    clients: &mut [Client],
    n: u64,
    expected: &BTreeMap<&str, Vec<&str>>,
) -> Result<bool, String> {
    hub.emit(&Marker { n }).map_err(|e| e.to_string())?;
    let mut ok = true;
    for c in clients.iter_mut() {
        let got = c.until_marker(n).await?;
        let want: Vec<String> = expected
            .get(c.name)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mark = if got == want { "✓" } else { "✗" };
        ok &= got == want;
        let shown = if got.is_empty() {
            "—".to_owned()
        } else {
            got.join(", ")
        };
        println!("    {mark} {:<9} {shown}", c.name);
        if got != want {
            println!(
                "      expected {}",
                if want.is_empty() {
                    "nothing".to_owned()
                } else {
                    want.join(", ")
                }
            );
        }
    }
    Ok(ok)
}

async fn scripted() -> Result<bool, String> {
    let hub = App::default().hub();
    let server = tidings::Server::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = hub.clone();
    let task = tokio::spawn(async move {
        server
            .serve_with_shutdown(serving, async {
                let _ = stopped.await;
            })
            .await
    });
    println!(
        "== Tidings live demo: in-memory hub on ws://{addr}/ws, events generated from schemas/\n"
    );

    let people: [(&'static str, &str); 8] = [
        ("alice·1", "user=alice&tenant=acme"),
        ("alice·2", "user=alice&tenant=acme"),
        ("bob", "user=bob&tenant=acme"),
        ("carol", "user=carol&tenant=acme&roles=admin"),
        ("dave", "user=dave&tenant=acme"),
        ("erin", "user=erin&tenant=globex&roles=admin"),
        ("frank", "user=frank&tenant=acme&roles=super_admin"),
        ("grace", "user=grace&tenant=acme"),
    ];
    let mut clients = Vec::new();
    for (name, query) in people {
        clients.push(Client::connect(addr, name, query).await?);
    }
    println!("connected: alice (two tabs), bob, carol (admin), dave, frank (super_admin), grace in tenant acme; erin (admin) in globex\n");
    let mut ok = true;

    println!("1. alice opens a ticket (demo:openTicket) assigned to bob, with dave participating:");
    println!("   ticket:created goes to the assignee, the participants and acme's admins and super admins — never the actor");
    let reply = clients[0]
        .request(json!({ "type": "demo:openTicket", "cid": 1, "data": { "title": "Printer on fire", "assignee": "bob", "participants": ["dave"] } }))
        .await?;
    println!(
        "   alice's reply: ticket {} \"{}\" ({})",
        reply["data"]["id"],
        reply["data"]["title"].as_str().unwrap_or("?"),
        reply["data"]["status"]
    );
    ok &= reply["type"] == "$reply";
    let ticket_id = reply["data"]["id"].clone();
    let expected = BTreeMap::from([
        ("bob", vec!["ticket:created seq=1"]),
        ("carol", vec!["ticket:created seq=1"]),
        ("dave", vec!["ticket:created seq=1"]),
        ("frank", vec!["ticket:created seq=1"]),
    ]);
    ok &= check_step(&hub, &mut clients, 1, &expected).await?;

    println!("\n2. carol resolves it (demo:changeStatus): alice, the creator, now hears of it; carol, the actor, does not");
    let reply = clients[3]
        .request(json!({ "type": "demo:changeStatus", "cid": 2, "data": { "ticket_id": ticket_id, "status": "resolved" } }))
        .await?;
    ok &= reply["type"] == "$reply";
    let expected = BTreeMap::from([
        ("alice·1", vec!["ticket:statusChanged seq=1"]),
        ("alice·2", vec!["ticket:statusChanged seq=1"]),
        ("bob", vec!["ticket:statusChanged seq=2"]),
        ("dave", vec!["ticket:statusChanged seq=2"]),
        ("frank", vec!["ticket:statusChanged seq=2"]),
    ]);
    ok &= check_step(&hub, &mut clients, 2, &expected).await?;

    println!("\n3. chat: alice·1, bob and erin join the chat's room; bob posts (chat:sendMessage); the room gets chat:message");
    println!("   erin is in a room of the same name, but of tenant globex; dave, outside the room, may not post");
    println!("   chat:message is durable: it is numbered in alice's stream, so both her tabs get it (seq 2)");
    println!("   the hub announces bob's entry to alice·1, already in the room (chat:member_joined, a presence event)");
    const CHAT: &str = "00000000-0000-4000-8000-000000000042";
    for i in [0usize, 2, 5] {
        let reply = clients[i]
            .request(json!({ "type": "$join", "cid": "join", "room": format!("chat:{CHAT}") }))
            .await?;
        ok &= reply["type"] == "$reply";
    }
    let refused = clients[4]
        .request(json!({ "type": "chat:sendMessage", "cid": 7, "data": { "chat_id": CHAT, "body": { "type": "text", "text": "let me in" } } }))
        .await?;
    println!("   dave: {} — {}", refused["code"], refused["message"]);
    ok &= refused["code"] == "forbidden";
    let reply = clients[2]
        .request(json!({ "type": "chat:sendMessage", "cid": 8, "data": { "chat_id": CHAT, "body": { "type": "text", "text": "on my way" } } }))
        .await?;
    ok &= reply["type"] == "$reply";
    println!("   bob's reply: the stored message {}", reply["data"]["id"]);
    let expected = BTreeMap::from([
        ("alice·1", vec!["chat:member_joined", "chat:message seq=2"]),
        ("alice·2", vec!["chat:message seq=2"]),
        ("bob", vec!["chat:message seq=3"]),
    ]);
    ok &= check_step(&hub, &mut clients, 3, &expected).await?;

    println!("\n4. alice types (chat:setTyping): chat:typing is ephemeral (no seq), to the room except alice");
    let reply = clients[0]
        .request(json!({ "type": "chat:setTyping", "cid": 9, "data": { "chat_id": CHAT, "is_typing": true } }))
        .await?;
    ok &= reply["type"] == "$reply";
    ok &= check_step(
        &hub,
        &mut clients,
        4,
        &BTreeMap::from([("bob", vec!["chat:typing"])]),
    )
    .await?;

    println!("\n5. grace starts an operation (demo:startOperation): progress to her alone (0 % when started), then complete");
    let reply = clients[7]
        .request(json!({ "type": "demo:startOperation", "cid": 10, "data": { "operation_type": "export_csv", "steps": 4, "step_ms": 20 } }))
        .await?;
    ok &= reply["type"] == "$reply";
    let mut seen = Vec::new();
    loop {
        let f = clients[7].next().await?;
        if f["type"] == "$ping" {
            continue;
        }
        seen.push(format!(
            "{} {}%",
            f["type"].as_str().unwrap_or("?"),
            f["data"]["percentage"]
                .as_u64()
                .map_or("-".to_owned(), |p| p.to_string())
        ));
        if f["type"] == "operation:complete" {
            break;
        }
    }
    println!("    ✓ grace     {}", seen.join(", "));
    ok &= seen.len() == 6;
    ok &= check_step(&hub, &mut clients, 5, &BTreeMap::new()).await?;

    println!("\n6. a malformed frame and an unknown event get error frames; the session stays up");
    let e1 = clients[4]
        .request(json!({ "type": "demo:openTicket", "cid": 1, "data": { "title": "" } }))
        .await?;
    let e2 = clients[4]
        .request(json!({ "type": "chat:deleteEverything", "cid": 2 }))
        .await?;
    println!("   {} — {}", e1["code"], e1["message"]);
    println!("   {} — {}", e2["code"], e2["message"]);
    ok &= e1["code"] == "constraint_violated" && e2["code"] == "unknown_event";

    println!(
        "\n7. graceful shutdown: queued frames are delivered, then every session closes with 1001"
    );
    let _ = stop.send(());
    let mut codes = Vec::new();
    for c in &mut clients {
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(10), c.ws.next()).await {
                Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                _ => break None,
            }
        };
        codes.push(code);
    }
    ok &= codes.iter().all(|c| *c == Some(1001));
    println!("   close codes: {codes:?}");
    let _ = task.await;

    let m = hub.metrics();
    println!(
        "\nmetrics: {} connections, {} events emitted, {} frames delivered, {} dropped, {} error frames",
        m.connections_total, m.events_emitted, m.frames_delivered, m.frames_dropped, m.errors_sent
    );
    Ok(ok)
}

async fn listen(addr: &str) -> Result<(), String> {
    let server = tidings::Server::bind(addr)
        .await
        .map_err(|e| e.to_string())?;
    let local = server.local_addr().map_err(|e| e.to_string())?;
    println!(
        "serving ws://{local}/ws?user=<name>&tenant=<tenant>&roles=<a,b> — Ctrl-C stops gracefully"
    );
    server
        .serve_with_shutdown(App::default().hub(), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, addr] if flag == "--listen" => listen(addr).await.map(|()| true),
        [] => scripted().await,
        _ => Err("usage: live_demo [--listen ADDR]".to_owned()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("\nthe demo saw something other than expected (✗ above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
