//! The meta-signal rule for patterns, in its own test binary: a global
//! `>` subscription attaches to every signal of the process, which would
//! disturb the receiver counts of other tests.

use mesh::name::Pattern;
use mesh::{AnyEvent, Namespace, meta};
use mesh_test_support::shared_log;

#[test]
fn meta_signals_need_a_literal_mesh_segment() {
    static NS: Namespace = Namespace::new("pat-meta");
    let (everything, sink) = shared_log();
    let _all = mesh::subscribe_pattern(">", move |ev: &AnyEvent| {
        if ev.name().starts_with("mesh.") {
            sink.lock().unwrap().push(ev.name().to_owned());
        }
    })
    .unwrap();
    let (meta_seen, sink) = shared_log();
    let _meta = mesh::subscribe_pattern("mesh.receiver.*", move |ev: &AnyEvent| {
        if ev.downcast_ref::<meta::ReceiverConnected>().is_some_and(|c| c.signal == "pat-meta.x") {
            sink.lock().unwrap().push(ev.name().to_owned());
        }
    })
    .unwrap();
    NS.signal::<u8>("x").unwrap().connect(|_: &u8| {});
    assert!(everything.lock().unwrap().is_empty(), "`>` never reaches mesh.*");
    // Two receivers joined `pat-meta.x`: the `>` subscription (attached
    // when the signal was made) and the closure.
    assert_eq!(*meta_seen.lock().unwrap(), ["mesh.receiver.connected", "mesh.receiver.connected"]);
    assert!(
        Pattern::new(">").unwrap().matches("mesh.receiver.connected"),
        "the matcher itself is plain NATS"
    );
}
