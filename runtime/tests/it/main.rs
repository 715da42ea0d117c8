//! Integration tests of the runtime: a real server on 127.0.0.1:0 and real WebSocket clients.

mod auth;
#[cfg(feature = "axum")]
mod axum_mount;
#[cfg(feature = "redis")]
mod backplane;
#[cfg(feature = "redis")]
mod chaos;
mod delivery;
mod direct;
mod events;
#[cfg(feature = "redis")]
mod faults;
mod hooks;
mod inbound;
mod isolation;
mod limits;
mod local;
mod operations;
mod outbound;
mod presence_events;
mod recipients;
#[cfg(feature = "redis")]
mod redis_server;
mod support;
#[cfg(all(feature = "tls", feature = "axum"))]
mod tls;
