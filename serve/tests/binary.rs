//! The `tidings-serve` executable: its documented exit codes, its errors, and a graceful
//! shutdown on SIGTERM (sessions closed with 1001, exit 0).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "a test secret of at least thirty-two bytes";

fn server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tidings-serve"));
    c.env("TIDINGS_API_KEYS", "binary-test-key-0123456789")
        .env("TIDINGS_SERVE_BINARY_SECRET", SECRET)
        .env("RUST_LOG", "warn");
    c
}

fn config(dir: &tempfile::TempDir, extra: &str) -> PathBuf {
    let schemas = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let path = dir.path().join("tidings-serve.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\nschemas = [{schemas:?}]\n{extra}\n[auth.jwt]\nhs256_secret_env = \"TIDINGS_SERVE_BINARY_SECRET\"\n"
        ),
    )
    .expect("write the configuration");
    path
}

#[test]
fn help_succeeds_and_bad_input_exits_2_with_where() {
    let out = server().arg("--help").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));

    let out = server().arg("--bogus").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(&dir, "[limits]\nmax_frame_byte = 10");
    let out = server().arg("--config").arg(&path).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4") && err.contains("unknown field `max_frame_byte`"),
        "{err}"
    );

    // A schema with an error: its file:line:col.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(
        bad.join("x.toml"),
        "module = \"x\"\n[events.a]\ntenant = \"nope\"\n",
    )
    .expect("write");
    let path = config(&dir, "");
    let out = server()
        .arg("--config")
        .arg(&path)
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.toml:3:11"), "{err}");

    // Values out of their range, named by key.
    for (extra, key) in [
        ("ws_path = \"/healthz\"", "ws_path"),
        ("ws_path = \"/ws/:id\"", "ws_path"),
        (
            "[limits]\nheartbeat_interval_seconds = 0",
            "limits.heartbeat_interval_seconds",
        ),
        (
            "[limits]\nheartbeat_timeout_seconds = 18446744073709551615",
            "limits.heartbeat_timeout_seconds",
        ),
        (
            "[limits]\nmax_connections_per_user = 0",
            "limits.max_connections_per_user",
        ),
        (
            "[history]\nmax_age_seconds = 18446744073709551615",
            "history.max_age_seconds",
        ),
    ] {
        let path = config(&dir, extra);
        let out = server().arg("--config").arg(&path).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("`{key}`")), "{extra}: {err}");
    }
    let path = config(&dir, "");

    // No API key.
    let out = server()
        .env_remove("TIDINGS_API_KEYS")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TIDINGS_API_KEYS"));
}

#[tokio::test]
async fn sigterm_closes_sessions_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(&dir, "");
    let mut child = server()
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let token = tidings::JwtIssuer::hs256(SECRET.as_bytes())
        .issue("u1", Some("t1"), &[], Duration::from_secs(600))
        .expect("token");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .expect("connects");
    let hello = ws.next().await.expect("a frame").expect("ok");
    assert!(hello.to_text().expect("text").contains("$connected"));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(close, Some(1001), "going away");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("exits");
    assert_eq!(status.code(), Some(0));
}
