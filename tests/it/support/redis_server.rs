//! A real `redis-server` for the cluster tests, on a free loopback port, without persistence;
//! killed on drop. `scripts/install-redis` installs it (the Debian package).
//!
//! A missing `redis-server` FAILS the test, with the command that installs it, unless
//! `DARIO_SKIP_CLUSTER_TESTS=1` is set (then [`RedisServer::start`] returns `None` and the test
//! says it skipped). `REDIS_SERVER` names another binary (e.g. `valkey-server`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// A fresh server on a free port; `None` only when the tests are explicitly opted out.
    pub fn start() -> Option<RedisServer> {
        if std::env::var("DARIO_SKIP_CLUSTER_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: DARIO_SKIP_CLUSTER_TESTS=1 (the cluster tests need redis-server)");
            return None;
        }
        Some(Self::start_on(free_port()))
    }

    /// A server on `port` (a restart after [`RedisServer::kill`] reuses the old port).
    pub fn start_on(port: u16) -> RedisServer {
        let spawned = Command::new(binary())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                // DEBUG SLEEP (a Redis that is slow, not down), from loopback only.
                "--enable-debug-command",
                "local",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => panic!(
                "could not start `{}` ({e}): run scripts/install-redis (Debian package redis-server), \
                 or set DARIO_SKIP_CLUSTER_TESTS=1 to skip the cluster tests",
                binary()
            ),
        };
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.ping() {
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server exited at start ({status}); is port {port} taken?");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A server that speaks only TLS (on a free port) and requires `password`; ready once it
    /// accepts TCP connections.
    pub fn start_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        ca: &std::path::Path,
        password: &str,
    ) -> RedisServer {
        let port = free_port();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let spawned = Command::new(binary())
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--tls-cert-file", &path(cert), "--tls-key-file", &path(key)])
            .args(["--tls-ca-cert-file", &path(ca), "--tls-auth-clients", "no"])
            .args(["--requirepass", password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = spawned.unwrap_or_else(|e| {
            panic!(
                "could not start `{}` ({e}): run scripts/install-redis, or set DARIO_SKIP_CLUSTER_TESTS=1",
                binary()
            )
        });
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server (TLS) exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server (TLS) did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    /// A plain connection, for looking at what the instances wrote.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    /// SIGKILL: no goodbye to the clients, as when a machine dies.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
