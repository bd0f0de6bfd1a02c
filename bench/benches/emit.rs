//! Criterion benches of mesh's internals: `cargo bench -p mesh-bench --bench emit`.
//!
//! * `emit/{signal,publisher}/N`: one emit to N payload-only receivers;
//! * `envelope/*`: one receiver taking `&T` versus one taking `&Event<T>`
//!   (the envelope costs an id and a clock read);
//! * `churn/connect+disconnect/N`: connecting and disconnecting a receiver
//!   on a signal that already has N;
//! * `lookup/*`: finding a named signal again, by namespace and by name;
//! * `extras/*`: one payload-only receiver, plain, with one pass-through
//!   middleware, with a history of 1024, and with both (what the features
//!   cost when used, and that a signal without them pays nothing);
//! * `ordered/*`: an uncontended ordered emit (the turn's two
//!   compare-and-swaps) through `Signal::emit`, a publisher and a
//!   `#[signal]` type;
//! * `cache/*`: `Signal::emit` and a `#[signal]` type's `.emit()` through
//!   the per-thread snapshot cache: a hit, and emits alternating over more
//!   signals than the cache has slots (every emit a miss);
//! * `changed/*`: an emit right after the receivers changed (a
//!   connect/disconnect pair per emit), through `Signal::emit` and a
//!   publisher.
//!
//! The side-by-side comparison with other crates is the `compare` bench
//! next to this one (see BENCHMARKS.md).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mesh::{Event, Namespace, Signal, registry};

/// What every receiver adds to: a relaxed load and store, as in `compare`.
static SINK: AtomicU64 = AtomicU64::new(0);

fn receiver(i: u64) -> impl Fn(&u64) + Send + Sync + 'static {
    move |ev: &u64| SINK.store(SINK.load(Relaxed).wrapping_add(ev + i), Relaxed)
}

fn signal_with(n: u64) -> Signal<u64> {
    let s = Signal::new();
    for i in 0..n {
        s.connect(receiver(i));
    }
    s
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("emit");
    for n in [0u64, 1, 8, 64] {
        let s = signal_with(n);
        g.bench_with_input(BenchmarkId::new("signal", n), &n, |b, _| {
            b.iter(|| s.emit(black_box(1)));
        });
        let mut p = s.publisher();
        g.bench_with_input(BenchmarkId::new("publisher", n), &n, |b, _| {
            b.iter(|| p.emit(black_box(1)));
        });
    }
    g.finish();
}

