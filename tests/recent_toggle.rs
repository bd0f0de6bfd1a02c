//! Turning the recent-events view on and off while other threads emit
//! must not deadlock (a report from a CI run: `set_recent_capacity` held
//! the view's lock while registering its observer, and an emit held the
//! observers' lock while recording into the view). Own binary: the view
//! is process-wide.

use std::sync::mpsc;
use std::time::Duration;

use mesh::Signal;

#[test]
fn toggling_the_recent_view_while_emitting_does_not_deadlock() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let s = Signal::<u64>::new();
        s.connect(|_: &u64| {});
        std::thread::scope(|scope| {
            for t in 0..2u64 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..20_000 {
                        s.emit(t << 32 | i);
                    }
                });
            }
            scope.spawn(|| {
                for i in 0..2_000 {
                    mesh::history::set_recent_capacity(if i % 2 == 0 { 16 } else { 0 });
                }
            });
        });
        mesh::history::set_recent_capacity(0);
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(20)).is_ok(),
        "emitters and set_recent_capacity deadlocked"
    );
}
