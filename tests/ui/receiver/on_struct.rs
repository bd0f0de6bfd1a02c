use mesh::prelude::*;

#[receiver]
pub struct NotAFunction;

fn main() {}
