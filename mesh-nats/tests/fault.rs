//! The fault test: the NATS server is killed with SIGKILL in the middle
//! of a stream of 30,000 events and restarted on the same port and store
//! two seconds later.
//!
//! * Durable mode: every event reaches the importer's receivers exactly
//!   once (checked by id), in the order it was emitted.
//! * Live mode: events are lost (core NATS is at-most-once), and every
//!   loss is reported: the events that never arrived are at most what the
//!   exporter reported lost plus the gaps the importer reported.
//!
//! Two bridges in one process, node `a` exporting and node `b`
//! importing; receivers count only events imported from `a`. Each test
//! prints its figures (`cargo test -p mesh-nats --test fault -- --nocapture`).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesh::prelude::*;
use mesh::{Event, Signal};
use mesh_nats::report::{self, LossReason};
use mesh_nats::{Bridge, Config, Durable, ORIGIN_KEY};

use common::{Server, eventually, wire_signal};

const N: u64 = 30_000;
const OUTAGE: Duration = Duration::from_secs(2);

type Log = Arc<Mutex<Vec<(u64, uuid::Uuid)>>>;

fn imported_log(signal: &Signal<u64>) -> (Log, mesh::Connection) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let connection = signal.connect(move |ev: &Event<u64>| {
        if ev.metadata.get(ORIGIN_KEY) == Some("a") {
            sink.lock().unwrap().push((ev.data, ev.id));
        }
    });
    (log, connection)
}

/// The pair of these tests: publishes retried through any outage.
async fn pair(server: &Server, prefix: &str) -> (Bridge, Bridge) {
    common::pair(server, prefix, |c| c.retry_for(Duration::from_secs(120))).await
}

