//! A narrated tour of mesh: `cargo run --example tour`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mesh::meta::{self, ReceiverFailed};
use mesh::middleware::{CORRELATION_ID, CorrelationId, Flow};
use mesh::prelude::*;
use mesh::projection::Projection;
use mesh::registry;

mesh::namespace! {
    /// Everything about the running system.
    pub SYSTEM = "system";
    /// `system.provider`: data providers coming and going.
    pub PROVIDER = "provider" in SYSTEM;
}

/// A data provider came up.
#[signal(namespace = PROVIDER, name = "connected")]
#[derive(Debug, Clone)]
struct ProviderConnected {
    provider: String,
}

/// A data provider went away (name defaults to `provider_lost`).
#[signal(namespace = PROVIDER)]
#[derive(Debug, Clone)]
struct ProviderLost(String);

/// An order in a shop: keeps its last 16 envelopes for replay.
#[signal(namespace = SYSTEM, name = "order.placed", history = 16)]
#[derive(Debug, Clone)]
struct OrderPlaced {
    item: String,
    cents: u64,
}

/// Registered globally: no init call, connected before the first emit.
#[receiver(priority = 10)]
fn announce(ev: &ProviderConnected) {
    println!("  [#[receiver] announce ] {} connected", ev.provider);
}

/// Takes the envelope: id, seq, source, timestamp, metadata.
#[receiver]
fn audit(ev: &Event<ProviderConnected>) {
    println!(
        "  [#[receiver] audit    ] #{} {} id={} source={:?}",
        ev.seq, ev.name, ev.id, ev.source
    );
}

/// Every event under `system.plugins`, whatever its payload type: a
/// pattern receiver, also registered with no init call (step 11).
#[receiver(pattern = "system.plugins.>")]
fn plugin_log(ev: &mesh::AnyEvent) {
    println!("  [#[receiver(pattern)]] {} {}", ev.name(), ev.payload_debug());
}

