//! Payloads as JSON (feature `serde`): `#[signal]` types that derive
//! `Serialize`/`Deserialize` tell their signal, so pattern subscribers can
//! turn any event into JSON; other types say they cannot.
#![cfg(feature = "serde")]

use std::sync::{Arc, Mutex};

use mesh::prelude::*;
use mesh::{AnyEvent, Namespace};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[signal(name = "serde-test.order")]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: u32,
    pub item: String,
}

#[signal(name = "serde-test.opaque")]
#[derive(Debug)]
pub struct Opaque(#[allow(dead_code)] std::time::Instant);

#[signal(name = "serde-test.out-only")]
#[derive(Serialize)]
pub struct OutOnly {
    pub n: u8,
}

#[test]
fn signal_types_that_serialize_say_so() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let _sub = mesh::subscribe_pattern("serde-test.*", move |ev: &AnyEvent| {
        let json = ev.to_json().map(|r| r.unwrap());
        sink.lock().unwrap().push((ev.name(), json));
    })
    .unwrap()
    .scoped();
    Order { id: 7, item: "tea".into() }.emit();
    Opaque(std::time::Instant::now()).emit();
    OutOnly { n: 3 }.emit();
    let got = got.lock().unwrap();
    assert_eq!(got[0], ("serde-test.order", Some(json!({"id": 7, "item": "tea"}))));
    assert_eq!(got[1], ("serde-test.opaque", None));
    assert_eq!(got[2], ("serde-test.out-only", Some(json!({"n": 3}))));
    // Deserialization is known where the type is `DeserializeOwned` only.
    let order = Order::signal();
    let back = order.payload_from_json(json!({"id": 1, "item": "x"})).unwrap().unwrap();
    assert_eq!(back, Order { id: 1, item: "x".into() });
    assert!(OutOnly::signal().payload_from_json(json!({"n": 1})).is_none());
    assert!(order.payload_from_json(json!({"id": "nope"})).unwrap().is_err());
}

#[test]
fn hand_made_signals_opt_in() {
    static NS: Namespace = Namespace::new("serde-hand");
    let s = NS.signal::<Vec<u16>>("v").unwrap();
    assert!(s.payload_to_json(&vec![1]).is_none());
    s.serde_payloads();
    assert_eq!(s.payload_to_json(&vec![1, 2]).unwrap().unwrap(), json!([1, 2]));
}
