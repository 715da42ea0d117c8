//! Plays a scenario: a WebSocket server on 127.0.0.1 that runs the driver (the client under
//! test, behind a small program of its own), answers its handshakes, sends what the steps say
//! and checks what comes back.

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::scenario::{Scenario, Step};

/// How long a step waits by default, in ms.
const DEFAULT_WITHIN_MS: u64 = 5_000;

/// The outcome of one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step held.
    Passed,
    /// The client does not claim a capability the scenario needs.
    Skipped(String),
    /// A step failed: its number (from 1), and what went wrong.
    Failed {
        /// The step, from 1.
        step: usize,
        /// What was expected and what happened.
        message: String,
    },
}

/// A handshake the client made.
#[derive(Debug, Clone)]
struct Handshake {
    subprotocols: Vec<String>,
    token: Option<String>,
    resume: Option<String>,
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// A connection as the player holds it: where to write, and its reader (aborted to drop it).
struct Conn {
    sink: Sink,
    reader: tokio::task::AbortHandle,
}

/// What the client sent, in order, over every connection; `Closed` when it closed one.
#[derive(Debug, Clone)]
enum Inbound {
    Frame(Value),
    Closed(Option<u16>),
}

/// Runs `scenario` against the driver command `driver` (run with `sh -c`), whose client claims
/// the capabilities `claims`.
///
/// # Errors
/// When the server cannot listen or the driver cannot be started.
pub async fn play(
    scenario: &Scenario,
    driver: &str,
    claims: &[String],
) -> std::io::Result<Outcome> {
    if let Some(missing) = scenario.requires.iter().find(|r| !claims.contains(r)) {
        return Ok(Outcome::Skipped(format!(
            "needs `{missing}`, which the client does not claim"
        )));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let (conns_tx, mut conns) = mpsc::unbounded_channel();
    let (inbound_tx, inbound) = mpsc::unbounded_channel();
    let acceptor = tokio::spawn(accept_loop(listener, conns_tx, inbound_tx));
    let mut command = tokio::process::Command::new("sh");
    // A process group of its own, so that the driver and whatever `sh` started for it end
    // together after the scenario.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command
        .arg("-c")
        .arg(driver)
        .env("TIDINGS_CONFORMANCE_URL", &url)
        .env("TIDINGS_CONFORMANCE_TOKEN", &scenario.token)
        .env("TIDINGS_CONFORMANCE_SCENARIO", &scenario.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut player = Player {
        scenario,
        conn: None,
        inbound,
        inbox: VecDeque::new(),
        vars: BTreeMap::new(),
        notes: 0,
    };
    let mut outcome = Outcome::Passed;
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Err(message) = player.step(step, &mut conns).await {
            outcome = Outcome::Failed {
                step: i + 1,
                message,
            };
            break;
        }
    }
    if let Some(mut conn) = player.conn.take() {
        let _ = conn.sink.close().await;
    }
    acceptor.abort();
    end_group(&mut child);
    if let Outcome::Failed { step, message } = outcome {
        let output = driver_output(&mut child).await;
        let message = if output.is_empty() {
            message
        } else {
            format!("{message}\n      the driver's last output:\n{output}")
        };
        return Ok(Outcome::Failed { step, message });
    }
    let _ = child.wait().await;
    Ok(outcome)
}

/// Ends the driver: its whole process group (the driver under `sh -c`, and anything it
/// started), not only the shell.
fn end_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.start_kill();
}

/// The last lines the driver printed, indented.
async fn driver_output(child: &mut tokio::process::Child) -> String {
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        if let Some(out) = child.stdout.as_mut() {
            let _ = out.read_to_string(&mut text).await;
        }
        if let Some(err) = child.stderr.as_mut() {
            let _ = err.read_to_string(&mut text).await;
        }
    })
    .await;
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..]
        .iter()
        .map(|l| format!("        {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Accepts connections, answers their handshakes (selecting `tidings.v1`), hands each one's
/// sink over, and feeds what it sends into one inbound channel.
// The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn accept_loop(
    listener: TcpListener,
    conns: mpsc::UnboundedSender<(Handshake, Conn)>,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let mut seen = None;
        let callback = |req: &Request, mut res: Response| {
            let upgrade = tidings::UpgradeRequest::new(req.uri().clone(), req.headers().clone());
            let subprotocols: Vec<String> = req
                .headers()
                .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|p| p.trim().to_owned())
                .collect();
            if subprotocols.iter().any(|p| p == tidings::SUBPROTOCOL) {
                res.headers_mut().insert(
                    http::header::SEC_WEBSOCKET_PROTOCOL,
                    http::HeaderValue::from_static(tidings::SUBPROTOCOL),
                );
            }
            seen = Some(Handshake {
                token: upgrade.token(),
                resume: upgrade.resume().ok().flatten().map(|p| p.to_string()),
                subprotocols,
            });
            Ok(res)
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
            continue;
        };
        let Some(handshake) = seen else { continue };
        let (sink, stream) = ws.split();
        let reader = tokio::spawn(read_loop(stream, inbound.clone())).abort_handle();
        if conns.send((handshake, Conn { sink, reader })).is_err() {
            return;
        }
    }
}

