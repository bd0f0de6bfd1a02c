//! # mesh against its peers, side by side
//!
//! One binary measures mesh and the crates a user would pick instead, in
//! the same run, so the *ratios* hold on a noisy machine even when the
//! absolute numbers drift. Run it from anywhere in the repository:
//!
//! ```sh
//! cargo bench -p mesh-bench --bench compare                     # full run, ~3 minutes
//! MESH_BENCH_QUICK=1 cargo bench -p mesh-bench --bench compare  # quick run, ~25 s
//! MESH_BENCH_ONLY=churn,N=64 cargo bench -p mesh-bench --bench compare  # some scenarios
//! ```
//!
//! A full run also writes `benchmarks/results.csv` (the data behind
//! `benchmarks/chart.svg`: `python3 scripts/chart.py`) and
//! `benchmarks/results.md` (the tables and target lines printed below),
//! under the repository root; `MESH_BENCH_OUT=dir` (relative to the
//! repository root) writes them elsewhere, and a quick run writes them only
//! when that is set.
//!
//! ## Method
//!
//! Every contender calls the same receivers: receiver `i` adds
//! `event.0 + i` to a counter, so the work per call is identical
//! everywhere. On one thread the counter is a static `AtomicU64` updated
//! with a relaxed load and store (no locked instruction); with two
//! publishers it is a thread-local `Cell<u64>`, so the two threads never
//! share a cache line through the work itself (a shared counter would
//! measure cache-line ping-pong, not dispatch). After every timed batch
//! the counters are checked against what the batch must have delivered,
//! so a contender that drops events fails loudly instead of looking fast.
//!
//! A scenario builds all its contenders, calibrates a batch size per
//! contender (a batch lasts about `batch` ms), runs one warm-up round, then
//! `rounds` rounds; within a round every contender runs one batch, in an
//! order rotated each round (interleaved, so a noisy second hurts all
//! contenders alike). Reported: median, min and max over the rounds of
//! ns per event, and the ratio of the medians to `direct`, the floor: the
//! fastest of three separately compiled copies of the direct loop (see
//! [`direct`] for why).
//!
//! ## Verdicts
//!
//! One line per target of issue 9, `P1` … `P8`, each judged for every
//! emit form users write: an event type's `.emit()` (`#[signal]`),
//! `Signal::emit` and `Publisher::emit`. A target's figure is computed per
//! round from the samples that ran side by side in that round (say
//! `mesh-signal / rwlock`), and summarised as the median over the rounds
//! with the quartiles: `1.04x [0.98–1.10]`. A form *meets* a target when
//! even its upper quartile is within it, *misses* it when even its lower
//! quartile is beyond it, and is *within noise* otherwise. The line's
//! verdict is the worst of its forms': met only if every form met.
//!
//! Under churn the churned receiver works on a counter of its own, so the
//! steady receivers' deliveries are checked after every batch like
//! everywhere else. Memory (`P8`) is counted as the allocator's usable size
//! of each live block (`malloc_usable_size` on Linux): what a block really
//! takes, not the bytes asked for.

use std::cell::Cell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use mesh::{Event, EventType, Namespace, ScopedConnection, Signal};
use signals2::{Connect1, Emit1};

// ----- the event and the receivers --------------------------------------

mesh::namespace!(BENCH = "bench");

/// The event every contender carries: a mesh event type (`#[signal]`), a
/// bevy event and message.
#[mesh::signal(namespace = BENCH, name = "tick")]
#[derive(Clone, Copy, Debug, bevy_ecs::event::Event, bevy_ecs::message::Message)]
struct Tick(u64);

/// A counter alone on its cache line.
#[repr(align(64))]
struct Padded<T>(T);

/// Where receivers work on one thread: a relaxed load and store (no
/// locked instruction), as cheap as a plain `u64`. Copy `c` of `direct`
/// works on `SINK[c]`, everyone else on `SINK[0]`: see [`direct`].
static SINK: [Padded<AtomicU64>; 3] =
    [Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0))];

thread_local! {
    /// Where receivers work with two publishers: per thread, so the
    /// publishers share no cache line through the work itself.
    static TLS_SINK: [Padded<Cell<u64>>; 3] =
        const { [Padded(Cell::new(0)), Padded(Cell::new(0)), Padded(Cell::new(0))] };
}

/// The sinks of this thread's scenario, summed.
fn sink<const TLS: bool>() -> u64 {
    if TLS {
        TLS_SINK.with(|s| s.iter().fold(0u64, |a, c| a.wrapping_add(c.0.get())))
    } else {
        SINK.iter().fold(0u64, |a, c| a.wrapping_add(c.0.load(Relaxed)))
    }
}

/// The work of receiver `i`, the same for every contender.
#[inline(always)]
fn work<const TLS: bool, const COPY: usize>(i: u64, ev: &Tick) {
    if TLS {
        TLS_SINK.with(|c| c[COPY].0.set(c[COPY].0.get().wrapping_add(ev.0 + i)));
    } else {
        let c = &SINK[COPY].0;
        c.store(c.load(Relaxed).wrapping_add(ev.0 + i), Relaxed);
    }
}

/// What a batch of `k` events must add to [`SINK`] with `n` receivers
/// (events carry 1).
fn expected(n: u64, k: u64) -> u64 {
    k * (n + n * n.saturating_sub(1) / 2)
}

/// Receiver `i` taking the payload (`TLS`: working on [`TLS_SINK`]).
fn receiver_on<const TLS: bool, const COPY: usize>(
    i: u64,
) -> impl Fn(&Tick) + Send + Sync + Clone + 'static {
    move |ev: &Tick| work::<TLS, COPY>(i, ev)
}

/// Receiver `i` taking the payload, one thread.
fn receiver(i: u64) -> impl Fn(&Tick) + Send + Sync + Clone + 'static {
    receiver_on::<false, 0>(i)
}

/// Where the churned receiver works: apart from [`SINK`], so the steady
/// receivers' deliveries are checked exactly while it comes and goes.
static CHURN_SINK: Padded<AtomicU64> = Padded(AtomicU64::new(0));

