//! Stress: two publisher threads, a third thread connecting and
//! disconnecting. Every receiver connected for the whole run sees every
//! event exactly once; nothing leaks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mesh::{Event, Signal};

const PER_PUBLISHER: u64 = 20_000;
const STEADY: usize = 4;

struct Tracker {
    seen: Mutex<Vec<u64>>,
}

#[test]
fn two_publishers_and_a_churning_subscriber() {
    let signal = Signal::<u64>::new();
    // Steady receivers: connected before, disconnected after. Half take the
    // payload, half the envelope; they record what they see.
    let trackers: Vec<Arc<Tracker>> =
        (0..STEADY).map(|_| Arc::new(Tracker { seen: Mutex::new(Vec::new()) })).collect();
    let mut steady = Vec::new();
    for (i, t) in trackers.iter().enumerate() {
        let t2 = t.clone();
        steady.push(if i % 2 == 0 {
            signal.connect(move |x: &u64| t2.seen.lock().unwrap().push(*x))
        } else {
            signal.connect(move |ev: &Event<u64>| t2.seen.lock().unwrap().push(ev.data))
        });
    }
    // A weak receiver whose object lives for the whole run.
    let weak_obj = Arc::new(Tracker { seen: Mutex::new(Vec::new()) });
    signal.connect_weak(&weak_obj, |t: &Tracker, x: &u64| t.seen.lock().unwrap().push(*x));

    // Token captured by every churn receiver: its strong count tells
    // whether any closure is still alive.
    let token = Arc::new(());
    let churn_calls = Arc::new(AtomicUsize::new(0));
    let stop = AtomicBool::new(false);
    let mut publisher_b = signal.publisher();

    std::thread::scope(|s| {
        let churn = s.spawn(|| {
            let mut cycles = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = token.clone();
                let calls = churn_calls.clone();
                let c = signal.connect(move |_: &u64| {
                    let _keep = &t;
                    calls.fetch_add(1, Ordering::Relaxed);
                });
                // Weak receivers on short-lived objects: must vanish.
                let obj = Arc::new(());
                signal.connect_weak(&obj, |_: &(), _: &u64| {});
                drop(obj);
                let scoped = signal.connect_scoped(|_: &Event<u64>| {});
                std::hint::spin_loop();
                drop(scoped);
                c.disconnect();
                cycles += 1;
            }
            cycles
        });
        let a = s.spawn(|| {
            for i in 0..PER_PUBLISHER {
                signal.emit(i * 2);
            }
        });
        let b = s.spawn(move || {
            for i in 0..PER_PUBLISHER {
                publisher_b.emit(i * 2 + 1);
            }
            drop(publisher_b);
        });
        a.join().unwrap();
        b.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        let cycles = churn.join().unwrap();
        assert!(cycles > 0, "churn thread ran");
    });

    let expected: HashSet<u64> = (0..2 * PER_PUBLISHER).collect();
    for t in trackers.iter().chain(std::iter::once(&weak_obj)) {
        let seen = t.seen.lock().unwrap();
        assert_eq!(seen.len() as u64, 2 * PER_PUBLISHER, "exactly once: no duplicates or losses");
        assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), expected);
        // Each publisher's own events arrive in its emit order.
        let evens: Vec<_> = seen.iter().filter(|x| *x % 2 == 0).collect();
        assert!(evens.windows(2).all(|w| w[0] < w[1]), "per-publisher order kept");
        let odds: Vec<_> = seen.iter().filter(|x| *x % 2 == 1).collect();
        assert!(odds.windows(2).all(|w| w[0] < w[1]), "per-publisher order kept");
    }

    // Nothing leaks: the churn closures are gone, the short-lived weak
    // receivers are removed, the steady ones remain until disconnected.
    assert_eq!(Arc::strong_count(&token), 1, "every churn closure was dropped");
    assert_eq!(signal.receiver_count(), STEADY + 1);
    for c in steady {
        assert!(c.disconnect());
    }
    for t in &trackers {
        assert_eq!(Arc::strong_count(t), 1, "steady receivers released their state");
    }
    let weak = Arc::downgrade(&weak_obj);
    drop(weak_obj);
    assert_eq!(signal.receiver_count(), 0);
    assert_eq!(weak.weak_count(), 0, "weak receiver vanished");
}
