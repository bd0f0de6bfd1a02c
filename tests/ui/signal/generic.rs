use mesh::prelude::*;

#[signal]
pub struct Wrapper<T> {
    pub value: T,
}

fn main() {}