/// The receiver the churn thread connects and disconnects.
fn churn_receiver() -> impl Fn(&Tick) + Send + Sync + Clone + 'static {
    |ev: &Tick| {
        let c = &CHURN_SINK.0;
        c.store(c.load(Relaxed).wrapping_add(ev.0), Relaxed);
    }
}

/// Receiver `i` taking mesh's envelope.
fn env_receiver(i: u64) -> impl Fn(&Event<Tick>) + Send + Sync + 'static {
    move |ev: &Event<Tick>| work::<false, 0>(i, &ev.data)
}

type DynFn = dyn Fn(&Tick) + Send + Sync;

/// `direct`'s receivers: a `Vec<Box<dyn Fn(&Tick)>>` (`Send + Sync` so a
/// publisher thread can own it; the call is the same).
fn boxed_on<const TLS: bool, const COPY: usize>(n: u64) -> Vec<Box<DynFn>> {
    (0..n).map(|i| Box::new(receiver_on::<TLS, COPY>(i)) as Box<DynFn>).collect()
}

fn arced_on<const TLS: bool>(n: u64) -> Vec<Arc<DynFn>> {
    (0..n).map(|i| Arc::new(receiver_on::<TLS, 0>(i)) as Arc<DynFn>).collect()
}

fn arced(n: u64) -> Vec<Arc<DynFn>> {
    arced_on::<false>(n)
}

/// Times `k` events; `emit` gets each event.
#[inline(always)]
fn timed(k: u64, mut emit: impl FnMut(Tick)) -> Duration {
    let start = Instant::now();
    for _ in 0..k {
        emit(black_box(Tick(1)));
    }
    start.elapsed()
}

/// The names of the copies of `direct`; see [`direct`].
const DIRECTS: [&str; 3] = ["direct", "direct-2", "direct-3"];

/// `direct`, copy `COPY`: the floor, a `Vec<Box<dyn Fn(&Tick)>>` loop.
///
/// Where code lands in the binary moves its cost: on the machine these
/// numbers come from, the same call loop costs ~1.4 or ~1.65 ns per
/// receiver depending on whether the loop, or the receiver it calls,
/// straddles a 64-byte boundary (measured: the same source, built twice,
/// lands in either mode). So the floor is three separately compiled
/// copies of the same loop calling three separately compiled copies of
/// the same receiver (each works on its own `SINK[COPY]`, so the copies
/// differ and are not merged), and ratios are to the fastest copy: a slow
/// copy never flatters the others.
fn direct<const COPY: usize, const TLS: bool>(n: u64) -> impl FnMut(u64) -> Duration + Send {
    let direct = boxed_on::<TLS, COPY>(n);
    move |k| {
        black_box(COPY);
        timed(k, |ev| {
            for f in &direct {
                f(&ev);
            }
        })
    }
}

/// The fastest `direct` copy's median in `rows` of `scenario`.
fn floor(rows: &[Row], scenario: &str) -> f64 {
    rows.iter()
        .filter(|r| r.scenario == scenario && DIRECTS.contains(&r.contender))
        .map(|r| r.median)
        .fold(f64::NAN, f64::min)
}

// ----- mesh's handles ----------------------------------------------------

fn mesh_signal_on<const TLS: bool>(n: u64) -> Signal<Tick> {
    let s = Signal::new();
    for i in 0..n {
        s.connect(receiver_on::<TLS, 0>(i));
    }
    s
}

fn mesh_signal(n: u64) -> Signal<Tick> {
    mesh_signal_on::<false>(n)
}

fn static_guards_on<const TLS: bool>(n: u64) -> Vec<ScopedConnection> {
    assert_eq!(Tick::signal().receiver_count(), 0, "one static contender at a time");
    (0..n).map(|i| Tick::signal().connect_scoped(receiver_on::<TLS, 0>(i))).collect()
}

fn static_guards(n: u64) -> Vec<ScopedConnection> {
    static_guards_on::<false>(n)
}

// ----- harness -----------------------------------------------------------

struct Config {
    quick: bool,
    rounds: usize,
    batch: Duration,
}

/// Runs `k` events and returns how long they took.
type Runner = Box<dyn FnMut(u64) -> Duration>;

struct Contender {
    name: &'static str,
    run: Runner,
    /// Receivers per event, to check the sink; `None`: not checked.
    check: Option<u64>,
}

fn contender(name: &'static str, n: u64, run: impl FnMut(u64) -> Duration + 'static) -> Contender {
    Contender { name, run: Box::new(run), check: Some(n) }
}

#[derive(Clone)]
struct Row {
    scenario: String,
    n: u64,
    contender: &'static str,
    median: f64,
    min: f64,
    max: f64,
    ratio: f64,
    note: String,
    /// ns per event in each round, in round order: rounds are interleaved,
    /// so sample `r` of two contenders of one scenario ran side by side.
    samples: Vec<f64>,
}

/// A batch size that makes one batch of `run` last about `target`.
fn calibrate(target: Duration, mut run: impl FnMut(u64) -> Duration) -> u64 {
    let mut k = 16u64;
    loop {
        let d = run(k);
        if d >= target / 8 || k >= 1 << 32 {
            let scaled = (k as f64 * target.as_secs_f64() / d.as_secs_f64().max(1e-9)) as u64;
            return scaled.clamp(16, 1 << 34);
        }
        k *= 2;
    }
}

fn summarize(samples: &[f64]) -> (f64, f64, f64) {
    let mut samples = samples.to_vec();
    samples.sort_by(f64::total_cmp);
    let m = samples.len();
    let median =
        if m % 2 == 1 { samples[m / 2] } else { (samples[m / 2 - 1] + samples[m / 2]) / 2.0 };
    (median, samples[0], samples[m - 1])
}

/// One-thread scenario: interleaved rounds over `contenders`.
fn run_scenario(cfg: &Config, scenario: &str, n: u64, mut cs: Vec<Contender>) -> Vec<Row> {
    eprintln!("  {scenario}: {} contenders", cs.len());
    let ks: Vec<u64> = cs.iter_mut().map(|c| calibrate(cfg.batch, &mut c.run)).collect();
    let mut samples = vec![Vec::with_capacity(cfg.rounds); cs.len()];
    for round in 0..=cfg.rounds {
        for j in 0..cs.len() {
            let i = (j + round) % cs.len();
            let c = &mut cs[i];
            let before = sink::<false>();
            let d = (c.run)(ks[i]);
            if let Some(per) = c.check {
                let got = sink::<false>().wrapping_sub(before);
                assert_eq!(got, expected(per, ks[i]), "{scenario}: {} lost events", c.name);
            }
            // Round 0 is the warm-up.
            if round > 0 {
                samples[i].push(d.as_nanos() as f64 / ks[i] as f64);
            }
        }
    }
    rows(scenario, n, cs.iter().map(|c| c.name).collect(), samples, None)
}

