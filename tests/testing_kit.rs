//! The testing kit: private meshes per test, recorders, simulated events.
//! Many tests here run in parallel and emit the same event types; each
//! must see only its own events.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use mesh::prelude::*;
use mesh::testing::{self, Recorder, Scope};
use mesh::{EmitStatus, Uuid};

#[signal]
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub test: u32,
    pub n: u32,
}

static GLOBAL_CALLS: AtomicU32 = AtomicU32::new(0);

#[receiver]
fn global_job_receiver(_: &Job) {
    GLOBAL_CALLS.fetch_add(1, Ordering::Relaxed);
}

fn isolated(test: u32) {
    let _mesh = testing::scope();
    let rec = Recorder::<Job>::new();
    for n in 0..200 {
        Job { test, n }.emit();
        if n % 50 == 0 {
            std::thread::yield_now();
        }
    }
    let got = rec.payloads();
    assert_eq!(got.len(), 200, "test {test} saw {} events", got.len());
    assert!(got.iter().all(|j| j.test == test), "test {test} saw another test's events");
    assert_eq!(got.iter().map(|j| j.n).collect::<Vec<_>>(), (0..200).collect::<Vec<_>>());
    assert_eq!(rec.events()[0].seq, 1, "a scope's signal starts fresh");
}

macro_rules! parallel_tests {
    ($($name:ident = $n:expr;)*) => {$(
        #[test]
        fn $name() {
            isolated($n);
        }
    )*};
}

parallel_tests! {
    isolated_01 = 1; isolated_02 = 2; isolated_03 = 3; isolated_04 = 4;
    isolated_05 = 5; isolated_06 = 6; isolated_07 = 7; isolated_08 = 8;
    isolated_09 = 9; isolated_10 = 10; isolated_11 = 11; isolated_12 = 12;
    isolated_13 = 13; isolated_14 = 14; isolated_15 = 15; isolated_16 = 16;
}

#[test]
fn global_receivers_are_left_out_or_included_explicitly() {
    // Left out: the global receiver's counter does not move for events of
    // this scope. (Other tests run scoped too, so nothing else reaches it.)
    {
        let _mesh = testing::scope();
        assert_eq!(Job::signal().receiver_count(), 0);
        assert_eq!(Job { test: 100, n: 0 }.emit().delivered, 0);
    }
    {
        let _mesh = Scope::new().with_global_receivers().enter();
        let names: Vec<_> = Job::signal().receivers().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["testing_kit::global_job_receiver"]);
        let before = GLOBAL_CALLS.load(Ordering::Relaxed);
        assert_eq!(Job { test: 100, n: 1 }.emit().delivered, 1);
        assert_eq!(GLOBAL_CALLS.load(Ordering::Relaxed), before + 1);
    }
}

#[test]
fn receivers_connected_in_a_scope_do_not_outlive_it() {
    let outside = Recorder::<Job>::new(); // the global signal
    {
        let _mesh = testing::scope();
        Job::signal().connect(|_: &Job| {});
        Job { test: 200, n: 0 }.emit();
    }
    assert!(outside.payloads().iter().all(|j| j.test != 200), "scoped events stay in the scope");
    let _again = testing::scope();
    assert_eq!(Job::signal().receiver_count(), 0, "a recycled scoped signal starts empty");
}

#[test]
fn scopes_nest_and_other_threads_can_enter() {
    let outer = testing::scope();
    let rec_outer = Recorder::<Job>::new();
    {
        let _inner = testing::scope();
        let rec_inner = Recorder::<Job>::new();
        Job { test: 300, n: 1 }.emit();
        rec_inner.assert_count(1);
    }
    let handle = outer.handle();
    std::thread::spawn(move || {
        let _g = handle.enter();
        Job { test: 300, n: 2 }.emit();
    })
    .join()
    .unwrap();
    rec_outer.assert_payloads(&[Job { test: 300, n: 2 }]);
}

