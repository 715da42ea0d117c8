//! The wire protocol: JSON text frames, error codes and close codes. docs/protocol.md describes
//! every frame; this module is its implementation.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::Event;
use crate::hub::EmitError;
use crate::ids;

/// Frame types the protocol reserves; event wire names never start with `$`.
pub mod frame {
    /// Server → client, first frame of a session.
    pub const CONNECTED: &str = "$connected";
    /// Server → client, the answer to a request carrying a `cid`.
    pub const REPLY: &str = "$reply";
    /// Server → client, something the client sent was refused.
    pub const ERROR: &str = "$error";
    /// Either way: a heartbeat; the receiver answers with [`PONG`].
    pub const PING: &str = "$ping";
    /// Either way: the answer to [`PING`].
    pub const PONG: &str = "$pong";
    /// Client → server: join a room.
    pub const JOIN: &str = "$join";
    /// Client → server: leave a room.
    pub const LEAVE: &str = "$leave";
    /// Server → client: everything missed since the resume position given in the upgrade
    /// request has been delivered; live events follow.
    pub const PENDING_COMPLETE: &str = "$pending_complete";
    /// Server → client: what was missed since the resume position cannot be replayed (outside
    /// the history, or the stream restarted); refetch state.
    pub const RESYNC_REQUIRED: &str = "$resync_required";
    /// Client → server: the state of the user's operations (answered with a `$reply`).
    pub const OPERATIONS: &str = "$operations";
    /// Client → server: a fresh token, refreshing credentials without reconnecting.
    pub const AUTH: &str = "$auth";
}

/// Error codes carried by `$error` frames. Stable: clients may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a JSON object with a string `type`.
    BadFrame,
    /// A binary frame; the protocol is JSON text.
    BinaryUnsupported,
    /// No handler for this event type (or the event is not one clients may send).
    UnknownEvent,
    /// The payload does not have the event's shape.
    InvalidPayload,
    /// The payload has the right shape but violates a declared constraint.
    ConstraintViolated,
    /// The connection sends faster than its rate limit; the frame was dropped.
    RateLimited,
    /// Too many requests of this connection are being handled at once; the frame was dropped.
    Busy,
    /// The principal may not do this (join this room, refresh as another user).
    Forbidden,
    /// A token given in-band was refused.
    AuthFailed,
    /// The handler failed in a way it did not describe.
    Internal,
    /// A `$join` past [`Limits::max_rooms_per_connection`](crate::Limits); the connection stays
    /// in the rooms it has.
    TooManyRooms,
    /// The server did not decide in time: the room policy overran
    /// [`Limits::join_timeout`](crate::Limits) (nothing changed, the client may try again), or
    /// a handler gave up on what it waited for (`tidings serve`'s handler proxy, when the app
    /// does not answer within its timeout: the app may have acted).
    Timeout,
}

impl ErrorCode {
    /// The code on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::ConstraintViolated => "constraint_violated",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Busy => "busy",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::Internal => "internal",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::Timeout => "timeout",
        }
    }
}

/// WebSocket close codes the server uses.
pub mod close {
    /// The session ended normally.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect (to another node) after a backoff.
    pub const GOING_AWAY: u16 = 1001;
    /// An inbound frame exceeded the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A protocol violation by the peer: a bad opcode, reserved bits set, a fragmented control
    /// frame (RFC 6455 §7.4.1).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Data inconsistent with its type: a text message that is not UTF-8 (RFC 6455 §7.4.1).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// An unexpected server failure.
    pub const SERVER_ERROR: u16 = 1011;
    /// Try again later: the server cannot serve the connection now (its backplane is down).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The credentials expired and were not refreshed in time; reconnect with a fresh token.
    pub const AUTH_EXPIRED: u16 = 4001;
    /// The app refused the connection (its `on_connect` hook said no, with the reason in the
    /// close frame); reconnecting does not help until what it checked changes.
    pub const REFUSED: u16 = 4003;
    /// The client did not drain its outbound queue fast enough; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// No frame arrived within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4009;
    /// The user already holds the maximum number of connections.
    pub const TOO_MANY_CONNECTIONS: u16 = 4010;
    /// The client kept sending far above its rate limit.
    pub const RATE_LIMITED: u16 = 4029;
}

/// A correlation id chosen by the client: a string or a non-negative integer, echoed verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cid {
    /// A numeric id.
    Num(u64),
    /// A string id.
    Str(String),
}

/// A frame sent by a client, all kinds in one shape (unused keys absent).
#[derive(Debug, Deserialize)]
pub(crate) struct ClientFrame<'a> {
    #[serde(rename = "type")]
    pub(crate) ty: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub(crate) cid: Option<Cid>,
    #[serde(default, borrow)]
    pub(crate) data: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) room: Option<String>,
    #[serde(default)]
    pub(crate) token: Option<String>,
}

