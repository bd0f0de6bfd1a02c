use mesh::prelude::*;

#[receiver]
fn on_number(ev: &Event<u32>) {
    let _ = ev.data;
}

fn main() {}
