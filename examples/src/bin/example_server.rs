//! The example server: the demo page over HTTP and the Tidings endpoint at `/ws`, on axum, with
//! the in-memory hub.
//!
//! ```text
//! cargo run -p tidings-examples --bin example_server -- --listen 127.0.0.1:8080
//! ```
//!
//! Open `http://127.0.0.1:8080/?user=alice&tenant=acme&roles=admin`. The page is
//! `examples/web/index.html` with `examples/web/dist/app.js`, bundled from `examples/web/app.ts`
//! and the TypeScript `build.rs` generated (`./scripts/demo` does both). The same demo written
//! with the React and the Vue adapters is at `/react` and `/vue` (same query string). Prints
//! `listening on http://ADDR` once ready; Ctrl-C (or SIGTERM) stops it gracefully.
//!
//! With `--redis redis://127.0.0.1:6379/`, the hub joins the others on that Redis: start two
//! servers on two ports and a user's tabs on either see one stream (docs/delivery.md).
//!
//! `GET /metrics` serves the hub's metrics in the Prometheus text format (the `metrics` facade
//! with `metrics-exporter-prometheus`); logs go to stderr at the level `RUST_LOG` sets (default
//! `info`: connections of the backplane, slow consumers, failures).

use std::path::PathBuf;
use std::process::ExitCode;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tidings_examples::app::App;

async fn file(path: PathBuf, content_type: &'static str) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            format!(
                "{} is missing: run ./scripts/demo (it bundles the page)",
                path.display()
            ),
        )
            .into_response(),
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Route, file under `examples/web`, content type.
const PAGES: [(&str, &str, &str); 6] = [
    ("/", "index.html", HTML),
    ("/app.js", "dist/app.js", JS),
    ("/react", "react.html", HTML),
    ("/react.js", "dist/react.js", JS),
    ("/vue", "vue.html", HTML),
    ("/vue.js", "dist/vue.js", JS),
];

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let metrics = match prometheus() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("error: cannot install the metrics recorder: {e}");
            return ExitCode::from(1);
        }
    };
    let mut listen = "127.0.0.1:8080".to_owned();
    let mut web = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web"));
    let mut redis = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--web", Some(v)) => web = PathBuf::from(v),
            ("--redis", Some(v)) => redis = Some(v),
            _ => {
                eprintln!("usage: example_server [--listen ADDR] [--web DIR] [--redis URL]");
                return ExitCode::from(2);
            }
        }
    }
    let mut builder = App::default().hub_builder();
    if let Some(url) = redis {
        match tidings::broker::redis::RedisBroker::builder(&url)
            .namespace("tidings-example")
            .build()
        {
            Ok(broker) => builder = builder.broker(broker),
            Err(e) => {
                eprintln!("error: --redis {url}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let hub = builder.build();
    if hub.broker_status().is_some() {
        // Serve once the backplane is up (sessions are refused with 1013 until then anyway).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hub.broker_status() != Some(tidings::broker::BrokerStatus::Healthy) {
            if std::time::Instant::now() > deadline {
                eprintln!("warning: the Redis backplane is not up yet; serving anyway");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // The pages and their bundles: the demo, and the same in React and in Vue.
    let mut app = axum::Router::new();
    for (route, file_name, content_type) in PAGES {
        let path = web.join(file_name);
        app = app.route(route, get(move || file(path.clone(), content_type)));
    }
    let app = app
        .route("/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        )
        .route("/ws", tidings::axum::websocket(hub.clone()));
    let listener = match tidings::listen(&listen, tidings::DEFAULT_BACKLOG).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => eprintln!("warning: {e}"),
    }
    let stopping = hub.clone();
    let served = tidings::axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stopping.begin_shutdown();
        })
        .await;
    // The sessions are the hub's: let them deliver what is queued and close with 1001.
    let _ = hub
        .sessions_ended(hub.limits().drain_timeout + std::time::Duration::from_secs(2))
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The Prometheus recorder. Histograms get buckets, so that Prometheus can aggregate them
/// across nodes (`histogram_quantile` over `_bucket`); without buckets the exporter writes
/// them as summaries, with quantiles computed per node.
fn prometheus(
) -> Result<metrics_exporter_prometheus::PrometheusHandle, metrics_exporter_prometheus::BuildError>
{
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("tidings_handler_duration_seconds".to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full("tidings_replay_events".to_owned()),
            &[0.0, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0],
        )?
        .install_recorder()
}
