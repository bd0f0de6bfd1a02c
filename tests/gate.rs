//! The one-load gate of the emit path: a signal's receiver count, its
//! state and the process-wide `GLOBAL` bit share one word, so every
//! process-wide change must reach signals made before it and after it.
//! Own binary: the recent view, global middleware and testing scopes are
//! process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mesh::middleware::{DynEvent, GlobalMiddleware, MiddlewareHandle};
use mesh::prelude::*;
use mesh::{EmitStatus, Signal};

#[signal(name = "gate.ping")]
#[derive(Debug, Clone)]
pub struct Ping(pub u32);

/// One test at a time: each changes process-wide state.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test's hold on the process-wide state: it holds [`SERIAL`] and, when
/// dropped — after a failed assertion too — puts back what the test may
/// have changed (emit counting, the recent view's capacity, the global
/// middleware added through [`Global::add_global`]) before the next test
/// runs. Testing scopes and recorders are guards of their own.
struct Global {
    stats: bool,
    recent: usize,
    middleware: Vec<MiddlewareHandle>,
    /// `None` for [`Global::nested`]: the outer one holds the lock.
    _serial: Option<std::sync::MutexGuard<'static, ()>>,
}

fn serial() -> Global {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    Global::keeping(Some(serial))
}

impl Global {
    fn keeping(serial: Option<std::sync::MutexGuard<'static, ()>>) -> Global {
        Global {
            stats: mesh::introspect::stats_enabled(),
            recent: mesh::history::recent_capacity(),
            middleware: Vec::new(),
            _serial: serial,
        }
    }

    /// Another guard inside a test that holds `_outer` (the lock is not
    /// re-entrant).
    fn nested(_outer: &Global) -> Global {
        Global::keeping(None)
    }

    /// [`mesh::middleware::add_global`], removed when the guard drops if
    /// the test has not removed it.
    fn add_global(&mut self, m: impl GlobalMiddleware) -> MiddlewareHandle {
        let handle = mesh::middleware::add_global(m);
        self.middleware.push(handle.clone());
        handle
    }
}

impl Drop for Global {
    fn drop(&mut self) {
        for handle in self.middleware.drain(..) {
            // False if the test removed it already.
            handle.remove();
        }
        mesh::history::set_recent_capacity(self.recent);
        mesh::introspect::set_stats(self.stats);
    }
}

/// The guard puts the process-wide state back when a test fails halfway.
#[test]
fn a_failing_test_leaves_no_process_wide_state_behind() {
    let outer = serial();
    let before = (mesh::introspect::stats_enabled(), mesh::history::recent_capacity());
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut global = Global::nested(&outer);
        mesh::introspect::set_stats(!before.0);
        mesh::history::set_recent_capacity(before.1 + 16);
        global.add_global(|_: &mut dyn DynEvent| Flow::Drop);
        panic!("a failed assertion");
    }));
    assert!(failed.is_err());
    assert_eq!(
        (mesh::introspect::stats_enabled(), mesh::history::recent_capacity()),
        before,
        "counting and the recent view are as they were"
    );
    let signal = Signal::<u32>::new();
    let _c = signal.connect(|_: &u32| {});
    assert_eq!(signal.emit(1).delivered, 1, "the global middleware is gone");
}

fn recent_payloads() -> usize {
    mesh::history::recent().len()
}

#[test]
fn the_recent_view_sees_signals_made_before_and_after_it_with_no_receivers() {
    let _global = serial();
    let before = Signal::<u32>::new();
    let publisher_before = &mut before.publisher();
    assert_eq!(before.emit(1).status, EmitStatus::NoReceivers);
    // The static signal is made (and left with no receivers) before.
    assert_eq!(Ping(0).emit().status, EmitStatus::NoReceivers);

    mesh::history::set_recent_capacity(64);
    let after = Signal::<u32>::new();
    before.emit(2);
    publisher_before.emit(3);
    after.emit(4);
    Ping(5).emit();
    assert_eq!(recent_payloads(), 4, "every emit reached the view");

    mesh::history::set_recent_capacity(0);
    assert_eq!(before.emit(6).status, EmitStatus::NoReceivers);
    assert_eq!(publisher_before.emit(6).status, EmitStatus::NoReceivers);
    assert_eq!(after.emit(7).status, EmitStatus::NoReceivers);
    assert_eq!(Ping(8).emit().status, EmitStatus::NoReceivers);
}

