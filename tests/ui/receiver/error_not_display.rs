use mesh::prelude::*;

#[signal]
pub struct Tick;

pub struct Opaque;

#[receiver]
fn on_tick(_tick: &Tick) -> Result<(), Opaque> {
    Ok(())
}

fn main() {}
