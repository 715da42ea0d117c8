//! The publish API: `POST /api/publish`, for the app's backend (docs/serve.md, "Publishing").
//!
//! A request is `{"event": NAME, "data": {…}}`, or `{"events": [{"event": …, "data": …}, …]}`
//! for a batch, with `Authorization: Bearer <API key>`. Each payload is checked against its
//! event's contract — the checks the generated Rust decoder makes — and routed by the event's
//! declared recipient rules, read from the payload. Every refusal is JSON:
//! `{"error": {"code", "message", "path"?, "index"?}}` with an HTTP status.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tidings::schema::Direction;
use tidings::validate::Refusal;
use tidings::{EmitError, Hub, JsonEvent, PreparedEvent, Recipients};

use crate::catalog::{Catalog, PayloadError};

/// The answer to an emit's failure.
fn emit_error(e: EmitError) -> ApiError {
    match e {
        EmitError::TooLarge { bytes, limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the event is {bytes} bytes as a frame; clients are sent at most {limit}"),
        ),
        e @ EmitError::MissingScope(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_scope",
            e.to_string(),
        ),
        e @ EmitError::Unavailable { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// What the publish API needs.
#[derive(Debug)]
pub struct Api {
    /// The hub events are emitted on.
    pub hub: Hub,
    /// The schema's events.
    pub catalog: Catalog,
    /// The accepted API keys.
    pub keys: Vec<String>,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The most events in a batch.
    pub max_batch: usize,
    /// Answers remembered by `Idempotency-Key`.
    pub idempotency: Idempotency,
}

/// A refusal: the HTTP status and the JSON error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    path: Option<String>,
    index: Option<usize>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            path: None,
            index: None,
        }
    }

    fn at(mut self, index: Option<usize>) -> ApiError {
        self.index = index;
        self
    }

    fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(path) = &self.path {
            error["path"] = json!(path);
        }
        if let Some(index) = self.index {
            error["index"] = json!(index);
        }
        json!({ "error": error })
    }
}

/// A JSON answer.
fn answer(status: StatusCode, body: &Value) -> (StatusCode, Bytes) {
    (status, Bytes::from(body.to_string()))
}

fn respond(status: StatusCode, body: Bytes, replayed: bool) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Any other request under `/api/`: a JSON 404, or 405 for another method than `POST` on
/// `/api/publish`.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let e = if uri.path() == "/api/publish" {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("`{method} /api/publish`: publish with POST"),
        )
    } else if uri.path() == "/healthz" {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("`{method} /healthz`: ask with GET"),
        )
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no `{}` here: the API is `POST /api/publish`", uri.path()),
        )
    };
    e.into_response()
}

/// `POST /api/publish`.
pub async fn publish(State(api): State<Arc<Api>>, headers: HeaderMap, body: Body) -> Response {
    let key = match api.authorize(&headers) {
        Ok(key) => key,
        Err(e) => {
            return e.into_response();
        }
    };
    let read = axum::body::to_bytes(body, api.max_body_bytes);
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(body)) => body,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            );
            return e.into_response();
        }
        Ok(Err(_)) => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the request body is larger than {} bytes (`api.max_body_bytes`)",
                    api.max_body_bytes
                ),
            );
            return e.into_response();
        }
    };
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().ok().filter(|k| valid_idempotency_key(k)) {
            Some(k) => Some(format!("{key}:{k}")),
            None => {
                let e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the `Idempotency-Key` header must be 1 to 255 visible ASCII characters",
                );
                return e.into_response();
            }
        },
    };
    let Some(idempotency_key) = idempotency_key else {
        let (status, body, _) = api.handle(&body);
        return respond(status, body, false);
    };
    let fingerprint = fingerprint(&body);
    match api.idempotency.begin(&idempotency_key, fingerprint) {
        Begun::Replay(status, body) => respond(status, body, true),
        Begun::Refused(e) => e.into_response(),
        Begun::New => {
            let (status, body, published) = api.handle(&body);
            // A server error that published nothing is forgotten, so that a retry is handled
            // again; any other answer is the answer to every retry.
            let remember = published || !status.is_server_error();
            api.idempotency
                .finish(&idempotency_key, remember.then(|| (status, body.clone())));
            respond(status, body, false)
        }
    }
}

