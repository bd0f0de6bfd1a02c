//! The NATS bridge against raw `async-nats` (issue 12), through a local
//! server this benchmark starts itself (the one `./scripts/test`
//! installs, or `$MESH_NATS_SERVER`):
//!
//! * **N1** throughput, live mode: events emitted on a local signal,
//!   exported by one bridge and imported by another (two clients, as two
//!   processes would have), against a raw client publishing the same
//!   serialized messages (the bridge's own headers and body, made once)
//!   to a raw subscriber. Per round: messages per second from the first
//!   publish to the last receipt. Target ≥ 0.9x raw.
//! * **N2** latency, live mode: one event at a time, emit to receipt,
//!   against raw publish to receipt. Target p50 ≤ 1.1x raw; p99 reported.
//! * **N3** durable mode (JetStream): throughput and latency beside live.
//!
//! Rounds interleave the contenders; each figure is the median over
//! rounds with its quartiles. `MESH_BENCH_QUICK=1` for a short run.
//!
//! ```text
//! cargo bench -p mesh-bench --bench nats
//! ```

#[path = "spread.rs"]
mod spread;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mesh::{Event, Namespace, Signal};
use mesh_nats::async_nats;
use mesh_nats::{Bridge, Config, Durable, ORIGIN_KEY};
use mesh_test_support::nats::Server;
use spread::Spread;
use tokio::sync::mpsc;

static BENCH: Namespace = Namespace::new("bench");

struct Sizes {
    rounds: usize,
    events: u64,
    pings: usize,
    durable_events: u64,
    durable_pings: usize,
}

fn sizes() -> Sizes {
    let quick = std::env::var("MESH_BENCH_QUICK").is_ok_and(|v| v != "0");
    if quick {
        Sizes { rounds: 3, events: 20_000, pings: 300, durable_events: 2_000, durable_pings: 100 }
    } else {
        Sizes {
            rounds: 9,
            events: 200_000,
            pings: 2_000,
            durable_events: 10_000,
            durable_pings: 500,
        }
    }
}

fn main() {
    let sizes = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(sizes));
}

/// The bridge's message for a `u64` payload, made once, for the raw
/// contender to publish as is.
async fn sample(server: &Server) -> (async_nats::HeaderMap, bytes::Bytes) {
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("sample.>").await.unwrap();
    round_trip(&client).await;
    let bridge = Bridge::connect(server.url(), Config::new("sample").unwrap()).await.unwrap();
    let signal = BENCH.signal::<u64>("sample").unwrap();
    signal.serde_payloads();
    let _export = bridge.export("bench.sample").unwrap();
    signal.emit(123_456_789);
    bridge.flush().await.unwrap();
    let m = sub.next().await.unwrap();
    (m.headers.unwrap(), m.payload)
}

async fn round_trip(client: &async_nats::Client) {
    client.flush().await.unwrap();
    let _ = client.request("_INBOX.bench.round-trip", bytes::Bytes::new()).await;
}

