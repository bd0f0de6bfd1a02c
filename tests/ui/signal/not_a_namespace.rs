use mesh::prelude::*;

static SYSTEM: &str = "system";

#[signal(namespace = SYSTEM)]
pub struct Tick;

fn main() {}
