use mesh::prelude::*;

#[signal(name = "provider connected")]
pub struct ProviderConnected;

fn main() {}
