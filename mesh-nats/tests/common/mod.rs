//! Helpers of the mesh-nats tests: the server (from `mesh-test-support`),
//! polling, and a round trip through the server.

#![allow(dead_code)] // each test binary uses its part

use std::time::{Duration, Instant};

pub use mesh_test_support::nats::Server;

/// Waits (polling) until `done()` or `timeout`; returns whether it was.
pub async fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done()
}

/// Waits until the server has processed everything `client` sent before
/// (its `flush` only writes to the socket): a request nobody serves comes
/// back "no responders" after them.
pub async fn round_trip(client: &async_nats::Client) {
    client.flush().await.expect("flush");
    match client.request("_INBOX.test.round-trip", bytes::Bytes::new()).await {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e.kind(),
            async_nats::client::RequestErrorKind::NoResponders,
            "round trip: {e}"
        ),
    }
}

/// The payloads of events imported from node `a` on `signal`, in arrival
/// order (an imported event lands on the same local signal as the
/// original, so only those carrying origin `a` count).
pub fn imported_log(
    signal: &mesh::Signal<u64>,
) -> (std::sync::Arc<std::sync::Mutex<Vec<u64>>>, mesh::Connection) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = log.clone();
    let connection = signal.connect(move |ev: &mesh::Event<u64>| {
        if ev.metadata.get(mesh_nats::ORIGIN_KEY) == Some("a") {
            sink.lock().unwrap().push(ev.data);
        }
    });
    (log, connection)
}

/// The `u64` signal `n` of namespace `ns`, able to cross the bridge (its
/// payloads serialise): what most of these tests send.
pub fn wire_signal(ns: &'static mesh::Namespace) -> mesh::Signal<u64> {
    let signal = ns.signal::<u64>("n").unwrap();
    signal.serde_payloads();
    signal
}

/// Two bridges on `server` with prefix `prefix`, nodes `a` and `b`, each
/// config passed through `tweak` (limits, retries) first.
pub async fn pair(
    server: &Server,
    prefix: &str,
    tweak: impl Fn(mesh_nats::Config) -> mesh_nats::Config,
) -> (mesh_nats::Bridge, mesh_nats::Bridge) {
    let config = |node: &str| tweak(mesh_nats::Config::new(prefix).unwrap().node(node).unwrap());
    let a = mesh_nats::Bridge::connect(server.url(), config("a"));
    let b = mesh_nats::Bridge::connect(server.url(), config("b"));
    (a.await.unwrap(), b.await.unwrap())
}
