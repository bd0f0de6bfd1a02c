//! Every supported form compiles and works.
use std::sync::atomic::{AtomicU32, Ordering};

use mesh::prelude::*;

mesh::namespace! {
    /// Root.
    pub SYSTEM = "system";
    pub(crate) PROVIDER = "provider" in SYSTEM;
}
mesh::namespace!(APP = "app.ui");

/// Docs carry over.
#[signal(namespace = PROVIDER, name = "connected", history = 8)]
#[derive(Debug, Clone)]
pub struct Connected {
    pub name: String,
}

#[signal(namespace = SYSTEM, ordered)]
pub enum Power {
    On,
    Off,
}

#[signal(namespace = APP, crate = ::mesh)]
pub struct HTTPRequest(pub u16);

#[signal]
pub struct Root;

static N: AtomicU32 = AtomicU32::new(0);

#[receiver]
fn payload(_: &Connected) {
    N.fetch_add(1, Ordering::Relaxed);
}

#[receiver(priority = -3, name = "envelope", source = "db")]
fn envelope(ev: &Event<Connected>) -> Result<(), String> {
    N.fetch_add(10, Ordering::Relaxed);
    if ev.data.name.is_empty() { Err("no name".into()) } else { Ok(()) }
}

#[receiver(crate = ::mesh)]
fn power(p: &Power) -> std::io::Result<()> {
    if let Power::On = p {
        N.fetch_add(100, Ordering::Relaxed);
    }
    Ok(())
}

type Alias = Event<Root>;

#[receiver]
fn through_alias(_: &Alias) {}

fn main() {
    assert_eq!(Connected::NAME, "system.provider.connected");
    assert_eq!(Power::NAME, "system.power");
    assert_eq!(HTTPRequest::NAME, "app.ui.http_request");
    assert_eq!(Root::NAME, "root");
    Connected { name: "db".into() }.emit_from("db");
    Power::On.emit();
    let _ = Power::Off;
    HTTPRequest(200).emit();
    Root.emit();
    assert_eq!(N.load(Ordering::Relaxed), 111);
    assert_eq!(Root::signal().receiver_count(), 1);
}
