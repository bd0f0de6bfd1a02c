//! `#[receiver(pattern = "...")]` (issue 11): pattern receivers declared
//! at compile time, registered globally with no init call. Their own test
//! binary: a static pattern receiver is global to the process.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use mesh::prelude::*;
use mesh::{AnyEvent, Event, testing};

mesh::namespace! {
    /// The namespace every receiver below listens under.
    pub STATICPAT = "static-pat";
}

#[signal(namespace = STATICPAT, name = "provider.connected")]
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct Connected {
    name: &'static str,
}

#[signal(namespace = STATICPAT, name = "provider.lost")]
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct Lost(u32);

#[signal(namespace = STATICPAT, name = "other")]
struct Other;

/// What the `AnyEvent` receivers saw, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(line: String) {
    LOG.lock().unwrap().push(line);
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

/// Runs `f` with the log to itself (the tests share it).
fn serial(f: impl FnOnce()) {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    take_log();
    f();
}

#[receiver(pattern = "static-pat.provider.*")]
fn on_provider(ev: &AnyEvent) {
    log(format!("provider {} {}", ev.name(), ev.payload_debug()));
}

#[receiver(pattern = "static-pat.>", priority = 5, name = "audit")]
fn audit(ev: &AnyEvent<'_>) {
    log(format!("audit {}", ev.name()));
}

/// A typed pattern receiver: only the matching signals whose payload is
/// `u64`.
static COUNTED: AtomicU64 = AtomicU64::new(0);

#[receiver(pattern = "static-pat.counters.*")]
fn count(n: &u64) {
    COUNTED.fetch_add(*n, Ordering::Relaxed);
}

#[receiver(pattern = "static-pat.envelopes.*", source = "sensor")]
fn envelopes(ev: &Event<u64>) {
    log(format!("envelope {} #{} from {:?}", ev.name, ev.data, ev.source.as_deref()));
}

#[receiver(pattern = "static-pat.failing.*")]
fn failing(ev: &AnyEvent) -> Result<(), String> {
    Err(format!("refused {}", ev.name()))
}

/// On a built-in meta-signal, which exists before any receiver: attached
/// when the registry starts.
#[receiver(pattern = "mesh.receiver.failed")]
fn on_failure(failure: &mesh::meta::ReceiverFailed) {
    log(format!("failed {}: {}", failure.receiver, failure.message));
}

#[test]
fn static_pattern_receivers_hear_static_and_runtime_signals() {
    serial(|| {
        Connected { name: "db" }.emit();
        Lost(7).emit();
        Other.emit();
        // A signal made at run time, after the receivers were registered.
        STATICPAT.signal::<u8>("provider.pool.up").unwrap().emit(1);
        STATICPAT.signal::<String>("provider.up").unwrap().emit("cache".into());
        assert_eq!(
            take_log(),
            [
                // priority 5 first, then the `provider.*` receiver
                "audit static-pat.provider.connected",
                "provider static-pat.provider.connected Connected { name: \"db\" }",
                "audit static-pat.provider.lost",
                "provider static-pat.provider.lost Lost(7)",
                "audit static-pat.other",
                // `provider.*` is one segment: not `provider.pool.up`
                "audit static-pat.provider.pool.up",
                "audit static-pat.provider.up",
                "provider static-pat.provider.up <alloc::string::String>",
            ]
        );
    });
}

#[test]
fn a_typed_pattern_receiver_attaches_to_its_payload_type_only() {
    serial(|| {
        let a = STATICPAT.signal::<u64>("counters.a").unwrap();
        let b = STATICPAT.signal::<u64>("counters.b").unwrap();
        let text = STATICPAT.signal::<String>("counters.text").unwrap();
        a.emit(2);
        b.emit(40);
        text.emit("not counted".into());
        assert_eq!(COUNTED.load(Ordering::Relaxed), 42);
        // `count` and `audit` on the u64 signals; `audit` only on the text.
        assert_eq!((a.receiver_count(), text.receiver_count()), (2, 1));
        let names: Vec<_> = a.receivers().into_iter().map(|r| r.name.into_owned()).collect();
        assert_eq!(names, ["audit", "patterns_static::count"]);
    });
}

#[test]
fn options_apply_on_every_matched_signal() {
    serial(|| {
        let s = STATICPAT.signal::<u64>("envelopes.t").unwrap();
        s.emit(1);
        s.emit_from("sensor", 2);
        s.emit_from("other", 3);
        assert_eq!(
            take_log(),
            [
                "audit static-pat.envelopes.t",
                "audit static-pat.envelopes.t",
                "envelope static-pat.envelopes.t #2 from Some(\"sensor\")",
                "audit static-pat.envelopes.t",
            ]
        );
    });
}

#[test]
fn a_failing_static_pattern_receiver_is_isolated_and_counted() {
    serial(|| {
        let s = STATICPAT.signal::<u8>("failing.x").unwrap();
        let emitted = s.emit(1);
        assert_eq!(emitted.failed, 1);
        assert_eq!(s.failure_count(), 1);
        assert_eq!(
            take_log(),
            [
                "audit static-pat.failing.x",
                "failed patterns_static::failing: refused static-pat.failing.x",
            ],
            "the other receiver still ran; the failure was reported"
        );
    });
}

#[test]
fn testing_scopes_take_static_pattern_receivers_only_when_asked() {
    serial(|| {
        {
            let _mesh = testing::Scope::new().enter();
            Connected { name: "alone" }.emit();
            assert!(take_log().is_empty(), "a plain scope has no global receivers");
        }
        {
            let _mesh = testing::Scope::new().with_global_receivers().enter();
            Lost(1).emit();
            assert_eq!(
                take_log(),
                ["audit static-pat.provider.lost", "provider static-pat.provider.lost Lost(1)"]
            );
        }
    });
}

#[test]
fn the_macro_and_the_runtime_report_a_bad_pattern_alike() {
    // The same texts are pinned for the macro in
    // `tests/ui/receiver/bad_pattern.stderr`.
    let cases = [
        (
            "system.provider*",
            "a wildcard must fill its whole segment (`a.*.c`, not `a.b*`) (at byte 15)",
        ),
        ("system.>.connected", "`>` may only be the last segment (at byte 7)"),
        (
            "System.*",
            "pattern may only contain `a-z`, `0-9`, `_`, `-`, `*`, `>` and `.` between segments \
             (at byte 0)",
        ),
    ];
    for (pattern, message) in cases {
        let error = mesh::name::Pattern::new(pattern).unwrap_err();
        assert_eq!(error.to_string(), message, "{pattern}");
    }
}
