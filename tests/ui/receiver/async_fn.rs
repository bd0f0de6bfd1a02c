use mesh::prelude::*;

#[signal]
pub struct Tick;

#[receiver]
async fn on_tick(_tick: &Tick) {}

fn main() {}