fn rows(
    scenario: &str,
    n: u64,
    names: Vec<&'static str>,
    samples: Vec<Vec<f64>>,
    base_value: Option<f64>,
) -> Vec<Row> {
    let mut out: Vec<Row> = names
        .iter()
        .zip(samples)
        .map(|(&name, s)| {
            let (median, min, max) = summarize(&s);
            Row {
                scenario: scenario.to_owned(),
                n,
                contender: name,
                median,
                min,
                max,
                ratio: f64::NAN,
                note: String::new(),
                samples: s,
            }
        })
        .collect();
    let base = base_value.or_else(|| {
        let b = floor(&out, scenario);
        (!b.is_nan()).then_some(b)
    });
    if let Some(b) = base {
        for r in &mut out {
            r.ratio = r.median / b;
        }
    }
    out
}

// ----- scenario 1: N receivers, one thread ------------------------------

/// The three copies of the floor and the `rwlock` contender, one thread.
fn floor_and_rwlock(n: u64) -> Vec<Contender> {
    let mut cs = Vec::new();
    cs.push(contender(DIRECTS[0], n, direct::<0, false>(n)));
    cs.push(contender(DIRECTS[1], n, direct::<1, false>(n)));
    cs.push(contender(DIRECTS[2], n, direct::<2, false>(n)));
    let lock = RwLock::new(arced(n));
    cs.push(contender("rwlock", n, move |k| {
        timed(k, |ev| {
            for f in lock.read().expect("not poisoned").iter() {
                f(&ev);
            }
        })
    }));
    cs
}

fn one_thread(n: u64) -> Vec<Contender> {
    let mut cs = floor_and_rwlock(n);

    let swap = ArcSwap::from_pointee(arced(n));
    cs.push(contender("arc-swap", n, move |k| {
        timed(k, |ev| {
            for f in swap.load().iter() {
                f(&ev);
            }
        })
    }));

    let (tx, mut rxs) = {
        let (tx, _) = tokio::sync::broadcast::channel::<Tick>(16);
        let rxs: Vec<_> = (0..n).map(|i| (tx.subscribe(), receiver(i))).collect();
        (tx, rxs)
    };
    cs.push(contender("tokio-broadcast", n, move |k| {
        timed(k, |ev| {
            let _ = tx.send(ev);
            for (rx, f) in &mut rxs {
                while let Ok(ev) = rx.try_recv() {
                    f(&ev);
                }
            }
        })
    }));

    let sig2: signals2::Signal<(Tick,)> = signals2::Signal::new();
    for i in 0..n {
        let f = receiver(i);
        sig2.connect(move |ev: Tick| f(&ev));
    }
    cs.push(contender("signals2", n, move |k| {
        timed(k, |ev| {
            sig2.emit(ev);
        })
    }));

    let mut world = bevy_ecs::world::World::new();
    for i in 0..n {
        world.add_observer(move |ev: bevy_ecs::observer::On<Tick>| work::<false, 0>(i, &ev));
    }
    world.flush();
    cs.push(contender("bevy-observers", n, move |k| timed(k, |ev| world.trigger(ev))));

    let mut messages = bevy_ecs::message::Messages::<Tick>::default();
    let mut readers: Vec<_> = (0..n).map(|i| (messages.get_cursor(), receiver(i))).collect();
    let mut written = 0u64;
    cs.push(contender("bevy-messages", n, move |k| {
        timed(k, |ev| {
            messages.write(ev);
            for (cursor, f) in &mut readers {
                for ev in cursor.read(&messages) {
                    f(ev);
                }
            }
            // A frame boundary every 256 events keeps the buffers small,
            // as a schedule calling `update` each frame would.
            written += 1;
            if written % 256 == 0 {
                messages.update();
            }
        })
    }));

    let chans: Vec<_> = (0..n)
        .map(|i| {
            let (tx, rx) = crossbeam_channel::bounded::<Tick>(16);
            (tx, rx, receiver(i))
        })
        .collect();
    cs.push(contender("crossbeam-channel", n, move |k| {
        timed(k, |ev| {
            for (tx, _, _) in &chans {
                let _ = tx.send(ev);
            }
            for (_, rx, f) in &chans {
                while let Ok(ev) = rx.try_recv() {
                    f(&ev);
                }
            }
        })
    }));

    let signal = mesh_signal(n);
    cs.push(contender("mesh-signal", n, move |k| {
        timed(k, |ev| {
            signal.emit(ev);
        })
    }));

    let guards = static_guards(n);
    cs.push(contender("mesh-static", n, move |k| {
        let _keep = &guards;
        timed(k, |ev| {
            ev.emit();
        })
    }));

    let mut publisher = mesh_signal(n).publisher();
    cs.push(contender("mesh-publisher", n, move |k| {
        timed(k, |ev| {
            publisher.emit(ev);
        })
    }));
    cs
}

// ----- scenario 2: N = 8, two publisher threads --------------------------

/// Builds one thread's emitter: called on each publisher thread.
type Factory = Box<dyn Fn() -> Box<dyn FnMut(u64) -> Duration + Send> + Send + Sync>;

