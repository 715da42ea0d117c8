//! `wss://` with rustls (feature `tls`, the `ring` provider): what [`Server::tls`] and
//! `tidings::axum::Serve::tls` take.
//!
//! ```no_run
//! # fn run(cert_chain: Vec<tidings::tls::rustls::pki_types::CertificateDer<'static>>,
//! #        key: tidings::tls::rustls::pki_types::PrivateKeyDer<'static>,
//! #        hub: tidings::Hub) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tidings::tls::{rustls, TlsAcceptor};
//!
//! let config = rustls::ServerConfig::builder()
//!     .with_no_client_auth()
//!     .with_single_cert(cert_chain, key)?; // from your PEM files (rustls-pki-types reads them)
//! let acceptor = TlsAcceptor::from(Arc::new(config));
//! # let _ = async move {
//! tidings::Server::bind("0.0.0.0:443").await?.tls(acceptor).serve(hub).await
//! # };
//! # Ok(()) }
//! ```
//!
//! The TLS handshake, then the WebSocket request head, each get
//! [`Limits::handshake_timeout`](crate::Limits::handshake_timeout), on [`Server::tls`] and on
//! axum alike (the rule is on that field). Behind a load balancer that
//! terminates TLS, serve plain `ws://` instead. On any other byte stream (a TLS stack of your
//! own), [`Server::serve_connection`] serves one accepted connection.
//!
//! [`Server::tls`]: crate::Server::tls
//! [`Server::serve_connection`]: crate::Server::serve_connection

pub use tokio_rustls::rustls;
pub use tokio_rustls::TlsAcceptor;
