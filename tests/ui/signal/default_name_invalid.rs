use mesh::prelude::*;

#[signal]
pub struct Café;

fn main() {}
