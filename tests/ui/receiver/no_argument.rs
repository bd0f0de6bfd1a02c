use mesh::prelude::*;

#[receiver]
fn on_nothing() {}

fn main() {}
