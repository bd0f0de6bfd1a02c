//! Durable mode (JetStream): replay from the start, a sequence or a time,
//! then live without gap or duplicate at the seam; a named consumer
//! resumes where it stopped.
//!
//! Each test runs two bridges in one process: node `a` exports, node `b`
//! imports. An imported event lands on the same local signal as the
//! original, so the receivers below count only events whose origin is
//! `a` (the exporter never sends an imported event again).

mod common;

use std::time::Duration;

use mesh::prelude::*;
use mesh_nats::{Bridge, Config, Durable, Start};

use common::{Server, eventually, imported_log, pair, wire_signal};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_importer_replays_then_continues_live_without_gap_or_duplicate() {
    static NS: Namespace = Namespace::new("dur-seam");
    let server = Server::start();
    let (a, b) = pair(&server, "seam", |c| c).await;
    let signal = wire_signal(&NS);
    let _export = a.export_durable("dur-seam.>").await.unwrap();
    for i in 1..=500 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || a.stats().exported == 500).await);

    let (log, _c) = imported_log(&signal);
    let _import = b.import_durable("dur-seam.>", Durable::new()).await.unwrap();
    // Live events while the replay runs: the seam.
    for i in 501..=1000 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(
        eventually(WAIT, || log.lock().unwrap().len() >= 1000).await,
        "{}",
        log.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*log.lock().unwrap(), (1..=1000).collect::<Vec<_>>());
    let stats = b.stats();
    assert_eq!((stats.imported, stats.gaps, stats.import_rejected), (1000, 0, 0));
    assert_eq!(a.stats().not_reexported, 1000, "imported events are not exported again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_starts_at_a_sequence_or_a_time() {
    static NS: Namespace = Namespace::new("dur-start");
    let server = Server::start();
    let (a, b) = pair(&server, "start", |c| c).await;
    let signal = wire_signal(&NS);
    let _export = a.export_durable("dur-start.>").await.unwrap();
    for i in 1..=10 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || a.stats().exported == 10).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 11..=20 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || a.stats().exported == 20).await);

    let (log, c) = imported_log(&signal);
    let from_seq =
        b.import_durable("dur-start.>", Durable::new().start(Start::Sequence(6))).await.unwrap();
    assert!(eventually(WAIT, || log.lock().unwrap().len() >= 15).await);
    assert_eq!(*log.lock().unwrap(), (6..=20).collect::<Vec<_>>());
    drop(from_seq);
    c.disconnect();

    // A second bridge for the time start (the first one remembers the
    // ids it dispatched and would drop them as redeliveries).
    let c2 = Bridge::connect(server.url(), Config::new("start").unwrap().node("c").unwrap())
        .await
        .unwrap();
    let (log, _c) = imported_log(&signal);
    let _from_time =
        c2.import_durable("dur-start.>", Durable::new().start(Start::Time(cut))).await.unwrap();
    assert!(eventually(WAIT, || log.lock().unwrap().len() >= 10).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*log.lock().unwrap(), (11..=20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_consumer_resumes_where_it_stopped() {
    static NS: Namespace = Namespace::new("dur-resume");
    let server = Server::start();
    let (a, b) = pair(&server, "resume", |c| c).await;
    let signal = wire_signal(&NS);
    let _export = a.export_durable("dur-resume.>").await.unwrap();
    let (log, _c) = imported_log(&signal);
    let durable = || Durable::new().consumer("resumer").unwrap();
    let import = b.import_durable("dur-resume.>", durable()).await.unwrap();
    for i in 1..=50 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || log.lock().unwrap().len() == 50).await);
    drop(import);
    // Acknowledgements travel after dispatch: let the last ones land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 51..=80 {
        signal.emit(i);
    }
    a.flush().await.unwrap();
    assert!(eventually(WAIT, || a.stats().exported == 80).await);
    // A new bridge (a restarted process: it remembers no ids) with the
    // same consumer goes on at 51.
    let b2 = Bridge::connect(server.url(), Config::new("resume").unwrap().node("b").unwrap())
        .await
        .unwrap();
    let _import = b2.import_durable("dur-resume.>", durable()).await.unwrap();
    assert!(eventually(WAIT, || log.lock().unwrap().len() >= 80).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*log.lock().unwrap(), (1..=80).collect::<Vec<_>>());
}