/// An `Idempotency-Key` as the IETF draft (draft-ietf-httpapi-idempotency-key-header) and
/// Stripe use it: an opaque string; here 1–255 visible ASCII characters.
fn valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn fingerprint(body: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// Compares in time that depends on the lengths only, not on where the bytes differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Api {
    /// The index of the API key the request carries (`Authorization: Bearer <key>`).
    fn authorize(&self, headers: &HeaderMap) -> Result<usize, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(unauthorized(
                "no API key: send `Authorization: Bearer <API key>`",
            ));
        };
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let given = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(|| unauthorized("the `Authorization` header must be `Bearer <API key>`"))?;
        // Every key is compared, whichever matches.
        let mut found = None;
        for (i, key) in self.keys.iter().enumerate() {
            if same_secret(key.as_bytes(), given.as_bytes()) {
                found = Some(i);
            }
        }
        found.ok_or_else(|| unauthorized("the API key is not accepted"))
    }

    /// Handles a request body: the status, the JSON answer, and whether any event was
    /// published.
    fn handle(&self, body: &[u8]) -> (StatusCode, Bytes, bool) {
        match self.handle_body(body) {
            Ok(answer_body) => {
                let (status, body) = answer(StatusCode::OK, &answer_body);
                (status, body, true)
            }
            Err((e, done)) => {
                let mut body = e.body();
                let published = done.as_ref().is_some_and(|d| !d.is_empty());
                if let Some(done) = done {
                    body["results"] = Value::Array(done);
                }
                let (status, body) = answer(e.status, &body);
                (status, body, published)
            }
        }
    }

    /// The answer to a request, or the refusal with what a batch published before it.
    #[allow(clippy::result_large_err)]
    fn handle_body(&self, body: &[u8]) -> Result<Value, (ApiError, Option<Vec<Value>>)> {
        let bad = |m: String| {
            (
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m),
                None,
            )
        };
        let request: Value =
            serde_json::from_slice(body).map_err(|e| {
                // serde_json stops at 128 levels of nesting, the request's own included.
                if e.to_string().starts_with("recursion limit exceeded") {
                    bad(format!(
                        "the body nests deeper than 128 levels (the request's `{{\"data\": …}}` included), at line {} column {}",
                        e.line(),
                        e.column()
                    ))
                } else {
                    bad(format!("the body is not JSON: {e}"))
                }
            })?;
        let Value::Object(mut request) = request else {
            return Err(bad(
                "the body must be an object: `{\"event\": …, \"data\": …}` or `{\"events\": […]}`"
                    .to_owned(),
            ));
        };
        if let Some(events) = request.remove("events") {
            if let Some(other) = request.keys().next() {
                return Err(bad(format!(
                    "unknown field `{other}` next to `events`: a batch is `{{\"events\": […]}}`"
                )));
            }
            let Value::Array(events) = events else {
                return Err(bad("`events` must be an array".to_owned()));
            };
            if events.is_empty() || events.len() > self.max_batch {
                return Err(bad(format!(
                    "`events` must hold 1 to {} events (`api.max_batch`), it holds {}",
                    self.max_batch,
                    events.len()
                )));
            }
            // Every event is checked before any is published: a batch with a bad event
            // publishes nothing.
            let mut checked = Vec::with_capacity(events.len());
            for (i, event) in events.into_iter().enumerate() {
                let Value::Object(event) = event else {
                    let (e, _) = bad(format!("`events[{i}]` must be an object"));
                    return Err((e.at(Some(i)), None));
                };
                checked.push(self.check(event).map_err(|e| (e.at(Some(i)), None))?);
            }
            let mut results = Vec::with_capacity(checked.len());
            for (i, (event, to)) in checked.into_iter().enumerate() {
                match self.emit(event, &to) {
                    Ok(result) => results.push(result),
                    Err(e) => return Err((e.at(Some(i)), Some(results))),
                }
            }
            return Ok(json!({ "results": results }));
        }
        let (event, to) = self.check(request).map_err(|e| (e, None))?;
        self.emit(event, &to).map_err(|e| (e, None))
    }

    /// Checks one `{"event", "data"}`: the event is known and published by the server, its
    /// payload meets the contract, and its frame fits the clients' limit. Returns the event
    /// framed ([`Hub::prepare_json`]) and the recipients its rules select.
    fn check(
        &self,
        mut request: serde_json::Map<String, Value>,
    ) -> Result<(PreparedEvent, Recipients), ApiError> {
        let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m);
        let name = match request.remove("event") {
            Some(Value::String(name)) => name,
            Some(_) => return Err(bad("`event` must be a string".to_owned())),
            None => return Err(bad("missing field `event`".to_owned())),
        };
        let data = request
            .remove("data")
            .ok_or_else(|| bad("missing field `data`".to_owned()))?;
        if let Some(other) = request.keys().next() {
            return Err(bad(format!(
                "unknown field `{other}`: an event is `{{\"event\": …, \"data\": …}}`"
            )));
        }
        let Some(published) = self.catalog.get(&name) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_event",
                format!("the schema declares no event `{name}`"),
            ));
        };
        if published.direction == Direction::ClientToServer {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_direction",
                format!("`{name}` is sent by clients; the server does not publish it"),
            ));
        }
        let (data, to) = published.check(data).map_err(|e| match e {
            PayloadError::Refused(refusal) => {
                let (code, v) = match &refusal {
                    Refusal::Shape(v) => ("invalid_payload", v),
                    Refusal::Constraint(v) => ("constraint_violated", v),
                };
                let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, v.to_string());
                e.path = Some(v.field.clone());
                e
            }
            PayloadError::MissingScope => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_scope",
                format!("`{name}` is routed within a tenant, and its payload names none"),
            ),
        })?;
        let event = JsonEvent {
            name: published.name,
            delivery: published.delivery,
            data: &data,
        };
        let prepared = self.hub.prepare_json(event).map_err(emit_error)?;
        Ok((prepared, to))
    }

    /// Emits a checked event: `{"id", "connections"}` (`connections` is `null` when the
    /// event went through the backplane, which delivers it on every node after this answer).
    fn emit(&self, event: PreparedEvent, to: &Recipients) -> Result<Value, ApiError> {
        let emitted = self.hub.emit_prepared(event, to).map_err(emit_error)?;
        let connections = if emitted.delivered.forwarded {
            Value::Null
        } else {
            json!(emitted.delivered.connections)
        };
        Ok(json!({ "id": emitted.id, "connections": connections }))
    }
}