/// Raw: publish `n` copies of the message, count them at a subscriber.
async fn raw_throughput(
    server: &Server,
    n: u64,
    msg: &(async_nats::HeaderMap, bytes::Bytes),
) -> f64 {
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let subscriber = async_nats::ConnectOptions::new()
        .subscription_capacity(n as usize + 1)
        .connect(server.url())
        .await
        .unwrap();
    let mut sub = subscriber.subscribe("rawtp.x").await.unwrap();
    round_trip(&subscriber).await;
    let counted = tokio::spawn(async move {
        let mut seen = 0;
        while seen < n {
            if sub.next().await.is_none() {
                break;
            }
            seen += 1;
        }
        Instant::now()
    });
    let start = Instant::now();
    for _ in 0..n {
        publisher.publish_with_headers("rawtp.x", msg.0.clone(), msg.1.clone()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(60), counted).await.unwrap().unwrap();
    n as f64 / (end - start).as_secs_f64()
}

/// Two bridges, one signal; the importer's receiver counts what came
/// from the exporter.
struct Pair {
    a: Bridge,
    _b: Bridge,
    signal: Signal<u64>,
    _export: mesh_nats::Export,
    _import: mesh_nats::Import,
}

async fn pair(server: &Server, prefix: &str, name: &str, durable: bool, buffer: u64) -> Pair {
    let config = |node: &str| {
        Config::new(prefix).unwrap().node(node).unwrap().export_buffer(buffer as usize + 1)
    };
    let options = || async_nats::ConnectOptions::new().subscription_capacity(buffer as usize + 1);
    let a = Bridge::connect_with(options(), server.url(), config("a")).await.unwrap();
    let b = Bridge::connect_with(options(), server.url(), config("b")).await.unwrap();
    let signal = BENCH.signal::<u64>(name).unwrap();
    signal.serde_payloads();
    let pattern = format!("bench.{name}");
    let (export, import) = if durable {
        let e = a.export_durable(&pattern).await.unwrap();
        let i = b.import_durable(&pattern, Durable::new().max_ack_pending(10_000)).await.unwrap();
        (e, i)
    } else {
        (a.export(&pattern).unwrap(), b.import(&pattern).await.unwrap())
    };
    Pair { a, _b: b, signal, _export: export, _import: import }
}

/// Counts imported events (the exporter's own emits are local).
fn count_imported(signal: &Signal<u64>) -> (Arc<AtomicU64>, mesh::ScopedConnection) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let conn = signal.connect(move |ev: &Event<u64>| {
        if ev.metadata.contains_key(ORIGIN_KEY) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    (count, conn.scoped())
}

async fn wait_for(count: &AtomicU64, n: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(120);
    while count.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "only {} of {n} arrived", count.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Instant::now()
}

async fn mesh_throughput(server: &Server, round: usize, n: u64, durable: bool) -> f64 {
    let name = format!("tp{}{round}", if durable { "d" } else { "l" });
    let p = pair(server, &format!("tp{round}{}", u8::from(durable)), &name, durable, n).await;
    let (count, _c) = count_imported(&p.signal);
    let start = Instant::now();
    for i in 0..n {
        p.signal.emit(i);
    }
    let end = wait_for(&count, n).await;
    assert_eq!(p.a.stats().lost_buffer_full, 0);
    n as f64 / (end - start).as_secs_f64()
}

/// Latencies (µs) of `pings` raw messages, one at a time.
async fn raw_latency(
    server: &Server,
    pings: usize,
    msg: &(async_nats::HeaderMap, bytes::Bytes),
) -> Vec<f64> {
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let subscriber = async_nats::connect(server.url()).await.unwrap();
    let mut sub = subscriber.subscribe("rawlat.x").await.unwrap();
    round_trip(&subscriber).await;
    let mut out = Vec::with_capacity(pings);
    for _ in 0..pings {
        let t = Instant::now();
        // No flush: the bridge does not flush per event either; the client
        // writes what it holds as soon as its connection task runs.
        publisher.publish_with_headers("rawlat.x", msg.0.clone(), msg.1.clone()).await.unwrap();
        sub.next().await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out
}

/// Latencies (µs) of `pings` events through two bridges, one at a time.
async fn mesh_latency(server: &Server, round: usize, pings: usize, durable: bool) -> Vec<f64> {
    let name = format!("lat{}{round}", if durable { "d" } else { "l" });
    let p = pair(server, &format!("lat{round}{}", u8::from(durable)), &name, durable, 16).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _c = p
        .signal
        .connect(move |ev: &Event<u64>| {
            if ev.metadata.contains_key(ORIGIN_KEY) {
                let _ = tx.send(());
            }
        })
        .scoped();
    let mut out = Vec::with_capacity(pings);
    for i in 0..pings {
        let t = Instant::now();
        p.signal.emit(i as u64);
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

async fn run(sizes: Sizes) {
    let server = Server::start();
    let msg = sample(&server).await;
    let (mut tp_raw, mut tp_mesh, mut tp_durable) = (Vec::new(), Vec::new(), Vec::new());
    let (mut p50_raw, mut p50_mesh, mut p50_durable) = (Vec::new(), Vec::new(), Vec::new());
    let (mut p99_raw, mut p99_mesh, mut p99_durable) = (Vec::new(), Vec::new(), Vec::new());
    let (mut n1, mut n2) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for round in 0..sizes.rounds {
        // Alternate which contender goes first.
        let (raw, mesh) = if round % 2 == 0 {
            let raw = raw_throughput(&server, sizes.events, &msg).await;
            (raw, mesh_throughput(&server, round, sizes.events, false).await)
        } else {
            let mesh = mesh_throughput(&server, round, sizes.events, false).await;
            (raw_throughput(&server, sizes.events, &msg).await, mesh)
        };
        tp_raw.push(raw);
        tp_mesh.push(mesh);
        n1.push(mesh / raw);
        tp_durable.push(mesh_throughput(&server, round, sizes.durable_events, true).await);

        let raw = raw_latency(&server, sizes.pings, &msg).await;
        let live = mesh_latency(&server, round, sizes.pings, false).await;
        let durable = mesh_latency(&server, round, sizes.durable_pings, true).await;
        let (r50, l50) = (percentile(raw.clone(), 0.5), percentile(live.clone(), 0.5));
        p50_raw.push(r50);
        p50_mesh.push(l50);
        n2.push(l50 / r50);
        p99_raw.push(percentile(raw, 0.99));
        p99_mesh.push(percentile(live, 0.99));
        p50_durable.push(percentile(durable.clone(), 0.5));
        p99_durable.push(percentile(durable, 0.99));
    }
    let m = |v: &Vec<f64>| Spread::of(v.clone()).median;
    let n1 = Spread::of(n1);
    // N1 is a floor: met when even the lower quartile is at or above it.
    let n1_verdict = if n1.q1 >= 0.9 {
        "met"
    } else if n1.q3 < 0.9 {
        "missed"
    } else {
        "within noise"
    };
    println!(
        "N1 {n1_verdict} >= 0.9x raw async-nats throughput, live mode: {n1} (mesh {:.0} msg/s, raw {:.0} msg/s; {} events per round)",
        m(&tp_mesh),
        m(&tp_raw),
        sizes.events
    );
    let n2 = Spread::of(n2);
    println!(
        "N2 {} p50 latency <= 1.1x raw, live mode: {n2} (mesh p50 {:.1} µs, raw p50 {:.1} µs; p99 mesh {:.1} µs, raw {:.1} µs; {} pings per round)",
        n2.verdict(1.1).word(),
        m(&p50_mesh),
        m(&p50_raw),
        m(&p99_mesh),
        m(&p99_raw),
        sizes.pings
    );
    println!(
        "N3 reported durable mode (JetStream): {:.0} msg/s ({} events per round), latency p50 {:.1} µs, p99 {:.1} µs; live beside it: {:.0} msg/s, p50 {:.1} µs, p99 {:.1} µs",
        m(&tp_durable),
        sizes.durable_events,
        m(&p50_durable),
        m(&p99_durable),
        m(&tp_mesh),
        m(&p50_mesh),
        m(&p99_mesh)
    );
    println!("({} interleaved rounds in {:.0?})", sizes.rounds, started.elapsed());
}