/// A component that listens through a weak receiver.
struct Dashboard {
    updates: AtomicU32,
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn main() {
    step("1. event types declared with #[signal], receivers with #[receiver]");
    println!("  {} is `{}`", std::any::type_name::<ProviderConnected>(), ProviderConnected::NAME);
    let r = ProviderConnected { provider: "db".into() }.emit();
    println!("  emit -> delivered {}, failed {}", r.delivered, r.failed);

    step("2. connect and disconnect at run time");
    let connected = ProviderConnected::signal();
    let extra = connected.connect(|ev: &ProviderConnected| {
        println!("  [closure            ] {} (connected at run time)", ev.provider);
    });
    ProviderConnected { provider: "queue".into() }.emit_from("pool-a");
    extra.disconnect();
    println!("  closure disconnected; {} receivers left", connected.receiver_count());

    step("3. a weak receiver goes away with its object");
    let dashboard = Arc::new(Dashboard { updates: AtomicU32::new(0) });
    connected.connect_weak(&dashboard, |d: &Dashboard, ev: &ProviderConnected| {
        d.updates.fetch_add(1, Ordering::Relaxed);
        println!("  [dashboard] refresh for {}", ev.provider);
    });
    connected.emit(ProviderConnected { provider: "cache".into() });
    println!("  receivers with dashboard alive: {}", connected.receiver_count());
    drop(dashboard);
    println!("  receivers after dropping it:    {}", connected.receiver_count());

    step("4. source filtering (Blinker's sender=)");
    ProviderLost::signal()
        .connect_from("pool-a", |p: &ProviderLost| println!("  [pool-a only] {} left", p.0));
    ProviderLost("ignored".into()).emit_from("pool-b");
    ProviderLost("db".into()).emit_from("pool-a");

    step("5. priorities: higher first, then connection order");
    let order = Signal::<()>::new();
    for (name, priority) in [("audit", 0), ("security", 10), ("metrics", 0), ("cleanup", -5)] {
        order.connect_with(ConnectOptions::new().priority(priority).name(name), move |_: &()| {
            println!("  {name} (priority {priority})");
        });
    }
    order.emit(());

    step("6. failure isolation: a panic and an Err do not stop the others");
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r2 = reports.clone();
    let _watch = meta::failed().connect_scoped(move |f: &ReceiverFailed| {
        r2.lock().unwrap().push(format!("{} failed: {}", f.receiver, f.message));
    });
    let jobs = Signal::<u32>::new();
    jobs.connect_with(ConnectOptions::new().name("flaky").priority(2), |n: &u32| {
        assert!(*n != 13, "unlucky job {n}");
    });
    jobs.connect_with(ConnectOptions::new().name("strict").priority(1), |n: &u32| {
        if n % 2 == 1 { Err(format!("odd job {n}")) } else { Ok(()) }
    });
    jobs.connect_with(ConnectOptions::new().name("steady"), |n: &u32| {
        println!("  [steady] still ran for job {n}");
    });
    // The panic is isolated; keep the default hook from printing it here.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = jobs.emit(13);
    std::panic::set_hook(hook);
    println!("  emit -> delivered {}, failed {}", r.delivered, r.failed);
    for line in reports.lock().unwrap().iter() {
        println!("  mesh.receiver.failed: {line}");
    }

    step("7. look a signal up by name");
    let found = registry::lookup("system.provider.connected").expect("registered above");
    println!(
        "  {} carries {} and has {} receiver(s)",
        found.name(),
        found.type_name(),
        found.receiver_count()
    );
    let typed = found.downcast::<ProviderConnected>().expect("same type");
    typed.emit_from("lookup", ProviderConnected { provider: "search".into() });
    println!("  namespaces: {:?}", registry::namespaces());

    step("8. middleware: a transformer, an enricher and a filter");
    let orders = OrderPlaced::signal();
    orders.add_middleware(|ev: &mut Event<OrderPlaced>| {
        ev.data.item = ev.data.item.to_uppercase();
        Flow::Continue
    });
    orders.add_middleware(CorrelationId);
    orders.add_middleware(
        |ev: &mut Event<OrderPlaced>| {
            if ev.data.cents == 0 { Flow::Drop } else { Flow::Continue }
        },
    );
    let shop = orders.connect(|ev: &Event<OrderPlaced>| {
        let corr = ev.metadata.get(CORRELATION_ID).unwrap_or("-");
        println!(
            "  [shop] #{} {} for {} cents (correlation {corr})",
            ev.seq, ev.data.item, ev.data.cents
        );
    });
    mesh::middleware::with_correlation_id("cart-7", || {
        OrderPlaced { item: "tea".into(), cents: 450 }.emit();
    });
    let r = OrderPlaced { item: "free sample".into(), cents: 0 }.emit();
    println!("  free sample -> {:?} (dropped by the filter)", r.status);
    OrderPlaced { item: "cake".into(), cents: 320 }.emit();
    shop.disconnect();

    step("9. history: a late subscriber gets the past, then live events");
    println!("  retained: {} envelopes", orders.history().len());
    let late = orders.connect_with_replay(|ev: &Event<OrderPlaced>| {
        println!("  [late] #{} {}", ev.seq, ev.data.item);
    });
    OrderPlaced { item: "coffee".into(), cents: 380 }.emit();
    late.disconnect();

    step("10. a projection: state folded from events, rebuilt from history");
    let revenue = Projection::builder(|| (0u64, 0u32))
        .on::<OrderPlaced>(|(cents, count), ev| {
            *cents += ev.data.cents;
            *count += 1;
        })
        .build();
    println!("  live, built after the orders so far: {:?}", revenue.get());
    revenue.rebuild().expect("the history holds every order");
    println!("  rebuilt from history:                {:?}", revenue.get());
    OrderPlaced { item: "scone".into(), cents: 290 }.emit();
    println!("  after one more order:                {:?}", revenue.get());

    step("11. patterns: one subscriber for many signals, and a child bus");
    let watch = SYSTEM
        .subscribe("*.connected", |ev: &mesh::AnyEvent| {
            println!("  [system.*.connected] {} {}", ev.name(), ev.payload_debug());
        })
        .expect("a valid pattern");
    ProviderConnected { provider: "cache".into() }.emit();
    let plugins = mesh::bus::Bus::of(&SYSTEM).child("plugins").expect("a valid name");
    let loaded = plugins.signal::<String>("loaded").expect("a new name");
    loaded.debug_payloads(); // a runtime signal's payload shown with `Debug`
    plugins
        .subscribe(">", |ev: &mesh::AnyEvent| {
            println!("  [plugins.>] {} {:?}", ev.name(), ev.downcast_ref::<String>());
        })
        .expect("a valid pattern");
    loaded.emit("spell-check".into());
    drop(plugins);
    println!(
        "  after dropping the child bus: system.plugins.loaded registered = {}",
        registry::lookup("system.plugins.loaded").is_some()
    );
    watch.disconnect();
}