fn two_publishers(n: u64) -> Vec<(&'static str, Factory)> {
    let mut fs: Vec<(&'static str, Factory)> = Vec::new();
    // The floor: each thread calls its own receivers, nothing shared.
    fs.push((DIRECTS[0], Box::new(move || Box::new(direct::<0, true>(n)))));
    fs.push((DIRECTS[1], Box::new(move || Box::new(direct::<1, true>(n)))));
    fs.push((DIRECTS[2], Box::new(move || Box::new(direct::<2, true>(n)))));
    let lock = Arc::new(RwLock::new(arced_on::<true>(n)));
    fs.push((
        "rwlock",
        Box::new(move || {
            let lock = lock.clone();
            Box::new(move |k| {
                timed(k, |ev| {
                    for f in lock.read().expect("not poisoned").iter() {
                        f(&ev);
                    }
                })
            })
        }),
    ));
    let swap = Arc::new(ArcSwap::from_pointee(arced_on::<true>(n)));
    fs.push((
        "arc-swap",
        Box::new(move || {
            let swap = swap.clone();
            Box::new(move |k| {
                timed(k, |ev| {
                    for f in swap.load().iter() {
                        f(&ev);
                    }
                })
            })
        }),
    ));
    let sig2: signals2::Signal<(Tick,)> = signals2::Signal::new();
    for i in 0..n {
        let f = receiver_on::<true, 0>(i);
        sig2.connect(move |ev: Tick| f(&ev));
    }
    fs.push((
        "signals2",
        Box::new(move || {
            let sig2 = sig2.clone();
            Box::new(move |k| {
                timed(k, |ev| {
                    sig2.emit(ev);
                })
            })
        }),
    ));
    let signal = mesh_signal_on::<true>(n);
    let s = signal.clone();
    fs.push((
        "mesh-signal",
        Box::new(move || {
            let signal = s.clone();
            Box::new(move |k| {
                timed(k, |ev| {
                    signal.emit(ev);
                })
            })
        }),
    ));
    let guards = Arc::new(static_guards_on::<true>(n));
    fs.push((
        "mesh-static",
        Box::new(move || {
            let guards = guards.clone();
            Box::new(move |k| {
                let _keep = &guards;
                timed(k, |ev| {
                    ev.emit();
                })
            })
        }),
    ));
    fs.push((
        "mesh-publisher",
        Box::new(move || {
            let mut publisher = signal.publisher();
            Box::new(move |k| {
                timed(k, |ev| {
                    publisher.emit(ev);
                })
            })
        }),
    ));
    fs
}

/// Two threads, each emitting `k` events after a common start; ns per
/// event is the slower thread's time over `k`.
fn run_two_publishers(cfg: &Config, scenario: &str, n: u64) -> Vec<Row> {
    let fs = two_publishers(n);
    eprintln!("  {scenario}: {} contenders", fs.len());
    let ks: Vec<u64> = fs.iter().map(|(_, f)| calibrate(cfg.batch, f())).collect();
    let mut samples = vec![Vec::with_capacity(cfg.rounds); fs.len()];
    for round in 0..=cfg.rounds {
        for j in 0..fs.len() {
            let i = (j + round) % fs.len();
            let (name, factory) = &fs[i];
            let k = ks[i];
            let barrier = Barrier::new(2);
            let took = std::thread::scope(|s| {
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            let mut run = factory();
                            barrier.wait();
                            let before = sink::<true>();
                            let d = run(k);
                            assert_eq!(
                                sink::<true>().wrapping_sub(before),
                                expected(n, k),
                                "{scenario}: {name} lost events"
                            );
                            d
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().expect("publisher")).max().expect("two")
            });
            if round > 0 {
                samples[i].push(took.as_nanos() as f64 / k as f64);
            }
        }
    }
    rows(scenario, n, fs.iter().map(|(n, _)| *n).collect(), samples, None)
}

// ----- scenario 3: N = 8 under connect/disconnect churn -------------------

/// How fast the churn thread connects and disconnects.
#[derive(Clone, Copy)]
enum Rate {
    /// One cycle (a connect and a disconnect) every [`CYCLE`].
    Paced,
    /// As fast as it can.
    FlatOut,
}

/// The paced churn's cycle: one connect and one disconnect per 10 µs.
const CYCLE: Duration = Duration::from_micros(10);

/// Calls `change(connect)` until `stop`, alternating connect (`true`) and
/// disconnect (`false`), at `rate`; ends disconnected; returns how many
/// changes it made.
fn paced(stop: &AtomicBool, rate: Rate, mut change: impl FnMut(bool)) -> u64 {
    let period = CYCLE / 2;
    let mut done = 0u64;
    let mut due = Instant::now();
    while !stop.load(Relaxed) {
        match rate {
            Rate::FlatOut => {}
            Rate::Paced if Instant::now() >= due => due += period,
            Rate::Paced => {
                std::hint::spin_loop();
                continue;
            }
        }
        change(done % 2 == 0);
        done += 1;
    }
    if done % 2 == 1 {
        change(false);
        done += 1;
    }
    done
}

/// Churn thread body: alternately connects and disconnects a receiver.
type Churn = Box<dyn Fn(&AtomicBool) -> u64 + Send + Sync>;

