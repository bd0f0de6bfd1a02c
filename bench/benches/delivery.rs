//! Queued and async delivery against its peers (issue 10, targets A1–A5),
//! side by side in one run: each round runs every contender of a scenario
//! once, back to back, and each target is judged on the per-round ratios
//! (median and quartiles), as `compare` does.
//!
//! ```sh
//! cargo bench -p mesh-bench --bench delivery                     # 31 rounds
//! MESH_BENCH_QUICK=1 cargo bench -p mesh-bench --bench delivery  # 9 rounds
//! cargo bench -p mesh-bench --bench delivery -- queued 1000000  # for callgrind
//! ```
//!
//! * A1 / A2: emit to 1 / 8 queued payload subscribers, each drained with
//!   `try_recv` on the same thread, against tokio `broadcast` (send, then
//!   `try_recv` on each receiver).
//! * A3: a synchronous emitter thread to 1 async subscriber task on
//!   another thread (blocking policy, capacity 1024), against
//!   `async-channel` (`send_blocking`, `recv().await`).
//! * A4: the same to 4 subscriber tasks (each gets every event), against 4
//!   `flume` channels the emitter sends to in turn.
//! * A5: a lossy queue (drop oldest, capacity 1024) whose consumer is ~10×
//!   slower than the emitter: the emitter's cost per event against tokio
//!   `broadcast` (which overwrites the oldest too), and the drop counts
//!   checked against what the consumer missed.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mesh::delivery::{Overflow, Queue, Shutdown};
use mesh::{Event, Signal};
use mesh_test_support::block_on;

#[derive(Clone, Copy)]
struct Tick(u64);

// ----- statistics --------------------------------------------------------------

#[path = "spread.rs"]
mod spread;
use spread::rounds;

/// ns per event of `k` events.
fn per_event(d: Duration, k: u64) -> f64 {
    d.as_nanos() as f64 / k as f64
}

// ----- A1 / A2: same-thread drain ---------------------------------------------

fn mesh_same_thread(n: usize, k: u64) -> f64 {
    let s = Signal::<Tick>::new();
    let mut subs: Vec<_> =
        (0..n).map(|_| s.subscribe(Queue::bounded(1024).payload_only())).collect();
    let start = Instant::now();
    for i in 0..k {
        s.emit(Tick(i));
        for sub in &mut subs {
            black_box(sub.try_recv().unwrap().data.0);
        }
    }
    per_event(start.elapsed(), k)
}

fn broadcast_same_thread(n: usize, k: u64) -> f64 {
    let (tx, _) = tokio::sync::broadcast::channel::<Tick>(1024);
    let mut rxs: Vec<_> = (0..n).map(|_| tx.subscribe()).collect();
    let start = Instant::now();
    for i in 0..k {
        tx.send(Tick(i)).ok();
        for rx in &mut rxs {
            black_box(rx.try_recv().unwrap().0);
        }
    }
    per_event(start.elapsed(), k)
}

// ----- A3 / A4: emitter thread to async tasks ----------------------------------

fn mesh_to_tasks(n: usize, k: u64) -> f64 {
    let s = Signal::<Tick>::new();
    let got = Arc::new(AtomicU64::new(0));
    let mut runners = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..n {
        let got = got.clone();
        let (handle, driver) = s.connect_async(
            Queue::bounded(1024).overflow(Overflow::block()).payload_only(),
            move |ev: Arc<Event<Tick>>| {
                got.fetch_add(1, Ordering::Relaxed);
                black_box(ev.data.0);
                std::future::ready(())
            },
        );
        handles.push(handle);
        runners.push(thread::spawn(move || block_on(driver)));
    }
    let start = Instant::now();
    for i in 0..k {
        s.emit(Tick(i));
    }
    for h in &handles {
        h.disconnect(Shutdown::Drain);
    }
    for r in runners {
        r.join().unwrap();
    }
    let t = per_event(start.elapsed(), k);
    assert_eq!(got.load(Ordering::Relaxed), n as u64 * k, "mesh tasks: received");
    t
}

