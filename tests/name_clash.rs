//! Bug: after two `#[signal]` types clashed on one name, every use after
//! the first said only "LazyLock instance has previously been poisoned".
//! Every use must give the clash error naming both types.

use std::panic::catch_unwind;

use mesh::prelude::*;

#[signal(name = "clash.same")]
pub struct Mine;

mod other {
    use mesh::prelude::*;
    #[signal(name = "clash.same")]
    pub struct Theirs;
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn every_use_of_a_clashing_type_names_both_types() {
    Mine.emit();
    for _ in 0..3 {
        let err = catch_unwind(|| other::Theirs.emit()).expect_err("a clash is an error");
        let msg = message(err);
        assert!(msg.contains("clash.same"), "{msg}");
        assert!(msg.contains("Theirs") && msg.contains("Mine"), "{msg}");
    }
    // The first type keeps working.
    assert_eq!(Mine::signal().receiver_count(), 0);
}
