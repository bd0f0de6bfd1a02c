use mesh::prelude::*;

#[signal(history = 0)]
pub struct Tick;

fn main() {}
