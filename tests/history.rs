//! History: bounded rings, replay to late subscribers without gap or
//! duplicate, and the process-wide recent view.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mesh::{Event, Signal, SignalConfig};

#[test]
fn keeps_the_last_n_in_seq_order_and_clears() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(4));
    assert_eq!(s.history_capacity(), 4);
    for i in 0..10 {
        s.emit(i);
    }
    let h = s.history();
    assert_eq!(h.iter().map(|e| e.data).collect::<Vec<_>>(), [6, 7, 8, 9]);
    assert_eq!(h.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8, 9, 10]);
    assert!(h.windows(2).all(|w| w[0].id < w[1].id));
    s.clear_history();
    assert!(s.history().is_empty());
    s.set_history_capacity(2);
    for i in 0..3 {
        s.emit(i);
    }
    assert_eq!(s.history().iter().map(|e| e.data).collect::<Vec<_>>(), [1, 2]);
    s.set_history_capacity(0);
    assert!(s.history().is_empty());
    s.emit(5);
    assert!(s.history().is_empty());
}

#[test]
fn history_is_recorded_with_no_receivers() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(2));
    assert_eq!(s.receiver_count(), 0);
    s.emit(1);
    assert_eq!(s.history().len(), 1);
}

#[test]
fn replay_then_live() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(3));
    for i in 1..=5 {
        s.emit(i);
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    s.connect_with_replay(move |ev: &Event<u32>| g.lock().unwrap().push((ev.seq, ev.data)));
    s.emit(6);
    assert_eq!(*got.lock().unwrap(), [(3, 3), (4, 4), (5, 5), (6, 6)]);
    let payloads = Arc::new(Mutex::new(Vec::new()));
    let p = payloads.clone();
    s.connect_with_replay(move |x: &u32| p.lock().unwrap().push(*x));
    assert_eq!(*payloads.lock().unwrap(), [4, 5, 6]);
}

/// The race: emitters keep emitting while a late subscriber connects with
/// replay; it must see one contiguous run of seq numbers, each once, in
/// order per emitting thread.
#[test]
fn replay_has_no_gap_and_no_duplicate_under_concurrent_emits() {
    for round in 0..20 {
        let s = Signal::<u64>::with_config(SignalConfig::new().history(100_000));
        let stop = AtomicBool::new(false);
        let got = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|sc| {
            for t in 0..2u64 {
                let s = &s;
                let stop = &stop;
                sc.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) || i < 2_000 {
                        s.emit(t << 32 | i);
                        i += 1;
                        if i > 20_000 {
                            break;
                        }
                    }
                });
            }
            // Connect mid-stream. Not a tight loop: each check takes the
            // history lock, and a spinning reader can starve the emitters
            // of it on a loaded machine (`std`'s mutex is not fair: this
            // test once hung that way under parallel builds).
            while s.history().len() < 500 + round * 10 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            let g = got.clone();
            s.connect_with_replay(move |ev: &Event<u64>| g.lock().unwrap().push((ev.seq, ev.data)));
            stop.store(true, Ordering::Relaxed);
        });
        let got = got.lock().unwrap();
        let last = s.history().last().map(|e| e.seq).unwrap();
        let seqs: Vec<u64> = got.iter().map(|(q, _)| *q).collect();
        let unique: HashSet<_> = seqs.iter().collect();
        assert_eq!(unique.len(), seqs.len(), "no duplicates");
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=last).collect::<Vec<_>>(), "every seq from the first, no gap");
        // Per emitting thread, payloads arrive in emission order.
        for t in 0..2u64 {
            let mine: Vec<_> = got.iter().filter(|(_, d)| d >> 32 == t).map(|(_, d)| *d).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-thread order");
        }
    }
}

#[test]
fn recent_view_is_type_erased_and_bounded() {
    // The recent view is process-wide: this is the only test that turns it
    // on, and it looks only at its own signals' events.
    mesh::history::set_recent_capacity(64);
    let a = Signal::<String>::new();
    a.debug_payloads();
    let b = Signal::<Vec<u8>>::new(); // Debug unknown to the signal
    for i in 0..100 {
        a.emit(format!("a{i}"));
    }
    b.emit(vec![1]);
    let recent = mesh::history::recent();
    assert!(recent.len() <= 64);
    let mine: Vec<_> = recent.iter().filter(|e| e.payload.starts_with("\"a")).collect();
    assert!(mine.last().unwrap().payload == "\"a99\"");
    assert!(recent.iter().any(|e| e.payload == "<alloc::vec::Vec<u8>>"));
    mesh::history::set_recent_capacity(0);
    assert!(mesh::history::recent().is_empty());
}

#[test]
fn live_events_wait_for_the_replay_even_if_history_is_switched_off() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(8));
    for i in 1..=3 {
        s.emit(i);
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, s2) = (got.clone(), s.clone());
    s.connect_with_replay(move |ev: &Event<u32>| {
        g.lock().unwrap().push(ev.data);
        if ev.data == 1 {
            s2.set_history_capacity(0);
            let s3 = s2.clone();
            std::thread::spawn(move || s3.emit(100)).join().unwrap();
        }
    });
    assert_eq!(*got.lock().unwrap(), [1, 2, 3, 100]);
}
