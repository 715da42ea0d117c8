//! A `redis-server` of one test's own on a loopback port, without persistence unless asked for.
//! One implementation for the library's unit tests, the integration tests and the `delivery`
//! bench, which include this file by `#[path]`.
//!
//! Its port is picked at random below the kernel's ephemeral range (Linux'
//! `net.ipv4.ip_local_port_range`, 32768–60999 by default), where no `bind` to port 0 and no
//! outgoing connect lands. A port taken from that range would be free again as soon as it was
//! let go, and while the server is killed for a restart: another test's listener or connection
//! could take it, and a bare connect to it may even reach itself (TCP simultaneous open,
//! RFC 793 §3.4). Other tests picking ports the same way may still meet the same one, so a
//! server counts as started only once `INFO server` on its port names this child's
//! `process_id`; a child that exits first (its port was taken) is started again on another port.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Ports tried before giving up.
const PORTS_TRIED: usize = 5;
/// How long one child is given to answer on its port.
const PATIENCE: Duration = Duration::from_secs(10);
/// The ports picked from: below the kernel's ephemeral range (see the module's docs), above the
/// well-known and most registered ones.
const PORTS: std::ops::Range<u16> = 20_000..32_768;
/// The most bytes of an `INFO` reply read.
const MAX_REPLY: usize = 64 * 1024;

