//! The macro form end to end: event types and receivers in this crate and
//! in a second crate (`mesh-test-support`, which depends on mesh renamed).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mesh::meta::{self, ReceiverFailed};
use mesh::prelude::*;
use mesh::registry;
use mesh_test_support::{JobDone, Status};

mesh::namespace!(pub APP = "app");

/// Same short name as `mesh_test_support::Status`, other namespace.
#[signal(namespace = APP, name = "status")]
#[derive(Debug, Clone)]
pub struct AppStatus(pub u8);

static ORDER: Mutex<Vec<(&'static str, u32)>> = Mutex::new(Vec::new());

#[receiver(priority = 5, name = "b-high")]
fn local_b_high(ev: &JobDone) {
    ORDER.lock().unwrap().push(("b-high", ev.id));
}

#[receiver(priority = 5, name = "a-high")]
fn local_a_high(ev: &JobDone) {
    ORDER.lock().unwrap().push(("a-high", ev.id));
}

#[receiver(priority = -1)]
fn local_low(ev: &Event<JobDone>) {
    ORDER.lock().unwrap().push(("low", ev.data.id));
}

static APP_STATUS: AtomicU32 = AtomicU32::new(0);

#[receiver]
fn app_status(s: &AppStatus) {
    APP_STATUS.fetch_add(u32::from(s.0), Ordering::Relaxed);
}

#[test]
fn receivers_of_both_crates_are_connected_in_deterministic_order() {
    let names: Vec<_> = JobDone::signal().receivers().into_iter().map(|r| r.name).collect();
    // Priority first (higher first), then name; across both crates.
    assert_eq!(
        names,
        [
            "a-high",
            "b-high",
            "mesh_test_support::support_high",
            "support-envelope",
            "macros::local_low",
        ]
    );
    let r = JobDone { id: 1 }.emit();
    assert_eq!((r.delivered, r.failed), (5, 0));
    assert!(mesh_test_support::log().contains(&"support_high 1".to_string()));
    assert!(mesh_test_support::log().iter().any(|l| l.starts_with("support-envelope 1 #")));
    let order: Vec<_> =
        ORDER.lock().unwrap().iter().filter(|(_, id)| *id == 1).map(|(n, _)| *n).collect();
    assert_eq!(order, ["a-high", "b-high", "low"]);
}

#[test]
fn receiver_names_appear_in_failure_reports() {
    let failures = Arc::new(Mutex::new(Vec::new()));
    let f = failures.clone();
    let _watch = meta::failed().connect_scoped(move |r: &ReceiverFailed| {
        if r.signal == JobDone::NAME {
            f.lock().unwrap().push((r.receiver.to_string(), r.message.clone()));
        }
    });
    let r = JobDone { id: 13 }.emit();
    assert_eq!(r.failed, 1);
    assert_eq!(
        *failures.lock().unwrap(),
        [("support-envelope".to_string(), "job 13 is unlucky".to_string())]
    );
}

#[test]
fn same_short_name_in_two_namespaces_does_not_collide() {
    assert_eq!(Status::NAME, "support.status");
    assert_eq!(AppStatus::NAME, "app.status");
    AppStatus(3).emit();
    Status("up").emit();
    assert_eq!(APP_STATUS.load(Ordering::Relaxed), 3);
    assert!(mesh_test_support::log().contains(&"support status up".to_string()));
    let a = registry::lookup("app.status").unwrap();
    let s = registry::lookup("support.status").unwrap();
    assert!(a.downcast::<AppStatus>().is_some() && s.downcast::<Status>().is_some());
    assert_ne!(a.type_id(), s.type_id());
}

#[test]
fn namespaces_declared_with_the_macro_are_listed() {
    let all = registry::namespaces();
    assert!(all.contains(&"app") && all.contains(&"support"), "{all:?}");
    assert_eq!(mesh_test_support::SUPPORT.name(), "support");
}

#[signal(namespace = APP)]
pub struct Clash;

#[test]
fn a_name_claimed_by_two_types_panics_with_both_names() {
    // Register `app.clash` by hand with another payload type first.
    APP.signal::<u64>("clash").unwrap();
    let err = std::panic::catch_unwind(|| Clash::signal().receiver_count()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("app.clash") && msg.contains("u64") && msg.contains("Clash"), "{msg}");
}

#[test]
fn static_signal_is_one_shared_named_signal() {
    let by_name = registry::lookup(JobDone::NAME).unwrap().downcast::<JobDone>().unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let s = seen.clone();
    let _c = by_name.connect_scoped(move |ev: &JobDone| {
        s.fetch_add(ev.id, Ordering::Relaxed);
    });
    JobDone { id: 7 }.emit_from("tests");
    assert_eq!(seen.load(Ordering::Relaxed), 7);
}