fn async_channel_to_task(k: u64) -> f64 {
    let (tx, rx) = async_channel::bounded::<Tick>(1024);
    let runner = thread::spawn(move || {
        block_on(async move {
            let mut n = 0u64;
            while let Ok(t) = rx.recv().await {
                black_box(t.0);
                n += 1;
            }
            n
        })
    });
    let start = Instant::now();
    for i in 0..k {
        tx.send_blocking(Tick(i)).unwrap();
    }
    drop(tx);
    let n = runner.join().unwrap();
    let t = per_event(start.elapsed(), k);
    assert_eq!(n, k, "async-channel: received");
    t
}

fn flume_to_tasks(n: usize, k: u64) -> f64 {
    let mut txs = Vec::new();
    let mut runners = Vec::new();
    for _ in 0..n {
        let (tx, rx) = flume::bounded::<Tick>(1024);
        txs.push(tx);
        runners.push(thread::spawn(move || {
            block_on(async move {
                let mut n = 0u64;
                while let Ok(t) = rx.recv_async().await {
                    black_box(t.0);
                    n += 1;
                }
                n
            })
        }));
    }
    let start = Instant::now();
    for i in 0..k {
        for tx in &txs {
            tx.send(Tick(i)).unwrap();
        }
    }
    drop(txs);
    let got: u64 = runners.into_iter().map(|r| r.join().unwrap()).sum();
    let t = per_event(start.elapsed(), k);
    assert_eq!(got, n as u64 * k, "flume: received");
    t
}

// ----- A5: lossy under overload -------------------------------------------------

/// ~`ns` of work on the consumer per event.
fn slow(ns: u64) {
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Emitter ns per event; checks that what the consumer missed is what the
/// queue counted as dropped.
fn mesh_lossy(k: u64, consumer_ns: u64) -> f64 {
    let s = Signal::<Tick>::new();
    let mut sub = s.subscribe(Queue::bounded(1024).overflow(Overflow::DropOldest).payload_only());
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(2));
    let consumer = {
        let (stop, ready) = (stop.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            let mut seen = 0u64;
            loop {
                match sub.try_recv() {
                    Ok(ev) => {
                        black_box(ev.data.0);
                        seen += 1;
                        slow(consumer_ns);
                    }
                    Err(_) if stop.load(Ordering::Acquire) => break,
                    Err(_) => std::hint::spin_loop(),
                }
            }
            (seen, sub.stats())
        })
    };
    ready.wait();
    let start = Instant::now();
    let mut dropped = 0u64;
    for i in 0..k {
        dropped += u64::from(s.emit(Tick(i)).dropped);
    }
    let t = per_event(start.elapsed(), k);
    stop.store(true, Ordering::Release);
    let (seen, st) = consumer.join().unwrap();
    assert_eq!(st.offered, k, "mesh lossy: offered");
    assert_eq!(st.dropped, dropped, "the emits' counts are the queue's");
    assert_eq!(seen + st.dropped + st.len as u64, k, "every event seen or counted as dropped");
    t
}

fn broadcast_lossy(k: u64, consumer_ns: u64) -> f64 {
    let (tx, mut rx) = tokio::sync::broadcast::channel::<Tick>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(2));
    let consumer = {
        let (stop, ready) = (stop.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            let (mut seen, mut lagged) = (0u64, 0u64);
            loop {
                match rx.try_recv() {
                    Ok(t) => {
                        black_box(t.0);
                        seen += 1;
                        slow(consumer_ns);
                    }
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => lagged += n,
                    Err(_) if stop.load(Ordering::Acquire) => break,
                    Err(_) => std::hint::spin_loop(),
                }
            }
            (seen, lagged)
        })
    };
    ready.wait();
    let start = Instant::now();
    for i in 0..k {
        tx.send(Tick(i)).ok();
    }
    let t = per_event(start.elapsed(), k);
    stop.store(true, Ordering::Release);
    // The peer's own counts are not checked: only its emitter is timed.
    let _ = consumer.join().unwrap();
    t
}