fn churners(n: u64, rate: Rate) -> Vec<(Contender, Churn)> {
    let mut cs: Vec<(Contender, Churn)> = Vec::new();
    // The churned receiver works on its own sink: the `n` steady receivers'
    // deliveries are checked after every batch.
    let unchecked = |name, run: Runner| Contender { name, run, check: Some(n) };

    // Nothing to churn for a plain Vec: churn an unrelated list so the
    // other core is as busy as for the others.
    let dummy_churn = || -> Churn {
        let dummy = Arc::new(RwLock::new(arced(n)));
        Box::new(move |stop| {
            paced(stop, rate, |connect| {
                let mut v = dummy.write().expect("not poisoned");
                if connect {
                    v.push(Arc::new(churn_receiver()));
                } else {
                    v.pop();
                }
            })
        })
    };
    cs.push((unchecked(DIRECTS[0], Box::new(direct::<0, false>(n))), dummy_churn()));
    cs.push((unchecked(DIRECTS[1], Box::new(direct::<1, false>(n))), dummy_churn()));
    cs.push((unchecked(DIRECTS[2], Box::new(direct::<2, false>(n))), dummy_churn()));

    let lock = Arc::new(RwLock::new(arced(n)));
    let l = lock.clone();
    cs.push((
        unchecked(
            "rwlock",
            Box::new(move |k| {
                timed(k, |ev| {
                    for f in l.read().expect("not poisoned").iter() {
                        f(&ev);
                    }
                })
            }),
        ),
        Box::new(move |stop| {
            paced(stop, rate, |connect| {
                let mut v = lock.write().expect("not poisoned");
                if connect {
                    v.push(Arc::new(churn_receiver()));
                } else {
                    v.pop();
                }
            })
        }),
    ));

    let swap = Arc::new(ArcSwap::from_pointee(arced(n)));
    let s = swap.clone();
    cs.push((
        unchecked(
            "arc-swap",
            Box::new(move |k| {
                timed(k, |ev| {
                    for f in s.load().iter() {
                        f(&ev);
                    }
                })
            }),
        ),
        Box::new(move |stop| {
            paced(stop, rate, |connect| {
                swap.rcu(|v| {
                    let mut v = Vec::clone(v);
                    if connect {
                        v.push(Arc::new(churn_receiver()));
                    } else {
                        v.pop();
                    }
                    v
                });
            })
        }),
    ));

    let sig2: signals2::Signal<(Tick,)> = signals2::Signal::new();
    for i in 0..n {
        let f = receiver(i);
        sig2.connect(move |ev: Tick| f(&ev));
    }
    let s2 = sig2.clone();
    cs.push((
        unchecked(
            "signals2",
            Box::new(move |k| {
                timed(k, |ev| {
                    s2.emit(ev);
                })
            }),
        ),
        Box::new(move |stop| {
            let mut conn: Option<signals2::Connection> = None;
            paced(stop, rate, |connect| {
                if connect {
                    let f = churn_receiver();
                    conn = Some(sig2.connect(move |ev: Tick| f(&ev)));
                } else if let Some(c) = conn.take() {
                    c.disconnect();
                }
            })
        }),
    ));

    /// Churn body for a mesh signal.
    fn mesh_churn(signal: Signal<Tick>, rate: Rate) -> Churn {
        Box::new(move |stop| {
            let mut conn: Option<mesh::Connection> = None;
            paced(stop, rate, |connect| {
                if connect {
                    conn = Some(signal.connect(churn_receiver()));
                } else if let Some(c) = conn.take() {
                    c.disconnect();
                }
            })
        })
    }

    let signal = mesh_signal(n);
    let s = signal.clone();
    cs.push((
        unchecked(
            "mesh-signal",
            Box::new(move |k| {
                timed(k, |ev| {
                    s.emit(ev);
                })
            }),
        ),
        mesh_churn(signal, rate),
    ));

    let guards = static_guards(n);
    cs.push((
        unchecked(
            "mesh-static",
            Box::new(move |k| {
                let _keep = &guards;
                timed(k, |ev| {
                    ev.emit();
                })
            }),
        ),
        mesh_churn(Signal::clone(&Tick::signal()), rate),
    ));

    let signal = mesh_signal(n);
    let mut publisher = signal.publisher();
    cs.push((
        unchecked(
            "mesh-publisher",
            Box::new(move |k| {
                timed(k, |ev| {
                    publisher.emit(ev);
                })
            }),
        ),
        mesh_churn(signal, rate),
    ));
    cs
}

fn run_churn(cfg: &Config, scenario: &str, n: u64, rate: Rate) -> (Vec<Row>, f64) {
    let mut cs = churners(n, rate);
    eprintln!("  {scenario}: {} contenders", cs.len());
    let ks: Vec<u64> = cs.iter_mut().map(|(c, _)| calibrate(cfg.batch, &mut c.run)).collect();
    let mut samples = vec![Vec::with_capacity(cfg.rounds); cs.len()];
    let (mut changes, mut churn_time) = (0u64, Duration::ZERO);
    for round in 0..=cfg.rounds {
        for j in 0..cs.len() {
            let i = (j + round) % cs.len();
            let (c, churn) = &mut cs[i];
            let stop = AtomicBool::new(false);
            let started = AtomicBool::new(false);
            let (d, done, span) = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    started.store(true, Relaxed);
                    let t = Instant::now();
                    let done = churn(&stop);
                    (done, t.elapsed())
                });
                while !started.load(Relaxed) {
                    std::hint::spin_loop();
                }
                let before = sink::<false>();
                let d = (c.run)(ks[i]);
                if let Some(per) = c.check {
                    let got = sink::<false>().wrapping_sub(before);
                    assert_eq!(got, expected(per, ks[i]), "{scenario}: {} lost events", c.name);
                }
                stop.store(true, Relaxed);
                let (done, span) = h.join().expect("churn thread");
                (d, done, span)
            });
            if round > 0 {
                samples[i].push(d.as_nanos() as f64 / ks[i] as f64);
                changes += done;
                churn_time += span;
            }
        }
    }
    let names = cs.iter().map(|(c, _)| c.name).collect();
    let rate = changes as f64 / churn_time.as_secs_f64().max(1e-9);
    (rows(scenario, n, names, samples, None), rate)
}

// ----- scenario 4: ordered signals, N = 1 ----------------------------------

/// The ordered churn and ordered scenarios' names.
const CHURN_PACED: &str = "N=8, churn paced";
const CHURN_FLAT: &str = "N=8, churn flat out";
const ORDERED: &str = "ordered, N=1";

/// A second event type, for the static form of an envelope emit.
#[mesh::signal(namespace = BENCH, name = "tick.envelope")]
#[derive(Clone, Copy, Debug)]
struct EnvTick(u64);

/// An ordered event type, for the static form of an ordered emit.
#[mesh::signal(namespace = BENCH, name = "tick.ordered", ordered)]
#[derive(Clone, Copy, Debug)]
struct OrderedTick(u64);

/// Each form of an ordered emit (one publisher, so every emit finds the
/// signal idle and claims the dispatch), next to `rwlock` and the floor.
fn ordered(n: u64) -> Vec<Contender> {
    let mut cs = floor_and_rwlock(n);
    let ordered_signal = || {
        let s = Signal::with_config(mesh::SignalConfig::new().ordered());
        for i in 0..n {
            s.connect(receiver(i));
        }
        s
    };
    let signal = ordered_signal();
    cs.push(contender("mesh-signal", n, move |k| {
        timed(k, |ev| {
            signal.emit(ev);
        })
    }));
    let guards: Vec<_> = (0..n)
        .map(|i| {
            let f = receiver(i);
            OrderedTick::signal().connect_scoped(move |ev: &OrderedTick| f(&Tick(ev.0)))
        })
        .collect();
    cs.push(contender("mesh-static", n, move |k| {
        let _keep = &guards;
        timed(k, |ev| {
            OrderedTick(ev.0).emit();
        })
    }));
    let mut publisher = ordered_signal().publisher();
    cs.push(contender("mesh-publisher", n, move |k| {
        timed(k, |ev| {
            publisher.emit(ev);
        })
    }));
    cs
}

