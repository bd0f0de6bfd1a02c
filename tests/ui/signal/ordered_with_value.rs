use mesh::prelude::*;

#[signal(ordered = true)]
pub struct Tick;

fn main() {}
