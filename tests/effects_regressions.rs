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

#[test]
fn pattern_receiver_macro_effects_are_correlated() {
    let _mesh = mesh::testing::Scope::new().with_global_receivers().enter();
    let out = mesh::testing::Recorder::<PatOut>::new();
    PatIn(1).emit();
    let ev = out.events();
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].metadata.get(CAUSATION_ID).is_some(),
        "pattern #[receiver]: no causation id: {:?}",
        ev[0].metadata
    );
}

fn run(task: Task) {
    thread::spawn(move || block_on(task));
}

#[test]
fn async_receiver_macro_effects_are_correlated() {
    delivery::set_spawner(run);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _c = AOut::signal().connect(move |ev: &Event<AOut>| {
        s.lock().unwrap().push(ev.metadata.get(CAUSATION_ID).map(str::to_owned));
    });
    AIn(3).emit();
    let t = Instant::now();
    while seen.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].is_some(), "async #[receiver]: no causation id");
}

#[test]
fn a_payload_only_queue_does_not_correlate_with_the_nil_id() {
    let trig = Signal::<u32>::new();
    let out = Signal::<u8>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _c = out.connect(move |ev: &Event<u8>| {
        s.lock().unwrap().push(ev.metadata.get(CAUSATION_ID).map(str::to_owned));
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
    let seen = seen.lock().unwrap();
    assert_ne!(
        seen[0].as_deref(),
        Some("00000000-0000-0000-0000-000000000000"),
        "payload_only queue: effects correlated with nil id"
    );
}