// ----- scenario 5: the envelope path, N = 1 -------------------------------

fn envelope(n: u64) -> Vec<Contender> {
    let mut cs = Vec::new();
    cs.push(contender(DIRECTS[0], n, direct::<0, false>(n)));
    cs.push(contender(DIRECTS[1], n, direct::<1, false>(n)));
    cs.push(contender(DIRECTS[2], n, direct::<2, false>(n)));
    let mut publisher = mesh_signal(n).publisher();
    cs.push(contender("mesh-publisher (payload)", n, move |k| {
        timed(k, |ev| {
            publisher.emit(ev);
        })
    }));
    let signal = mesh_signal(n);
    cs.push(contender("mesh-signal (payload)", n, move |k| {
        timed(k, |ev| {
            signal.emit(ev);
        })
    }));
    let guards = static_guards(n);
    cs.push(contender("mesh-static (payload)", n, move |k| {
        let _keep = &guards;
        timed(k, |ev| {
            ev.emit();
        })
    }));
    let env_signal = || {
        let s = Signal::new();
        for i in 0..n {
            s.connect(env_receiver(i));
        }
        s
    };
    let mut publisher = env_signal().publisher();
    cs.push(contender("mesh-publisher (envelope)", n, move |k| {
        timed(k, |ev| {
            publisher.emit(ev);
        })
    }));
    let signal = env_signal();
    cs.push(contender("mesh-signal (envelope)", n, move |k| {
        timed(k, |ev| {
            signal.emit(ev);
        })
    }));
    // Its own event type: `Tick`'s static signal has the payload
    // contender's receivers.
    let guards: Vec<_> = (0..n)
        .map(|i| {
            EnvTick::signal()
                .connect_scoped(move |ev: &Event<EnvTick>| work::<false, 0>(i, &Tick(ev.data.0)))
        })
        .collect();
    cs.push(contender("mesh-static (envelope)", n, move |k| {
        let _keep = &guards;
        timed(k, |ev| {
            EnvTick(ev.0).emit();
        })
    }));
    cs.push(Contender {
        name: "uuid now_v7 + clock",
        check: None,
        run: Box::new(|k| {
            let start = Instant::now();
            for _ in 0..k {
                black_box((uuid::Uuid::now_v7(), SystemTime::now()));
            }
            start.elapsed()
        }),
    });
    cs.push(Contender {
        name: "clock only",
        check: None,
        run: Box::new(|k| {
            let start = Instant::now();
            for _ in 0..k {
                black_box(SystemTime::now());
            }
            start.elapsed()
        }),
    });
    cs
}

// ----- P8: memory, with a counting allocator -------------------------------

#[path = "counting.rs"]
mod counting;
use counting::bytes_per;

struct Memory {
    named_signal: f64,
    anonymous_signal: f64,
    receiver: f64,
    receiver_zst: f64,
    envelope_receiver: f64,
    history_slot: f64,
}

fn memory() -> Memory {
    static MEM: Namespace = Namespace::new("bench.memory");
    const COUNT: usize = 1000;
    // Names are built before counting: they are the caller's.
    let names: Vec<String> = (0..COUNT).map(|i| format!("idle{i}")).collect();
    let (named_signal, signals) = bytes_per(COUNT, || {
        names.iter().map(|name| MEM.signal::<Tick>(name).expect("valid")).collect::<Vec<_>>()
    });
    // The Vec holding the handles is the caller's, not the signal's.
    let named_signal = named_signal - std::mem::size_of::<Signal<Tick>>() as f64;
    drop(signals);
    let (anonymous_signal, signals) =
        bytes_per(COUNT, || (0..COUNT).map(|_| Signal::<Tick>::new()).collect::<Vec<_>>());
    let anonymous_signal = anonymous_signal - std::mem::size_of::<Signal<Tick>>() as f64;
    drop(signals);
    let signal = Signal::<Tick>::new();
    let (receiver, conns) = bytes_per(COUNT, || {
        (0..COUNT as u64).map(|i| signal.connect(self::receiver(i))).collect::<Vec<_>>()
    });
    let receiver = receiver - std::mem::size_of::<mesh::Connection>() as f64;
    drop(conns);
    let signal = Signal::<Tick>::new();
    let (receiver_zst, conns) =
        bytes_per(COUNT, || (0..COUNT).map(|_| signal.connect(|_: &Tick| {})).collect::<Vec<_>>());
    let receiver_zst = receiver_zst - std::mem::size_of::<mesh::Connection>() as f64;
    drop(conns);
    let signal = Signal::<Tick>::new();
    let (envelope_receiver, conns) = bytes_per(COUNT, || {
        (0..COUNT as u64).map(|i| signal.connect(env_receiver(i))).collect::<Vec<_>>()
    });
    let envelope_receiver = envelope_receiver - std::mem::size_of::<mesh::Connection>() as f64;
    drop(conns);
    // A full ring: each slot holds one envelope (behind an `Arc`) and one
    // pointer in the ring; the ring's growth is amortised over the slots.
    let signal = Signal::<Tick>::with_config(mesh::SignalConfig::new().history(COUNT));
    signal.emit(Tick(0)); // allocates the signal's extras outside the count
    signal.clear_history();
    let (history_slot, ()) = bytes_per(COUNT, || {
        for i in 0..COUNT as u64 {
            signal.emit(Tick(i));
        }
    });
    Memory {
        named_signal,
        anonymous_signal,
        receiver,
        receiver_zst,
        envelope_receiver,
        history_slot,
    }
}

// ----- report --------------------------------------------------------------

fn find<'a>(rows: &'a [Row], scenario: &str, contender: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.scenario == scenario && r.contender == contender)
}

/// The emit forms users write, as (contender, label): a target is met only
/// if every one of them meets it.
const FORMS: [(&str, &str); 3] = [
    ("mesh-static", "#[signal]"),
    ("mesh-signal", "Signal::emit"),
    ("mesh-publisher", "Publisher"),
];
const PEERS: [&str; 7] = [
    "rwlock",
    "arc-swap",
    "tokio-broadcast",
    "signals2",
    "bevy-observers",
    "bevy-messages",
    "crossbeam-channel",
];

