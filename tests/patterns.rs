//! Pattern subscriptions (issue 11): `subscribe_pattern` and friends,
//! `AnyEvent`, namespace-relative patterns, options, scopes, meta-signals,
//! the attach race, and the matcher against a reference implementation.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use mesh::name::{Pattern, PatternError};
use mesh::prelude::*;
use mesh::{AnyEvent, Event, registry, testing};
use mesh_test_support::shared_log;

#[test]
fn one_subscriber_hears_every_matching_signal_of_every_type() {
    static NS: Namespace = Namespace::new("pat-any");
    let before = NS.signal::<String>("db.connected").unwrap();
    before.debug_payloads();
    let (seen, sink) = shared_log();
    let sub = mesh::subscribe_pattern("pat-any.*.connected", move |ev: &AnyEvent| {
        sink.lock().unwrap().push(format!("{}={}", ev.name(), ev.payload_debug()));
    })
    .unwrap();
    // A signal made after the subscription joins it.
    let after = NS.signal::<u32>("cache.connected").unwrap();
    let deeper = NS.signal::<u32>("cache.pool.connected").unwrap();
    let other = NS.signal::<u32>("cache.lost").unwrap();
    before.emit("primary".into());
    after.emit(3);
    deeper.emit(4);
    other.emit(5);
    assert_eq!(
        *seen.lock().unwrap(),
        ["pat-any.db.connected=\"primary\"", "pat-any.cache.connected=<u32>"]
    );
    assert_eq!(registry::pattern_attachments(&sub), Some(2));
    assert_eq!((deeper.receiver_count(), other.receiver_count()), (0, 0), "unmatched pay nothing");
    assert!(sub.disconnect());
    assert_eq!(before.receiver_count() + after.receiver_count(), 0);
    before.emit("gone".into());
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn any_event_carries_the_envelope_and_borrows_the_payload() {
    static NS: Namespace = Namespace::new("pat-envelope");
    let s = NS.signal::<Vec<u8>>("blob").unwrap();
    let got = Arc::new(Mutex::new(None));
    let sink = got.clone();
    let _sub = NS
        .subscribe("*", move |ev: &AnyEvent| {
            let data = ev.downcast_ref::<Vec<u8>>().expect("a Vec<u8>");
            *sink.lock().unwrap() = Some((
                (ev.id(), ev.timestamp()),
                ev.seq(),
                ev.source().map(str::to_owned),
                ev.metadata().get("k").map(str::to_owned),
                ev.type_name(),
                data.as_ptr() as usize,
                ev.is::<String>(),
            ));
        })
        .unwrap();
    let ptr = Arc::new(Mutex::new((0usize, None)));
    let p = ptr.clone();
    s.connect(move |ev: &Event<Vec<u8>>| {
        *p.lock().unwrap() = (ev.data.as_ptr() as usize, Some((ev.id, ev.timestamp)))
    });
    s.emit_event(Event::new(vec![1, 2, 3]).with_source("src").with_meta("k", "v"));
    let (id_at, seq, source, meta, ty, data, is_string) = got.lock().unwrap().take().unwrap();
    let (ptr, typed) = *ptr.lock().unwrap();
    assert_eq!(Some(id_at), typed, "the id and timestamp are the envelope's");
    assert_eq!(id_at.0.get_version_num(), 7);
    assert_eq!(seq, 1);
    assert_eq!(source.as_deref(), Some("src"));
    assert_eq!(meta.as_deref(), Some("v"));
    assert_eq!(ty, "alloc::vec::Vec<u8>");
    assert_eq!(data, ptr, "the payload is the envelope's, not a copy");
    assert!(!is_string);
}

#[test]
fn relative_patterns_and_their_errors() {
    static SYSTEM: Namespace = Namespace::new("pat-rel");
    static HITS: AtomicU32 = AtomicU32::new(0);
    SYSTEM
        .subscribe("provider.>", |_: &AnyEvent| {
            HITS.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    SYSTEM.signal::<u8>("provider.up").unwrap().emit(1);
    SYSTEM.signal::<u8>("provider.pool.up").unwrap().emit(1);
    SYSTEM.signal::<u8>("provider").unwrap().emit(1); // `>` needs a segment
    SYSTEM.signal::<u8>("other.up").unwrap().emit(1);
    assert_eq!(HITS.load(Ordering::Relaxed), 2);
    // Offsets point into the full pattern `pat-rel.a.b*`.
    let err = SYSTEM.subscribe("a.b*", |_: &AnyEvent| {}).unwrap_err();
    assert_eq!(err, PatternError::PartialWildcard { at: 11 });
    assert_eq!(mesh::subscribe_pattern("", |_: &AnyEvent| {}).unwrap_err(), PatternError::Empty);
    assert_eq!(
        mesh::subscribe_pattern("a.>.b", |_: &AnyEvent| {}).unwrap_err().to_string(),
        "`>` may only be the last segment (at byte 2)"
    );
}

#[test]
fn typed_subscriptions_attach_to_their_payload_type_only() {
    static NS: Namespace = Namespace::new("pat-typed");
    static SUM: AtomicU32 = AtomicU32::new(0);
    static SEQS: AtomicU32 = AtomicU32::new(0);
    let a = NS.signal::<u32>("a").unwrap();
    let s = NS.signal::<String>("s").unwrap();
    let sub = mesh::subscribe_pattern_typed("pat-typed.*", |x: &u32| {
        SUM.fetch_add(*x, Ordering::Relaxed);
    })
    .unwrap();
    // `&Event<T>` alone does not say whether `T` is `u32` or `Event<u32>`:
    // name it.
    NS.subscribe_typed::<u32, _, _>("*", |ev: &Event<u32>| {
        SEQS.fetch_add(ev.seq as u32, Ordering::Relaxed);
    })
    .unwrap();
    let b = NS.signal::<u32>("b").unwrap();
    a.emit(2);
    b.emit(3);
    s.emit("no".into());
    assert_eq!(SUM.load(Ordering::Relaxed), 5);
    assert_eq!(SEQS.load(Ordering::Relaxed), 2, "seq 1 on each");
    assert_eq!(registry::pattern_attachments(&sub), Some(2));
    assert_eq!(s.receiver_count(), 0);
}

#[test]
fn priority_then_attach_order_across_typed_and_pattern_receivers() {
    static NS: Namespace = Namespace::new("pat-order");
    let s = NS.signal::<u8>("x").unwrap();
    let (seen, sink) = shared_log();
    let push = |tag: &'static str| {
        let sink = sink.clone();
        move || sink.lock().unwrap().push(tag.to_owned())
    };
    let p = push("typed-0");
    s.connect(move |_: &u8| p());
    let p = push("pattern-0");
    mesh::subscribe_pattern("pat-order.x", move |_: &AnyEvent| p()).unwrap();
    let p = push("pattern-5");
    mesh::subscribe_pattern_with(
        "pat-order.*",
        ConnectOptions::new().priority(5),
        move |_: &AnyEvent| p(),
    )
    .unwrap();
    let p = push("typed-5");
    s.connect_with(ConnectOptions::new().priority(5), move |_: &u8| p());
    s.emit(1);
    assert_eq!(*seen.lock().unwrap(), ["pattern-5", "typed-5", "typed-0", "pattern-0"]);
    // The same order for a signal made after the subscriptions.
    seen.lock().unwrap().clear();
    let later = NS.signal::<u8>("y").unwrap();
    let p = push("typed-late");
    later.connect(move |_: &u8| p());
    later.emit(1);
    assert_eq!(*seen.lock().unwrap(), ["pattern-5", "typed-late"]);
}

#[test]
fn options_source_name_once_scoped() {
    static NS: Namespace = Namespace::new("pat-options");
    static FROM_DB: AtomicU32 = AtomicU32::new(0);
    static ONCE: AtomicU32 = AtomicU32::new(0);
    let a = NS.signal::<u8>("a").unwrap();
    let b = NS.signal::<u16>("b").unwrap();
    mesh::subscribe_pattern_with(
        "pat-options.*",
        ConnectOptions::new().source("db").name("audit"),
        |_: &AnyEvent| {
            FROM_DB.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    let once = mesh::subscribe_pattern_with(
        "pat-options.>",
        ConnectOptions::new().once(),
        |_: &AnyEvent| {
            ONCE.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    assert!(a.receivers().iter().any(|r| r.name == "audit" && r.sources == ["db"]));
    a.emit_from("cache", 1);
    b.emit_from("db", 1);
    a.emit_from("db", 1);
    assert_eq!(FROM_DB.load(Ordering::Relaxed), 2);
    assert_eq!(ONCE.load(Ordering::Relaxed), 1, "once across all matched signals");
    assert!(!once.is_connected());
    // A signal made after a spent one-shot does not get it.
    let c = NS.signal::<u8>("c").unwrap();
    assert_eq!(c.receiver_count(), 1, "only `audit`");
    {
        let _guard = NS.subscribe("*", |_: &AnyEvent| {}).unwrap().scoped();
        assert_eq!(c.receiver_count(), 2);
    }
    assert_eq!(c.receiver_count(), 1, "a dropped guard detaches from every signal");
}

#[test]
fn weak_subscriptions_end_with_their_object() {
    static NS: Namespace = Namespace::new("pat-weak");
    struct Audit(AtomicU32);
    let audit = Arc::new(Audit(AtomicU32::new(0)));
    let sub = mesh::subscribe_pattern_weak("pat-weak.*", &audit, |a: &Audit, _: &AnyEvent| {
        a.0.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    let (x, y) = (NS.signal::<u8>("x").unwrap(), NS.signal::<u8>("y").unwrap());
    x.emit(1);
    y.emit(1);
    assert_eq!(audit.0.load(Ordering::Relaxed), 2);
    drop(audit);
    x.emit(1);
    assert!(!sub.is_connected());
    assert_eq!(x.receiver_count() + y.receiver_count(), 0, "gone from every signal");
}

#[test]
fn failures_are_isolated_and_counted() {
    static NS: Namespace = Namespace::new("pat-fail");
    static AFTER: AtomicU32 = AtomicU32::new(0);
    let s = NS.signal::<u8>("x").unwrap();
    mesh::subscribe_pattern_with(
        "pat-fail.x",
        ConnectOptions::new().priority(1),
        |_: &AnyEvent| Err::<(), _>("nope"),
    )
    .unwrap();
    mesh::subscribe_pattern_with(
        "pat-fail.x",
        ConnectOptions::new().priority(1),
        |_: &AnyEvent| -> () { panic!("boom") },
    )
    .unwrap();
    s.connect(|_: &u8| {
        AFTER.fetch_add(1, Ordering::Relaxed);
    });
    let r = s.emit(1);
    assert_eq!((r.delivered, r.failed), (1, 2));
    assert_eq!(AFTER.load(Ordering::Relaxed), 1);
    assert_eq!(s.failure_count(), 2);
}

#[test]
fn testing_scopes_isolate_patterns() {
    #[signal(name = "pat-scope.ping")]
    #[derive(Debug, Clone)]
    pub struct Ping(#[allow(dead_code)] u8);

    let global = Arc::new(AtomicUsize::new(0));
    let g = global.clone();
    let _global = mesh::subscribe_pattern("pat-scope.*", move |_: &AnyEvent| {
        g.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap()
    .scoped();

    let in_scope = testing::with_scope(|| {
        let (seen, sink) = shared_log();
        let _sub = mesh::subscribe_pattern("pat-scope.>", move |ev: &AnyEvent| {
            sink.lock().unwrap().push(ev.payload_debug().to_string());
        })
        .unwrap();
        Ping(1).emit();
        // Another thread, outside the scope: the global signal.
        std::thread::spawn(|| Ping(2).emit()).join().unwrap();
        seen.lock().unwrap().clone()
    });
    assert_eq!(in_scope, ["Ping(1)"]);
    assert_eq!(global.load(Ordering::Relaxed), 1, "the global pattern saw only the global emit");
    // A scoped subscription made before the scope's signal exists joins it.
    let late = testing::with_scope(|| {
        let (seen, sink) = shared_log();
        let _sub = mesh::subscribe_pattern("pat-scope.ping", move |ev: &AnyEvent| {
            sink.lock().unwrap().push(ev.name().to_owned());
        })
        .unwrap();
        Ping(3).emit();
        seen.lock().unwrap().clone()
    });
    assert_eq!(late, ["pat-scope.ping"]);
}

/// Subscriptions racing with signals being made on other threads: each
/// (subscription, signal) pair ends up attached exactly once.
#[test]
fn attach_races_attach_each_pair_exactly_once() {
    static NS: Namespace = Namespace::new("pat-race");
    const ROUNDS: usize = 20;
    const SIGNALS: usize = 24;
    const SUBS: usize = 6;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(4));
        let hits = Arc::new(AtomicUsize::new(0));
        let made: Vec<_> = std::thread::scope(|s| {
            let makers: Vec<_> = (0..2)
                .map(|t| {
                    let barrier = barrier.clone();
                    s.spawn(move || {
                        barrier.wait();
                        (0..SIGNALS / 2)
                            .map(|i| NS.signal::<u64>(&format!("r{round}.t{t}.s{i}")).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let subscribers: Vec<_> = (0..2)
                .map(|t| {
                    let (barrier, hits) = (barrier.clone(), hits.clone());
                    s.spawn(move || {
                        barrier.wait();
                        (0..SUBS / 2)
                            .map(|_| {
                                let hits = hits.clone();
                                let pattern = if t == 0 {
                                    format!("pat-race.r{round}.>")
                                } else {
                                    format!("pat-race.r{round}.*.*")
                                };
                                mesh::subscribe_pattern(&pattern, move |_: &AnyEvent| {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                })
                                .unwrap()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in subscribers {
                h.join().unwrap();
            }
            makers.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        for signal in &made {
            assert_eq!(signal.receiver_count(), SUBS, "{} in round {round}", signal.name());
            signal.emit(1);
        }
        assert_eq!(hits.load(Ordering::Relaxed), SIGNALS * SUBS);
    }
}

// ----- the matcher against a reference --------------------------------------

/// A straightforward reference: recursion over segment lists.
fn reference(pattern: &[&str], name: &[&str]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((&">", _)), Some(_)) => true,
        (Some((&"*", p)), Some((_, n))) => reference(p, n),
        (Some((lit, p)), Some((seg, n))) => lit == seg && reference(p, n),
        _ => false,
    }
}

/// SplitMix64: a small deterministic generator (fixed seeds, so a failure
/// replays).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEGMENTS: [&str; 4] = ["a", "b", "ab", "mesh"];

fn gen_name(rng: &mut Rng) -> Vec<String> {
    let len = if rng.below(50) == 0 { 40 + rng.below(40) } else { 1 + rng.below(5) };
    (0..len).map(|_| SEGMENTS[rng.below(SEGMENTS.len())].to_owned()).collect()
}

fn gen_pattern(rng: &mut Rng) -> Vec<String> {
    let len = 1 + rng.below(5);
    let mut segs: Vec<String> = (0..len)
        .map(|_| match rng.below(5) {
            0 => "*".to_owned(),
            _ => SEGMENTS[rng.below(SEGMENTS.len())].to_owned(),
        })
        .collect();
    if rng.below(3) == 0 {
        *segs.last_mut().unwrap() = ">".to_owned();
    }
    segs
}

#[test]
fn matcher_agrees_with_the_reference() {
    let mut rng = Rng(11);
    let mut cases = 0;
    let mut matched = 0;
    // Edge cases first, then generated ones.
    let edges: Vec<(Vec<String>, Vec<String>)> = vec![
        (vec![">".into()], vec!["a".into()]),
        (vec![">".into()], vec!["a".into(), "b".into()]),
        (vec!["*".into()], vec!["a".into(), "b".into()]),
        (vec!["a".into(), ">".into()], vec!["a".into()]),
        (vec!["*".into(), "*".into(), "*".into()], vec!["a".into(), "b".into(), "ab".into()]),
    ];
    let generated = (0..200_000).map(|_| (gen_pattern(&mut rng), gen_name(&mut rng)));
    for (p, n) in edges.into_iter().chain(generated) {
        let (ps, ns) = (p.join("."), n.join("."));
        let pattern = Pattern::new(&ps).unwrap();
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        let n: Vec<&str> = n.iter().map(String::as_str).collect();
        let expected = reference(&p, &n);
        assert_eq!(pattern.matches(&ns), expected, "{ps} vs {ns}");
        cases += 1;
        matched += usize::from(expected);
    }
    assert!(
        matched > cases / 20 && matched < cases / 2,
        "{matched} of {cases}: the generator covers both sides"
    );
}

/// Subscriptions agree with the matcher: a subscription is attached to
/// exactly the signals the reference says it matches (meta aside).
#[test]
fn attachments_agree_with_the_reference() {
    static NS: Namespace = Namespace::new("pat-prop");
    let mut rng = Rng(5);
    let names: Vec<Vec<String>> =
        (0..120).map(|_| gen_name(&mut rng)).filter(|n| n.len() < 8).collect();
    let mut signals = Vec::new();
    for (i, n) in names.iter().enumerate() {
        // Half before the subscriptions, half after.
        if i % 2 == 0 {
            signals.push((n.clone(), NS.signal::<u8>(&n.join(".")).unwrap()));
        }
    }
    let patterns: Vec<Vec<String>> = (0..40).map(|_| gen_pattern(&mut rng)).collect();
    let subs: Vec<_> =
        patterns.iter().map(|p| NS.subscribe(&p.join("."), |_: &AnyEvent| {}).unwrap()).collect();
    for (i, n) in names.iter().enumerate() {
        if i % 2 == 1 {
            signals.push((n.clone(), NS.signal::<u8>(&n.join(".")).unwrap()));
        }
    }
    // Duplicate names share one signal: count each signal once.
    signals.sort_by(|a, b| a.1.name().cmp(b.1.name()));
    signals.dedup_by(|a, b| a.1.name() == b.1.name());
    let mut total = 0;
    for (n, signal) in &signals {
        let mut full = vec!["pat-prop"];
        full.extend(n.iter().map(String::as_str));
        let expected = patterns
            .iter()
            .filter(|p| {
                let mut pf = vec!["pat-prop"];
                pf.extend(p.iter().map(String::as_str));
                reference(&pf, &full)
            })
            .count();
        assert_eq!(signal.receiver_count(), expected, "{}", signal.name());
        total += expected;
    }
    let attached: usize = subs.iter().map(|s| registry::pattern_attachments(s).unwrap()).sum();
    assert_eq!(attached, total);
    assert!(total > 20, "the generator makes matches: {total}");
}

#[test]
fn parsing_never_panics_on_arbitrary_input() {
    let mut rng = Rng(99);
    let alphabet: Vec<char> = "ab.*>-_Z9 é\0.".chars().collect();
    let mut ok = 0;
    for _ in 0..100_000 {
        let len = rng.below(12);
        let s: String = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
        let parsed = Pattern::new(&s);
        if let Err(e) = &parsed {
            match e {
                PatternError::Empty => assert!(s.is_empty()),
                PatternError::EmptySegment { at }
                | PatternError::PartialWildcard { at }
                | PatternError::TailNotLast { at }
                | PatternError::InvalidChar { at } => assert!(*at <= s.len(), "{s:?}: {e:?}"),
                _ => {}
            }
        } else {
            ok += 1;
        }
        let _ = mesh::name::validate_name(&s);
    }
    assert!(ok > 1000, "some inputs parse: {ok}");
}
