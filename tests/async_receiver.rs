//! `#[receiver] async fn` (issue 10): connected on first use like any
//! `#[receiver]`, its driver handed to the installed spawner, failures
//! isolated and reported. Its own test binary: the spawner is process-wide.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mesh::delivery::{self, Task};
use mesh::prelude::*;
use mesh_test_support::{block_on, yield_once};

#[signal]
#[derive(Debug, Clone)]
pub struct Order {
    pub id: u32,
}

static ENVELOPES: Mutex<Vec<(u32, u64)>> = Mutex::new(Vec::new());
static PAYLOADS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static FAILURES: AtomicUsize = AtomicUsize::new(0);

#[receiver(queue = 64, overflow = block)]
async fn index(ev: &Event<Order>) -> Result<(), String> {
    ENVELOPES.lock().unwrap().push((ev.data.id, ev.seq));
    if ev.data.id == 3 { Err(format!("order {} is broken", ev.data.id)) } else { Ok(()) }
}

#[receiver(name = "payloads")]
async fn count(order: &Order) {
    yield_once().await;
    PAYLOADS.lock().unwrap().push(order.id);
}

fn run(task: Task) {
    thread::spawn(move || block_on(task));
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn async_receivers_run_once_spawned() {
    let failures = mesh::meta::failed().connect_scoped(|f: &mesh::meta::ReceiverFailed| {
        if f.signal == Order::signal().name() {
            assert_eq!(f.message, "order 3 is broken");
            FAILURES.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Emitted before a spawner exists: queued, waiting for their drivers.
    for id in 1..=2 {
        assert_eq!(Order { id }.emit().queued, 2);
    }
    // Their two drivers wait for a spawner; the program may run them.
    let pending = delivery::take_pending();
    assert_eq!(pending.len(), 2);
    pending.into_iter().for_each(run);
    delivery::set_spawner(run);
    for id in 3..=5 {
        let r = Order { id }.emit();
        assert_eq!((r.queued, r.delivered), (2, 0));
    }
    wait_for("every event", || {
        ENVELOPES.lock().unwrap().len() == 5 && PAYLOADS.lock().unwrap().len() == 5
    });
    let seen = ENVELOPES.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert!(seen.iter().all(|e| e.1 > 0), "the envelope is numbered");
    assert_eq!(*PAYLOADS.lock().unwrap(), [1, 2, 3, 4, 5]);
    wait_for("the failure report", || FAILURES.load(Ordering::SeqCst) == 1);
    assert_eq!(Order::signal().failure_count(), 1);
    let names: Vec<_> = Order::signal().receivers().into_iter().map(|r| r.name).collect();
    assert!(names.iter().any(|n| n == "payloads"), "{names:?}");
    drop(failures);
}
