use mesh::prelude::*;

pub struct Plain {
    pub n: u32,
}

#[receiver]
fn on_plain(ev: &Plain) {
    let _ = ev.n;
}

fn main() {}
