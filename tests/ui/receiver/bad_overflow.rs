use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver(queue = 0, overflow = drop_everything)]
async fn on_tick(_tick: &Tick) {}

fn main() {}