#[path = "spread.rs"]
mod spread;
use spread::{Spread, Verdict};

/// Per-round ratios `a[r] / b[r]` of two contenders of one scenario.
fn paired(rows: &[Row], scenario: &str, a: &str, b: &str) -> Spread {
    let (Some(a), Some(b)) = (find(rows, scenario, a), find(rows, scenario, b)) else {
        return Spread::of(Vec::new());
    };
    Spread::of(a.samples.iter().zip(&b.samples).map(|(x, y)| x / y).collect())
}

/// The `direct` copy with the lowest median in `scenario` (the floor).
fn floor_name(rows: &[Row], scenario: &str) -> &'static str {
    rows.iter()
        .filter(|r| r.scenario == scenario && DIRECTS.contains(&r.contender))
        .min_by(|a, b| a.median.total_cmp(&b.median))
        .map_or(DIRECTS[0], |r| r.contender)
}

/// One target line: each form's spread against its limit, the worst
/// verdict first.
fn line(id: &str, what: &str, parts: Vec<(String, Spread, f64)>) -> String {
    let worst =
        parts.iter().map(|(_, s, limit)| s.verdict(*limit)).max().unwrap_or(Verdict::Missed);
    let body = parts
        .iter()
        .map(|(label, s, limit)| format!("{label} {s} {}", s.verdict(*limit).word()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{id} {} {what} ({body})", worst.word())
}

fn targets(rows: &[Row], mem: &Memory) -> Vec<String> {
    let mut out = Vec::new();
    let forms = |scenario: &str, reference: &str, limit: f64| -> Vec<(String, Spread, f64)> {
        FORMS
            .iter()
            .map(|&(c, label)| (label.to_owned(), paired(rows, scenario, c, reference), limit))
            .collect()
    };

    // P1: N=1, each form <= 1.0x rwlock.
    let best_peer = PEERS
        .iter()
        .filter_map(|&p| find(rows, "N=1", p).map(|r| (p, r.median)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let peer = best_peer.map_or(String::new(), |(p, m)| format!("; best peer {p} {m:.2} ns"));
    out.push(line("P1", &format!("<= 1.0x rwlock at N=1{peer}"), forms("N=1", "rwlock", 1.0)));

    // P2: N=8 <= 1.15x direct, N=64 <= 1.05x direct.
    let mut p2 = Vec::new();
    for (scenario, limit) in [("N=8", 1.15), ("N=64", 1.05)] {
        let floor = floor_name(rows, scenario);
        for (label, s, l) in forms(scenario, floor, limit) {
            p2.push((format!("{label} {scenario}"), s, l));
        }
    }
    out.push(line("P2", "<= 1.15x direct at N=8, <= 1.05x at N=64", p2));

    // P3: 2 publishers, N=8: <= 1.3x direct and <= 0.5x rwlock.
    let s3 = "N=8, 2 publishers";
    let mut p3 = forms(s3, floor_name(rows, s3), 1.3);
    for (label, s, l) in forms(s3, "rwlock", 0.5) {
        p3.push((format!("{label} vs rwlock"), s, l));
    }
    out.push(line("P3", "<= 1.3x direct and <= 0.5x rwlock, 2 publishers, N=8", p3));

    // P4: churn: paced <= 1.0x rwlock, flat out <= 1.3x rwlock.
    let mut p4 = Vec::new();
    for (scenario, limit, tag) in [(CHURN_PACED, 1.0, "paced"), (CHURN_FLAT, 1.3, "flat out")] {
        for (label, s, l) in forms(scenario, "rwlock", limit) {
            p4.push((format!("{label} {tag}"), s, l));
        }
    }
    out.push(line("P4", "<= 1.0x rwlock under paced churn, <= 1.3x flat out, N=8", p4));

    // P5: N=0, each form <= 1.5x direct at N=0.
    out.push(line("P5", "<= 1.5x direct at N=0", forms("N=0", floor_name(rows, "N=0"), 1.5)));

    // P6: one envelope receiver costs at most the payload-only emit + one
    // clock read + 15 ns: per round, (envelope - payload) / (clock + 15).
    let s6 = "envelope, N=1";
    let clock = find(rows, s6, "clock only");
    let p6 = FORMS
        .iter()
        .map(|&(c, label)| {
            let env = find(rows, s6, &format!("{c} (envelope)"));
            let pay = find(rows, s6, &format!("{c} (payload)"));
            let v = match (env, pay, clock) {
                (Some(e), Some(p), Some(k)) => e
                    .samples
                    .iter()
                    .zip(&p.samples)
                    .zip(&k.samples)
                    .map(|((e, p), k)| (e - p) / (k + 15.0))
                    .collect(),
                _ => Vec::new(),
            };
            (label.to_owned(), Spread::of(v), 1.0)
        })
        .collect();
    let clock_ns = clock.map_or(f64::NAN, |k| k.median);
    out.push(line(
        "P6",
        &format!(
            "envelope extra <= 1.0x (clock + 15 ns), as (envelope - payload) / \
             (SystemTime::now {clock_ns:.1} ns + 15 ns)"
        ),
        p6,
    ));

    // P7: ordered, N=1, one publisher: <= 2.5x rwlock.
    out.push(line("P7", "<= 2.5x rwlock, ordered signal, N=1", forms(ORDERED, "rwlock", 2.5)));

    // P8: memory, usable bytes.
    let slot_limit = 128.0 + std::mem::size_of::<Tick>() as f64;
    let ok = |x: f64, limit: f64| if x <= limit { "met" } else { "missed" };
    let all = mem.named_signal <= 256.0 && mem.receiver <= 128.0 && mem.history_slot <= slot_limit;
    out.push(format!(
        "P8 {} memory, usable bytes (idle named signal {:.0} B <= 256 {}, receiver {:.0} B <= 128 \
         {}, history slot {:.0} B <= {slot_limit:.0} {}; receiver without capture {:.0} B, \
         envelope receiver {:.0} B)",
        if all { "met" } else { "missed" },
        mem.named_signal,
        ok(mem.named_signal, 256.0),
        mem.receiver,
        ok(mem.receiver, 128.0),
        mem.history_slot,
        ok(mem.history_slot, slot_limit),
        mem.receiver_zst,
        mem.envelope_receiver,
    ));
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split_once(':').map_or(l, |(_, v)| v).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores available, {} {}; {rustc}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test --benches` run passes
    // nothing: then only check that everything runs, very briefly.
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench");
    let quick = std::env::var_os("MESH_BENCH_QUICK").is_some_and(|v| v != "0");
    let cfg = if !benching {
        Config { quick: true, rounds: 1, batch: Duration::from_micros(200) }
    } else if quick {
        Config { quick, rounds: 15, batch: Duration::from_millis(6) }
    } else {
        Config { quick, rounds: 51, batch: Duration::from_millis(20) }
    };
    let started = Instant::now();
    eprintln!(
        "compare: {} run, {} rounds, ~{} ms batches",
        if cfg.quick { "quick" } else { "full" },
        cfg.rounds,
        cfg.batch.as_millis()
    );

    // `MESH_BENCH_ONLY=churn` (a comma-separated list of substrings) runs
    // only the scenarios whose name contains one; targets whose scenarios
    // did not run are reported as NaN and missed.
    let only: Vec<String> = std::env::var("MESH_BENCH_ONLY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let wanted = |scenario: &str| only.is_empty() || only.iter().any(|o| scenario.contains(o));
    let mut all = Vec::new();
    let mut rates: Vec<(&str, f64)> = Vec::new();
    for n in [0u64, 1, 8, 64] {
        let scenario = format!("N={n}");
        if wanted(&scenario) {
            all.extend(run_scenario(&cfg, &scenario, n, one_thread(n)));
        }
    }
    if wanted("N=8, 2 publishers") {
        all.extend(run_two_publishers(&cfg, "N=8, 2 publishers", 8));
    }
    for (scenario, r) in [(CHURN_PACED, Rate::Paced), (CHURN_FLAT, Rate::FlatOut)] {
        if wanted(scenario) {
            let (mut churn, measured) = run_churn(&cfg, scenario, 8, r);
            for row in &mut churn {
                row.note = format!("{measured:.0} changes/s");
            }
            rates.push((scenario, measured));
            all.extend(churn);
        }
    }
    if wanted(ORDERED) {
        all.extend(run_scenario(&cfg, ORDERED, 1, ordered(1)));
    }
    if wanted("envelope, N=1") {
        all.extend(run_scenario(&cfg, "envelope, N=1", 1, envelope(1)));
    }
    let mem = memory();

    let mut md = String::new();
    let _ = writeln!(md, "machine: {}", machine());
    let _ = writeln!(
        md,
        "run: {} ({} rounds, ~{} ms batches), {:.0} s\n",
        if cfg.quick {
            "MESH_BENCH_QUICK=1 cargo bench -p mesh-bench --bench compare"
        } else {
            "cargo bench -p mesh-bench --bench compare"
        },
        cfg.rounds,
        cfg.batch.as_millis(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| scenario | contender | median ns/event | min | max | × direct (fastest copy) |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|");
    for r in &all {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            r.scenario,
            r.contender,
            r.median,
            r.min,
            r.max,
            if r.ratio.is_nan() { "–".to_owned() } else { format!("{:.2}", r.ratio) }
        );
    }
    let churn_rates: Vec<String> = rates
        .iter()
        .map(|(s, r)| format!("{s}: about {r:.0} receiver changes per second"))
        .collect();
    let _ = writeln!(
        md,
        "\nchurn (paced: one cycle, a connect and a disconnect, every {} µs; flat out: as fast as \
         the churn thread can): {}\n\
         n/a under 2 publishers and churn: tokio-broadcast, crossbeam-channel (a receiver is \
         drained by its one owner, not by the publishers), bevy (a `World` is `&mut`: one \
         thread at a time)\n",
        CYCLE.as_micros(),
        churn_rates.join("; ")
    );
    let _ = writeln!(md, "memory (usable bytes of live blocks, counting allocator):");
    let _ = writeln!(
        md,
        "- per idle named signal: {:.0} B ({:.0} B the signal itself, as an anonymous \
         `Signal::new()`; {:.0} B its registration: name, registry entry)",
        mem.named_signal,
        mem.anonymous_signal,
        mem.named_signal - mem.anonymous_signal
    );
    let _ = writeln!(md, "- per receiver: {:.0} B (8-byte capture)", mem.receiver);
    let _ = writeln!(md, "- per receiver: {:.0} B (no capture)", mem.receiver_zst);
    let _ =
        writeln!(md, "- per envelope receiver: {:.0} B (8-byte capture)", mem.envelope_receiver);
    let _ = writeln!(
        md,
        "- per history slot: {:.0} B ({}-byte payload; the envelope behind an `Arc`, plus the \
         ring's pointer)\n",
        mem.history_slot,
        std::mem::size_of::<Tick>()
    );
    for line in targets(&all, &mem) {
        let _ = writeln!(md, "{line}");
    }
    print!("{md}");

    // Cargo runs a bench in its package's directory, `bench/`: output paths
    // are taken from the repository root instead (an absolute
    // `MESH_BENCH_OUT` stays as it is).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mesh-bench lives one level below the repository root");
    let out = std::env::var_os("MESH_BENCH_OUT")
        .map(|dir| root.join(dir))
        .or_else(|| (benching && !cfg.quick && only.is_empty()).then(|| root.join("benchmarks")));
    if let Some(dir) = out {
        let mut csv =
            String::from("scenario,n,contender,median_ns,min_ns,max_ns,ratio_direct,note\n");
        for r in &all {
            let _ = writeln!(
                csv,
                "\"{}\",{},{},{:.3},{:.3},{:.3},{:.4},{}",
                r.scenario, r.n, r.contender, r.median, r.min, r.max, r.ratio, r.note
            );
        }
        std::fs::create_dir_all(&dir).expect("create output dir");
        std::fs::write(dir.join("results.csv"), csv).expect("write results.csv");
        std::fs::write(dir.join("results.md"), &md).expect("write results.md");
        eprintln!("wrote {}", dir.join("results.csv").display());
    }
}
