//! Bug: a `#[signal]` type's static signal connected its `#[receiver]`s
//! inside its lazy initialiser and fired `mesh.receiver.connected` there,
//! so a meta receiver that emitted the same event type deadlocked. No user
//! code may run while a static signal is being initialised.
//!
//! Its own test binary: the meta receiver watches every connect in the
//! process.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use mesh::meta::{self, ReceiverConnected};
use mesh::prelude::*;

#[signal(name = "static_init.boot")]
pub struct Boot(u32);

static SEEN: AtomicU32 = AtomicU32::new(0);

#[receiver]
fn on_boot(b: &Boot) {
    SEEN.fetch_add(b.0, Ordering::Relaxed);
}

#[test]
fn a_meta_receiver_may_emit_the_type_being_initialised() {
    let _watch = meta::connected().connect_scoped(|ev: &ReceiverConnected| {
        if ev.signal == Boot::NAME {
            Boot(10).emit();
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        Boot(1).emit();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("deadlocked in the static initialiser");
    // The global receiver saw the meta receiver's event and the first one.
    assert_eq!(SEEN.load(Ordering::Relaxed), 11);
}