#[test]
fn simulated_events_keep_chosen_envelope() {
    let _mesh = testing::scope();
    let rec = Recorder::<Job>::new();
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let id = Uuid::from_u128(42);
    let r = testing::inject(
        Event::new(Job { test: 400, n: 0 })
            .with_id(id)
            .with_timestamp(at)
            .with_source("simulator")
            .with_meta("scenario", "outage"),
    );
    assert_eq!(r.status, EmitStatus::Dispatched);
    let ev = &rec.events()[0];
    assert_eq!((ev.id, ev.timestamp, ev.source.as_deref()), (id, at, Some("simulator")));
    assert_eq!(ev.metadata.get("scenario"), Some("outage"));
    assert_eq!((ev.name, ev.seq), ("job", 1));
}

#[test]
fn recorder_assertion_message_shows_both_lists() {
    let _mesh = testing::scope();
    let rec = Recorder::<Job>::new();
    Job { test: 500, n: 1 }.emit();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rec.assert_payloads(&[Job { test: 500, n: 2 }])
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("expected: [Job { test: 500, n: 2 }]"), "{msg}");
    assert!(msg.contains("recorded: [Job { test: 500, n: 1 }]"), "{msg}");
}

#[test]
fn all_recorder_captures_every_signal_in_the_scope() {
    #[signal]
    #[derive(Debug, Clone)]
    #[allow(dead_code)] // read through `Debug` only
    pub struct Other(pub u8);

    let mesh = testing::scope();
    let all = mesh.record_all();
    Job { test: 600, n: 0 }.emit();
    Other(9).emit();
    let names: Vec<_> = all.events().into_iter().map(|e| (e.name, e.payload)).collect();
    assert_eq!(
        names,
        [("job", "Job { test: 600, n: 0 }".to_string()), ("other", "Other(9)".to_string())]
    );
}

#[signal(history = 8)]
#[derive(Debug, Clone, PartialEq)]
pub struct Logged(pub u32);

#[test]
fn a_recycled_scoped_signal_keeps_its_history_capacity() {
    for round in 0..3 {
        let _mesh = testing::scope();
        assert_eq!(Logged::signal().history_capacity(), 8, "round {round}");
        Logged(round).emit();
        assert_eq!(Logged::signal().history().len(), 1, "round {round}: fresh history");
        Logged::signal().set_history_capacity(2); // a test's own change is undone
    }
}

#[test]
fn scope_guards_may_drop_in_any_order() {
    let a = testing::scope();
    let rec_a = Recorder::<Job>::new();
    let b = testing::scope();
    drop(a);
    // Still in `b`: events go there, not to `a`.
    let rec_b = Recorder::<Job>::new();
    Job { test: 700, n: 1 }.emit();
    assert_eq!((rec_a.len(), rec_b.len()), (0, 1));
    drop(b);
    // Left both: the global signal again.
    let global = Recorder::<Job>::new();
    Job { test: 700, n: 2 }.emit();
    assert!(global.payloads().contains(&Job { test: 700, n: 2 }));
}

#[signal]
#[derive(Debug, Clone)]
pub struct Audit(pub u8);

#[test]
fn meta_receivers_may_resolve_scoped_signals_while_globals_connect() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    let _watch = mesh::meta::connected().connect_scoped(|c: &mesh::meta::ReceiverConnected| {
        if c.receiver.name == "testing_kit::global_job_receiver" {
            // Resolves (and emits on) another scoped signal from inside the
            // connection of the global receivers.
            let _ = Audit::signal().receiver_count();
            SEEN.lock().unwrap().push(1);
        }
    });
    let _mesh = Scope::new().with_global_receivers().enter();
    assert_eq!(Job::signal().receiver_count(), 1);
    assert!(!SEEN.lock().unwrap().is_empty());
}

#[test]
fn a_scoped_signal_has_a_type_erased_view_too() {
    let _mesh = testing::scope();
    Job::signal().connect(|_: &Job| {});
    let erased = Job::signal().erased();
    assert_eq!((erased.name(), erased.receiver_count()), ("job", 1));
    assert!(erased.downcast::<Job>().is_some());
}
