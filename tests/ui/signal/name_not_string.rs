use mesh::prelude::*;

#[signal(name = tick)]
pub struct Tick;

fn main() {}
