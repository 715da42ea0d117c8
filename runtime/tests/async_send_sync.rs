//! Compile-time checks: the public types can cross threads and the public futures are `Send`,
//! so they run on a multi-threaded runtime and inside `tokio::spawn`.

#![allow(dead_code)]

use tidings::{Hub, Recipients, Router, Server, Session};

fn is_send<T: Send>(_: &T) {}
fn is_sync<T: Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    is_sync::<Hub>();
    is_sync::<Session>();
    is_sync::<Router<()>>();
    is_sync::<Recipients>();
    is_sync::<tidings::Principal>();
    is_sync::<tidings::Metrics>();
}

#[test]
fn public_futures_are_send() {
    let serve = async {
        let server = Server::bind("127.0.0.1:0").await.expect("bind");
        server.serve(Hub::new()).await
    };
    is_send(&serve);
    let with_shutdown = async {
        let server = Server::bind("127.0.0.1:0").await.expect("bind");
        server.serve_with_shutdown(Hub::new(), async {}).await
    };
    is_send(&with_shutdown);
}