/// Why `text` is not a client frame — for the `bad_frame` error, off the hot path: the frame's
/// `cid` when it has a readable one (so the client can match the error to its request), what is
/// wrong, and the member at fault.
pub(crate) fn why_not_a_frame(
    text: &str,
    error: &serde_json::Error,
) -> (Option<Cid>, String, Option<&'static str>) {
    let map = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            return (
                None,
                format!("expected a JSON object with a string `type`: {error}"),
                None,
            )
        }
        // Not JSON serde reads (a lone surrogate in a string, a number out of range, text
        // after the object): the `cid` may still be readable.
        Err(_) => return (scan_cid(text), format!("not valid JSON: {error}"), None),
    };
    let cid = map
        .get("cid")
        .and_then(|c| serde_json::from_value::<Cid>(c.clone()).ok());
    let expected: [(&'static str, &str); 4] = [
        ("type", "a string"),
        ("cid", "a string or a non-negative integer"),
        ("room", "a string"),
        ("token", "a string"),
    ];
    for (key, what) in expected {
        let ok = match (key, map.get(key)) {
            ("type", None) => false,
            (_, None | Some(serde_json::Value::Null)) => key != "type",
            ("cid", Some(_)) => cid.is_some(),
            (_, Some(v)) => v.is_string(),
        };
        if !ok {
            return (cid, format!("`{key}` must be {what}"), Some(key));
        }
    }
    (cid, format!("not a frame of this protocol: {error}"), None)
}

/// How deep [`scan_cid`] follows nested values before it gives up.
const SCAN_DEPTH: usize = 64;

