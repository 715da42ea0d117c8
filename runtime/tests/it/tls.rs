//! `wss://` (issue #19): a real TLS handshake (rustls, a self-signed certificate made here)
//! before the WebSocket one, on `tidings::Server` and on axum with `tidings::axum::serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use tidings::tls::{rustls, TlsAcceptor};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

use crate::support::hub_builder;

/// A certificate for `localhost`, the acceptor that serves it and a connector that trusts it.
fn certificate() -> (TlsAcceptor, TlsConnector) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a cert");
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("a server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("a root");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    )
}

/// Connects over TLS and returns the first frame (`$connected`).
async fn first_frame(addr: SocketAddr, connector: &TlsConnector) -> serde_json::Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    let (mut ws, _) =
        tokio_tungstenite::client_async("wss://localhost/ws?user=u1&tenant=acme", tls)
            .await
            .expect("the WebSocket handshake");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).expect("JSON");
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn wss_on_the_server_and_on_axum() {
    let (acceptor, connector) = certificate();
    let hub = hub_builder().build();

    let server = tidings::Server::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .tls(acceptor.clone());
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve(hub.clone()));
    let hello = first_frame(addr, &connector).await;
    assert_eq!(
        (hello["type"].as_str(), hello["user"].as_str()),
        (Some("$connected"), Some("u1"))
    );
    // A plain-text client gets no WebSocket from a TLS port.
    let plain = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?user=u1")).await;
    assert!(plain.is_err());

    let app = axum::Router::new().route("/ws", tidings::axum::websocket(hub.clone()));
    let listener = tidings::listen("127.0.0.1:0", 128).await.expect("listen");
    let addr = listener.local_addr().expect("addr");
    let serving = tidings::axum::serve(listener, app).tls(acceptor);
    tokio::spawn(std::future::IntoFuture::into_future(serving));
    let hello = first_frame(addr, &connector).await;
    assert_eq!(hello["type"], "$connected");
}
