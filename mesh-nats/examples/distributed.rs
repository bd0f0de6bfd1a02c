//! Two processes, one mesh: `cargo run -p mesh-nats --example distributed`.
//!
//! The parent starts a NATS server of its own (the one `./scripts/test`
//! installs into `.venv-nats/`, or `$MESH_NATS_SERVER`) and spawns itself
//! as a child. The shop (parent) emits `OrderPlaced` events; they cross
//! durably (JetStream) to the warehouse (child), whose `#[receiver]`
//! answers with `OrderShipped`, which crosses back live. Then the server
//! is killed and restarted, and the shop publishes one order twice with
//! the same id, as a retry after a crash would: the stream stores it
//! once, and the warehouse sees it once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mesh::prelude::*;
use mesh::{Event, Signal};
use mesh_nats::{Bridge, Config, Durable, ORIGIN_KEY};
use mesh_test_support::nats::Server;
use serde::{Deserialize, Serialize};

/// An order placed at the shop.
#[signal(name = "shop.order.placed")]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderPlaced {
    order: u32,
    item: String,
}

/// An order the warehouse shipped.
#[signal(name = "shop.order.shipped")]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderShipped {
    order: u32,
}

/// The warehouse's receiver: registered with no init call, it runs in
/// whichever process imports `OrderPlaced` events (here, the child).
#[receiver]
fn ship(ev: &Event<OrderPlaced>) {
    if std::env::var_os("MESH_DISTRIBUTED_CHILD").is_none() {
        return; // the shop's own emits: only the warehouse ships
    }
    println!(
        "  [warehouse] got order {} ({}) id={} from node {}",
        ev.data.order,
        ev.data.item,
        ev.id,
        ev.metadata.get(ORIGIN_KEY).unwrap_or("?")
    );
    RECEIVED.fetch_add(1, Ordering::Relaxed);
    OrderShipped { order: ev.data.order }.emit();
}

static RECEIVED: AtomicU32 = AtomicU32::new(0);

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match std::env::var("MESH_DISTRIBUTED_CHILD") {
        Ok(url) => runtime.block_on(warehouse(&url)),
        Err(_) => runtime.block_on(shop()),
    }
}

/// The child: imports orders durably, exports shipments live.
async fn warehouse(url: &str) -> Result<(), Error> {
    let bridge = Bridge::connect(url, Config::new("demo")?.node("warehouse")?).await?;
    let _shipments = bridge.export_type::<OrderShipped>()?;
    let _orders =
        bridge.import_durable_type::<OrderPlaced>(Durable::new().consumer("warehouse")?).await?;
    let _rejections = mesh_nats::report::rejected().connect(|r: &mesh_nats::report::Rejected| {
        println!("  [warehouse] rejected {}: {}", r.subject, r.reason);
    });
    println!("READY");
    let deadline = Instant::now() + Duration::from_secs(60);
    while RECEIVED.load(Ordering::Relaxed) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bridge.flush().await?;
    let stats = bridge.stats();
    println!(
        "  [warehouse] done: {} orders imported, {} redeliveries dropped, {} rejected, \
         {} shipments exported",
        stats.imported, stats.duplicates, stats.import_rejected, stats.exported
    );
    Ok(())
}

/// The parent: the server, the child, the orders.
async fn shop() -> Result<(), Error> {
    // A server of its own: free port, temporary store, JetStream on.
    let mut server = Server::start();
    println!("NATS server on {}", server.url());
    let bridge = Bridge::connect(server.url(), Config::new("demo")?.node("shop")?).await?;
    let _orders = bridge.export_durable(OrderPlaced::NAME).await?;
    let _shipments = bridge.import_type::<OrderShipped>().await?;
    let _printer = OrderShipped::signal().connect(|ev: &Event<OrderShipped>| {
        println!(
            "  [shop] order {} shipped (from node {})",
            ev.data.order,
            ev.metadata.get(ORIGIN_KEY).unwrap_or("?")
        );
    });

    let mut child = spawn_child(&server.url())?;
    for (order, item) in [(1, "tea"), (2, "scones"), (3, "jam")] {
        println!("[shop] placing order {order} ({item})");
        OrderPlaced { order, item: item.into() }.emit();
    }
    bridge.flush().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("[shop] killing the NATS server (SIGKILL) and restarting it on the same store");
    server.restart();
    let retry = Event::new(OrderPlaced { order: 4, item: "honey".into() });
    println!("[shop] placing order 4 twice with one id ({}), as a retry after a crash", retry.id);
    let signal: Signal<OrderPlaced> = OrderPlaced::signal();
    signal.emit_event(retry.clone());
    signal.emit_event(retry);
    bridge.flush().await?;

    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = bridge.stats();
    let js = mesh_nats::async_nats::jetstream::new(bridge.client().clone());
    let stream = js.get_stream(bridge.config().stream_name()).await?;
    let mut subjects = stream.info_with_subjects("demo.shop.order.placed").await?;
    let mut stored = 0;
    while let Some(Ok((_, count))) = futures_util::StreamExt::next(&mut subjects).await {
        stored += count;
    }
    println!(
        "[shop] done: {} orders published, the stream holds {stored} (JetStream dropped the \
         retried id), {} shipments imported; warehouse exit {status}",
        stats.exported, stats.imported
    );
    Ok(())
}

/// Runs this program again as the warehouse; returns once it is ready.
fn spawn_child(url: &str) -> Result<Child, Error> {
    let mut child = Command::new(std::env::current_exe()?)
        .env("MESH_DISTRIBUTED_CHILD", url)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "READY" {
                let _ = ready_tx.send(());
            } else {
                println!("{line}");
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(30))?;
    Ok(child)
}
