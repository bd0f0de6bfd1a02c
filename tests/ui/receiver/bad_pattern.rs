use mesh::AnyEvent;
use mesh::prelude::*;

#[receiver(pattern = "system.provider*")]
fn partial(_: &AnyEvent) {}

#[receiver(pattern = "system.>.connected")]
fn tail(_: &AnyEvent) {}

#[receiver(pattern = "System.*")]
fn upper(_: &AnyEvent) {}

#[receiver(pattern = 3)]
fn not_a_string(_: &AnyEvent) {}

fn main() {}