#[test]
fn global_middleware_filters_the_hot_path_of_every_form() {
    let mut global = serial();
    let signal = Signal::<u32>::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let _c = signal.connect(move |_: &u32| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    let ping_seen = Arc::new(AtomicUsize::new(0));
    let ping_counted = ping_seen.clone();
    let _p = Ping::signal().connect_scoped(move |_: &Ping| {
        ping_counted.fetch_add(1, Ordering::Relaxed);
    });
    let mut publisher = signal.publisher();
    // Warm every form's hot path (and the thread cache) first.
    signal.emit(1);
    publisher.emit(1);
    Ping(1).emit();
    assert_eq!((seen.load(Ordering::Relaxed), ping_seen.load(Ordering::Relaxed)), (2, 1));

    let handle = global.add_global(|_: &mut dyn DynEvent| Flow::Drop);
    assert_eq!(signal.emit(2).status, EmitStatus::Filtered);
    assert_eq!(publisher.emit(2).status, EmitStatus::Filtered);
    assert_eq!(Ping(2).emit().status, EmitStatus::Filtered);
    let late = Signal::<u32>::new();
    let _l = late.connect(|_: &u32| -> () { panic!("filtered") });
    assert_eq!(late.emit(2).status, EmitStatus::Filtered);
    assert!(handle.remove());

    assert_eq!(signal.emit(3).delivered, 1);
    assert_eq!(publisher.emit(3).delivered, 1);
    assert_eq!(Ping(3).emit().delivered, 1);
    assert_eq!((seen.load(Ordering::Relaxed), ping_seen.load(Ordering::Relaxed)), (4, 2));
}

#[test]
fn a_scope_entered_after_the_static_signal_was_made_still_gets_its_events() {
    let _global = serial();
    let global = Arc::new(AtomicUsize::new(0));
    let counted = global.clone();
    let _c = Ping::signal().connect_scoped(move |_: &Ping| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    Ping(1).emit();
    assert_eq!(global.load(Ordering::Relaxed), 1);
    {
        let mesh = mesh::testing::scope();
        let all = mesh.record_all();
        // The process-wide signal has a receiver and no state: without the
        // scope's bit, this emit would take its hot path.
        Ping(2).emit();
        assert_eq!(all.events().len(), 1, "the scope's signal got the event");
        assert_eq!(global.load(Ordering::Relaxed), 1, "the process-wide one did not");
    }
    Ping(3).emit();
    assert_eq!(global.load(Ordering::Relaxed), 2);
}

#[test]
fn mute_guards_and_receivers_share_the_word_without_disturbing_each_other() {
    let _global = serial();
    let signal = Signal::<u32>::new();
    let guards: Vec<_> = (0..1000).map(|_| signal.mute()).collect();
    let mut conns: Vec<_> = (0..300).map(|_| signal.connect(|_: &u32| {})).collect();
    assert_eq!(signal.receiver_count(), 300);
    assert_eq!(signal.emit(1).status, EmitStatus::Muted);
    let last = conns.pop().expect("300 of them");
    for c in conns {
        c.disconnect();
    }
    assert_eq!(signal.receiver_count(), 1);
    drop(guards);
    assert!(!signal.is_muted());
    assert_eq!(signal.emit(1).delivered, 1);
    last.disconnect();
    assert_eq!(signal.emit(1).status, EmitStatus::NoReceivers);
}

#[test]
fn too_many_mute_guards_panic_and_leave_the_count_as_it_was() {
    let _global = serial();
    let signal = Signal::<u32>::new();
    signal.connect(|_: &u32| {});
    let max = (1usize << 20) - 1;
    let guards: Vec<_> = (0..max).map(|_| signal.mute()).collect();
    let more = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| signal.mute()));
    let message = more.err().and_then(|p| p.downcast_ref::<String>().cloned());
    assert_eq!(message.as_deref(), Some("more than 1048575 mute guards alive on one signal"));
    assert!(signal.is_muted());
    assert_eq!(signal.receiver_count(), 1, "the count beside the mute bits is intact");
    drop(guards);
    assert!(!signal.is_muted());
    assert_eq!(signal.emit(1).delivered, 1);
}

/// A live testing scope sets the `GLOBAL` bit on every signal but asks
/// nothing of one already resolved: an idle publisher still reports
/// `NoReceivers` for a muted signal and for a counted one, and counts
/// nothing (found in review: it took the general path, which reported
/// `Muted` and counted the emit).
#[test]
fn a_live_scope_changes_nothing_for_an_idle_publisher() {
    let _global = serial();
    static NS: mesh::Namespace = mesh::Namespace::new("gate-idle");
    let muted = Signal::<u32>::new();
    let _m = muted.mute();
    let mut muted_publisher = muted.publisher();
    mesh::introspect::set_stats(true);
    let counted = NS.signal::<u32>("counted").unwrap();
    let mut counted_publisher = counted.publisher();
    let _scope = mesh::testing::scope();
    assert_eq!(muted.emit(1).status, EmitStatus::NoReceivers);
    assert_eq!(muted_publisher.emit(1).status, EmitStatus::NoReceivers);
    assert_eq!(counted_publisher.emit(1).status, EmitStatus::NoReceivers);
    let emits = mesh::introspect::topology().signal("gate-idle.counted").map(|s| s.emits);
    assert_eq!(emits, Some(0), "nothing counted");
}

/// The envelope path of a `Publisher` (receivers that take `&Event<T>`)
/// still meets global work that came after the publisher was made.
#[test]
fn a_publishers_envelope_path_meets_global_work() {
    let mut global = serial();
    let signal = Signal::<u32>::new();
    let _c = signal.connect(|_: &mesh::Event<u32>| {});
    let mut publisher = signal.publisher();
    assert_eq!(publisher.emit(1).delivered, 1);
    let handle = global.add_global(|_: &mut dyn DynEvent| Flow::Drop);
    assert_eq!(publisher.emit(2).status, EmitStatus::Filtered);
    assert!(handle.remove());
    mesh::history::set_recent_capacity(8);
    assert_eq!(publisher.emit(3).delivered, 1);
    assert_eq!(recent_payloads(), 1, "the recent view saw it");
    mesh::history::set_recent_capacity(0);
    assert_eq!(publisher.emit(4).delivered, 1);
}
