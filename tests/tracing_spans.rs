//! With feature `tracing`, each event an async receiver handles runs in a
//! `mesh.receive` span (issue 13), so a subscriber sees per-event work;
//! async receivers may return `Effects` too, correlated with the event.
#![cfg(feature = "tracing")]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use mesh::delivery::{Queue, Shutdown};
use mesh::effects::{CAUSATION_ID, Effects};
use mesh::{Event, Signal};
use mesh_test_support::block_on;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

/// Keeps each span's name and fields, and counts entries.
#[derive(Clone, Default)]
struct Spans {
    made: Arc<Mutex<Vec<String>>>,
    entered: Arc<Mutex<usize>>,
}

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(span.metadata().name().to_owned());
        span.record(&mut f);
        let mut made = self.made.lock().unwrap();
        made.push(f.0);
        Id::from_u64(made.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &Id) {
        *self.entered.lock().unwrap() += 1;
    }
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_event_of_an_async_receiver_runs_in_a_span() {
    let spans = Spans::default();
    let s = Signal::<u32>::new();
    let out = Signal::<u32>::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let _o = out.connect(move |ev: &Event<u32>| {
        sink.lock().unwrap().push((ev.data, ev.metadata.get(CAUSATION_ID).map(str::to_owned)));
    });
    let target = out.clone();
    let (handle, driver) =
        s.connect_async(Queue::bounded(8).name("doubler"), move |ev: Arc<Event<u32>>| {
            let target = target.clone();
            async move { Effects::new().emit_on(&target, ev.data * 2) }
        });
    let ids: Vec<String> = (1..=3u32)
        .map(|n| {
            let ev = Event::new(n);
            let id = ev.id.to_string();
            s.emit_event(ev);
            id
        })
        .collect();
    handle.disconnect(Shutdown::Drain);
    tracing::subscriber::with_default(spans.clone(), || block_on(driver));
    let made = spans.made.lock().unwrap().clone();
    assert_eq!(made.len(), 3, "{made:?}");
    for (span, id) in made.iter().zip(&ids) {
        assert!(span.starts_with("mesh.receive"), "{span}");
        assert!(span.contains("receiver=doubler"), "{span}");
        assert!(span.contains(&format!("event.id={id}")), "{span}");
    }
    assert!(*spans.entered.lock().unwrap() >= 3, "each span entered while its event is handled");
    let got = got.lock().unwrap().clone();
    let expected: Vec<(u32, Option<String>)> =
        (1..=3u32).zip(&ids).map(|(n, id)| (n * 2, Some(id.clone()))).collect();
    assert_eq!(got, expected, "effects of async receivers are correlated with their events");
}
