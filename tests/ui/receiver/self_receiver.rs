use mesh::prelude::*;

#[signal]
pub struct Tick;

pub struct Clock;

impl Clock {
    #[receiver]
    fn on_tick(&self) {}
}

fn main() {}
