use mesh::prelude::*;

#[signal]
pub struct Order {
    pub id: u32,
}

#[receiver]
async fn on_order(_order: &Order) {}

#[receiver(queue = 64, overflow = block, priority = 3)]
async fn index(ev: &Event<Order>) -> Result<(), String> {
    if ev.data.id == 0 { Err("no id".into()) } else { Ok(()) }
}

fn main() {
    Order { id: 1 }.emit();
}
