use mesh::prelude::*;

#[receiver]
fn on_any<T: EventType>(_ev: &T) {}

fn main() {}
