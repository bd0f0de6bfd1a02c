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
