//! Introspection's costs (issue 13):
//!
//! * `introspect::topology()` over 1,000 signals with 5,000 receivers
//!   (≤ 2 ms): the median and quartiles of 31 snapshots;
//! * **O2** emit counting on, one thread: each emit form users write
//!   (`Signal::emit`, an event type's `.emit()`, `Publisher::emit`) to one
//!   receiver costs at most 2 ns more than with counting off;
//! * **O3** counting on, two publisher threads on one signal: ≤ 1.3x the
//!   same with counting off.
//!
//! Off, an emit's instructions are unchanged (counted with callgrind, see
//! BENCHMARKS.md): that is O1. Rounds interleave off and on.
//!
//! ```text
//! cargo bench -p mesh-bench --bench introspect
//! ```

#[path = "spread.rs"]
mod spread;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use mesh::{EventType, Namespace, Signal, introspect};
use spread::Spread;

static NS: Namespace = Namespace::new("bench-intro");
static SINK: AtomicU64 = AtomicU64::new(0);

mesh::namespace!(STATS = "bench-stats");

/// The event type of the `.emit()` form.
#[mesh::signal(namespace = STATS, name = "tick")]
#[derive(Clone, Copy, Debug)]
struct Tick(u64);

fn quick() -> bool {
    std::env::var("MESH_BENCH_QUICK").is_ok_and(|v| v != "0")
}

fn topology() {
    let mut connections = Vec::new();
    for i in 0..1_000 {
        let s = NS.signal::<u64>(&format!("g{}.s{i}", i % 10)).unwrap();
        for _ in 0..5 {
            connections.push(s.connect(|_: &u64| {}));
        }
    }
    let mut ms = Vec::new();
    let mut receivers = 0;
    for _ in 0..31 {
        let start = Instant::now();
        let t = introspect::topology();
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        receivers = t.signals.iter().map(|s| s.receivers.len()).sum::<usize>();
        black_box(t);
    }
    let s = Spread::of(ms);
    println!(
        "topology {} <= 2 ms with 1,000 signals and 5,000 receivers: {:.3} ms [{:.3}–{:.3}] ({receivers} receivers read)",
        s.verdict(2.0).word(),
        s.median,
        s.q1,
        s.q3
    );
    drop(connections);
}

#[derive(Clone, Copy)]
enum Form {
    Signal,
    Static,
    Publisher,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Signal => "Signal::emit",
            Form::Static => "#[signal] .emit()",
            Form::Publisher => "Publisher",
        }
    }
}

/// ns per emit of `n` emits in `form` on this thread.
fn run(form: Form, signal: &Signal<u64>, n: u64) -> f64 {
    let start = Instant::now();
    match form {
        Form::Signal => {
            for i in 0..n {
                black_box(signal.emit(black_box(i)));
            }
        }
        Form::Static => {
            for i in 0..n {
                black_box(Tick(black_box(i)).emit());
            }
        }
        Form::Publisher => {
            let mut p = signal.publisher();
            for i in 0..n {
                black_box(p.emit(black_box(i)));
            }
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// ns per emit with two threads emitting `n` each at once.
fn run_two(form: Form, signal: &Signal<u64>, n: u64) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| run(form, signal, n));
        }
    });
    start.elapsed().as_nanos() as f64 / (2 * n) as f64
}

fn counting() {
    let (rounds, n) = if quick() { (7, 200_000) } else { (21, 1_000_000) };
    let signal = NS.signal::<u64>("counted").unwrap();
    let _r = signal.connect(|x: &u64| {
        SINK.fetch_add(*x, Ordering::Relaxed);
    });
    let _t = Tick::signal().connect(|x: &Tick| {
        SINK.fetch_add(x.0, Ordering::Relaxed);
    });
    let forms = [Form::Signal, Form::Static, Form::Publisher];
    let mut extra = vec![Vec::new(); 3];
    let mut two = vec![Vec::new(); 3];
    let mut base = vec![Vec::new(); 3];
    for round in 0..rounds {
        for (f, &form) in forms.iter().enumerate() {
            let measure = |on: bool| {
                introspect::set_stats(on);
                let one = run(form, &signal, n);
                let pair = run_two(form, &signal, n / 2);
                (one, pair)
            };
            // Alternate which goes first.
            let ((off1, off2), (on1, on2)) = if round % 2 == 0 {
                let off = measure(false);
                (off, measure(true))
            } else {
                let on = measure(true);
                (measure(false), on)
            };
            introspect::set_stats(false);
            extra[f].push(on1 - off1);
            two[f].push(on2 / off2);
            base[f].push(off1);
        }
    }
    let mut o2 = Vec::new();
    let mut o3 = Vec::new();
    for (f, form) in forms.iter().enumerate() {
        let e = Spread::of(extra[f].clone());
        let t = Spread::of(two[f].clone());
        o2.push(format!(
            "{} +{:.2} ns [{:.2}–{:.2}] over {:.2} ns {}",
            form.name(),
            e.median,
            e.q1,
            e.q3,
            Spread::of(base[f].clone()).median,
            e.verdict(2.0).word()
        ));
        o3.push(format!("{} {t} {}", form.name(), t.verdict(1.3).word()));
    }
    let worst = |v: &Vec<Vec<f64>>, limit: f64| {
        v.iter().map(|x| Spread::of(x.clone()).verdict(limit)).max().unwrap().word()
    };
    println!(
        "O2 {} <= +2 ns per emit with counting on, one thread, one receiver ({})",
        worst(&extra, 2.0),
        o2.join(", ")
    );
    println!(
        "O3 {} <= 1.3x with counting on, two publisher threads ({})",
        worst(&two, 1.3),
        o3.join(", ")
    );
    println!(
        "({rounds} interleaved rounds of {n} emits per form and setting; sink {})",
        SINK.load(Ordering::Relaxed) % 10
    );
}

fn main() {
    topology();
    counting();
}
