use mesh::prelude::*;

#[signal(nmae = "tick")]
pub struct Tick;

fn main() {}
