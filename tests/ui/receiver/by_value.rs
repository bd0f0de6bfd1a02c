use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver]
fn on_tick(_tick: Tick) {}

fn main() {}