/// A running `redis-server`, killed (and its snapshot directory removed) when dropped.
pub(crate) struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Where it saves snapshots (`SAVE`) and loads them from when started again; none: no
    /// persistence, a restart loses everything.
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// A server without persistence on a free loopback port.
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not serve on any of 5 ports within 10 s each.
    pub(crate) fn start() -> RedisServer {
        RedisServer::start_with(None)
    }

    /// A server that loads its last snapshot (`SAVE`) when started again, from a directory of
    /// its own (removed when it is dropped).
    ///
    /// # Panics
    /// As [`RedisServer::start`], and if the directory cannot be made.
    pub(crate) fn start_persistent() -> RedisServer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidings-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a snapshot directory");
        RedisServer::start_with(Some(dir))
    }

    fn start_with(dir: Option<PathBuf>) -> RedisServer {
        // Free ones among at most 1,000 drawn (a few thousand of the range's 12,768 may be in
        // use on a busy machine).
        let ports = std::iter::repeat_with(|| fastrand::u16(PORTS))
            .take(1_000)
            .filter(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
            .take(PORTS_TRIED);
        RedisServer::start_on(ports, dir)
    }

    /// A server on the first of `ports` it serves on.
    fn start_on(ports: impl IntoIterator<Item = u16>, dir: Option<PathBuf>) -> RedisServer {
        let mut failures = Vec::new();
        for port in ports {
            let mut server = RedisServer {
                port,
                child: None,
                dir: dir.clone(),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(why) => {
                    // The snapshot directory is the next try's: not removed with this one.
                    server.dir = None;
                    failures.push(format!("port {port}: {why}"));
                }
            }
        }
        if let Some(dir) = &dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        assert!(
            !failures.is_empty(),
            "no free port to start redis-server on"
        );
        panic!(
            "redis-server did not serve on any of {} ports: {}",
            failures.len(),
            failures.join("; ")
        );
    }

    /// Its loopback port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A connection of the caller's own, for commands of the test itself (`SAVE`, `CLIENT
    /// PAUSE`, scripts). It waits up to 30 s for an answer: the client's default response
    /// timeout (500 ms in redis-rs 1.x) failed a `SAVE` on a loaded CI machine.
    ///
    /// # Panics
    /// If it cannot connect.
    pub(crate) async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let config =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
        redis::Client::open(self.url())
            .expect("a redis:// URL")
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap_or_else(|e| panic!("a connection to redis-server on {}: {e}", self.port))
    }

    /// The text of `INFO <section>` (`field:value` lines; see [`field`]).
    ///
    /// # Panics
    /// If the server does not answer within a second.
    pub(crate) fn info(&self, section: &str) -> String {
        info(self.port, section).unwrap_or_else(|| panic!("INFO {section} on {}", self.port))
    }

    /// Kills the server (SIGKILL: nothing is saved) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port after [`RedisServer::kill`]: with its last snapshot
    /// if it is persistent, empty otherwise.
    ///
    /// # Panics
    /// If it is running, or does not serve on its port within 10 s.
    pub(crate) fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is running");
        if let Err(why) = self.spawn() {
            panic!("redis-server did not start again on {}: {why}", self.port);
        }
    }

    /// Starts a child on `self.port` and waits until it is the one serving there.
    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        if let Some(dir) = &self.dir {
            command.arg("--dir").arg(dir);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server runs (the README's test command installs it: apt-get install redis-server)");
        let deadline = Instant::now() + PATIENCE;
        let outcome = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("it exited ({status}) before it served"));
            }
            match served_by(self.port) {
                Some(pid) if pid != child.id() => {
                    break Err(format!("another redis-server (process {pid}) serves it"))
                }
                // Ours; with a snapshot, once loaded (INFO answers while Redis loads, other
                // commands are refused).
                Some(_) if loaded(self.port) => break Ok(()),
                _ if Instant::now() > deadline => {
                    break Err(format!("it did not serve (and load) within {PATIENCE:?}"))
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        match outcome {
            Ok(()) => self.child = Some(child),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        outcome
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The `process_id` that `INFO server` names on the loopback port; none while nothing answers
/// there as Redis does.
fn served_by(port: u16) -> Option<u32> {
    field(&info(port, "server")?, "process_id")?.parse().ok()
}

/// Whether the Redis server on the loopback port has loaded its data (`loading:0` in `INFO
/// persistence`).
fn loaded(port: u16) -> bool {
    info(port, "persistence").is_some_and(|info| field(&info, "loading") == Some("0"))
}

/// The text of `INFO <section>` from the Redis server on the loopback port: `field:value`
/// lines. None when nothing answers within a second with a bulk string (RESP's
/// `$<length>\r\n<text>\r\n`), as a listener that is not Redis, or a connect that reached
/// itself, does not.
fn info(port: u16, section: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream
        .write_all(format!("INFO {section}\r\n").as_bytes())
        .ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        if let Some(end) = reply.windows(2).position(|w| w == b"\r\n") {
            let header = reply.strip_prefix(b"$")?.get(..end - 1)?;
            let length: usize = std::str::from_utf8(header).ok()?.parse().ok()?;
            if length > MAX_REPLY {
                return None;
            }
            if let Some(text) = reply.get(end + 2..end + 2 + length) {
                return String::from_utf8(text.to_vec()).ok();
            }
        } else if reply.len() > 32 {
            // No header line where one fits.
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
    }
}

/// The value of `name` in the text of an `INFO` reply.
pub(crate) fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    /// A child on a port another process took is never taken for the server there: it fails,
    /// and `start` goes on to another port.
    #[test]
    fn a_port_another_process_serves_is_not_taken_for_ours() {
        // Imported here: a bench that includes this file (harness off) compiles no test.
        use super::{served_by, Child, RedisServer, TcpListener, PORTS};
        let first = RedisServer::start();
        // Another redis-server: it answers INFO with its own process id.
        let mut second = RedisServer {
            port: first.port(),
            child: None,
            dir: None,
        };
        let failed = second.spawn().expect_err("the port is the first server's");
        assert!(
            failed.contains("exited") || failed.contains("another redis-server"),
            "{failed}"
        );
        assert!(second.child.is_none());
        // Anything else that listens there, and answers nothing.
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let mut third = RedisServer {
            port: listener.local_addr().expect("its address").port(),
            child: None,
            dir: None,
        };
        let failed = third.spawn().expect_err("the port is the listener's");
        assert!(failed.contains("exited"), "{failed}");
        // The first is still the one serving its port, and a new one gets another port.
        assert_eq!(served_by(first.port()), first.child.as_ref().map(Child::id));
        let fresh = RedisServer::start();
        assert_ne!(fresh.port(), first.port());
        assert_eq!(served_by(fresh.port()), fresh.child.as_ref().map(Child::id));
        assert!(PORTS.contains(&fresh.port()), "{}", fresh.port());
    }

    /// A persistent server whose first port is taken starts on the next one, with its
    /// snapshot directory (a failed try does not remove it), and loads its snapshot when
    /// started again.
    #[test]
    fn a_persistent_server_moves_to_another_port_with_its_directory() {
        use super::{field, PathBuf, RedisServer, TcpListener};
        let taken = RedisServer::start();
        let dir: PathBuf = std::env::temp_dir().join(format!(
            "tidings-redis-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("a snapshot directory");
        let free = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port();
        let mut moved = RedisServer::start_on([taken.port(), free], Some(dir.clone()));
        assert_eq!(moved.port(), free);
        assert!(dir.is_dir());
        // Its snapshot is written into the directory and read back at a restart.
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", free)).expect("connect");
        std::io::Write::write_all(&mut conn, b"SET k v\r\nSAVE\r\n").expect("write");
        let mut ok = [0; 10];
        std::io::Read::read_exact(&mut conn, &mut ok).expect("two replies");
        assert_eq!(&ok, b"+OK\r\n+OK\r\n");
        drop(conn);
        moved.kill();
        moved.start_again();
        let keys = moved.info("keyspace");
        assert!(
            field(&keys, "db0").is_some_and(|db| db.starts_with("keys=1")),
            "{keys}"
        );
        drop(moved);
        assert!(!dir.exists());
    }
}
