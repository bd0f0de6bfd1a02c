//! Loom models of the signal beyond the subscriber snapshot: the ordered
//! signal's turn and queue, replay catch-up, and a publisher's cached
//! view of the signal's flags. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p mesh --lib --release loom`
//! (`.ci/run` does). The signal's own atomics and locks come from
//! [`crate::loom`], so loom explores their interleavings.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::thread;

use crate::event::Event;
use crate::middleware::Flow;
use crate::signal::{EmitStatus, Signal, SignalConfig};

/// Bounded exploration: every interleaving with up to `n` preemptions.
fn model(n: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(n);
    builder.check(f);
}

/// Two threads emit on an ordered signal: exactly one of them dispatches
/// at a time, each event is delivered once, and `seq` follows delivery
/// order. An emit that finds the turn taken is deferred, never lost: the
/// dispatching thread delivers it before giving up the turn.
#[test]
fn loom_ordered_turn_delivers_each_event_once_in_seq_order() {
    model(3, || {
        let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
        let log = Arc::new(Mutex::new(Vec::new()));
        let busy = Arc::new(AtomicBool::new(false));
        let (l, b) = (log.clone(), busy.clone());
        s.connect(move |ev: &Event<u32>| {
            assert!(!b.swap(true, SeqCst), "two dispatches of an ordered signal at once");
            l.lock().unwrap().push((ev.seq, ev.data));
            b.store(false, SeqCst);
        });
        let s2 = s.clone();
        let t = thread::spawn(move || s2.emit(1).status);
        let mine = s.emit(2).status;
        let theirs = t.join().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!([log[0].0, log[1].0], [1, 2], "seq follows delivery order: {log:?}");
        let mut data = [log[0].1, log[1].1];
        data.sort();
        assert_eq!(data, [1, 2]);
        let deferred = [mine, theirs].iter().filter(|s| **s == EmitStatus::Deferred).count();
        assert!(deferred <= 1, "{mine:?} {theirs:?}");
    });
}

/// A receiver connected with replay while another thread emits sees
/// every event once, in `seq` order: the emit is either in the history it
/// replays or delivered live (and buffered until the replay is done).
#[test]
fn loom_replay_catch_up_has_no_gap_and_no_duplicate() {
    model(3, || {
        let s = Signal::<u32>::with_config(SignalConfig::new().history(4));
        s.emit(1);
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.emit(2);
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        s.connect_with_replay(move |ev: &Event<u32>| l.lock().unwrap().push(ev.seq));
        t.join().unwrap();
        s.emit(3);
        assert_eq!(*log.lock().unwrap(), [1, 2, 3]);
    });
}

/// A publisher caches the snapshot and what it derived from the signal's
/// flags; a middleware added before an emit starts (happens-before) must
/// run for that emit, however the publisher's cache raced with it.
#[test]
fn loom_publisher_sees_middleware_added_before_its_emit() {
    model(3, || {
        let s = Signal::<u32>::new();
        s.connect(|_: &u32| {});
        let mut p = s.publisher();
        let seen = Arc::new(AtomicUsize::new(0));
        let added = Arc::new(AtomicBool::new(false));
        let (s2, seen2, added2) = (s.clone(), seen.clone(), added.clone());
        let t = thread::spawn(move || {
            let _kept = s2.add_middleware(move |_: &mut Event<u32>| {
                seen2.fetch_add(1, SeqCst);
                Flow::Continue
            });
            added2.store(true, SeqCst);
        });
        let was_added = added.load(SeqCst);
        p.emit(1);
        t.join().unwrap();
        let first = seen.load(SeqCst);
        if was_added {
            assert_eq!(first, 1, "the publisher missed a middleware added before its emit");
        }
        p.emit(2);
        assert_eq!(seen.load(SeqCst), first + 1, "the publisher missed the middleware");
    });
}
