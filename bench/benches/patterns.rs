//! Pattern subscriptions, W1–W5 of issue 11, measured in one run:
//!
//! ```text
//! cargo bench -p mesh-bench --bench patterns                    # full
//! MESH_BENCH_QUICK=1 cargo bench -p mesh-bench --bench patterns # quick
//! ```
//!
//! * **W1** emit on a signal no pattern matches, with 1,000 patterns live,
//!   against the same emit with none: the patterns are subscribed and
//!   dropped every other batch, in interleaved rounds, for each emit form
//!   (`Signal::emit`, an event type's `.emit()`, `Publisher::emit`).
//! * **W2** emit on a signal whose one receiver is a pattern subscriber
//!   (`&AnyEvent`), against a signal whose one receiver is a typed
//!   envelope receiver (`&Event<T>`) doing the same work; both need the
//!   envelope. The ratio to a payload receiver (`&T`) is printed too.
//! * **W3** `subscribe_pattern` with 10,000 other signals registered: a
//!   pattern with a literal prefix (`w3.g7.*`) and one starting with a
//!   wildcard (`*.g7.*`, which looks at every name); 100 matches each.
//! * **W4** making a named signal while 1,000 patterns are live.
//! * **W5** memory per (pattern, signal) attachment, as the allocator's
//!   usable size: one pattern over 1,000 signals.
//!
//! Verdicts as in the other benches (`spread.rs`): met when the upper
//! quartile over the rounds is within the limit, missed when the lower
//! quartile is beyond it, otherwise within noise.

use std::hint::black_box;
use std::time::Instant;

use mesh::prelude::*;
use mesh::{AnyEvent, Connection};

#[path = "spread.rs"]
mod spread;
use spread::{Spread, rounds};

#[path = "counting.rs"]
mod counting;
use counting::bytes_per;

static W1: Namespace = Namespace::new("wb1");
static W2A: Namespace = Namespace::new("wb2a");
static W2T: Namespace = Namespace::new("wb2t");
static W3: Namespace = Namespace::new("w3");
static W5: Namespace = Namespace::new("w5");

#[signal(name = "wb1.event")]
pub struct Unmatched(u64);

#[signal(name = "wb2a.sig.event")]
pub struct AnyMatched(u64);

#[signal(name = "wb2t.event")]
pub struct TypedMatched(u64);

#[signal(name = "wb2t.payload-event")]
pub struct PayloadMatched(u64);

/// 1,000 patterns in a realistic mix (literal prefixes, `*` in the
/// middle, `>` tails, leading wildcards), none matching `wb*` names.
fn patterns() -> Vec<String> {
    (0..1000)
        .map(|i| match i % 4 {
            0 => format!("app{}.svc{i}.*", i % 20),
            1 => format!("app{}.svc{i}.>", i % 20),
            2 => format!("*.svc{i}.done"),
            _ => format!("app{}.*.evt{i}", i % 20),
        })
        .collect()
}

fn subscribe_all(patterns: &[String]) -> Vec<Connection> {
    patterns
        .iter()
        .map(|p| {
            mesh::subscribe_pattern(p, |ev: &AnyEvent| {
                black_box(ev.seq());
            })
            .unwrap()
        })
        .collect()
}