async fn read_loop(
    mut stream: SplitStream<WebSocketStream<TcpStream>>,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                let v = serde_json::from_str(t.as_str())
                    .unwrap_or_else(|_| json!({ "type": "<not JSON>", "text": t.as_str() }));
                let _ = inbound.send(Inbound::Frame(v));
            }
            Ok(Message::Close(frame)) => {
                let _ = inbound.send(Inbound::Closed(frame.map(|f| u16::from(f.code))));
                return;
            }
            Ok(_) => {}
            Err(_) => {
                let _ = inbound.send(Inbound::Closed(None));
                return;
            }
        }
    }
    let _ = inbound.send(Inbound::Closed(None));
}

struct Player<'s> {
    scenario: &'s Scenario,
    /// The client's current connection.
    conn: Option<Conn>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    /// What arrived and no step has taken yet.
    inbox: VecDeque<Inbound>,
    vars: BTreeMap<String, Value>,
    /// Ephemeral notes sent so far (their default ids).
    notes: u64,
}

impl Player<'_> {
    async fn step(
        &mut self,
        step: &Step,
        conns: &mut mpsc::UnboundedReceiver<(Handshake, Conn)>,
    ) -> Result<(), String> {
        match step {
            Step::Accept(a) => {
                let within = Duration::from_millis(a.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
                let (handshake, sink) = tokio::time::timeout(within, conns.recv())
                    .await
                    .map_err(|_| format!("no connection within {} ms", within.as_millis()))?
                    .ok_or("the server stopped accepting")?;
                if let Some(mut old) = self.conn.replace(sink) {
                    let _ = old.sink.close().await;
                }
                if !handshake
                    .subprotocols
                    .iter()
                    .any(|p| p == tidings::SUBPROTOCOL)
                {
                    return Err(format!(
                        "the handshake does not offer `{}` (offered: {:?})",
                        tidings::SUBPROTOCOL,
                        handshake.subprotocols
                    ));
                }
                if a.token.unwrap_or(true)
                    && handshake.token.as_deref() != Some(&self.scenario.token)
                {
                    return Err(format!(
                        "the handshake carries the token {:?}, not {:?} (offered: {:?})",
                        handshake.token, self.scenario.token, handshake.subprotocols
                    ));
                }
                match a.resume.as_deref() {
                    None => {}
                    Some("none") if handshake.resume.is_some() => {
                        return Err(format!(
                        "the handshake offers to resume from {:?}; a first connection offers none",
                        handshake.resume
                    ))
                    }
                    Some("none") => {}
                    Some(want) if handshake.resume.as_deref() != Some(want) => {
                        return Err(format!(
                            "the handshake offers to resume from {:?}, not {want:?}",
                            handshake.resume
                        ))
                    }
                    Some(_) => {}
                }
                Ok(())
            }
            Step::Connected(c) => {
                let [interval, timeout] = c.heartbeat_ms.unwrap_or([25_000, 60_000]);
                let expires = c.expires_in_ms.map(|ms| {
                    tidings::protocol::rfc3339(SystemTime::now() + Duration::from_millis(ms))
                });
                let frame = json!({
                    "type": "$connected",
                    "session": "1",
                    "user": c.user.as_deref().unwrap_or("conformance-user"),
                    "roles": [],
                    "tenant": "conformance",
                    "expires_at": expires,
                    "resume": { "epoch": c.epoch, "seq": c.seq },
                    "heartbeat": { "interval_ms": interval, "timeout_ms": timeout },
                    "limits": { "max_frame_bytes": 65_536, "rate_per_second": 20, "rate_burst": 40 },
                });
                self.send(frame).await
            }
            Step::Event(e) => {
                self.notes += 1;
                let n = e.n.or(e.seq).unwrap_or(self.notes);
                let id = e.id.clone().unwrap_or_else(|| match e.seq {
                    Some(seq) => format!("n{seq}"),
                    None => format!("e{}", self.notes),
                });
                let mut frame = json!({
                    "type": "conformance:note",
                    "id": id,
                    "ts": tidings::protocol::rfc3339(SystemTime::now()),
                    "data": { "n": n },
                });
                if let Some(seq) = e.seq {
                    frame["seq"] = json!(seq);
                }
                self.send(frame).await
            }
            Step::Send(frame) => {
                let frame = self.substitute(frame);
                self.send(frame).await
            }
            Step::Do(data) => {
                let data = self.substitute(data);
                self.send(json!({ "type": "conformance:do", "data": data }))
                    .await
            }
            Step::Expect(e) => {
                let within = Duration::from_millis(e.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
                let pattern = self.substitute(&e.frame);
                let frame = self
                    .take(|f| matches(&pattern, f), within)
                    .await
                    .map_err(|got| {
                        format!(
                            "no frame like {pattern} within {} ms{got}",
                            within.as_millis()
                        )
                    })?;
                for (var, key) in &e.capture {
                    let value = frame.get(key).cloned().ok_or_else(|| {
                        format!("the frame {frame} has no `{key}` to remember as `{var}`")
                    })?;
                    self.vars.insert(var.clone(), value);
                }
                Ok(())
            }
            Step::Saw(data) => {
                let within = Duration::from_millis(DEFAULT_WITHIN_MS);
                let pattern = json!({ "type": "conformance:saw", "data": self.substitute(data) });
                self.take(|f| matches(&pattern, f), within)
                    .await
                    .map(|_| ())
                    .map_err(|got| {
                        format!(
                            "the driver did not report {} within {} ms{got}",
                            pattern["data"],
                            within.as_millis()
                        )
                    })
            }
            Step::InOrder(o) => {
                let deadline = Instant::now()
                    + Duration::from_millis(o.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
                let patterns: Vec<Value> = o.frames.iter().map(|p| self.substitute(p)).collect();
                for (i, want) in patterns.iter().enumerate() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // The first frame like any pattern still to come must be like this one.
                    let frame = self
                        .take(|f| patterns[i..].iter().any(|p| matches(p, f)), left)
                        .await
                        .map_err(|got| format!("no frame like {want} in time{got}"))?;
                    if !matches(want, &frame) {
                        return Err(format!("out of order: expected {want} next, got {frame}"));
                    }
                }
                Ok(())
            }
            Step::Silent(s) => {
                let pattern = s
                    .frame
                    .clone()
                    .unwrap_or_else(|| json!({ "type": "conformance:saw" }));
                match self
                    .take(|f| matches(&pattern, f), Duration::from_millis(s.ms))
                    .await
                {
                    Ok(frame) => Err(format!(
                        "expected nothing like {pattern} for {} ms, got {frame}",
                        s.ms
                    )),
                    Err(_) => Ok(()),
                }
            }
            Step::Close(c) => {
                let mut conn = self.conn.take().ok_or("no connection to close")?;
                let _ = conn
                    .sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::from(c.code),
                        reason: c.reason.clone().into(),
                    })))
                    .await;
                let _ = conn.sink.close().await;
                Ok(())
            }
            Step::Drop {} => {
                // Both halves dropped: the socket closes with no close frame.
                let conn = self.conn.take().ok_or("no connection to drop")?;
                conn.reader.abort();
                drop(conn.sink);
                Ok(())
            }
            Step::ExpectClose(e) => {
                let within = Duration::from_millis(e.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
                let deadline = Instant::now() + within;
                loop {
                    if let Some(at) = self
                        .inbox
                        .iter()
                        .position(|m| matches!(m, Inbound::Closed(_)))
                    {
                        self.inbox.remove(at);
                        self.conn = None;
                        return Ok(());
                    }
                    match tokio::time::timeout_at(deadline, self.inbound.recv()).await {
                        Ok(Some(m)) => self.inbox.push_back(m),
                        Ok(None) => return Err("the connection's reader stopped".to_owned()),
                        Err(_) => {
                            return Err(format!(
                                "the client did not close the connection within {} ms",
                                within.as_millis()
                            ))
                        }
                    }
                }
            }
            Step::Wait(w) => {
                tokio::time::sleep(Duration::from_millis(w.ms)).await;
                Ok(())
            }
        }
    }

    async fn send(&mut self, frame: Value) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("no connection to send on")?;
        conn.sink
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| format!("cannot send {frame}: {e}"))
    }

    /// Takes the first frame in the inbox (or arriving within `within`) for which `like` holds;
    /// `Err` with a summary of what arrived meanwhile.
    async fn take(
        &mut self,
        like: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .inbox
                .iter()
                .position(|m| matches!(m, Inbound::Frame(f) if like(f)));
            if let Some(at) = found {
                if let Some(Inbound::Frame(f)) = self.inbox.remove(at) {
                    return Ok(f);
                }
            }
            match tokio::time::timeout_at(deadline, self.inbound.recv()).await {
                Ok(Some(m)) => self.inbox.push_back(m),
                Ok(None) | Err(_) => return Err(self.summary()),
            }
        }
    }

    /// What is waiting in the inbox, for a failure message.
    fn summary(&self) -> String {
        if self.inbox.is_empty() {
            return "; nothing else arrived".to_owned();
        }
        let items: Vec<String> = self
            .inbox
            .iter()
            .rev()
            .take(8)
            .rev()
            .map(|m| match m {
                Inbound::Frame(f) => f.to_string(),
                Inbound::Closed(code) => format!("<closed {code:?}>"),
            })
            .collect();
        format!(
            "; what arrived (last {}): {}",
            items.len(),
            items.join(", ")
        )
    }

    /// `value` with every string `"$name"` replaced by the captured value of `name`.
    fn substitute(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => s
                .strip_prefix('$')
                .and_then(|name| self.vars.get(name))
                .cloned()
                .unwrap_or_else(|| value.clone()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The pattern of a key that is missing or null (TOML has no null).
pub const ABSENT: &str = "<absent>";

/// Whether `value` is like `pattern`: every key of a pattern object is in the value and alike
/// (or, for `"<absent>"`, missing or null), arrays alike item by item, `"*"` anything present,
/// anything else equal.
pub fn matches(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::String(s), _) if s == "*" => true,
        (Value::Object(p), Value::Object(v)) => p.iter().all(|(k, pv)| match v.get(k) {
            // TOML has no null: `"<absent>"` stands for a key missing or null.
            None | Some(Value::Null) => pv.as_str() == Some(ABSENT),
            Some(vv) => matches(pv, vv),
        }),
        (Value::Array(p), Value::Array(v)) => {
            p.len() == v.len() && p.iter().zip(v).all(|(a, b)| matches(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;
    use serde_json::json;

    #[test]
    fn patterns_match_what_they_name_and_no_more() {
        let frame = json!({ "type": "conformance:saw", "data": { "what": "event", "seq": 2, "data": { "n": 2 } } });
        assert!(matches(&json!({ "type": "conformance:saw" }), &frame));
        assert!(matches(&json!({ "data": { "seq": 2 } }), &frame));
        assert!(matches(&json!({ "data": { "seq": "*" } }), &frame));
        assert!(!matches(&json!({ "data": { "seq": 3 } }), &frame));
        assert!(!matches(&json!({ "data": { "missing": "*" } }), &frame));
        assert!(matches(
            &json!({ "data": { "missing": "<absent>" } }),
            &frame
        ));
        assert!(matches(&json!({ "a": "<absent>" }), &json!({ "a": null })));
        assert!(!matches(&json!({ "data": { "seq": "<absent>" } }), &frame));
        assert!(matches(&json!([1, "*"]), &json!([1, { "a": 1 }])));
        assert!(!matches(&json!([1]), &json!([1, 2])));
    }
}
