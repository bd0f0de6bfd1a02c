//! Middleware: order, transformation, filtering, the built-ins, and global
//! chains.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh::middleware::{self, CORRELATION_ID, CorrelationId, DynEvent, Flow, RateLimit, Sample};
use mesh::{EmitStatus, Event, Signal};

#[test]
fn chain_runs_in_order_and_can_change_everything() {
    let s = Signal::<String>::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    s.add_middleware(move |ev: &mut Event<String>| {
        o1.lock().unwrap().push("first");
        ev.data.push_str("+a");
        ev.source = Some("rewritten".into());
        Flow::Continue
    });
    s.add_middleware(move |ev: &mut Event<String>| {
        o2.lock().unwrap().push("second");
        ev.data.push_str("+b");
        ev.metadata.insert("k", "v");
        assert_eq!(ev.seq, 0, "seq is assigned after the chain");
        Flow::Continue
    });
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    s.connect(move |ev: &Event<String>| *g.lock().unwrap() = Some(ev.clone()));
    assert_eq!(s.emit("x".into()).delivered, 1);
    let ev = got.lock().unwrap().clone().unwrap();
    assert_eq!(ev.data, "x+a+b");
    assert_eq!(ev.source.as_deref(), Some("rewritten"));
    assert_eq!(ev.metadata.get("k"), Some("v"));
    assert_eq!(ev.seq, 1);
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
}

#[test]
fn payload_receivers_see_transformed_payload_and_filter_drops_without_gap() {
    let s = Signal::<i32>::new();
    s.add_middleware(
        |ev: &mut Event<i32>| if ev.data % 2 == 0 { Flow::Drop } else { Flow::Continue },
    );
    s.add_middleware(|ev: &mut Event<i32>| {
        ev.data *= 100;
        Flow::Continue
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    s.connect(move |x: &i32| a.lock().unwrap().push(format!("p{x}")));
    s.connect(move |ev: &Event<i32>| b.lock().unwrap().push(format!("e{}#{}", ev.data, ev.seq)));
    for i in 1..=4 {
        let r = s.emit(i);
        if i % 2 == 0 {
            assert_eq!(r.status, EmitStatus::Filtered);
            assert_eq!(r.delivered, 0);
        }
    }
    assert_eq!(*seen.lock().unwrap(), ["p100", "e100#1", "p300", "e300#2"]);
}

#[test]
fn filtered_events_reach_no_history() {
    let s = Signal::<u32>::new();
    s.set_history_capacity(8);
    s.add_middleware(|ev: &mut Event<u32>| if ev.data == 0 { Flow::Drop } else { Flow::Continue });
    s.emit(0);
    s.emit(1);
    assert_eq!(s.history().iter().map(|e| e.data).collect::<Vec<_>>(), [1]);
}

#[test]
fn removing_middleware() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    let h = s.add_middleware(|_: &mut Event<u32>| Flow::Drop);
    assert_eq!(s.emit(1).status, EmitStatus::Filtered);
    assert!(h.clone().remove());
    assert!(!h.remove());
    assert_eq!(s.emit(1).delivered, 1);
}

#[test]
fn rate_limit_drops_beyond_budget() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    s.add_middleware(RateLimit::new(3, Duration::from_secs(3600)));
    let delivered: Vec<_> = (0..5).map(|i| s.emit(i).status).collect();
    assert_eq!(
        delivered,
        [
            EmitStatus::Dispatched,
            EmitStatus::Dispatched,
            EmitStatus::Dispatched,
            EmitStatus::Filtered,
            EmitStatus::Filtered
        ]
    );
}

#[test]
fn rate_limit_refills_over_time() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    s.add_middleware(RateLimit::new(1, Duration::from_millis(20)));
    assert_eq!(s.emit(0).status, EmitStatus::Dispatched);
    assert_eq!(s.emit(0).status, EmitStatus::Filtered);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(s.emit(0).status, EmitStatus::Dispatched);
}

#[test]
fn sampler_keeps_one_in_n() {
    let s = Signal::<u32>::new();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let k = kept.clone();
    s.connect(move |x: &u32| k.lock().unwrap().push(*x));
    s.add_middleware(Sample::one_in(4));
    for i in 0..12 {
        s.emit(i);
    }
    assert_eq!(*kept.lock().unwrap(), [0, 4, 8]);
}