/// The top-level `cid` of text that is almost a JSON object, read tolerantly: strings may hold
/// escapes JSON refuses (a lone surrogate), numbers may be out of range, and what follows the
/// object is not looked at. The `cid` itself must be a valid string or a non-negative integer.
/// Bounded: one pass, nesting followed to [`SCAN_DEPTH`].
fn scan_cid(text: &str) -> Option<Cid> {
    let b = text.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    // The end of the string starting at `at` (a `"`), just past its closing quote.
    let string_end = |at: usize| -> Option<usize> {
        let mut j = at + 1;
        loop {
            match b.get(j)? {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
    };
    // The end of the value starting at `at` (skipped, not read).
    let value_end = |at: usize| -> Option<usize> {
        match b.get(at)? {
            b'"' => string_end(at),
            b'{' | b'[' => {
                let (mut j, mut depth) = (at, 0usize);
                loop {
                    match b.get(j)? {
                        b'"' => {
                            j = string_end(j)?;
                            continue;
                        }
                        b'{' | b'[' => {
                            depth += 1;
                            if depth > SCAN_DEPTH {
                                return None;
                            }
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
            _ => {
                let mut j = at;
                while b
                    .get(j)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    j += 1;
                }
                Some(j)
            }
        }
    };
    // A byte-order mark before the object is skipped.
    if text.starts_with('\u{feff}') {
        i = '\u{feff}'.len_utf8();
    }
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    // The last `cid` wins, as when JSON is read into a map.
    let mut found = None;
    loop {
        ws(&mut i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(i)?;
        let raw_key = &text[i..key_end];
        i = key_end;
        ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ws(&mut i);
        let end = value_end(i)?;
        // A key written with escapes (`"\u0063id"`) is the same key.
        let is_cid = raw_key == "\"cid\""
            || (raw_key.contains('\\')
                && serde_json::from_str::<String>(raw_key).is_ok_and(|k| k == "cid"));
        if is_cid {
            found = serde_json::from_str::<Cid>(text[i..end].trim()).ok();
        }
        i = end;
        ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return found,
        }
    }
}

/// An `$error` frame.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    pub(crate) ty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cid: Option<&'a Cid>,
    pub(crate) code: &'a str,
    pub(crate) message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<&'a str>,
}

/// Serializes a frame the protocol defines. These are plain structs and maps, which always
/// serialize.
pub(crate) fn to_json<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        format!(
            "{{\"type\":\"$error\",\"code\":\"internal\",\"message\":{:?}}}",
            e.to_string()
        )
    })
}

/// An error frame.
pub(crate) fn error_frame(
    cid: Option<&Cid>,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> String {
    to_json(&ErrorFrame {
        ty: frame::ERROR,
        cid,
        code,
        message,
        field,
    })
}

/// A reply frame: `{"type":"$reply","cid":…,"data":…}` with `data` already JSON.
pub(crate) fn reply_frame(cid: &Cid, data_json: &str) -> String {
    let mut s = String::with_capacity(data_json.len() + 40);
    s.push_str("{\"type\":\"$reply\",\"cid\":");
    s.push_str(&to_json(cid));
    s.push_str(",\"data\":");
    s.push_str(data_json);
    s.push('}');
    s
}

/// The part of an event frame shared by every recipient: everything after the optional
/// per-recipient `"seq":N,` prefix, without the opening brace.
pub(crate) fn event_body(name: &str, id: &str, ts: &str, data_json: &str) -> String {
    let mut s = String::with_capacity(data_json.len() + name.len() + id.len() + 48);
    s.push_str("\"type\":");
    s.push_str(&to_json(&name));
    s.push_str(",\"id\":\"");
    s.push_str(id);
    s.push_str("\",\"ts\":\"");
    s.push_str(ts);
    s.push_str("\",\"data\":");
    s.push_str(data_json);
    s.push('}');
    s
}

/// Validates and serializes an event into its id and the body of its frame: everything after the
/// optional per-user `"seq":N,` prefix (see [`unnumbered`]; numbered frames are built per stream).
pub(crate) fn encode_body<E: Event>(event: &E) -> Result<(String, String), EmitError> {
    event.validate().map_err(|violation| EmitError::Invalid {
        event: E::NAME,
        violation,
    })?;
    let data = serde_json::to_string(event).map_err(|source| EmitError::Serialize {
        event: E::NAME,
        source,
    })?;
    let id = ids::next();
    let body = event_body(E::NAME, &id, &rfc3339(SystemTime::now()), &data);
    Ok((id, body))
}

/// The frame of an event outside any stream: `{` and the body.
pub(crate) fn unnumbered(body: &str) -> String {
    let mut frame = String::with_capacity(body.len() + 1);
    frame.push('{');
    frame.push_str(body);
    frame
}

/// The frame a server sends for `event` outside any delivery stream — what an ephemeral emit
/// queues to every recipient and [`Session::send`](crate::Session::send) writes: the event
/// checked against its constraints, serialized once, with a fresh id and the current time.
///
/// # Errors
/// [`EmitError::Invalid`] when a constraint is violated,
/// [`EmitError::Serialize`] when the payload does not serialize.
pub fn encode_event<E: Event>(event: &E) -> Result<String, EmitError> {
    let (_, body) = encode_body(event)?;
    Ok(unnumbered(&body))
}

/// An RFC 3339 UTC timestamp with milliseconds (`2026-11-22T03:04:05.678Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    );
    s
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_readable_cid_is_found_in_text_json_refuses() {
        let cid = |t: &str| scan_cid(t);
        let s = |v: &str| Some(Cid::Str(v.to_owned()));
        // The stranger's samples: a lone surrogate elsewhere, a number out of range, text after.
        assert_eq!(
            cid(r#"{"cid":"A","type":"$join","room":"chat:\ud800"}"#),
            s("A")
        );
        assert_eq!(
            cid(r#"{"type":"$join","room":"chat:\udc00","cid":"A"}"#),
            s("A")
        );
        assert_eq!(cid(r#"{"type":"x","n":1e400,"cid":7}"#), Some(Cid::Num(7)));
        assert_eq!(cid(r#"{"cid":"c1","type":"$ping"} trailing"#), s("c1"));
        assert_eq!(
            cid(r#"{"data":{"a":[1,{"b":"}"}],"s":"\"}"},"cid":"deep"}"#),
            s("deep")
        );
        assert_eq!(cid(r#" { "cid" : 12 , "type": 5 "#), Some(Cid::Num(12)));
        // A byte-order mark, an escaped key, and the last of two cids (as a map reads it).
        assert_eq!(cid("\u{feff}{\"cid\":\"bom\",\"x\":\"\\ud800\"}"), s("bom"));
        assert_eq!(cid(r#"{"\u0063id":"esc","x":"\ud800"}"#), s("esc"));
        assert_eq!(
            cid(r#"{"cid":"first","x":"\ud800","cid":"last"}"#),
            s("last")
        );
        // Not readable: a cid that is not a string or a non-negative integer, or broken itself.
        assert_eq!(cid(r#"{"cid":"\ud800"}"#), None);
        assert_eq!(cid(r#"{"cid":-1}"#), None);
        assert_eq!(cid(r#"{"cid":{"x":1}}"#), None);
        assert_eq!(cid("not json"), None);
        assert_eq!(cid(r#"{"cid""#), None);
        assert_eq!(cid(r#"{"a":"unterminated"#), None);
        // Nesting is followed to a bound, not without end.
        let deep = format!(
            r#"{{"a":{}{},"cid":1}}"#,
            "[".repeat(1000),
            "]".repeat(1000)
        );
        assert_eq!(cid(&deep), None);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn frames_are_json() {
        let body = event_body(
            "ticket:created",
            "e1",
            "2024-01-01T00:00:00.000Z",
            "{\"a\":1}",
        );
        let frame = format!("{{\"seq\":7,{body}");
        let v: serde_json::Value = serde_json::from_str(&frame).expect("valid JSON");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["type"], "ticket:created");
        assert_eq!(v["data"]["a"], 1);
        let v: serde_json::Value =
            serde_json::from_str(&reply_frame(&Cid::Str("c\"1".into()), "null")).expect("json");
        assert_eq!(v["cid"], "c\"1");
        let v: serde_json::Value = serde_json::from_str(&error_frame(
            Some(&Cid::Num(3)),
            "bad_frame",
            "no \"type\"",
            None,
        ))
        .expect("json");
        assert_eq!(
            (v["cid"].as_u64(), v["code"].as_str()),
            (Some(3), Some("bad_frame"))
        );
    }
}
