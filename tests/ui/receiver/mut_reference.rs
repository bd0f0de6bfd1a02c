use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver]
fn on_tick(_tick: &mut Tick) {}

fn main() {}
