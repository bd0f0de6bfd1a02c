//! What is connected to what: `cargo run --example topology`.
//!
//! Builds a small shop — the tour's namespaces, a `#[receiver]`, a
//! weak dashboard, an async-style queued audit trail, a pattern watcher —
//! emits a few events, then writes the topology as Mermaid
//! (`target/topology.mmd`) and Graphviz DOT (`target/topology.dot`), and
//! an SVG (`target/topology.svg`) where Graphviz's `dot` is installed.
//! `--mermaid` prints the Mermaid text instead (`scripts/topology` puts
//! it in the README).

use std::sync::Arc;

use mesh::delivery::{Overflow, Queue};
use mesh::prelude::*;
use mesh::{AnyEvent, ConnectOptions, introspect};

mesh::namespace! {
    /// Everything about the running system.
    pub SYSTEM = "system";
    /// Data providers coming and going.
    pub PROVIDER = "provider" in SYSTEM;
}

/// A data provider came up.
#[signal(namespace = PROVIDER, name = "connected")]
#[derive(Debug, Clone)]
struct ProviderConnected {
    provider: String,
}

/// A data provider went away.
#[signal(namespace = PROVIDER, name = "lost")]
#[derive(Debug, Clone)]
struct ProviderLost(String);

/// An order: keeps its last 16 envelopes.
#[signal(namespace = SYSTEM, name = "order.placed", history = 16)]
#[derive(Debug, Clone)]
struct OrderPlaced {
    cents: u64,
}

#[receiver(priority = 10)]
fn announce(ev: &ProviderConnected) {
    let _ = &ev.provider;
}

struct Dashboard;

fn main() -> std::io::Result<()> {
    let dashboard = Arc::new(Dashboard);
    let _weak = ProviderLost::signal().connect_weak_with(
        ConnectOptions::new().name("dashboard"),
        &dashboard,
        |_: &Dashboard, lost: &ProviderLost| {
            let _ = &lost.0;
        },
    );
    let _billing = OrderPlaced::signal().connect_with(
        ConnectOptions::new().name("billing"),
        |o: &OrderPlaced| {
            let _ = o.cents;
        },
    );
    let _audit = OrderPlaced::signal().subscribe(
        Queue::bounded(256)
            .overflow(Overflow::DropOldest)
            .options(ConnectOptions::new().name("audit trail")),
    );
    let _watch = mesh::subscribe_pattern_with(
        "system.provider.*",
        ConnectOptions::new().name("provider watch"),
        |_: &AnyEvent| {},
    )
    .expect("a valid pattern");
    ProviderConnected { provider: "db".into() }.emit();
    ProviderLost("cache".into()).emit();
    for cents in [250, 1200, 90] {
        OrderPlaced { cents }.emit();
    }

    let topology = introspect::topology().under("system");
    if std::env::args().any(|a| a == "--mermaid") {
        print!("{}", topology.to_mermaid());
        return Ok(());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let (mmd, dot) = (dir.join("topology.mmd"), dir.join("topology.dot"));
    std::fs::write(&mmd, topology.to_mermaid())?;
    std::fs::write(&dot, topology.to_dot())?;
    println!("wrote {} and {}", mmd.display(), dot.display());
    let svg = dir.join("topology.svg");
    match std::process::Command::new("dot").arg("-Tsvg").arg(&dot).arg("-o").arg(&svg).status() {
        Ok(status) if status.success() => println!("wrote {}", svg.display()),
        Ok(status) => println!("dot failed ({status}): no SVG"),
        Err(_) => println!("Graphviz's `dot` is not installed: no SVG"),
    }
    for s in &topology.signals {
        println!("{} <{}>: {} receiver(s)", s.name, s.payload_type, s.receivers.len());
    }
    Ok(())
}