/// Nanoseconds per call of `f` over `k` calls.
fn ns_per(k: u64, mut f: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..k {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / k as f64
}

fn line(id: &str, what: &str, limit: f64, s: Spread, detail: String) -> String {
    format!("{id} {} <= {limit}x {what}: {s} ({detail})", s.verdict(limit).word())
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let quick = !benching || std::env::var_os("MESH_BENCH_QUICK").is_some_and(|v| v != "0");
    let n_rounds = if !benching {
        3
    } else if quick {
        11
    } else {
        31
    };
    let k: u64 = if !benching {
        1_000
    } else if quick {
        200_000
    } else {
        1_000_000
    };
    let started = Instant::now();
    println!("patterns bench: {n_rounds} interleaved rounds, {k} emits per form per batch");
    let pats = patterns();
    let mut lines = Vec::new();

    // ----- W1 -----
    let s1 = W1.signal::<u64>("plain").unwrap();
    s1.connect(|x: &u64| {
        black_box(x);
    });
    Unmatched::signal().connect(|x: &Unmatched| {
        black_box(x.0);
    });
    let p1 = std::cell::RefCell::new(s1.publisher());
    type Form<'a> = (&'a str, Box<dyn Fn(u64) + 'a>);
    let forms: Vec<Form<'_>> = vec![
        (
            "Signal::emit",
            Box::new(|i| {
                s1.emit(black_box(i));
            }),
        ),
        (
            "#[signal] .emit()",
            Box::new(|i| {
                Unmatched(black_box(i)).emit();
            }),
        ),
        (
            "Publisher::emit",
            Box::new(|i| {
                p1.borrow_mut().emit(black_box(i));
            }),
        ),
    ];
    for (form, emit) in &forms {
        let (ratio, with, without) = rounds(
            n_rounds,
            || {
                let live = subscribe_all(&pats);
                let ns = ns_per(k, emit);
                live.into_iter().for_each(|c| {
                    c.disconnect();
                });
                ns
            },
            || ns_per(k, emit),
        );
        lines.push(line(
            "W1",
            &format!("emit with 1,000 patterns live vs none, unmatched signal, {form}"),
            1.02,
            ratio,
            format!("{with:.2} ns vs {without:.2} ns"),
        ));
    }

    // ----- W2 -----
    let any = W2A.signal::<u64>("plain").unwrap();
    let typed = W2T.signal::<u64>("plain").unwrap();
    let payload = W2T.signal::<u64>("payload").unwrap();
    let _sub = mesh::subscribe_pattern("wb2a.*", |ev: &AnyEvent| {
        black_box(ev.downcast_ref::<u64>());
    })
    .unwrap();
    let _sub_sig = mesh::subscribe_pattern("wb2a.sig.*", |ev: &AnyEvent| {
        black_box(ev.downcast_ref::<AnyMatched>().map(|x| x.0));
    })
    .unwrap();
    typed.connect(|ev: &Event<u64>| {
        black_box(&ev.data);
    });
    payload.connect(|x: &u64| {
        black_box(x);
    });
    TypedMatched::signal().connect(|ev: &Event<TypedMatched>| {
        black_box(ev.data.0);
    });
    PayloadMatched::signal().connect(|x: &PayloadMatched| {
        black_box(x.0);
    });
    // `Publisher::emit` takes `&mut self`: a `RefCell` each (the same
    // borrow on both sides of every ratio).
    let cell = |s: &Signal<u64>| std::cell::RefCell::new(s.publisher());
    let (pa, pt, pp) = (cell(&any), cell(&typed), cell(&payload));
    type Pair<'a> = (&'a str, Box<dyn Fn(u64) + 'a>, Box<dyn Fn(u64) + 'a>, Box<dyn Fn(u64) + 'a>);
    let pairs: Vec<Pair<'_>> = vec![
        (
            "Signal::emit",
            Box::new(|i| {
                any.emit(black_box(i));
            }),
            Box::new(|i| {
                typed.emit(black_box(i));
            }),
            Box::new(|i| {
                payload.emit(black_box(i));
            }),
        ),
        (
            "#[signal] .emit()",
            Box::new(|i| {
                AnyMatched(black_box(i)).emit();
            }),
            Box::new(|i| {
                TypedMatched(black_box(i)).emit();
            }),
            Box::new(|i| {
                PayloadMatched(black_box(i)).emit();
            }),
        ),
        (
            "Publisher::emit",
            Box::new(|i| {
                pa.borrow_mut().emit(black_box(i));
            }),
            Box::new(|i| {
                pt.borrow_mut().emit(black_box(i));
            }),
            Box::new(|i| {
                pp.borrow_mut().emit(black_box(i));
            }),
        ),
    ];
    for (form, a, t, p) in &pairs {
        let (ratio, ma, mt) = rounds(n_rounds, || ns_per(k, a), || ns_per(k, t));
        let (to_payload, _, mp) = rounds(n_rounds.min(11), || ns_per(k, a), || ns_per(k, p));
        lines.push(line(
            "W2",
            &format!("one pattern subscriber vs one &Event<T> receiver, {form}"),
            1.1,
            ratio,
            format!(
                "{ma:.2} ns vs {mt:.2} ns; vs a &T receiver {to_payload} ({mp:.2} ns): the envelope"
            ),
        ));
    }

    // ----- W3 -----
    let w3_signals: Vec<_> =
        (0..100).flat_map(|g| (0..100).map(move |s| format!("g{g}.s{s}"))).collect();
    for name in &w3_signals {
        W3.signal::<u64>(name).unwrap();
    }
    let reps = if benching { 200 } else { 5 };
    for pattern in ["w3.g7.*", "*.g7.*"] {
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let sub = mesh::subscribe_pattern(pattern, |_: &AnyEvent| {}).unwrap();
            times.push(t.elapsed().as_nanos() as f64 / 1000.0);
            assert_eq!(mesh::registry::pattern_attachments(&sub), Some(100));
            sub.disconnect();
        }
        let s = Spread::of(times);
        lines.push(format!(
            "W3 {} <= 250 µs subscribe_pattern(\"{pattern}\") with 10,000 signals registered, 100 matched: {:.1} µs [{:.1}–{:.1}]",
            s.verdict(250.0).word(),
            s.median,
            s.q1,
            s.q3
        ));
    }

    // ----- W4 -----
    let m = if benching { 2000 } else { 50 };
    let mut with_live = Vec::new();
    let mut without = Vec::new();
    for r in 0..n_rounds {
        let names: Vec<String> = (0..m).map(|j| format!("app{}.svc{j}.made{r}", j % 20)).collect();
        let base: Vec<String> = (0..m).map(|j| format!("app{}.svc{j}.base{r}", j % 20)).collect();
        let live = subscribe_all(&pats);
        let t = Instant::now();
        for n in &names {
            black_box(mesh::registry::lookup(n));
            black_box(W1.signal::<u64>(n).unwrap());
        }
        with_live.push(t.elapsed().as_nanos() as f64 / m as f64 / 1000.0);
        live.into_iter().for_each(|c| {
            c.disconnect();
        });
        let t = Instant::now();
        for n in &base {
            black_box(mesh::registry::lookup(n));
            black_box(W1.signal::<u64>(n).unwrap());
        }
        without.push(t.elapsed().as_nanos() as f64 / m as f64 / 1000.0);
    }
    let (w, wo) = (Spread::of(with_live), Spread::of(without));
    lines.push(format!(
        "W4 {} <= 5 µs making a named signal with 1,000 patterns live: {:.2} µs [{:.2}–{:.2}] (with none live: {:.2} µs)",
        w.verdict(5.0).word(),
        w.median,
        w.q1,
        w.q3,
        wo.median
    ));

    // ----- W5 -----
    // Two counts: attaching to signals that already have a receiver (the
    // attachment's own cost: its slot, one more snapshot entry, its entry
    // in the subscription's list), and to idle signals, where the
    // attachment is the first receiver and brings the signal's first
    // receiver list with it.
    let busy: Vec<_> = (0..1000)
        .map(|i| {
            let s = W5.signal::<u64>(&format!("busy.s{i}")).unwrap();
            s.connect(|x: &u64| {
                black_box(x);
            });
            s
        })
        .collect();
    let idle: Vec<_> =
        (0..1000).map(|i| W5.signal::<u64>(&format!("idle.s{i}")).unwrap()).collect();
    let (per, sub) =
        bytes_per(1000, || mesh::subscribe_pattern("w5.busy.*", |_: &AnyEvent| {}).unwrap());
    assert_eq!(mesh::registry::pattern_attachments(&sub), Some(busy.len()));
    let (per_idle, sub_idle) =
        bytes_per(1000, || mesh::subscribe_pattern("w5.idle.*", |_: &AnyEvent| {}).unwrap());
    assert_eq!(mesh::registry::pattern_attachments(&sub_idle), Some(idle.len()));
    lines.push(format!(
        "W5 {} <= 128 B memory per (pattern, signal) attachment (usable bytes, one pattern over 1,000 signals that have a receiver): {per:.0} B (over 1,000 idle signals, where it is the first receiver: {per_idle:.0} B)",
        if per <= 128.0 { "met" } else { "missed" }
    ));

    for l in &lines {
        println!("{l}");
    }
    println!("patterns bench: {:.0} s", started.elapsed().as_secs_f64());
}
