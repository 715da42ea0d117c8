//! A server on 127.0.0.1:0 and a WebSocket client for the tests.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tidings::schema::{Delivery, Direction};
use tidings::{
    AuthError, Event, Hub, HubBuilder, Principal, Recipients, Router, Session, State,
    UpgradeRequest,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::events::{SendMessage, StoredMessage};

/// How long a test waits for a frame that should come.
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);

/// Reads the principal from the query: `user`, `tenant`, `roles` (comma-separated), `ttl_ms`.
/// `user=banned` is refused with 403; no user with 401.
pub(crate) fn query_auth(req: &UpgradeRequest) -> Result<Principal, AuthError> {
    let user = req
        .query("user")
        .ok_or_else(|| AuthError::unauthorized("no user"))?;
    if user == "banned" {
        return Err(AuthError::forbidden("this user may not connect"));
    }
    let mut p = Principal::user(user);
    if let Some(t) = req.query("tenant") {
        p = p.in_tenant(t);
    }
    for role in req
        .query("roles")
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
    {
        p = p.with_role(role);
    }
    if let Some(ttl) = req.query("ttl_ms").and_then(|t| t.parse().ok()) {
        p = p.expires_at(SystemTime::now() + Duration::from_millis(ttl));
    }
    Ok(p)
}

/// The app state the test router shares.
#[derive(Clone, Default)]
pub(crate) struct Store {
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

async fn send_message(
    State(store): State<Store>,
    who: Principal,
    session: Session,
    msg: SendMessage,
) -> Result<StoredMessage, tidings::HandlerError> {
    if msg.text == "boom" {
        return Err(tidings::HandlerError::new(
            "storage_down",
            "the message store is unavailable",
        ));
    }
    if !session.rooms().contains(&format!("chat:{}", msg.chat_id)) {
        return Err(tidings::HandlerError::forbidden(
            "join the chat before posting",
        ));
    }
    let id = store
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    Ok(StoredMessage {
        id,
        chat_id: msg.chat_id,
        text: msg.text,
        sender: who.user_id,
    })
}

/// A hub with the test authenticator, the test router, and a join policy: `chat:*` rooms only.
pub(crate) fn hub_builder() -> HubBuilder {
    Hub::builder()
        .authenticator(query_auth)
        .router(Router::with_state(Store::default()).on::<SendMessage, _, _>(send_message))
        .allow_join(|_, room| room.starts_with("chat:"))
}

/// A running server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub(crate) async fn start(hub: Hub) -> TestServer {
        let server = tidings::Server::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = server.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = hub.clone();
        let task = tokio::spawn(async move {
            server
                .serve_with_shutdown(serving, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            hub,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts down gracefully and waits until the server returns.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE * 2, task)
                .await
                .expect("server stops")
                .expect("no panic");
        }
    }

    /// Kills the server as a crash would: every socket drops without a close frame, and the hub
    /// goes away with this value.
    #[allow(dead_code)]
    pub(crate) fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    pub(crate) async fn client(&self, query: &str) -> Client {
        Client::connect(self.addr, query).await
    }
}

/// A marker sent to every connection: everything a connection received before it was sent
/// before it, so tests can check "exactly these events" without waiting for silence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub(crate) n: u64,
}

impl Event for Marker {
    const NAME: &'static str = "test:marker";
    const MODULE: &'static str = "test";
    const DIRECTION: Direction = Direction::ServerToClient;
    const DELIVERY: Delivery = Delivery::Ephemeral;
    type Reply = ();

    fn recipients(&self) -> Recipients {
        tidings::to_platform()
    }
}

pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub(crate) connected: Value,
}

impl Client {
    pub(crate) async fn try_connect(
        addr: SocketAddr,
        query: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?{query}")).await?;
        Ok(Client::connected(ws).await)
    }

    /// A client on an open WebSocket, past its `$connected` frame.
    async fn connected(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        let mut client = Client {
            ws,
            connected: Value::Null,
        };
        let first = client.recv().await;
        assert_eq!(first["type"], "$connected", "{first}");
        client.connected = first;
        client
    }

    /// Connects through a socket whose receive buffer is `bytes` (the kernel's autotuning off):
    /// a slow reader's backlog fills it after kilobytes, not the tens of megabytes loopback
    /// grows to.
    #[allow(dead_code)]
    pub(crate) async fn connect_with_receive_buffer(
        addr: SocketAddr,
        query: &str,
        bytes: u32,
    ) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connects");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/ws?{query}"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("handshake");
        Client::connected(ws).await
    }

    pub(crate) async fn connect(addr: SocketAddr, query: &str) -> Client {
        Client::try_connect(addr, query).await.expect("connects")
    }

    /// The next text frame, as JSON (heartbeat pings included).
    pub(crate) async fn recv(&mut self) -> Value {
        serde_json::from_str(&self.recv_raw().await).expect("server frames are JSON")
    }

    /// The next text frame as it came (heartbeat pings included).
    pub(crate) async fn recv_raw(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience")
                .expect("the stream is open")
                .expect("a valid frame");
            match msg {
                Message::Text(t) => return t.as_str().to_owned(),
                Message::Close(c) => panic!("closed unexpectedly: {c:?}"),
                _ => {}
            }
        }
    }

    /// The next text frame that is not a heartbeat, as it came.
    #[allow(dead_code)]
    pub(crate) async fn recv_text(&mut self) -> String {
        loop {
            let text = self.recv_raw().await;
            if text != "{\"type\":\"$ping\"}" {
                return text;
            }
        }
    }

    /// The next frame that is not a heartbeat.
    pub(crate) async fn recv_app(&mut self) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] != "$ping" {
                return v;
            }
        }
    }

    /// Every event frame until the marker `n`, in order.
    pub(crate) async fn events_until_marker(&mut self, n: u64) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.recv_app().await;
            if v["type"] == "test:marker" && v["data"]["n"] == n {
                return out;
            }
            out.push(v);
        }
    }

    pub(crate) async fn send_json(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub(crate) async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// Reads until the server closes; returns the close code.
    pub(crate) async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE * 2, self.ws.next())
                .await
                .expect("closed within the patience")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next raw message, `None` when the stream ends.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        match self.ws.next().await {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
    }

    /// Sends a request with a correlation id and returns the answer (`$reply` or `$error`).
    pub(crate) async fn request(&mut self, frame: Value) -> Value {
        let cid = frame["cid"].clone();
        self.send_json(frame).await;
        loop {
            let v = self.recv_app().await;
            if v["cid"] == cid {
                return v;
            }
        }
    }
}

/// `json!` shorthand for a client event frame.
pub(crate) fn event_frame(ty: &str, cid: u64, data: Value) -> Value {
    json!({ "type": ty, "cid": cid, "data": data })
}
