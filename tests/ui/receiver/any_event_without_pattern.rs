use mesh::AnyEvent;
use mesh::prelude::*;

#[receiver]
fn everything(_: &AnyEvent) {}

fn main() {}