// ----- the run -----------------------------------------------------------------------

/// `queued <k>`: k emits to one payload-only queued subscriber, each
/// drained with `try_recv`, for counting instructions per event with
/// callgrind (its own binary: a second call site of `Signal::emit` in the
/// `loop` bench changes how that bench's loop is inlined).
fn queued_loop(k: u64) {
    let s = Signal::<u64>::new();
    let mut sub = s.subscribe(Queue::bounded(1024).payload_only());
    let mut sum = 0u64;
    for _ in 0..k {
        s.emit(black_box(1));
        sum += sub.try_recv().map_or(0, |ev| ev.data);
    }
    black_box(sum);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("queued") {
        let k = args.get(1).map_or(1_000_000, |k| k.parse().expect("a number of events"));
        queued_loop(k);
        return;
    }
    let quick = std::env::var_os("MESH_BENCH_QUICK").is_some();
    // `MESH_BENCH_ONLY=A3,A5`: only those targets (for profiling).
    let only = std::env::var("MESH_BENCH_ONLY").ok();
    let wanted = |id: &str| only.as_deref().is_none_or(|o| o.split(',').any(|w| w == id));
    let n_rounds = if quick { 9 } else { 31 };
    let k = if quick { 50_000 } else { 200_000 };
    let started = Instant::now();
    println!("delivery bench: {n_rounds} interleaved rounds, {k} events per contender per round");
    let mut lines = Vec::new();

    if wanted("A1") {
        let (a1, m1, p1) =
            rounds(n_rounds, || mesh_same_thread(1, k), || broadcast_same_thread(1, k));
        lines.push(format!(
            "A1 {} <= 1.0x tokio broadcast, 1 queued subscriber drained on the emitting thread: {a1} (mesh {m1:.1} ns, broadcast {p1:.1} ns per event)",
            a1.verdict(1.0).word()
        ));
    }
    if wanted("A2") {
        let (a2, m2, p2) =
            rounds(n_rounds, || mesh_same_thread(8, k), || broadcast_same_thread(8, k));
        lines.push(format!(
            "A2 {} <= 1.0x tokio broadcast, 8 queued subscribers drained on the emitting thread: {a2} (mesh {m2:.1} ns, broadcast {p2:.1} ns per event)",
            a2.verdict(1.0).word()
        ));
    }
    if wanted("A3") {
        let (a3, m3, p3) = rounds(n_rounds, || mesh_to_tasks(1, k), || async_channel_to_task(k));
        lines.push(format!(
            "A3 {} <= 1.0x async-channel, emitter thread to 1 async task, blocking, capacity 1024: {a3} (mesh {m3:.1} ns, async-channel {p3:.1} ns per event)",
            a3.verdict(1.0).word()
        ));
    }
    if wanted("A4") {
        let (a4, m4, p4) =
            rounds(n_rounds, || mesh_to_tasks(4, k / 4), || flume_to_tasks(4, k / 4));
        lines.push(format!(
            "A4 {} <= 1.0x flume, emitter thread to 4 async tasks (each gets every event): {a4} (mesh {m4:.1} ns, flume {p4:.1} ns per event)",
            a4.verdict(1.0).word()
        ));
    }
    if wanted("A5") {
        // The consumer's work per event: ~10x what the emitter spends.
        let emitter_ns = mesh_same_thread(1, k / 10).max(10.0);
        let consumer_ns = (emitter_ns * 10.0) as u64;
        let (a5, m5, p5) =
            rounds(n_rounds, || mesh_lossy(k, consumer_ns), || broadcast_lossy(k, consumer_ns));
        lines.push(format!(
            "A5 {} <= 1.0x tokio broadcast, emitter cost under overload (drop oldest, consumer {consumer_ns} ns per event), drop counts checked: {a5} (mesh {m5:.1} ns, broadcast {p5:.1} ns per event)",
            a5.verdict(1.0).word()
        ));
    }
    for l in &lines {
        println!("{l}");
    }
    println!("({:.0} s)", started.elapsed().as_secs_f64());
}
