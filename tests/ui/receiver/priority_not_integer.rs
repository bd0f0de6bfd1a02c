use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver(priority = "high")]
fn on_tick(_tick: &Tick) {}

fn main() {}
