use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver(priority = 1, priority = 2)]
fn on_tick(_tick: &Tick) {}

fn main() {}
