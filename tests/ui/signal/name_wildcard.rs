use mesh::prelude::*;

#[signal(name = "system.*")]
pub struct Any;

fn main() {}
