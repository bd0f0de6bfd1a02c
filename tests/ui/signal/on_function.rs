use mesh::prelude::*;

#[signal]
fn tick() {}

fn main() {}
