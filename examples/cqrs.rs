//! A small CQRS split: `cargo run --example cqrs`.
//!
//! *Commands* are signals with exactly one handler: `PlaceOrder` is
//! handled by one function, connected under a fixed key (connecting it
//! again is a no-op), which decides and returns the resulting *events*
//! as effects — it never writes state. *Queries* are answered from a
//! projection folded from those events, never by the command side.
//! `cargo test --example cqrs` runs the tests below.

use std::collections::BTreeMap;

use mesh::ConnectOptions;
use mesh::effects::Effects;
use mesh::prelude::*;
use mesh::projection::Projection;

mesh::namespace! {
    /// The shop.
    pub SHOP = "shop";
    /// Commands: one handler each.
    pub COMMANDS = "command" in SHOP;
    /// Events: what happened.
    pub EVENTS = "event" in SHOP;
}

/// Command: a customer wants `qty` of `item`.
#[signal(namespace = COMMANDS, name = "place-order")]
#[derive(Debug, Clone)]
struct PlaceOrder {
    customer: String,
    item: String,
    qty: u32,
}

/// Event: the order was accepted.
#[signal(namespace = EVENTS, name = "order-placed", history = 1024)]
#[derive(Debug, Clone, PartialEq)]
struct OrderPlaced {
    customer: String,
    item: String,
    qty: u32,
}

/// Event: the order was refused.
#[signal(namespace = EVENTS, name = "order-rejected", history = 1024)]
#[derive(Debug, Clone, PartialEq)]
struct OrderRejected {
    customer: String,
    reason: String,
}

/// The command handler: a decision, returned as events.
fn place_order(cmd: &PlaceOrder) -> Effects {
    if cmd.qty == 0 || cmd.qty > 10 {
        return Effects::new().emit(OrderRejected {
            customer: cmd.customer.clone(),
            reason: format!("quantity {} outside 1..=10", cmd.qty),
        });
    }
    Effects::new().emit(OrderPlaced {
        customer: cmd.customer.clone(),
        item: cmd.item.clone(),
        qty: cmd.qty,
    })
}

/// The read model: items ordered per customer, and refusals.
#[derive(Debug, Clone, Default, PartialEq)]
struct Orders {
    by_customer: BTreeMap<String, BTreeMap<String, u32>>,
    rejected: u32,
}

fn read_model() -> Projection<Orders> {
    Projection::builder(Orders::default)
        .on::<OrderPlaced>(|o, ev| {
            *o.by_customer
                .entry(ev.data.customer.clone())
                .or_default()
                .entry(ev.data.item.clone())
                .or_default() += ev.data.qty;
        })
        .on::<OrderRejected>(|o, _| o.rejected += 1)
        .build()
}

/// Connects the one command handler (under its key: a second connect
/// returns the same connection).
fn wire() -> mesh::Connection {
    PlaceOrder::signal().connect_with(ConnectOptions::new().key("shop.place-order"), place_order)
}

/// A query: what `customer` has ordered.
fn ordered_by(orders: &Projection<Orders>, customer: &str) -> BTreeMap<String, u32> {
    orders.read(|o| o.by_customer.get(customer).cloned().unwrap_or_default())
}

fn order(customer: &str, item: &str, qty: u32) -> PlaceOrder {
    PlaceOrder { customer: customer.into(), item: item.into(), qty }
}

fn main() {
    let orders = read_model();
    let _handler = wire();
    let _again = wire(); // still one handler
    println!("command handlers: {}", PlaceOrder::signal().receiver_count());
    for cmd in [
        order("ada", "tea", 2),
        order("ada", "jam", 1),
        order("bob", "tea", 40),
        order("ada", "tea", 3),
    ] {
        println!("command {cmd:?}");
        cmd.emit();
    }
    println!("query ada: {:?}", ordered_by(&orders, "ada"));
    println!("query bob: {:?}", ordered_by(&orders, "bob"));
    println!("rejected: {}", orders.read(|o| o.rejected));
    orders.rebuild().expect("the events' histories hold every event");
    println!("rebuilt from the event log: {:?}", ordered_by(&orders, "ada"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_handler_decides_without_side_effects() {
        let _mesh = mesh::testing::scope();
        let placed = mesh::testing::Recorder::<OrderPlaced>::new();
        let effects = place_order(&order("ada", "tea", 2));
        assert_eq!(
            effects.events::<OrderPlaced>(),
            [&OrderPlaced { customer: "ada".into(), item: "tea".into(), qty: 2 }]
        );
        assert_eq!(place_order(&order("bob", "tea", 0)).events::<OrderRejected>().len(), 1);
        drop(effects);
        assert!(placed.payloads().is_empty());
    }

    #[test]
    fn a_command_has_exactly_one_handler() {
        let _mesh = mesh::testing::scope();
        let first = wire();
        let second = wire();
        assert_eq!(PlaceOrder::signal().receiver_count(), 1);
        assert!(first.is_connected() && second.is_connected());
    }

    #[test]
    fn queries_are_answered_from_the_projection() {
        let _mesh = mesh::testing::scope();
        let orders = read_model();
        let _h = wire();
        order("ada", "tea", 2).emit();
        order("ada", "tea", 3).emit();
        order("ada", "jam", 1).emit();
        order("bob", "tea", 40).emit();
        assert_eq!(
            ordered_by(&orders, "ada"),
            BTreeMap::from([("jam".into(), 1), ("tea".into(), 5)])
        );
        assert!(ordered_by(&orders, "bob").is_empty());
        assert_eq!(orders.read(|o| o.rejected), 1);
    }
}
