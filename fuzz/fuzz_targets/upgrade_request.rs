//! Arbitrary bytes as the HTTP upgrade request of a connection, served by
//! `Server::serve_connection` on an in-memory pipe (the path of every TCP connection: tungstenite's
//! request parsing, then the hub's admission — token from the header, subprotocol or query,
//! percent-decoding, the resume position — with an authenticator that reads them all).
//! Invariants: the server answers with an HTTP/1.1 status line or closes without a word; it
//! never panics; it returns once the client has gone.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tidings::{AuthError, Hub, Principal, Server, UpgradeRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    static HUB: RefCell<Option<Hub>> = const { RefCell::new(None) };
}

fn authenticate(request: &UpgradeRequest) -> Result<Principal, AuthError> {
    let token = request.token().unwrap_or_default();
    let user = request.query("user").unwrap_or(token);
    if user.is_empty() || user == "nobody" {
        return Err(AuthError::unauthorized("no user"));
    }
    let mut principal = Principal::user(user);
    principal.tenant = request.query("tenant");
    Ok(principal)
}

fn hub() -> Hub {
    HUB.with(|h| {
        h.borrow_mut()
            .get_or_insert_with(|| Hub::builder().authenticator(authenticate).build())
            .clone()
    })
}

fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let serving = tokio::spawn(Server::serve_connection(hub(), server));
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = [0u8; 4096];
                loop {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                    }
                    if answer.len() > 1 << 20 {
                        break;
                    }
                }
            })
            .await;
            assert!(read.is_ok(), "the server neither answered nor closed in 5 s");
            if !answer.is_empty() {
                let status = answer.get(..12).unwrap_or(&answer);
                assert!(
                    status.starts_with(b"HTTP/1.1 ")
                        && status.len() == 12
                        && status[9..12].iter().all(u8::is_ascii_digit),
                    "not a status line: {:?}",
                    String::from_utf8_lossy(&answer[..answer.len().min(80)])
                );
            }
            drop(client);
            tokio::time::timeout(Duration::from_secs(5), serving)
                .await
                .expect("the connection ends once the client has gone")
                .expect("no panic");
        });
    });
});