#[test]
fn correlation_id_from_scope_or_event_id() {
    let s = Signal::<u8>::new();
    s.add_middleware(CorrelationId);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    s.connect(move |ev: &Event<u8>| {
        g.lock()
            .unwrap()
            .push((ev.id.to_string(), ev.metadata.get(CORRELATION_ID).map(String::from)))
    });
    middleware::with_correlation_id("req-7", || s.emit(1));
    s.emit(2);
    s.emit_event(Event::new(3).with_meta(CORRELATION_ID, "kept"));
    let got = got.lock().unwrap();
    assert_eq!(got[0].1.as_deref(), Some("req-7"));
    assert_eq!(got[1].1.as_deref(), Some(got[1].0.as_str()), "falls back to the event id");
    assert_eq!(got[2].1.as_deref(), Some("kept"), "an existing id is kept");
}

#[test]
fn global_middleware_sees_every_signal_type_erased_and_can_downcast() {
    let a = Signal::<u32>::new();
    let b = Signal::<String>::new();
    a.debug_payloads();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sa, sb) = (seen.clone(), seen.clone());
    a.connect(move |x: &u32| sa.lock().unwrap().push(format!("a {x}")));
    b.connect(move |x: &String| sb.lock().unwrap().push(format!("b {x}")));
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let marker = "global-mw-test";
    let h = middleware::add_global(move |ev: &mut dyn DynEvent| {
        // Only touch this test's events (tests run in parallel).
        if ev.source() != Some(marker) {
            return Flow::Continue;
        }
        l.lock().unwrap().push(format!("{ev:?}").contains("DynEvent"));
        if let Some(n) = ev.payload_mut().downcast_mut::<u32>() {
            *n += 1;
        }
        if ev.payload().downcast_ref::<String>().is_some_and(|s| s == "drop me") {
            return Flow::Drop;
        }
        Flow::Continue
    });
    a.emit_from(marker, 1);
    b.emit_from(marker, "keep".into());
    assert_eq!(b.emit_from(marker, "drop me".into()).status, EmitStatus::Filtered);
    assert!(h.remove());
    a.emit_from(marker, 10);
    assert_eq!(*seen.lock().unwrap(), ["a 2", "b keep", "a 10"]);
    assert_eq!(*log.lock().unwrap(), [true, true, true]);
}

#[test]
fn panicking_middleware_is_reported_and_skipped() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    s.add_middleware(|ev: &mut Event<u32>| {
        assert!(ev.data != 13, "middleware exploded");
        Flow::Continue
    });
    assert_eq!(s.emit(13).delivered, 1);
    assert_eq!(s.failure_count(), 1);
}

/// A minimal `tracing` subscriber that keeps the fields of each event.
#[cfg(feature = "tracing")]
mod capture {
    use std::fmt::Debug;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Capture(pub Arc<Mutex<Vec<String>>>);

    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields(format!("{} ", event.metadata().target()));
            event.record(&mut f);
            self.0.lock().unwrap().push(f.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[cfg(feature = "tracing")]
#[test]
fn trace_middleware_logs_events() {
    let capture = capture::Capture::default();
    let s = Signal::<u32>::new();
    s.debug_payloads();
    s.add_middleware(mesh::middleware::Trace);
    s.connect(|_: &u32| {});
    tracing::subscriber::with_default(capture.clone(), || s.emit_from("tracer", 5));
    let lines = capture.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("mesh "), "{lines:?}");
    assert!(lines[0].contains("source=\"tracer\""), "{lines:?}");
}

#[test]
fn removing_the_last_middleware_returns_the_signal_to_the_plain_path() {
    let s = Signal::<u32>::new();
    let h = s.add_middleware(|_: &mut Event<u32>| Flow::Continue);
    assert_eq!(s.emit(1).status, EmitStatus::Dispatched, "middleware runs with no receiver");
    assert!(h.remove());
    assert_eq!(s.emit(1).status, EmitStatus::NoReceivers);
}

#[test]
fn ordered_signals_run_middleware_on_the_emitting_thread() {
    let s = Signal::<u32>::with_config(mesh::SignalConfig::new().ordered());
    s.add_middleware(CorrelationId);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, s2) = (got.clone(), s.clone());
    s.connect(move |ev: &Event<u32>| {
        g.lock().unwrap().push((ev.data, ev.metadata.get(CORRELATION_ID).unwrap().to_string()));
        if ev.data == 1 {
            // Deferred (a dispatch is in progress), delivered by this
            // thread later, but stamped with the emitter's context.
            middleware::with_correlation_id("inner", || s2.emit(2));
        }
    });
    middleware::with_correlation_id("outer", || s.emit(1));
    assert_eq!(*got.lock().unwrap(), [(1, "outer".to_string()), (2, "inner".to_string())]);
}
