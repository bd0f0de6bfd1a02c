//! Effects regressions found by review (each failed before its fix): a
//! `#[receiver(pattern = ..)]` and an async `#[receiver]` returning
//! `Effects` lost the causing event's id; a payload-only queue correlated
//! them with the nil id. Own binary: it installs a spawner.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mesh::Signal;
use mesh::delivery::{self, Queue, Task};
use mesh::effects::{CAUSATION_ID, Effects};
use mesh::middleware::CORRELATION_ID;
use mesh::prelude::*;
use mesh_test_support::block_on;

#[signal(name = "fxr.pin")]
#[derive(Debug, Clone)]
struct PatIn(u32);
#[signal(name = "fxr.pout")]
#[derive(Debug, Clone, PartialEq)]
struct PatOut(u32);

#[receiver(pattern = "fxr.pin")]
fn pat(x: &PatIn) -> Effects {
    Effects::new().emit(PatOut(x.0))
}

#[signal(name = "fxr.ain")]
#[derive(Debug, Clone)]
struct AIn(u32);
#[signal(name = "fxr.aout")]
#[derive(Debug, Clone, PartialEq)]
struct AOut(u32);

#[receiver]
async fn asyncfx(ev: &Event<AIn>) -> Effects {
    Effects::new().emit(AOut(ev.data.0))
}

/// The causation and correlation ids an effect of the first event in a
/// chain carries: both the cause's id.
fn ids_of(metadata: &mesh::Metadata) -> (Option<String>, Option<String>) {
    (metadata.get(CAUSATION_ID).map(str::to_owned), metadata.get(CORRELATION_ID).map(str::to_owned))
}

#[test]
fn pattern_receiver_macro_effects_are_correlated() {
    let _mesh = mesh::testing::Scope::new().with_global_receivers().enter();
    let cause = mesh::testing::Recorder::<PatIn>::new();
    let out = mesh::testing::Recorder::<PatOut>::new();
    PatIn(1).emit();
    let causes = cause.events();
    assert_eq!(causes.len(), 1);
    let id = causes[0].id.to_string();
    let ev = out.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ids_of(&ev[0].metadata),
        (Some(id.clone()), Some(id)),
        "pattern #[receiver]: the effect carries the cause's id"
    );
}

fn run(task: Task) {
    thread::spawn(move || block_on(task));
}

#[test]
fn async_receiver_macro_effects_are_correlated() {
    delivery::set_spawner(run);
    let cause = Arc::new(Mutex::new(Vec::new()));
    let c = cause.clone();
    let _a = AIn::signal().connect(move |ev: &Event<AIn>| c.lock().unwrap().push(ev.id));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _c = AOut::signal().connect(move |ev: &Event<AOut>| {
        s.lock().unwrap().push(ids_of(&ev.metadata));
    });
    AIn(3).emit();
    let t = Instant::now();
    while seen.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    let cause = cause.lock().unwrap();
    assert_eq!(cause.len(), 1);
    let id = cause[0].to_string();
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some(id.clone()), Some(id))],
        "async #[receiver]: the effect carries the cause's id"
    );
}

/// With no other receiver reading the envelope, a payload-only queue gets
/// the bare one (the nil id, see `Queue::payload_only`): there is no cause
/// to name, so its effects carry no causation or correlation id at all
/// (they carried the nil id).
#[test]
fn a_payload_only_queue_does_not_correlate_with_the_nil_id() {
    let trig = Signal::<u32>::new();
    let out = Signal::<u8>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _c = out.connect(move |ev: &Event<u8>| {
        s.lock().unwrap().push(ids_of(&ev.metadata));
    });
    let handed = Arc::new(Mutex::new(Vec::new()));
    let h = handed.clone();
    let o2 = out.clone();
    let (_h, driver) =
        trig.connect_async(Queue::bounded(8).payload_only(), move |ev: Arc<Event<u32>>| {
            h.lock().unwrap().push(ev.id);
            let o = o2.clone();
            async move { Effects::new().emit_on(&o, ev.data as u8) }
        });
    trig.emit(5);
    _h.disconnect(mesh::delivery::Shutdown::Drain);
    block_on(driver);
    assert!(
        handed.lock().unwrap().iter().all(|id| id.is_nil()),
        "the queue got the bare envelope (else this test checks nothing)"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [(None, None)],
        "payload_only queue: effects of a bare envelope name no cause"
    );
}

/// A payload-only queue on a signal another receiver reads envelopes of
/// shares the real envelope: its effects carry that event's id.
#[test]
fn a_payload_only_queue_correlates_with_a_real_envelope() {
    let trig = Signal::<u32>::new();
    let out = Signal::<u8>::new();
    let cause = Arc::new(Mutex::new(Vec::new()));
    let c = cause.clone();
    let _r = trig.connect(move |ev: &Event<u32>| c.lock().unwrap().push(ev.id));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _c = out.connect(move |ev: &Event<u8>| {
        s.lock().unwrap().push(ids_of(&ev.metadata));
    });
    let o2 = out.clone();
    let (_h, driver) =
        trig.connect_async(Queue::bounded(8).payload_only(), move |ev: Arc<Event<u32>>| {
            let o = o2.clone();
            async move { Effects::new().emit_on(&o, ev.data as u8) }
        });
    trig.emit(5);
    _h.disconnect(mesh::delivery::Shutdown::Drain);
    block_on(driver);
    let cause = cause.lock().unwrap();
    assert_eq!(cause.len(), 1);
    assert!(!cause[0].is_nil());
    let id = cause[0].to_string();
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some(id.clone()), Some(id))],
        "payload_only queue beside an envelope reader: the effect carries the cause's id"
    );
}
