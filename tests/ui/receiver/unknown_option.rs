use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver(prio = 1)]
fn on_tick(_tick: &Tick) {}

fn main() {}
