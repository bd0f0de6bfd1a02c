use mesh::AnyEvent;
use mesh::prelude::*;

#[receiver(pattern = "system.>")]
async fn later(_: &AnyEvent<'_>) {}

fn main() {}
