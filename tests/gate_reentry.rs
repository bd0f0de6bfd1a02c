//! Turning global work on or off pushes a bit to every signal; that must
//! never run a signal's drop (user code: its receivers' captures) on the
//! toggling thread while the toggle holds a lock of its own (found in
//! review: `set_recent_capacity` upgraded every signal and could end up
//! holding the last handle of one another thread dropped meanwhile; the
//! drop then ran under `RECENT_CONFIG`, and a receiver capture whose drop
//! turns the view off deadlocked). Own binary: the view is process-wide.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use mesh::Signal;

/// One test at a time: both toggle the process-wide view.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A receiver capture whose drop toggles the recent view.
struct Toggles;

impl Drop for Toggles {
    fn drop(&mut self) {
        mesh::history::set_recent_capacity(0);
    }
}

#[test]
fn a_signal_dropped_during_a_toggle_never_runs_its_drop_under_the_toggles_lock() {
    let _s = serial();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        // Victims first, so a toggle's pass over every signal takes a
        // handle to them at its start; then many idle signals, so the pass
        // lasts long enough for the other thread to drop a victim in it.
        let victims: Vec<Signal<u8>> = (0..20)
            .map(|_| {
                let victim = Signal::<u8>::new();
                let toggles = Toggles;
                victim.connect(move |_: &u8| {
                    let _ = &toggles;
                });
                victim
            })
            .collect();
        let idle: Vec<Signal<u8>> = (0..200_000).map(|_| Signal::new()).collect();
        let toggling = AtomicBool::new(true);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for victim in victims {
                    std::thread::sleep(Duration::from_millis(7));
                    drop(victim);
                }
            });
            scope.spawn(|| {
                while toggling.load(Ordering::Relaxed) {
                    mesh::history::set_recent_capacity(16);
                    mesh::history::set_recent_capacity(0);
                }
            });
            std::thread::sleep(Duration::from_millis(7 * 20 + 50));
            toggling.store(false, Ordering::Relaxed);
        });
        mesh::history::set_recent_capacity(0);
        drop(idle);
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(20)).is_ok(),
        "a signal's drop ran under set_recent_capacity's lock and deadlocked"
    );
}

/// Signals made while another thread turns global work on and off all
/// end with the bit the last change set: none misses it (a signal is
/// listed, and given the bit, under the same lock as the change).
#[test]
fn signals_made_during_toggles_all_see_the_final_state() {
    let _s = serial();
    let made: Vec<Signal<u8>> = std::thread::scope(|scope| {
        let maker = scope.spawn(|| (0..5_000).map(|_| Signal::<u8>::new()).collect::<Vec<_>>());
        for i in 0..200 {
            mesh::history::set_recent_capacity(if i % 2 == 0 { 4 } else { 0 });
        }
        mesh::history::set_recent_capacity(1_000_000);
        maker.join().unwrap()
    });
    // The view is on: every emit, on every signal, is recorded.
    for s in &made {
        s.emit(1);
    }
    assert_eq!(mesh::history::recent().len(), made.len());
    mesh::history::set_recent_capacity(0);
    // Off: no signal takes the full path any more.
    assert!(made.iter().all(|s| s.emit(1).status == mesh::EmitStatus::NoReceivers));
}
