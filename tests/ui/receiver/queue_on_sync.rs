use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver(queue = 16, overflow = reject)]
fn on_tick(_tick: &Tick) {}

fn main() {}