/// Kills the server once `ready()`, restarts it after [`OUTAGE`];
/// returns how long it was down.
async fn kill_when(server: &mut Server, ready: impl Fn() -> bool) -> Duration {
    assert!(eventually(Duration::from_secs(60), ready).await, "the stream never got going");
    server.kill();
    let down = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    server.restart();
    down.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_mode_delivers_exactly_once_in_order_across_a_server_kill() {
    static NS: Namespace = Namespace::new("fault-durable");
    let mut server = Server::start();
    let (a, b) = pair(&server, "fdur").await;
    let signal = wire_signal(&NS);
    let (log, _c) = imported_log(&signal);
    let _export = a.export_durable("fault-durable.>").await.unwrap();
    let _import = b
        .import_durable("fault-durable.>", Durable::new().consumer("fault").unwrap())
        .await
        .unwrap();

    let started = Instant::now();
    for i in 1..=N {
        signal.emit(i);
    }
    let outage = kill_when(&mut server, || a.stats().exported >= N / 3).await;
    let arrived =
        eventually(Duration::from_secs(120), || log.lock().unwrap().len() as u64 >= N).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // anything more would be a duplicate
    let log = log.lock().unwrap().clone();
    let ids: HashSet<_> = log.iter().map(|(_, id)| *id).collect();
    let (sa, sb) = (a.stats(), b.stats());
    eprintln!(
        "durable: sent {N}, delivered {}, distinct ids {}, outage {:?}, total {:?}; \
         exporter retried {}, lost {}; importer dropped {} redeliveries, rejected {}, \
         disconnects a {} b {}",
        log.len(),
        ids.len(),
        outage,
        started.elapsed(),
        sa.retried,
        sa.lost_buffer_full + sa.lost_publish_failed,
        sb.duplicates,
        sb.import_rejected,
        sa.disconnects,
        sb.disconnects,
    );
    assert!(arrived, "only {} of {N} arrived", log.len());
    assert_eq!(log.len() as u64, N, "exactly once");
    assert_eq!(ids.len() as u64, N, "no id twice");
    assert!(log.iter().map(|(n, _)| *n).eq(1..=N), "in emit order");
    assert!(sa.disconnects >= 1 && sb.disconnects >= 1, "the kill was seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_reports_every_loss_across_a_server_kill() {
    static NS: Namespace = Namespace::new("fault-live");
    let mut server = Server::start();
    let (a, b) = pair(&server, "flive").await;
    let signal = wire_signal(&NS);
    let (log, _c) = imported_log(&signal);
    let exporter_lost = Arc::new(Mutex::new(0u64));
    let sink = exporter_lost.clone();
    let _reports = report::lost().connect(move |l: &report::Lost| {
        if l.subject == "flive.fault-live.n" && l.reason != LossReason::Gap {
            *sink.lock().unwrap() += l.count;
        }
    });
    let _export = a.export("fault-live.>").unwrap();
    let _import = b.import("fault-live.>").await.unwrap();

    // A paced stream on a thread of its own, so the kill lands inside it.
    let emitter = {
        let signal = signal.clone();
        std::thread::spawn(move || {
            for i in 1..=N {
                signal.emit(i);
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let outage = kill_when(&mut server, || log.lock().unwrap().len() as u64 >= N / 3).await;
    emitter.join().unwrap();
    // After the stream, markers until one arrives: a loss at the tail of
    // the stream shows as a gap only when a later event arrives.
    let mut marker = N;
    let got_marker = eventually(Duration::from_secs(60), || {
        if log.lock().unwrap().iter().any(|(n, _)| *n > N) {
            return true;
        }
        marker += 1;
        signal.emit(marker);
        false
    })
    .await;
    assert!(got_marker, "the bridge works again after the restart");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = log.lock().unwrap().clone();
    let delivered: HashSet<u64> = log.iter().map(|(n, _)| *n).filter(|n| *n <= N).collect();
    let lost = N - delivered.len() as u64;
    let (sa, sb) = (a.stats(), b.stats());
    let reported = *exporter_lost.lock().unwrap() + sb.gaps;
    eprintln!(
        "live: sent {N}, delivered {}, lost {lost}, reported: exporter {} + importer gaps {} \
         (late {}), outage {:?}, markers {}",
        delivered.len(),
        *exporter_lost.lock().unwrap(),
        sb.gaps,
        sb.late,
        outage,
        marker - N,
    );
    assert_eq!(log.iter().filter(|(n, _)| *n <= N).count(), delivered.len(), "none twice");
    assert!(reported >= lost, "every loss reported: lost {lost}, reported {reported}");
    assert_eq!(
        *exporter_lost.lock().unwrap(),
        sa.lost_buffer_full + sa.lost_publish_failed,
        "each exporter loss reported once"
    );
}

/// While the server is away, a durable export holds what its queue
/// bounds (`Config::export_buffer`) plus the one event being retried;
/// everything beyond is lost and reported. What was held arrives once the
/// server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_buffers_up_to_the_bound_and_reports_the_rest() {
    static NS: Namespace = Namespace::new("fault-bound");
    const SENT: u64 = 1_000;
    const BOUND: usize = 100;
    let mut server = Server::start();
    let config = |node: &str| {
        Config::new("fbound")
            .unwrap()
            .node(node)
            .unwrap()
            .export_buffer(BOUND)
            .retry_for(Duration::from_secs(120))
    };
    let a = Bridge::connect(server.url(), config("a")).await.unwrap();
    let b = Bridge::connect(server.url(), config("b")).await.unwrap();
    let signal = wire_signal(&NS);
    let (log, _c) = imported_log(&signal);
    let reported = Arc::new(Mutex::new(0u64));
    let sink = reported.clone();
    let _reports = report::lost().connect(move |l: &report::Lost| {
        if l.subject == "fbound.fault-bound.n" && l.reason == LossReason::BufferFull {
            *sink.lock().unwrap() += l.count;
        }
    });
    let _export = a.export_durable("fault-bound.>").await.unwrap();
    let _import =
        b.import_durable("fault-bound.>", Durable::new().consumer("bound").unwrap()).await.unwrap();

    server.kill();
    for i in 1..=SENT {
        signal.emit(i);
    }
    let lost = a.stats().lost_buffer_full;
    tokio::time::sleep(OUTAGE).await;
    server.restart();
    let held = SENT - lost;
    assert!(
        eventually(Duration::from_secs(60), || log.lock().unwrap().len() as u64 >= held).await,
        "held {held}, arrived {}",
        log.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<u64> = log.lock().unwrap().iter().map(|(n, _)| *n).collect();
    eprintln!("bound {BOUND}: sent {SENT}, held {held}, lost {lost}, arrived {}", got.len());
    assert!(held <= BOUND as u64 + 1, "the queue plus the event in hand: {held}");
    assert!(held >= BOUND as u64, "the queue was full: {held}");
    assert_eq!(*reported.lock().unwrap(), lost, "each loss reported");
    // The queue fills with the first BOUND events; the publishing task
    // takes one out whenever it gets to run (at once, or only after more
    // were refused), and one later event takes that room.
    assert_eq!(got.len() as u64, held, "every held event arrives: {got:?}");
    assert!(got.iter().take(BOUND).copied().eq(1..=BOUND as u64), "the first {BOUND}: {got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in emit order, once: {got:?}");
    assert_eq!(a.stats().exported, held);
}
