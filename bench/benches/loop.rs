//! One emit form in a loop, for counting instructions per emit with
//! `valgrind --tool=callgrind` (repeatable whatever else the machine does,
//! unlike times on these shared cores). BENCHMARKS.md quotes its counts.
//!
//! ```sh
//! cargo bench -p mesh-bench --bench loop --no-run        # prints the binary's path
//! valgrind --tool=callgrind target/release/deps/loop-<hash> signal 1000000
//! ```
//!
//! Forms (the first argument): `signal`, `publisher`, `static` (one
//! payload-only receiver), `envelope` (`Signal::emit` to one `&Event<T>`
//! receiver), `ordered` (`Signal::emit` on an ordered signal, one
//! receiver), `receiver` (an event type's `.emit()` to one `#[receiver]`
//! function, where `static` connects a closure), `signal0`, `publisher0`, `static0` (no receiver);
//! `pattern` (`Signal::emit` on a named signal to one
//! `subscribe_pattern` subscriber, to set beside `envelope`);
//! and, to split the envelope's cost into its parts, `clock`
//! (`SystemTime::now()` alone), `id` (`Event::new`: the clock read and a
//! fresh id) and `rmw` (an uncontended `AtomicU64::fetch_add`, what the
//! envelope's `seq` costs);
//! any form followed by `+stats` runs with emit counting on
//! (`introspect::set_stats`). The second
//! argument is the number of emits (default 1,000,000). The program's own
//! setup is the same for every form, so the difference between two forms'
//! totals over the number of emits is the difference per emit. Without
//! arguments (`cargo bench` passes `--bench`) it runs every form briefly
//! and prints ns per emit.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use mesh::{Event, EventType, Signal, SignalConfig};

static SINK: AtomicU64 = AtomicU64::new(0);

mesh::namespace!(LOOP = "loop");

/// The static form's event type.
#[mesh::signal(namespace = LOOP, name = "tick")]
#[derive(Clone, Copy, Debug)]
struct Tick(u64);

/// The `receiver` form's event type.
#[mesh::signal(namespace = LOOP, name = "beat")]
#[derive(Clone, Copy, Debug)]
struct Beat(u64);

#[mesh::receiver]
fn on_beat(b: &Beat) {
    add(b.0);
}

fn add(x: u64) {
    SINK.store(SINK.load(Relaxed).wrapping_add(x), Relaxed);
}

/// Runs `k` emits of `form` (`<form>+stats`: with emit counting on).
fn run(form: &str, k: u64) {
    let form = match form.strip_suffix("+stats") {
        Some(form) => {
            mesh::introspect::set_stats(true);
            form
        }
        None => form,
    };
    match form {
        "clock" => {
            for _ in 0..k {
                black_box(std::time::SystemTime::now());
            }
            return;
        }
        "id" => {
            for _ in 0..k {
                black_box(Event::new(black_box(1u64)));
            }
            return;
        }
        "rmw" => {
            let n = AtomicU64::new(0);
            for _ in 0..k {
                black_box(n.fetch_add(1, Relaxed));
            }
            return;
        }
        _ => {}
    }
    let s = match form {
        "ordered" => Signal::<u64>::with_config(SignalConfig::new().ordered()),
        "pattern" => LOOP.signal::<u64>("pattern.s").expect("a new name"),
        _ => Signal::<u64>::new(),
    };
    let _sub = (form == "pattern").then(|| {
        mesh::subscribe_pattern("loop.pattern.*", |ev: &mesh::AnyEvent| {
            if let Some(x) = ev.downcast_ref::<u64>() {
                add(*x);
            }
        })
        .expect("a valid pattern")
    });
    let _guard = match form {
        "envelope" => Some(s.connect_scoped(|ev: &Event<u64>| add(ev.data))),
        "signal0" | "publisher0" | "static0" | "pattern" => None,
        "static" => {
            let g = Tick::signal().connect_scoped(|t: &Tick| add(t.0));
            Some(g)
        }
        _ => Some(s.connect_scoped(|x: &u64| add(*x))),
    };
    let mut p = s.publisher();
    match form {
        "publisher" | "publisher0" => {
            for _ in 0..k {
                p.emit(black_box(1));
            }
        }
        "static" | "static0" => {
            for _ in 0..k {
                Tick(black_box(1)).emit();
            }
        }
        "receiver" => {
            for _ in 0..k {
                Beat(black_box(1)).emit();
            }
        }
        _ => {
            for _ in 0..k {
                s.emit(black_box(1));
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if let Some(form) = args.first() {
        let k = args.get(1).map_or(1_000_000, |k| k.parse().expect("a number of emits"));
        run(form, k);
        return;
    }
    let forms = [
        "signal",
        "publisher",
        "static",
        "envelope",
        "ordered",
        "receiver",
        "signal0",
        "publisher0",
        "static0",
        "pattern",
        "clock",
        "id",
        "rmw",
    ];
    for form in forms {
        let k = 2_000_000;
        let start = Instant::now();
        run(form, k);
        println!("{form}: {:.2} ns per emit", start.elapsed().as_nanos() as f64 / k as f64);
    }
    black_box(SINK.load(Relaxed));
}
