use mesh::prelude::*;

#[signal(name = "tick", name = "tock")]
pub struct Tick;

fn main() {}