/// Answers remembered by `Idempotency-Key`, for a window and up to a number of keys (the
/// oldest go first): a retried publish gets the first answer again, and publishes nothing.
#[derive(Debug)]
pub struct Idempotency {
    state: Mutex<Remembered>,
    window: Duration,
    max_keys: usize,
}

#[derive(Debug, Default)]
struct Remembered {
    answers: HashMap<String, Entry>,
    /// Keys in the order they came, with when.
    order: VecDeque<(Instant, String)>,
}

#[derive(Debug)]
struct Entry {
    fingerprint: u64,
    /// `None` while the first request is being handled.
    answer: Option<(StatusCode, Bytes)>,
}

/// What a request with an `Idempotency-Key` does.
enum Begun {
    /// The first with this key: handle it.
    New,
    /// Answered before: the same answer.
    Replay(StatusCode, Bytes),
    /// In progress, or the key was used with another body.
    Refused(ApiError),
}

impl Idempotency {
    /// Remembers answers for `window`, at most `max_keys` of them.
    pub fn new(window: Duration, max_keys: usize) -> Idempotency {
        Idempotency {
            state: Mutex::new(Remembered::default()),
            window,
            max_keys: max_keys.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn begin(&self, key: &str, fingerprint: u64) -> Begun {
        let now = Instant::now();
        let mut st = self.lock();
        while let Some((at, _)) = st.order.front() {
            if now.duration_since(*at) < self.window && st.order.len() < self.max_keys {
                break;
            }
            if let Some((_, old)) = st.order.pop_front() {
                st.answers.remove(&old);
            }
        }
        match st.answers.get(key) {
            Some(entry) if entry.fingerprint != fingerprint => Begun::Refused(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this `Idempotency-Key` was used with another request body",
            )),
            Some(Entry { answer: None, .. }) => Begun::Refused(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this `Idempotency-Key` is being handled; retry after it",
            )),
            Some(Entry {
                answer: Some((status, body)),
                ..
            }) => Begun::Replay(*status, body.clone()),
            None => {
                st.answers.insert(
                    key.to_owned(),
                    Entry {
                        fingerprint,
                        answer: None,
                    },
                );
                st.order.push_back((now, key.to_owned()));
                Begun::New
            }
        }
    }

    /// Remembers the answer to the first request with `key`, or (`None`) forgets the key, so
    /// that a retry is handled again.
    fn finish(&self, key: &str, answer: Option<(StatusCode, Bytes)>) {
        let mut st = self.lock();
        match answer {
            Some(answer) => {
                if let Some(entry) = st.answers.get_mut(key) {
                    entry.answer = Some(answer);
                }
            }
            None => {
                st.answers.remove(key);
                st.order.retain(|(_, k)| k != key);
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = answer(self.status, &self.body());
        respond(status, body, false)
    }
}
