//! Feature `metrics`: the introspection snapshot through the `metrics`
//! facade (issue 13), read by a recorder of the test's own.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

use mesh::delivery::{Overflow, Queue};
use mesh::introspect;
use mesh::prelude::*;

/// The last value of each (name{labels}).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<BTreeMap<String, f64>>>);

struct Handle(Capture, String);

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.0.0.lock().unwrap().insert(self.1.clone(), value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.0.0.lock().unwrap().insert(self.1.clone(), value);
    }
}

fn key_text(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle(self.clone(), key_text(key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Handle(self.clone(), key_text(key))))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn the_snapshot_is_published_through_the_facade() {
    static NS: Namespace = Namespace::new("metrics-test");
    let s = NS.signal::<u32>("n").unwrap();
    let _r = s.connect(|n: &u32| if *n == 3 { Err("three") } else { Ok(()) });
    let _q = s.subscribe(
        Queue::bounded(2)
            .overflow(Overflow::DropOldest)
            .options(mesh::ConnectOptions::new().name("slow")),
    );
    for n in 0..5 {
        s.emit(n);
    }
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        introspect::topology().under("metrics-test").record_metrics()
    });
    let got = capture.0.lock().unwrap().clone();
    let value = |k: &str| got.get(k).copied().unwrap_or_else(|| panic!("{k} missing: {got:?}"));
    assert_eq!(value("mesh_receivers{signal=metrics-test.n}"), 2.0);
    assert_eq!(value("mesh_receiver_failures_total{signal=metrics-test.n}"), 1.0);
    assert_eq!(value("mesh_queue_length{signal=metrics-test.n,receiver=slow}"), 2.0);
    assert_eq!(value("mesh_queue_capacity{signal=metrics-test.n,receiver=slow}"), 2.0);
    assert_eq!(value("mesh_queue_offered_total{signal=metrics-test.n,receiver=slow}"), 5.0);
    assert_eq!(value("mesh_queue_dropped_total{signal=metrics-test.n,receiver=slow}"), 3.0);
    assert!(!got.keys().any(|k| k.starts_with("mesh_emits_total")), "counting is off");
}
