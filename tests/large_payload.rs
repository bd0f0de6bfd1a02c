//! Bug: large payloads were moved by value through every frame of the
//! ordered, middleware and history paths, so a 1 MiB payload overflowed an
//! 8 MiB stack. A payload is moved into place once.

use mesh::middleware::Flow;
use mesh::{Event, Signal, SignalConfig};

const MIB: usize = 1 << 20;

struct Big([u8; MIB]);

fn big() -> Big {
    Big([2; MIB])
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(8 * MIB).spawn(f).unwrap().join().unwrap();
}

fn check(s: Signal<Big>) {
    s.connect(|b: &Big| assert_eq!(b.0[MIB - 1], 2));
    s.connect(|ev: &Event<Big>| assert_eq!(ev.data.0[0], 2));
    for _ in 0..3 {
        let r = s.emit(big());
        assert_eq!(r.failed, 0);
    }
}

#[test]
fn plain() {
    on_small_stack(|| check(Signal::new()));
}

#[test]
fn ordered() {
    on_small_stack(|| check(Signal::with_config(SignalConfig::new().ordered())));
}

#[test]
fn history() {
    on_small_stack(|| check(Signal::with_config(SignalConfig::new().history(2))));
}

#[test]
fn ordered_with_history() {
    on_small_stack(|| check(Signal::with_config(SignalConfig::new().ordered().history(2))));
}

#[test]
fn middleware() {
    on_small_stack(|| {
        let s = Signal::<Big>::new();
        let _m = s.add_middleware(|_: &mut Event<Big>| Flow::Continue);
        check(s);
    });
}

#[test]
fn emit_from() {
    on_small_stack(|| {
        let s = Signal::<Big>::with_config(SignalConfig::new().ordered().history(2));
        s.connect(|b: &Big| assert_eq!(b.0[0], 2));
        s.emit_from("here", big());
        assert_eq!(s.history().len(), 1);
    });
}

#[test]
fn emit_event() {
    on_small_stack(|| {
        let s = Signal::<Big>::with_config(SignalConfig::new().ordered().history(2));
        s.connect(|b: &Big| assert_eq!(b.0[0], 2));
        s.emit_event(Event::new(big()));
        assert_eq!(s.history().len(), 1);
    });
}
