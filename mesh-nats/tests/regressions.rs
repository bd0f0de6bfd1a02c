//! Regressions found by review (each failed before its fix): replay by a
//! second import on one bridge, encode rejections counted as wire gaps, a
//! `Mesh-Seq` of `u64::MAX`, the first connect counted as a reconnect,
//! `flush` against a `>` subscriber elsewhere, exporting the bridge's own
//! reports.

mod common;

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use futures_util::StreamExt;
use mesh::prelude::*;
use mesh_nats::wire;
use mesh_nats::{Bridge, Config, Durable, Start};

use common::{Server, eventually, imported_log, pair, wire_signal};

const WAIT: Duration = Duration::from_secs(20);

/// Re-importing a stream with Start::All on the same bridge replays nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_import_on_one_bridge_replays_the_stream() {
    static NS: Namespace = Namespace::new("rv-replay");
    let server = Server::start();
    let (a, b) = pair(&server, "rvr", |c| c).await;
    let signal = wire_signal(&NS);
    let _export = a.export_durable("rv-replay.>").await.unwrap();
    for i in 1..=10 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    let (log, _c) = imported_log(&signal);
    let import = b.import_durable("rv-replay.>", Durable::new()).await.unwrap();
    assert!(eventually(WAIT, || log.lock().unwrap().len() == 10).await);
    drop(import);
    log.lock().unwrap().clear();
    let _import2 = b.import_durable("rv-replay.>", Durable::new().start(Start::All)).await.unwrap();
    eventually(Duration::from_secs(3), || log.lock().unwrap().len() == 10).await;
    let n = log.lock().unwrap().len();
    eprintln!("replayed {n}, duplicates {}", b.stats().duplicates);
    assert_eq!(n, 10, "a second Start::All import replays the stream");
}

/// An event rejected at encode (too large) after being numbered: the importer counts a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_rejected_at_encoding_is_no_gap_on_the_wire() {
    static NS: Namespace = Namespace::new("rv-gap");
    let server = Server::start();
    let (a, b) = pair(&server, "rvg", |c| c.max_body(16)).await;
    let signal = NS.signal::<String>("s").unwrap();
    signal.serde_payloads();
    let _export = a.export("rv-gap.>").unwrap();
    let _import = b.import("rv-gap.>").await.unwrap();
    signal.emit("x".into());
    signal.emit("y".repeat(100));
    signal.emit("z".into());
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || b.stats().imported == 2).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.export_rejected, 1);
    assert_eq!(
        sb.gaps, 0,
        "the importer counted a gap for an event the exporter rejected before sending"
    );
}

/// A Mesh-Seq of u64::MAX from the wire panics the import task (debug), which then imports nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_of_u64_max_does_not_stop_the_import() {
    static NS: Namespace = Namespace::new("rv-seq");
    let server = Server::start();
    let b = Bridge::connect(server.url(), Config::new("rvs").unwrap()).await.unwrap();
    let _signal = wire_signal(&NS);
    let _import = b.import("rv-seq.>").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let h = |id: &str, seq: &str| {
        let mut h = HeaderMap::new();
        h.insert(wire::MSG_ID, id);
        h.insert(wire::VERSION, "1");
        h.insert(wire::ORIGIN, "evil");
        h.insert(wire::SEQ, seq);
        h.insert(wire::TIMESTAMP, "2026-12-03T15:11:02.5Z");
        h
    };
    raw.publish_with_headers(
        "rvs.rv-seq.n",
        h("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f70", "18446744073709551615"),
        "1".into(),
    )
    .await
    .unwrap();
    raw.publish_with_headers(
        "rvs.rv-seq.n",
        h("01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f71", "1"),
        "2".into(),
    )
    .await
    .unwrap();
    common::round_trip(&raw).await;
    let ok = eventually(Duration::from_secs(3), || b.stats().imported == 2).await;
    eprintln!("imported {}", b.stats().imported);
    assert!(ok);
}

/// Stats::reconnects counts the first connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_connect_is_no_reconnect() {
    let server = Server::start();
    let b = Bridge::connect(server.url(), Config::new("rvc").unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.stats().reconnects, 0, "no loss, no reconnect");
}

/// A wildcard subscriber elsewhere on the server makes flush() time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_is_not_held_up_by_a_wildcard_subscriber() {
    let server = Server::start();
    let spy = async_nats::connect(server.url()).await.unwrap();
    let _sub = spy.subscribe(">").await.unwrap();
    spy.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = Bridge::connect(server.url(), Config::new("rvf").unwrap()).await.unwrap();
    let t = Instant::now();
    let r = b.flush().await;
    eprintln!("flush: {r:?} after {:?}", t.elapsed());
    assert!(r.is_ok() && t.elapsed() < Duration::from_secs(2));
}

/// Exporting the bridge's own meta-signals recurses without bound. They
/// are not exported at all: not refused (which reports the refusal, and
/// so on), and not published either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_the_bridges_own_reports_does_not_recurse() {
    let server = Server::start();
    let b = Bridge::connect(server.url(), Config::new("rvm").unwrap()).await.unwrap();
    let spy = async_nats::connect(server.url()).await.unwrap();
    let mut wire = spy.subscribe("rvm.>").await.unwrap();
    common::round_trip(&spy).await;
    let _e = b.export("mesh.nats.>").unwrap();
    mesh_nats::report::lost().emit(mesh_nats::report::Lost {
        reason: mesh_nats::report::LossReason::Gap,
        subject: "x".into(),
        count: 1,
    });
    b.flush().await.unwrap();
    let stats = b.stats();
    assert_eq!(stats.export_rejected, 0, "its reports are not refused");
    assert_eq!(stats.exported, 0, "its reports are not exported");
    // The bridge's flush returned once the server had its publishes, so
    // one published here would reach the spy before its round trip does.
    common::round_trip(&spy).await;
    let published = tokio::time::timeout(Duration::from_millis(200), wire.next()).await;
    assert!(
        published.is_err(),
        "nothing published under the prefix: {:?}",
        published.map(|m| m.map(|m| m.subject))
    );
}