fn envelope(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope");
    let payload = signal_with(1);
    let envelope = Signal::<u64>::new();
    envelope.connect(|ev: &Event<u64>| {
        SINK.store(SINK.load(Relaxed).wrapping_add(ev.data), Relaxed);
    });
    g.bench_function("payload-only", |b| b.iter(|| payload.emit(black_box(1))));
    g.bench_function("envelope", |b| b.iter(|| envelope.emit(black_box(1))));
    let (mut pp, mut pe) = (payload.publisher(), envelope.publisher());
    g.bench_function("publisher/payload-only", |b| b.iter(|| pp.emit(black_box(1))));
    g.bench_function("publisher/envelope", |b| b.iter(|| pe.emit(black_box(1))));
    g.bench_function("emit_from/payload-only", |b| {
        b.iter(|| payload.emit_from("bench", black_box(1)));
    });
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    for n in [0u64, 8, 64] {
        let s = signal_with(n);
        g.bench_with_input(BenchmarkId::new("connect+disconnect", n), &n, |b, _| {
            b.iter(|| s.connect(receiver(n)).disconnect());
        });
        g.bench_with_input(BenchmarkId::new("scoped", n), &n, |b, _| {
            b.iter(|| drop(s.connect_scoped(receiver(n))));
        });
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    static NS: Namespace = Namespace::new("bench.lookup");
    let mut g = c.benchmark_group("lookup");
    // A registry with some company: 256 signals besides the one looked up.
    for i in 0..256 {
        NS.signal::<u64>(&format!("other{i}")).expect("valid name");
    }
    NS.signal::<u64>("target").expect("valid name");
    g.bench_function("namespace.signal", |b| {
        b.iter(|| NS.signal::<u64>(black_box("target")).expect("registered"));
    });
    g.bench_function("registry::lookup", |b| {
        b.iter(|| registry::lookup(black_box("bench.lookup.target")).expect("registered"));
    });
    g.bench_function("registry::lookup+downcast", |b| {
        b.iter(|| {
            registry::lookup(black_box("bench.lookup.target"))
                .and_then(|r| r.downcast::<u64>())
                .expect("registered")
        });
    });
    g.finish();
}

fn extras(c: &mut Criterion) {
    let mut g = c.benchmark_group("extras");
    g.measurement_time(std::time::Duration::from_secs(3));
    let plain = signal_with(1);
    let with_middleware = signal_with(1);
    with_middleware.add_middleware(|_: &mut Event<u64>| mesh::middleware::Flow::Continue);
    let with_history = signal_with(1);
    with_history.set_history_capacity(1024);
    let with_both = signal_with(1);
    with_both.add_middleware(|_: &mut Event<u64>| mesh::middleware::Flow::Continue);
    with_both.set_history_capacity(1024);
    for (name, s) in [
        ("plain", &plain),
        ("one-middleware", &with_middleware),
        ("history-1024", &with_history),
        ("middleware+history", &with_both),
    ] {
        g.bench_function(name, |b| b.iter(|| s.emit(black_box(1))));
    }
    g.finish();
}

mesh::namespace!(BENCH = "bench");

/// A `#[signal]` type for the static form.
#[mesh::signal(namespace = BENCH, name = "criterion.tick")]
#[derive(Clone, Copy, Debug)]
struct Tick(u64);

/// An ordered `#[signal]` type.
#[mesh::signal(namespace = BENCH, name = "criterion.ordered", ordered)]
#[derive(Clone, Copy, Debug)]
struct OrderedTick(u64);

fn ordered(c: &mut Criterion) {
    use mesh::EventType;
    let mut g = c.benchmark_group("ordered");
    let s = Signal::with_config(mesh::SignalConfig::new().ordered());
    s.connect(receiver(0));
    g.bench_function("signal", |b| b.iter(|| s.emit(black_box(1))));
    let mut p = s.publisher();
    g.bench_function("publisher", |b| b.iter(|| p.emit(black_box(1))));
    let _guard = OrderedTick::signal().connect_scoped(|ev: &OrderedTick| {
        SINK.store(SINK.load(Relaxed).wrapping_add(ev.0), Relaxed);
    });
    g.bench_function("static", |b| b.iter(|| OrderedTick(black_box(1)).emit()));
    g.finish();
}

fn cache(c: &mut Criterion) {
    use mesh::EventType;
    let mut g = c.benchmark_group("cache");
    let s = signal_with(1);
    g.bench_function("signal/hit", |b| b.iter(|| s.emit(black_box(1))));
    let _guard = Tick::signal().connect_scoped(|ev: &Tick| {
        SINK.store(SINK.load(Relaxed).wrapping_add(ev.0), Relaxed);
    });
    g.bench_function("static/hit", |b| b.iter(|| Tick(black_box(1)).emit()));
    // More signals than slots, emitted round robin: some share a slot, so
    // those emits miss and reload.
    let many: Vec<_> = (0..64).map(|_| signal_with(1)).collect();
    let mut i = 0;
    g.bench_function("signal/64-signals-round-robin", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            many[i].emit(black_box(1))
        })
    });
    g.finish();
}

fn changed(c: &mut Criterion) {
    let mut g = c.benchmark_group("changed");
    let s = signal_with(8);
    g.bench_function("signal/connect+disconnect+emit", |b| {
        b.iter(|| {
            s.connect(receiver(8)).disconnect();
            s.emit(black_box(1))
        })
    });
    let mut p = s.publisher();
    g.bench_function("publisher/connect+disconnect+emit", |b| {
        b.iter(|| {
            s.connect(receiver(8)).disconnect();
            p.emit(black_box(1))
        })
    });
    g.finish();
}

criterion_group!(benches, emit, envelope, churn, lookup, extras, ordered, cache, changed);
criterion_main!(benches);
