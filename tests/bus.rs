//! Child buses and the dynamic, string-keyed face (issue 11).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mesh::bus::{self, Bus};
use mesh::name::NameError;
use mesh::{AnyEvent, Namespace, RegistryError, registry};

#[test]
fn children_are_named_under_their_parent_and_seen_by_its_patterns() {
    let app = Bus::new("bus-t1").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    app.subscribe("*.connected", move |ev: &AnyEvent| {
        log.lock().unwrap().push(ev.name());
    })
    .unwrap();
    let provider = app.child("provider").unwrap();
    let pool = provider.child("pool.primary").unwrap();
    assert_eq!(pool.name(), "bus-t1.provider.pool.primary");
    provider.signal::<u8>("connected").unwrap().emit(1);
    pool.signal::<u8>("connected").unwrap().emit(1); // too deep for `*.connected`
    assert_eq!(*seen.lock().unwrap(), ["bus-t1.provider.connected"]);
    assert_eq!(
        app.child("Bad").unwrap_err(),
        NameError::InvalidChar { at: 7 },
        "offsets into the full name"
    );
    let err = provider.signal::<u8>("a..b").unwrap_err();
    assert!(matches!(err, RegistryError::InvalidName { .. }), "{err:?}");
}

#[test]
fn dropping_a_bus_frees_what_only_it_made() {
    static NS: Namespace = Namespace::new("bus-t2");
    let shared = NS.signal::<u8>("child.shared").unwrap(); // made by someone else first
    let hits = Arc::new(AtomicUsize::new(0));
    let child = Bus::of(&NS).child("child").unwrap();
    let own = child.signal::<u8>("own").unwrap();
    assert_eq!(child.signal::<u8>("shared").unwrap().id(), shared.id());
    let h = hits.clone();
    let sub = child
        .subscribe(">", move |_: &AnyEvent| {
            h.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    let weak_closure = Arc::new(());
    let kept = weak_closure.clone();
    own.connect(move |_: &u8| {
        let _ = &kept;
    });
    shared.emit(1);
    own.emit(1);
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    let handle = child.clone();
    drop(child);
    assert!(registry::lookup("bus-t2.child.own").is_some(), "a second handle keeps the bus");
    drop(handle);
    assert!(!sub.is_connected(), "its subscriptions end");
    assert!(registry::lookup("bus-t2.child.own").is_none(), "its signal leaves the registry");
    assert!(registry::lookup("bus-t2.child.shared").is_some(), "what it did not make stays");
    assert_eq!(Arc::strong_count(&weak_closure), 1, "its signal's receivers are dropped");
    assert_eq!(own.receiver_count(), 0);
    shared.emit(1);
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    // The name can be made again, by a new bus, as a new signal.
    let again = Bus::of(&NS).child("child").unwrap();
    let own2 = again.signal::<u16>("own").unwrap();
    assert_ne!(own2.id(), own.id());
    assert_eq!(own2.name(), "bus-t2.child.own");
}

#[test]
fn publish_by_name_never_delivers_the_wrong_type() {
    static NS: Namespace = Namespace::new("bus-t3");
    let typed = NS.signal::<u32>("n").unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    typed.connect(move |n: &u32| {
        s.fetch_add(*n as usize, Ordering::Relaxed);
    });
    assert_eq!(bus::publish("bus-t3.n", 4u32).unwrap().delivered, 1);
    let err = bus::publish("bus-t3.n", 4i64).unwrap_err();
    assert!(matches!(err, RegistryError::TypeMismatch { .. }), "{err}");
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    assert!(matches!(bus::publish("Bad", 1u8), Err(RegistryError::InvalidName { .. })));
    assert!(matches!(bus::publish("mesh.x", 1u8), Err(RegistryError::Reserved { .. })));
}

#[cfg(feature = "serde")]
#[test]
fn publish_json_converts_or_fails_clearly() {
    use mesh::bus::DynamicError;
    use serde_json::json;
    static NS: Namespace = Namespace::new("bus-t4");
    let typed = NS.signal::<Vec<u8>>("bytes").unwrap();
    let opaque = NS.signal::<std::time::Duration>("opaque").unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    typed.connect(move |v: &Vec<u8>| g.lock().unwrap().push(v.clone()));
    // Not told how: a typed error, nothing delivered.
    let err = bus::publish_json("bus-t4.bytes", json!([1, 2])).unwrap_err();
    assert!(matches!(err, DynamicError::NotConvertible { name: "bus-t4.bytes", .. }), "{err}");
    typed.serde_payloads();
    assert_eq!(bus::publish_json("bus-t4.bytes", json!([1, 2])).unwrap().delivered, 1);
    let err = bus::publish_json("bus-t4.bytes", json!("no")).unwrap_err();
    assert!(err.to_string().contains("does not fit `alloc::vec::Vec<u8>`"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(*got.lock().unwrap(), [vec![1, 2]]);
    assert!(bus::publish_json("bus-t4.opaque", json!(1)).is_err());
    drop(opaque);
    // A free name carries the JSON; pattern subscribers see it as a Value.
    let values = Arc::new(Mutex::new(Vec::new()));
    let v = values.clone();
    let bus = Bus::new("bus-t4.dyn").unwrap();
    bus.subscribe(">", move |ev: &AnyEvent| {
        v.lock().unwrap().push(ev.downcast_ref::<serde_json::Value>().cloned());
    })
    .unwrap();
    bus.publish_json("plugin.loaded", json!({"name": "x"})).unwrap();
    assert_eq!(*values.lock().unwrap(), [Some(json!({"name": "x"}))]);
    // Once a name carries JSON, a typed signal cannot claim it.
    assert!(matches!(
        NS.signal::<u8>("dyn.plugin.loaded"),
        Err(RegistryError::TypeMismatch { .. })
    ));
}
